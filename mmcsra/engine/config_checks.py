"""Build-time checks of a config: mistakes stop the run before it starts.

mmengine builds the model when the :class:`~mmengine.runner.Runner` is
created and the datasets when ``train()`` / ``test()`` starts; a model that
does not fit its data or its backbone otherwise fails (or, worse, trains)
only at the first iteration. :class:`ConfigCheckHook` calls
:func:`check_runner_config` in ``before_run`` -- after the model, the data
loaders and the optimizer are built, before the weights are initialised or a
checkpoint is loaded and before any iteration -- and raises
:class:`ConfigError` naming the setting to change:

* **number of classes** (:func:`check_num_classes`): ``num_classes`` of the
  head, of a neck that has one (e.g. the label-graph neck) and of the data
  preprocessor must equal the length of every built dataset's class list
  (train / val / test);
* **feature channels** (:func:`check_feature_channels`): a dry forward of
  the backbone (then the neck) on one zero image, in eval mode without
  gradients and with the random state restored, gives the real channel count
  of the features the neck / head receive; it must equal their
  ``in_channels``. Channels are dim 1 of a ``(B, D, H, W)`` map or a
  ``(B, D)`` vector and dim 2 of ``(B, N, D)`` tokens (a ViT with
  ``out_type='raw'``). The image is 64 px (cheap for any backbone); if the
  backbone or neck can not run at that size, 224 px is tried; if that fails
  too, the check is skipped with a warning that says why.

Argument errors of single components (e.g. ``MultiHeadCSRA``'s
``temperatures`` or ``lam < 0``) are raised by the components themselves
when the model is built, which is earlier still.

``tools/train.py`` and ``tools/test.py`` add the hook with
:func:`mmcsra.engine.hooks.config_check_hook.add_config_checks`; a config may
also list ``dict(type='ConfigCheckHook')`` in ``custom_hooks``. This module
holds the checks only and imports no hook (the hook imports it).
"""
import logging
from numbers import Integral
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

__all__ = [
    'ConfigError', 'check_num_classes', 'check_feature_channels',
    'check_runner_config', 'built_datasets', 'DRY_RUN_SIZES'
]

#: image sides of the dry forward, tried in order
DRY_RUN_SIZES = (64, 224)


class ConfigError(ValueError):
    """A config whose parts do not fit together (found before training)."""


