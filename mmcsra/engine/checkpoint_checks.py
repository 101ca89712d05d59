"""Checkpoints whose tensors do not fit the model: say so, or re-initialise.

With ``load_from`` mmengine loads a checkpoint with ``strict=False``: a
tensor whose shape differs from the model's (e.g. the classifier of a
checkpoint trained for 10 classes loaded into a 7-class model) only gives a
generic size-mismatch warning, and the run goes on with that layer left at
its random initialisation -- a test then reports chance-level numbers.

:func:`check_checkpoint_shapes`, called by :class:`ConfigCheckHook` in
``after_load_checkpoint`` (the checkpoint is read, not yet loaded into the
model), compares the shapes first:

* tensors of the **class-dependent modules** (the model's direct children
  with a ``num_classes``: the head, a label-graph neck) with other shapes
  raise :class:`CheckpointShapeError` naming every such key with both
  shapes and the option to re-initialise them; with ``reinit_head=True``
  (config key ``load_from_reinit_head=True``, ``tools/train.py
  --reinit-head``) they are dropped from the checkpoint instead, so these
  layers keep their initialisation, and the log lists them. Tensors of those
  modules whose shapes match (e.g. ML-Decoder's decoder layer) are loaded.
* tensors of **other modules** with other shapes (another backbone) always
  raise: re-initialising the head can not fix that.
* a **resumed** run must continue the model it saved: a mismatch raises,
  whatever ``reinit_head`` says.

Keys are compared as mmengine loads them (a leading ``module.``, from a
wrapped model, is stripped). Both ``state_dict`` and, when present,
``ema_state_dict`` are checked.

Two more checks of what a checkpoint holds (issue 14, items 6 and 7):

* :func:`check_checkpoint_keys` -- mmengine's ``Runner.load_checkpoint``
  loads with ``strict=False``: a checkpoint whose keys match none (or only
  some) of the model's parameters leaves those at their random
  initialisation, with a warning lost in the log. Missing or unexpected
  keys raise :class:`CheckpointKeyError` with their counts and first names,
  unless ``allow_partial=True`` (``--allow-partial``, config key
  ``load_from_allow_partial=True``).
* :func:`check_class_order` -- two class lists (a checkpoint's
  ``meta['dataset_meta']['classes']``, a dataset's, a threshold file's)
  must be equal, name by name; :class:`ClassOrderError` names the first
  differing position and says when the lists hold the same classes in
  another order. It is the one comparison every tool uses (test, infer,
  calibrate, publish, retrofit).
"""
import logging
import re
from numbers import Integral
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log

__all__ = [
    'CheckpointShapeError', 'class_dependent_modules', 'shape_mismatches',
    'check_checkpoint_shapes', 'CheckpointKeyError', 'ClassOrderError',
    'check_class_order', 'checkpoint_classes', 'loaded_state_dict',
    'key_mismatches', 'check_checkpoint_keys', 'check_checkpoint_fits'
]

STATE_DICT_KEYS = ('state_dict', 'ema_state_dict')


class CheckpointShapeError(ValueError):
    """A checkpoint has tensors whose shapes differ from the model's."""


class CheckpointKeyError(ValueError):
    """A checkpoint lacks some of the model's keys or has keys it lacks."""


class ClassOrderError(ValueError):
    """Two class lists that must be equal (names and order) differ."""


def class_dependent_modules(model: nn.Module) -> Tuple[str, ...]:
    """Names of the model's direct children that have a ``num_classes``."""
    names = []
    for name, child in model.named_children():
        value = getattr(child, 'num_classes', None)
        if name != 'data_preprocessor' and isinstance(
                value, Integral) and not isinstance(value, bool):
            names.append(name)
    return tuple(names)


def _model_key(key: str) -> str:
    """The model's name of a checkpoint key (as mmengine's ``revise_keys``)."""
    return re.sub(r'^module\.', '', key)


def shape_mismatches(
        model_state: Dict[str, torch.Tensor],
        state_dict: Dict[str, object]) -> List[Tuple[str, str, tuple, tuple]]:
    """``[(checkpoint key, model key, checkpoint shape, model shape)]``."""
    found = []
    for key, value in state_dict.items():
        name = _model_key(key)
        mine = model_state.get(name)
        if isinstance(value, torch.Tensor) and isinstance(
                mine, torch.Tensor) and value.shape != mine.shape:
            found.append((key, name, tuple(value.shape), tuple(mine.shape)))
    return found


