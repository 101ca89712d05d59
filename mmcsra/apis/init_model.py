"""One way to build a model from a config and load a checkpoint into it.

:func:`init_model` (``tools/infer.py``, :class:`MultiLabelInferencer`,
:func:`mmcsra.apis.get_model`, :func:`mmcsra.apis.retrofit_csra`;
``tools/test.py`` evaluates through the Runner, whose
:class:`~mmcsra.engine.hooks.ConfigCheckHook` runs the same checks) builds the model of ``config`` and, given a checkpoint:

1. reads it with mmengine's ``CheckpointLoader``, which mmcsra routes
   through its safe loader (``weights_only=True`` and an allow-list, see
   :mod:`mmcsra.engine.safe_loading`);
2. runs :func:`mmcsra.engine.checkpoint_checks.check_checkpoint_fits`:
   tensor shapes, missing / unexpected keys (an error unless
   ``allow_partial``) and the checkpoint's class names and order against
   the config's test dataset;
3. loads the weights (strictly unless ``allow_partial``), sets ``cfg`` and
   ``dataset_meta`` on the model, puts it on ``device`` in eval mode.

:func:`build_test_pipeline` is the one place that turns a config's test
pipeline into the transforms that prepare an image file or array.
"""
import copy
import inspect
import os
from numbers import Integral
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope

from mmcsra.engine.checkpoint_checks import (check_checkpoint_fits,
                                             loaded_state_dict)

__all__ = [
    'init_model', 'load_checked_checkpoint', 'config_dataset_meta',
    'build_test_pipeline', 'LOADING_TRANSFORMS', 'ANNOTATION_TRANSFORMS'
]

LOADING_TRANSFORMS = ('LoadImageFromFile', 'LoadImageFromFileChecked')
#: transforms that read a per-sample annotation; dropped at inference
ANNOTATION_TRANSFORMS = ('CropByBBox', )


def _as_config(config: Union[str, os.PathLike, Config]) -> Config:
    if isinstance(config, Config):
        return copy.deepcopy(config)
    if isinstance(config, (str, os.PathLike)):
        return Config.fromfile(str(config))
    raise TypeError('config must be a config file or a Config, got '
                    f'{type(config).__name__}')


def _test_dataset_cfg(cfg: Config) -> dict:
    loader = cfg.get('test_dataloader') or {}
    dataset = loader.get('dataset') or {}
    # dataset wrappers (RepeatDataset, ...) keep the dataset in `dataset`
    while isinstance(dataset.get('dataset'),
                     dict) and not (dataset.get('classes') or
                                    (dataset.get('metainfo') or {})):
        dataset = dataset['dataset']
    return dataset


def config_dataset_meta(cfg: Config) -> Tuple[Dict[str, Any], str]:
    """The test dataset's meta as the config gives it, without building it.

    ``classes=`` of the dataset config, else its ``metainfo``, else the
    registered dataset class's ``METAINFO``.

    Returns:
        tuple: ``(dataset_meta, what)``; ``what`` says where it comes from
        (for messages). ``dataset_meta`` is ``{}`` if the config has none.
    """
    from mmpretrain.registry import DATASETS

    dataset = _test_dataset_cfg(cfg)
    kind = dataset.get('type')
    what = f'the config\'s test dataset ({kind})'
    classes = dataset.get('classes') or (dataset.get('metainfo')
                                         or {}).get('classes')
    if isinstance(classes, str):  # MMPretrain: a file, one name per line
        from mmengine.fileio import list_from_file
        classes = list_from_file(classes)
    if classes:
        return dict(classes=[str(c) for c in classes]), what
    dataset_cls = DATASETS.get(kind) if isinstance(kind, str) else None
    meta = dict(getattr(dataset_cls, 'METAINFO', None) or {})
    return meta, what


def load_checked_checkpoint(model: torch.nn.Module,
                            checkpoint: Union[str, os.PathLike],
                            expected_classes: Optional[Sequence[str]] = None,
                            what_expected: str = 'the dataset',
                            allow_partial: bool = False) -> Dict[str, Any]:
    """Read ``checkpoint``, check it against ``model``, load it.

    Args:
        model: the built model.
        checkpoint: path, URL or ``pkg://`` name.
        expected_classes: the class names the model is used with (the
            dataset's); None to not compare (a warning says so when the
            checkpoint has classes).
        what_expected: what ``expected_classes`` are, for the messages.
        allow_partial: load a checkpoint whose keys do not all match
            (missing / unexpected keys are then logged, not raised).

    Returns:
        dict: the checkpoint's ``meta['dataset_meta']`` (``{}`` if none).

    Raises:
        CheckpointShapeError, CheckpointKeyError, ClassOrderError: see
            :func:`~mmcsra.engine.checkpoint_checks.check_checkpoint_fits`.
        UnsafeCheckpointError / CorruptCheckpointError: from the loader.
    """
    from mmengine.runner.checkpoint import _load_checkpoint

    filename = str(checkpoint)
    content = _load_checkpoint(filename, map_location='cpu')
    if not isinstance(content, dict):
        raise TypeError(f'checkpoint {filename!r} holds a '
                        f'{type(content).__name__}, not a dict')
    check_checkpoint_fits(
        model,
        content,
        filename=filename,
        datasets_classes=[(what_expected, expected_classes)],
        allow_partial=allow_partial)
    state = {
        k[len('module.'):] if k.startswith('module.') else k: v
        for k, v in loaded_state_dict(content).items()
    }
    model.load_state_dict(state, strict=not allow_partial)
    meta = content.get('meta') or {}
    return dict(meta.get('dataset_meta') or {})