# ------------------------------------------------------------ num_classes
def _is_count(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def model_class_counts(model: nn.Module) -> Dict[str, int]:
    """``{'model.head.num_classes': C, ...}`` of every class-dependent part.

    The direct children of the model that have an integer ``num_classes``
    (the head, a label-graph neck, ...) and the data preprocessor's
    ``num_classes`` when it is set. A non-positive value is not a class
    count: MMPretrain's backbones with a built-in classifier (VGG, AlexNet,
    LeNet5, ...) take ``num_classes <= 0`` to mean "no classifier", which is
    how a head-less backbone is configured.
    """
    counts = {}
    for name, child in model.named_children():
        value = getattr(child, 'num_classes', None)
        if _is_count(value) and value > 0:
            counts[f'model.{name}.num_classes'] = int(value)
    if 'model.data_preprocessor.num_classes' in counts:
        # the preprocessor's is only set by configs that need it; it is
        # reported under the top-level key configs use for it
        counts['data_preprocessor.num_classes'] = counts.pop(
            'model.data_preprocessor.num_classes')
    return counts


def dataset_classes(dataset) -> Optional[Tuple[str, ...]]:
    """The class names of a built dataset, or None if it has none.

    A lazily initialised dataset is fully initialised first (the data loader
    would do it at the first ``len()`` anyway), since some datasets read
    their class list from the annotation file.
    """
    if getattr(dataset, '_fully_initialized', True) is False and \
            hasattr(dataset, 'full_init'):
        dataset.full_init()
    metainfo = getattr(dataset, 'metainfo', None) or {}
    classes = metainfo.get('classes')
    return None if classes is None else tuple(classes)


def check_num_classes(model: nn.Module, datasets: Dict[str, object]) -> None:
    """Every ``num_classes`` of the model equals every dataset's class count.

    Args:
        model: the (unwrapped) model.
        datasets: ``{'train': dataset, 'val': ..., 'test': ...}`` (any of
            them); datasets without a class list are not compared.

    Raises:
        ConfigError: listing each mismatch, the dataset's classes and the
            setting to change.
    """
    counts = model_class_counts(model)
    if not counts:
        return
    # (key, model value, dataset class list) -> ['train (MultiDigits)', ...]
    mismatches: Dict[tuple, list] = {}
    for split, dataset in datasets.items():
        classes = dataset_classes(dataset)
        if classes is None:
            continue
        for key, value in counts.items():
            if value != len(classes):
                mismatches.setdefault(
                    (key, value, classes),
                    []).append(f'{split} ({type(dataset).__name__})')
    problems = []
    for (key, value, classes), where in mismatches.items():
        shown = ', '.join(map(repr, classes[:10]))
        if len(classes) > 10:
            shown += ', ...'
        problems.append(
            f'{key} = {value} but the {" and ".join(where)} dataset'
            f'{"s have" if len(where) > 1 else " has"} {len(classes)} '
            f'classes ({shown}): set {key}={len(classes)}')
    if not problems and len(set(counts.values())) > 1:
        problems.append('the model disagrees with itself: ' +
                        ', '.join(f'{key} = {value}'
                                  for key, value in counts.items()))
    if problems:
        raise ConfigError('the number of classes does not match:\n  ' +
                          '\n  '.join(problems))


# ------------------------------------------------------------ in_channels
def expected_in_channels(module: nn.Module):
    """The ``in_channels`` a neck / head declares for its input.

    The first module in ``module.modules()`` order (the module itself first)
    with an integer ``in_channels``, or a list/tuple of integers (a neck fed
    by several stages): e.g. ``CSRAHead`` -> its ``MultiHeadCSRA``,
    MMPretrain's ``CSRAClsHead`` -> its first 1x1 conv. None if there is
    none.
    """
    for sub in module.modules():
        value = getattr(sub, 'in_channels', None)
        if _is_count(value):
            return int(value)
        if isinstance(value, (list, tuple)) and value and all(
                _is_count(v) for v in value):
            return [int(v) for v in value]
    return None


def feature_channels(x) -> Optional[int]:
    """D of a ``(B, D, H, W)`` map, ``(B, N, D)`` tokens or ``(B, D)``."""
    if not isinstance(x, torch.Tensor):
        return None
    if x.dim() in (2, 4):
        return int(x.size(1))
    if x.dim() == 3:
        return int(x.size(2))
    return None


def _layout(x: torch.Tensor) -> str:
    return {
        2: '(B, D)',
        3: '(B, N, D) tokens',
        4: '(B, D, H, W)'
    }.get(x.dim(), f'{x.dim()}-d')


def _as_tuple(feats) -> tuple:
    return (feats, ) if isinstance(feats, torch.Tensor) else tuple(feats)


def _compare(key: str, expected, feats: tuple, source: str, size: int) -> None:
    """Raise if ``expected`` in_channels do not match ``feats``."""
    if expected is None:
        return
    where = f'(from a dry forward of one {size}x{size} image)'
    if isinstance(expected, list):
        got = [feature_channels(f) for f in feats]
        if None in got:
            return
        if len(got) != len(expected) or got != expected:
            shapes = [tuple(f.shape) for f in feats]
            raise ConfigError(
                f'{key}.in_channels = {expected} but {source} gives '
                f'{len(got)} output(s) with {got} channels (shapes {shapes}) '
                f'{where}: set {key}.in_channels={got}')
        return
    last = feats[-1]
    got = feature_channels(last)
    if got is not None and got != expected:
        raise ConfigError(
            f'{key}.in_channels = {expected} but the last output of {source} '
            f'has {got} channels: shape {tuple(last.shape)} as '
            f'{_layout(last)} {where}. Set {key}.in_channels={got}.')


def _input_channels(model: nn.Module) -> int:
    mean = getattr(getattr(model, 'data_preprocessor', None), 'mean', None)
    if isinstance(mean, torch.Tensor) and mean.numel() > 0:
        return int(mean.numel())
    return 3


def check_feature_channels(model: nn.Module,
                           sizes: Sequence[int] = DRY_RUN_SIZES) -> bool:
    """Dry-run the backbone (and neck); compare channels with ``in_channels``.

    The model is put in eval mode and run without gradients on one zero
    image; afterwards every module's ``training`` flag and the random number
    generators are as before, so the check changes nothing in the run.

    Returns:
        bool: True if checked, False if skipped (no backbone / head, or the
        backbone could not run at any of ``sizes``; a warning says why).

    Raises:
        ConfigError: a neck's or the head's ``in_channels`` differs from the
            channels it receives.
    """
    backbone = getattr(model, 'backbone', None)
    head = getattr(model, 'head', None)
    neck = getattr(model, 'neck', None)
    if not isinstance(backbone, nn.Module) or not isinstance(head, nn.Module):
        return False
    try:
        param = next(model.parameters())
        device = param.device
    except StopIteration:
        device = torch.device('cpu')
    modes = {m: m.training for m in model.modules()}
    failures = []
    cuda = [device.index or 0] if device.type == 'cuda' else []
    try:
        model.eval()
        with torch.no_grad(), torch.random.fork_rng(devices=cuda):
            for size in sizes:
                x = torch.zeros(
                    1, _input_channels(model), size, size, device=device)
                try:
                    feats = _as_tuple(backbone(x))
                except Exception as err:  # noqa: BLE001 - reported below
                    failures.append(f'backbone at {size} px: {err!r}')
                    continue
                source = f'the backbone ({type(backbone).__name__})'
                if isinstance(neck, nn.Module):
                    _compare('model.neck', expected_in_channels(neck), feats,
                             source, size)
                    try:
                        feats = _as_tuple(neck(feats))
                    except Exception as err:  # noqa: BLE001
                        failures.append(f'neck at {size} px: {err!r}')
                        continue
                    source = f'the neck ({type(neck).__name__})'
                _compare('model.head', expected_in_channels(head), feats,
                         source, size)
                return True
    finally:
        for module, training in modes.items():
            module.training = training
    print_log(
        'ConfigCheckHook: the in_channels check was skipped, the dry '
        'forward failed: ' + '; '.join(failures),
        logger='current',
        level=logging.WARNING)
    return False


# ----------------------------------------------------------------- runner
def built_datasets(runner) -> Dict[str, object]:
    """The datasets of the loops the runner has built (not building any)."""
    from mmengine.runner import BaseLoop

    found = {}
    for split in ('train', 'val', 'test'):
        loop = getattr(runner, f'_{split}_loop', None)
        if isinstance(loop, BaseLoop):
            dataset = getattr(loop.dataloader, 'dataset', None)
            if dataset is not None:
                found[split] = dataset
    return found


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


def check_runner_config(runner, sizes: Sequence[int] = DRY_RUN_SIZES) -> None:
    """All build-time checks of a runner whose loops are built.

    Raises:
        ConfigError: see :func:`check_num_classes` and
            :func:`check_feature_channels`.
    """
    model = unwrap(runner.model)
    datasets = built_datasets(runner)
    check_num_classes(model, datasets)
    checked = check_feature_channels(model, sizes)
    counts = model_class_counts(model)
    print_log(
        f'ConfigCheckHook: {counts or "no num_classes"} fit the '
        f'{sorted(datasets) or "(no)"} datasets; in_channels '
        f'{"fit the features" if checked else "not checked"}',
        logger='current')