def _rows(mismatches) -> str:
    return '\n'.join(f'  {name}: checkpoint {ckpt}, model {mine}'
                     for _, name, ckpt, mine in mismatches)


def check_checkpoint_shapes(model: nn.Module,
                            checkpoint: dict,
                            filename: Optional[str] = None,
                            reinit_head: bool = False,
                            resume: bool = False) -> List[str]:
    """Raise on tensors that do not fit ``model``, or drop the head's.

    Args:
        model: the (unwrapped) model the checkpoint is loaded into.
        checkpoint: the loaded checkpoint (a dict with ``state_dict``, or a
            bare state dict); modified in place when keys are dropped.
        filename: the checkpoint's path, for the messages.
        reinit_head: drop the class-dependent modules' tensors whose shapes
            differ (they keep their initialisation) instead of raising.
        resume: the checkpoint resumes a run (never re-initialise).

    Returns:
        list[str]: the model keys dropped (empty if nothing differed).

    Raises:
        CheckpointShapeError: see the module docstring.
    """
    where = f'checkpoint {filename!r}' if filename else 'the checkpoint'
    modules = class_dependent_modules(model)
    prefixes = tuple(f'{name}.' for name in modules)
    model_state = model.state_dict()
    if any(key in checkpoint for key in STATE_DICT_KEYS):
        state_dicts = [
            checkpoint[key] for key in STATE_DICT_KEYS
            if isinstance(checkpoint.get(key), dict)
        ]
    else:
        state_dicts = [checkpoint]

    dropped: List[str] = []
    for state_dict in state_dicts:
        mismatches = shape_mismatches(model_state, state_dict)
        if not mismatches:
            continue
        of_classes = [m for m in mismatches if m[1].startswith(prefixes)]
        others = [m for m in mismatches if not m[1].startswith(prefixes)]
        if others:
            head_part = (f'\nand {len(of_classes)} of the class-dependent '
                         f'modules {list(modules)}:\n{_rows(of_classes)}'
                         if of_classes else '')
            raise CheckpointShapeError(
                f'{where} does not fit this model: {len(others)} tensor(s) '
                'outside the class-dependent modules have other shapes, so '
                f'it was saved from another architecture:\n{_rows(others)}'
                f'{head_part}\nCheck the backbone / neck settings of the '
                'config; re-initialising the head (--reinit-head) can not '
                'fix this.')
        if resume or not reinit_head:
            if resume:
                advice = (
                    'A run can only be resumed with the model that saved it. '
                    'To start a new run from these weights, load it with '
                    "load_from (no --resume) and tools/train.py's "
                    '--reinit-head.')
            else:
                advice = (
                    'To fine-tune it on this model\'s classes, re-initialise '
                    'these layers: tools/train.py --reinit-head (config key '
                    'load_from_reinit_head=True); every other weight is '
                    'loaded. To evaluate it, use the config it was trained '
                    'with (its number of classes).')
            raise CheckpointShapeError(
                f'{where} was trained for a different number of classes: '
                f'{len(of_classes)} tensor(s) of the class-dependent '
                f'module(s) {list(modules)} have other shapes:\n'
                f'{_rows(of_classes)}\n{advice}')
        for key, name, _, _ in of_classes:
            del state_dict[key]
            if name not in dropped:
                dropped.append(name)
        print_log(
            f'load_from_reinit_head: {where}: dropped {len(of_classes)} '
            'tensor(s) of the class-dependent module(s) '
            f'{list(modules)} whose shapes differ; these layers keep their '
            f'initialisation:\n{_rows(of_classes)}',
            logger='current',
            level=logging.WARNING)
    return dropped


