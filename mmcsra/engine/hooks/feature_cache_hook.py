"""Train the head from cached frozen-backbone features when that is exact.

With ``model.type='FrozenBackboneClassifier'`` the backbone (and neck if
``freeze_neck``) is a fixed function :math:`f`. When the train pipeline maps
each sample to the same tensor every epoch, :math:`f(x_i)` is the same every
epoch and can be computed once. The hook decides, before training, whether
that holds and turns the model's per-sample cache on or off:

* every transform of the train dataset's pipeline must be known to be
  deterministic (:data:`DETERMINISTIC_TRANSFORMS` plus the user's
  ``deterministic_transforms``); an unknown transform counts as random;
* the data preprocessor must have no ``batch_augments`` (Mixup, CutMix);
* the model must be a ``FrozenBackboneClassifier``.

Otherwise it logs why and the model recomputes :math:`f` every step.

The cache key is the SHA-256 of the train dataset's config (data root,
annotation file, pipeline, ...), the frozen modules' structure and their
weights and BN buffers. It is re-derived before every epoch; if the weights
changed (e.g. a hook unfroze or reloaded them) the cache is dropped, and
once per epoch one cached sample is recomputed and compared, so a stale
cache fails loudly (``StaleFeatureCacheError``) instead of being used.
The per-sample key inside the cache is ``(sample_idx, img_path)``.

With ``cache_dir`` the features are also written, after each epoch that
added some, to ``<cache_dir>/<key>/rank<r>.pth`` (atomically) and read back
by the next run with the same key (through the allow-listed
``weights_only`` loader), e.g. several heads trained on one frozen backbone
and one split. ``cache_dir='work_dir'`` means ``<work_dir>/feature_cache``.
"""
import hashlib
import json
import os
import os.path as osp
from typing import Iterable, List, Optional, Sequence

from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

__all__ = [
    'FeatureCacheHook', 'DETERMINISTIC_TRANSFORMS', 'random_transforms',
    'feature_cache_key'
]

#: transforms that map the same input to the same output every call
DETERMINISTIC_TRANSFORMS = frozenset({
    'LoadImageFromFile',
    'LoadImageFromFileChecked',
    'LoadAnnotations',
    'Resize',
    'ResizeEdge',
    'CenterCrop',
    'Pad',
    'Normalize',
    'ToTensor',
    'ImageToTensor',
    'Transpose',
    'PackInputs',
    'PackClsInputs',
    'PackMultiTaskInputs',
    'ToNumpy',
    'Collect',
    'KeyMapper',
    'TransformBroadcaster',
})


def _transform_names(pipeline) -> List[str]:
    """Class names of a built pipeline (a ``Compose``) or of a list of
    transform configs, nested ``transforms`` included."""
    names = []
    items = getattr(pipeline, 'transforms', pipeline)
    for t in items or []:
        if isinstance(t, dict):
            names.append(str(t.get('type')))
            inner = t.get('transforms')
        else:
            names.append(type(t).__name__)
            inner = getattr(t, 'transforms', None)
        if inner is not None:
            names.extend(_transform_names(inner))
    return names


def random_transforms(
    pipeline, deterministic: Iterable[str] = ()) -> List[str]:
    """Names in ``pipeline`` that are not known to be deterministic."""
    known = DETERMINISTIC_TRANSFORMS | set(deterministic)
    return [
        n.split('.')[-1] for n in _transform_names(pipeline)
        if n.split('.')[-1] not in known
    ]


def feature_cache_key(dataset_cfg, frozen_state_hash: str) -> str:
    """SHA-256 of the dataset config and the frozen modules' state hash."""

    def plain(obj):
        if hasattr(obj, 'to_dict'):
            obj = obj.to_dict()
        return obj

    text = json.dumps(plain(dataset_cfg), sort_keys=True, default=repr)
    return hashlib.sha256(
        (text + '\n' + frozen_state_hash).encode()).hexdigest()


def _dataset_pipeline(dataset):
    """The pipeline of a (possibly wrapped) built dataset."""
    while not hasattr(dataset, 'pipeline') and hasattr(dataset, 'dataset'):
        dataset = dataset.dataset
    if hasattr(dataset, 'datasets'):  # ConcatDataset: all must agree
        return [
            t for d in dataset.datasets
            for t in getattr(_dataset_pipeline(d), 'transforms', [])
        ]
    return getattr(dataset, 'pipeline', None)


def _describe(dataset) -> dict:
    """What of a built dataset changes its samples: type, data root,
    annotation file, prefixes, classes and the pipeline (its transforms'
    ``repr``, which state their parameters)."""
    inner = dataset
    while not hasattr(inner, 'pipeline') and hasattr(inner, 'dataset'):
        inner = inner.dataset
    meta = getattr(inner, 'metainfo', {}) or {}
    return dict(
        type=type(dataset).__name__,
        inner=type(inner).__name__,
        data_root=str(getattr(inner, 'data_root', None)),
        ann_file=str(getattr(inner, 'ann_file', None)),
        data_prefix=repr(getattr(inner, 'data_prefix', None)),
        classes=repr(meta.get('classes')),
        length=len(dataset),
        pipeline=repr(_dataset_pipeline(dataset)))