def init_model(config: Union[str, os.PathLike, Config],
               checkpoint: Union[None, str, os.PathLike] = None,
               device: Union[str, torch.device] = 'cpu',
               cfg_options: Optional[dict] = None,
               allow_partial: bool = False):
    """Build the model of ``config`` and load ``checkpoint`` with checks.

    Args:
        config: a config file or a :class:`~mmengine.config.Config`.
        checkpoint: weights to load (path, URL, ``pkg://``); None for a
            randomly initialised model (``init_weights()`` is not called, so
            building never downloads).
        device: where to put the model. Defaults to ``'cpu'``.
        cfg_options: merged into the config first.
        allow_partial: accept a checkpoint whose keys match only part of the
            model (logged).

    Returns:
        mmengine.model.BaseModel: in eval mode, with ``cfg`` / ``_config``
        (the config) and ``dataset_meta`` / ``_dataset_meta`` (the
        checkpoint's ``meta['dataset_meta']``, else the config's test
        dataset's meta).
    """
    from mmpretrain.registry import MODELS

    cfg = _as_config(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)

    dataset_meta, what = config_dataset_meta(cfg)
    if checkpoint is not None:
        found = load_checked_checkpoint(
            model,
            checkpoint,
            expected_classes=dataset_meta.get('classes'),
            what_expected=what,
            allow_partial=allow_partial)
        if found:
            dataset_meta = found
    model.cfg = model._config = cfg
    model.dataset_meta = model._dataset_meta = dataset_meta
    model.to(device)
    model.eval()
    return model


# ----------------------------------------------------------- test pipeline
def _base_type(transform: dict) -> str:
    """Registry name without a scope prefix (``mmpretrain.Resize``)."""
    return str(transform.get('type', '')).split('.')[-1]


def _in_memory_image_size(dataset_cfg: dict, image_size: Optional[int]) -> int:
    if image_size is not None:
        if isinstance(image_size, bool) or not isinstance(
                image_size, Integral) or image_size < 1:
            raise ValueError(f'image_size must be an int >= 1, got '
                             f'{image_size!r}')
        return int(image_size)
    if dataset_cfg.get('canvas_size') is not None:
        return int(dataset_cfg['canvas_size'])
    from mmpretrain.registry import DATASETS
    dataset_type = dataset_cfg.get('type')
    dataset_cls = DATASETS.get(dataset_type) if isinstance(dataset_type,
                                                           str) else None
    if dataset_cls is not None:
        param = inspect.signature(
            dataset_cls.__init__).parameters.get('canvas_size')
        if param is not None and isinstance(param.default, Integral):
            return int(param.default)
    raise ValueError(
        f'the test pipeline of dataset {dataset_type!r} has no loading '
        'step and the dataset declares no canvas_size: pass image_size '
        '(the side images are resized to)')


def build_test_pipeline(
        cfg: Config,
        image_size: Optional[int] = None) -> Tuple[Compose, Compose]:
    """``(loading, remaining)`` transforms of the config's test pipeline.

    * the loading transform (``LoadImageFromFile`` /
      ``LoadImageFromFileChecked``, set to raise on an unreadable image)
      reads image files; arrays skip it;
    * transforms that need a dataset annotation
      (:data:`ANNOTATION_TRANSFORMS`) are removed;
    * a pipeline without a loading step belongs to an in-memory dataset
      (the ``MultiDigits`` demo): ``LoadImageFromFileChecked`` and
      ``Resize(scale=(S, S))`` are used, ``S`` = ``image_size``, else the
      dataset's ``canvas_size`` (config value or the class default).
    """
    if cfg.get('test_dataloader'):
        dataset_cfg = cfg.test_dataloader.dataset
        pipeline = copy.deepcopy(dataset_cfg.get('pipeline'))
    else:
        dataset_cfg = {}
        pipeline = copy.deepcopy(cfg.get('test_pipeline'))
    if not pipeline:
        raise ValueError('the config has no test pipeline '
                         '(test_dataloader.dataset.pipeline)')
    pipeline: List[dict] = [
        t for t in pipeline if _base_type(t) not in ANNOTATION_TRANSFORMS
    ]
    loaders = [
        i for i, t in enumerate(pipeline)
        if _base_type(t) in LOADING_TRANSFORMS
    ]
    if len(loaders) > 1:
        raise ValueError('the test pipeline has several loading '
                         f'transforms: {[pipeline[i] for i in loaders]}')
    if loaders:
        loader = pipeline.pop(loaders[0])
        if _base_type(loader) == 'LoadImageFromFileChecked':
            loader['on_error'] = 'raise'  # never drop an input image
    else:  # in-memory dataset: images arrive as files of any size
        size = _in_memory_image_size(dataset_cfg, image_size)
        loader = dict(type='LoadImageFromFileChecked')
        pipeline.insert(0, dict(type='Resize', scale=(size, size)))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return Compose([loader]), Compose(pipeline)