# ------------------------------------------------------------ class order
def check_class_order(expected: Optional[Sequence[str]],
                      found: Optional[Sequence[str]],
                      what_expected: str,
                      what_found: str,
                      missing_ok: bool = True) -> bool:
    """Raise unless ``found`` lists the classes of ``expected``, in order.

    Args:
        expected: the reference class names (e.g. the dataset's).
        found: the class names to check (e.g. the checkpoint's).
        what_expected / what_found: what the lists are, for the message
            (e.g. ``'the test dataset'``, ``"checkpoint 'x.pth'"``).
        missing_ok: when one of the lists is None or empty (e.g. a stock
            MMPretrain checkpoint without ``dataset_meta``), warn and return
            False instead of raising.

    Returns:
        bool: True if both lists were given and are equal, False if one was
        missing (warned).

    Raises:
        ClassOrderError: the lists differ: in length, in a name (the first
            differing position is given), or in order only (the same set of
            classes; the message says so).
    """
    if not expected or not found:
        which, other = ((what_found, what_expected) if not found else
                        (what_expected, what_found))
        if not missing_ok:
            raise ClassOrderError(
                f'{which} names no classes, so they can not be compared '
                f'with those of {other}')
        print_log(
            f'{which} names no classes (e.g. a stock MMPretrain checkpoint '
            'without meta["dataset_meta"]): class names and order are not '
            f'checked against {other}',
            logger='current',
            level=logging.WARNING)
        return False
    expected = [str(c) for c in expected]
    found = [str(c) for c in found]
    if expected == found:
        return True
    first = next(
        (i for i, (a, b) in enumerate(zip(expected, found)) if a != b),
        min(len(expected), len(found)))

    def at(names, i):
        return repr(names[i]) if i < len(names) else '(none: list ends)'

    head = (f'{what_found} and {what_expected} have different classes: '
            f'first difference at position {first}: {at(found, first)} in '
            f'{what_found}, {at(expected, first)} in {what_expected}')
    if len(found) == len(expected) and sorted(found) == sorted(expected):
        moved = sum(a != b for a, b in zip(expected, found))
        raise ClassOrderError(
            f'{head}. They are the same classes, other order ({moved} of '
            f'{len(expected)} positions differ): scores would be read for '
            'the wrong classes. Use the class order the model was trained '
            "with (e.g. the dataset's classes=... / metainfo) or retrain.")
    only_found = [c for c in found if c not in set(expected)]
    only_expected = [c for c in expected if c not in set(found)]
    raise ClassOrderError(
        f'{head} ({len(found)} vs {len(expected)} classes; only in '
        f'{what_found}: {only_found[:5]}, only in {what_expected}: '
        f'{only_expected[:5]})')