@HOOKS.register_module()
class FeatureCacheHook(Hook):
    """Cache a ``FrozenBackboneClassifier``'s frozen features when exact.

    Config::

        model = dict(type='FrozenBackboneClassifier', ...)
        custom_hooks = [dict(type='FeatureCacheHook')]

    Args:
        deterministic_transforms (Sequence[str]): extra transform class
            names to treat as deterministic (your own transforms). Defaults
            to ().
        verify (bool): recompute one cached sample per epoch and raise if it
            differs. Defaults to True.
        cache_dir (str, optional): also keep the features on disk there
            (``'work_dir'``: ``<work_dir>/feature_cache``), shared by runs
            with the same key. Defaults to None (memory only).
    """

    priority = 'NORMAL'

    def __init__(self,
                 deterministic_transforms: Sequence[str] = (),
                 verify: bool = True,
                 cache_dir: Optional[str] = None):
        self.deterministic_transforms = tuple(deterministic_transforms)
        self.verify = verify
        self.cache_dir = cache_dir
        self._saved_size = 0
        self.enabled = False
        self.reason: Optional[str] = None
        self.key: Optional[str] = None

    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def _why_not(self, runner) -> Optional[str]:
        model = self._model(runner)
        if not hasattr(model, 'enable_feature_cache'):
            return (f'the model is {type(model).__name__}, not '
                    'FrozenBackboneClassifier')
        pipeline = _dataset_pipeline(runner.train_dataloader.dataset)
        if pipeline is None:
            return 'the train dataset has no pipeline to check'
        random = random_transforms(pipeline, self.deterministic_transforms)
        if random:
            return (f'the train pipeline has random (or undeclared) '
                    f'transforms {random}; declare deterministic ones with '
                    'FeatureCacheHook(deterministic_transforms=[...])')
        if getattr(model.data_preprocessor, 'batch_augments', None):
            return 'the data preprocessor has batch_augments'
        return None

    def _current_key(self, runner) -> str:
        # the config (when the Runner was built from one) and the built
        # dataset: a Runner built from arguments has an empty cfg
        dataset_cfg = runner.cfg.get('train_dataloader', {}).get('dataset')
        return feature_cache_key(
            dict(
                config=dataset_cfg,
                built=_describe(runner.train_dataloader.dataset)),
            self._model(runner).frozen_state_hash())

    def before_train(self, runner) -> None:
        logger = MMLogger.get_current_instance()
        self.reason = self._why_not(runner)
        model = self._model(runner)
        if self.reason is not None:
            self.enabled = False
            if hasattr(model, 'disable_feature_cache'):
                model.disable_feature_cache()
            logger.info(f'FeatureCacheHook: not caching features: '
                        f'{self.reason}')
            return
        self.key = self._current_key(runner)
        model.enable_feature_cache(self.key)
        self.enabled = True
        loaded = self._load(runner, model)
        where = 'memory' if self._file(runner) is None else \
            f'memory and {self._file(runner)}'
        logger.info(f'FeatureCacheHook: caching frozen features in {where} '
                    f'(rank {runner.rank}, key {self.key[:12]}, '
                    f'{loaded} read from disk)')

    def _file(self, runner) -> Optional[str]:
        if self.cache_dir is None:
            return None
        root = osp.join(runner.work_dir, 'feature_cache') \
            if self.cache_dir == 'work_dir' else self.cache_dir
        return osp.join(root, self.key, f'rank{runner.rank}.pth')

    def _load(self, runner, model) -> int:
        path = self._file(runner)
        self._saved_size = 0
        if path is None or not osp.isfile(path):
            return 0
        from mmcsra.engine import safe_torch_load
        added = model.import_feature_cache(
            safe_torch_load(path, map_location='cpu'))
        self._saved_size = model.feature_cache_size
        return added

    def after_train_epoch(self, runner) -> None:
        path = None if not self.enabled else self._file(runner)
        model = self._model(runner)
        if path is None or model.feature_cache_size <= self._saved_size:
            return
        import torch
        os.makedirs(osp.dirname(path), exist_ok=True)
        tmp = f'{path}.tmp{os.getpid()}'
        torch.save(model.export_feature_cache(), tmp)
        os.replace(tmp, path)  # readers never see a partial file
        self._saved_size = model.feature_cache_size

    def before_train_epoch(self, runner) -> None:
        if not self.enabled:
            return
        model = self._model(runner)
        key = self._current_key(runner)
        if key != self.key:
            MMLogger.get_current_instance().warning(
                'FeatureCacheHook: the frozen weights changed; dropping '
                f'{model.feature_cache_size} cached features')
            self.key = key
            self._saved_size = 0
        model.enable_feature_cache(key)  # a new key empties the cache
        if self.verify and runner.epoch > 0:
            model.verify_feature_cache_next()