def checkpoint_classes(checkpoint: dict) -> Optional[List[str]]:
    """``meta['dataset_meta']['classes']`` of a checkpoint, or None."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    dataset_meta = meta.get('dataset_meta') if isinstance(meta, dict) else None
    classes = dataset_meta.get('classes') if isinstance(dataset_meta,
                                                        dict) else None
    if not classes:
        return None
    return [str(c) for c in classes]


# ------------------------------------------------------------------- keys
#: model keys not compared: data_preprocessor buffers (mean/std) come from
#: the config, not from the checkpoint
IGNORED_KEY_PREFIXES = ('data_preprocessor.', )
NUM_NAMES_SHOWN = 5


def loaded_state_dict(checkpoint: dict) -> dict:
    """The state dict mmengine loads into the model: ``state_dict`` (an EMA
    checkpoint keeps its averaged weights there), else the bare dict."""
    if isinstance(checkpoint.get('state_dict'), dict):
        return checkpoint['state_dict']
    return checkpoint


def key_mismatches(
        model: nn.Module,
        state_dict: Dict[str, object]) -> Tuple[List[str], List[str]]:
    """``(missing, unexpected)`` model key names, sorted.

    ``missing``: the model's state keys the checkpoint lacks;
    ``unexpected``: checkpoint keys (``module.`` stripped) the model lacks.
    ``data_preprocessor.`` keys are ignored on both sides.
    """
    mine = {
        k
        for k in model.state_dict() if not k.startswith(IGNORED_KEY_PREFIXES)
    }
    theirs = {
        _model_key(k)
        for k in state_dict
        if not _model_key(k).startswith(IGNORED_KEY_PREFIXES)
    }
    return sorted(mine - theirs), sorted(theirs - mine)


def _names(keys: List[str]) -> str:
    more = len(keys) - NUM_NAMES_SHOWN
    shown = ', '.join(keys[:NUM_NAMES_SHOWN])
    return shown + (f', ... ({more} more)' if more > 0 else '')


def check_checkpoint_keys(
    model: nn.Module,
    checkpoint: dict,
    filename: Optional[str] = None,
    allow_partial: bool = False,
    expected_missing: Sequence[str] = ()
) -> Tuple[List[str], List[str]]:
    """Raise unless the loaded state dict has exactly the model's keys.

    Args:
        model: the (unwrapped) model.
        checkpoint: the loaded checkpoint (see :func:`loaded_state_dict`).
        filename: for the messages.
        allow_partial: warn (with the same counts and names) instead of
            raising, for the user who means to load part of a model.
        expected_missing: model keys known to be absent (e.g. dropped by
            ``reinit_head``); not reported.

    Returns:
        tuple: ``(missing, unexpected)`` as :func:`key_mismatches`.

    Raises:
        CheckpointKeyError: missing or unexpected keys and not
            ``allow_partial``.
    """
    where = f'checkpoint {filename!r}' if filename else 'the checkpoint'
    missing, unexpected = key_mismatches(model, loaded_state_dict(checkpoint))
    skip = set(expected_missing)
    missing = [k for k in missing if k not in skip]
    if not missing and not unexpected:
        return missing, unexpected
    total = len([
        k for k in model.state_dict() if not k.startswith(IGNORED_KEY_PREFIXES)
    ])
    lines = []
    if missing:
        lines.append(f'  {len(missing)} of the model\'s {total} keys are not '
                     f'in it (they would keep their random initialisation): '
                     f'{_names(missing)}')
    if unexpected:
        lines.append(f'  {len(unexpected)} key(s) of it are not in the '
                     f'model: {_names(unexpected)}')
    message = (f'{where} does not match the model\'s parameters:\n' +
               '\n'.join(lines))
    if allow_partial:
        print_log(
            f'{message}\nloading it anyway (allow_partial)',
            logger='current',
            level=logging.WARNING)
        return missing, unexpected
    raise CheckpointKeyError(
        f'{message}\nIs it the checkpoint of this config? To load it '
        'partially on purpose, pass --allow-partial (config key '
        'load_from_allow_partial=True).')


# ---------------------------------------------------------------- all three
def check_checkpoint_fits(model: nn.Module,
                          checkpoint: dict,
                          filename: Optional[str] = None,
                          datasets_classes: Sequence[Tuple[
                              str, Optional[Sequence[str]]]] = (),
                          allow_partial: bool = False,
                          reinit_head: bool = False,
                          resume: bool = False) -> List[str]:
    """Every check of a read checkpoint before it is loaded into ``model``.

    In this order: tensor shapes (:func:`check_checkpoint_shapes`, which may
    drop the head's tensors with ``reinit_head``), keys
    (:func:`check_checkpoint_keys`; the dropped keys are not reported
    missing) and class names / order (:func:`check_class_order` of the
    checkpoint's ``meta['dataset_meta']['classes']`` against each
    ``(what, classes)`` of ``datasets_classes``; skipped with a warning when
    the head is re-initialised, since it is then trained for the dataset's
    classes). ``tools/test.py`` / ``tools/train.py`` (through
    :class:`~mmcsra.engine.hooks.ConfigCheckHook`) and
    :func:`mmcsra.apis.init_model` call it.

    Returns:
        list[str]: the model keys dropped by ``reinit_head``.
    """
    where = f'checkpoint {filename!r}' if filename else 'the checkpoint'
    dropped = check_checkpoint_shapes(
        model,
        checkpoint,
        filename=filename,
        reinit_head=reinit_head,
        resume=resume)
    check_checkpoint_keys(
        model,
        checkpoint,
        filename=filename,
        allow_partial=allow_partial,
        expected_missing=dropped)
    if reinit_head and not resume:
        if datasets_classes:
            print_log(
                f'load_from_reinit_head: the class names of {where} are not '
                "compared with the datasets' (the head is trained anew)",
                logger='current',
                level=logging.WARNING)
        return dropped
    found = checkpoint_classes(checkpoint)
    if found is None:
        if datasets_classes:  # one warning, not one per dataset
            check_class_order(datasets_classes[0][1], None,
                              datasets_classes[0][0], where)
        return dropped
    for what, classes in datasets_classes:
        check_class_order(classes, found, what, where)
    return dropped
