"""An ``ImageClassifier`` whose backbone (and optionally neck) is frozen.

Linear probing / head-only training: the frozen part runs in eval mode
(BatchNorm uses and keeps its running statistics, dropout / drop-path are
off) under ``torch.no_grad``, its parameters have ``requires_grad=False``,
and both survive every ``model.train()`` the Runner's loops call. Only the
rest (neck unless frozen, head) trains.

Because the frozen part is a fixed function :math:`f` of the image, the
training loss :math:`\\mathcal{L}(h(f(x_i)), y_i)` only needs :math:`f(x_i)`
once per sample when the train pipeline maps sample ``i`` to the same
tensor every epoch. :class:`~mmcsra.engine.hooks.FeatureCacheHook` checks
that (no random transform, no batch augmentation), derives a key from the
dataset config and the frozen weights, and turns on the per-sample cache of
this class: the first epoch computes and stores :math:`f(x_i)` keyed by
``(sample_idx, img_path)``, later epochs read it. Each DDP rank caches the
samples its sampler gives it. Without the hook nothing is cached.
"""
import hashlib
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS

__all__ = ['FrozenBackboneClassifier', 'StaleFeatureCacheError']


class StaleFeatureCacheError(RuntimeError):
    """A cached feature no longer equals the frozen part's output."""


@MODELS.register_module()
class FrozenBackboneClassifier(ImageClassifier):
    """``ImageClassifier`` with a frozen backbone (and neck) + feature cache.

    Args:
        backbone, neck, head, pretrained, train_cfg, data_preprocessor,
        init_cfg: as for ``mmpretrain``'s ``ImageClassifier``.
        freeze_neck (bool): freeze (and cache) the neck too; then the cache
            holds the neck's output. Defaults to False.
        cache_device (str): where cached features live. Defaults to
            ``'cpu'`` (host memory; they are moved to the input's device
            when read).
        verify_atol (float): when the hook asks for a check (once per epoch),
            one cached sample is recomputed and must match to this absolute
            tolerance, else :class:`StaleFeatureCacheError`. Defaults to
            1e-4.
        channels_last (bool): run the frozen part in the channels-last
            memory format (``torch.channels_last``), which PyTorch's CPU
            convolutions (oneDNN) run faster, e.g. about 1.5-2x for
            EfficientNet-Lite0's depthwise convolutions on a 2-core CPU. The
            values are those of the default format up to float rounding.
            Defaults to False.
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 train_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 freeze_neck: bool = False,
                 cache_device: str = 'cpu',
                 verify_atol: float = 1e-4,
                 channels_last: bool = False):
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            train_cfg=train_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if freeze_neck and not self.with_neck:
            raise ValueError('freeze_neck=True needs a neck')
        self.freeze_neck = freeze_neck
        self.cache_device = torch.device(cache_device)
        self.verify_atol = verify_atol
        self.channels_last = bool(channels_last)
        self._cache: Optional[Dict[Tuple, Tuple[torch.Tensor, ...]]] = None
        self.cache_key: Optional[str] = None
        self._verify_next = False
        self.cache_hits = 0
        self.cache_misses = 0
        self._freeze()
        if self.channels_last:
            for module in self.frozen_modules():
                module.to(memory_format=torch.channels_last)

    # ------------------------------------------------------------ freezing
    def frozen_modules(self) -> List[nn.Module]:
        """The modules whose output is fixed (and cacheable)."""
        mods = [self.backbone]
        if self.freeze_neck:
            mods.append(self.neck)
        return mods

    def _freeze(self) -> None:
        for module in self.frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze()
        return self

    def frozen_state_hash(self) -> str:
        """SHA-256 of the frozen modules' structure and state (weights and
        BN buffers): what their output depends on besides the input."""
        digest = hashlib.sha256()
        for module in self.frozen_modules():
            digest.update(repr(module).encode())
            for name, tensor in module.state_dict().items():
                tensor = tensor.detach().cpu().contiguous().reshape(-1)
                digest.update(
                    f'{name}{tuple(tensor.shape)}{tensor.dtype}'.encode())
                digest.update(
                    tensor.view(torch.uint8).numpy().tobytes() if tensor.numel(
                    ) else b'')
        return digest.hexdigest()

    # ------------------------------------------------------------- forward
    def _backbone(self, inputs: torch.Tensor):
        if self.channels_last and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return self.backbone(inputs)

    def _frozen_forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor]:
        with torch.no_grad():
            x = self._backbone(inputs)
            if self.freeze_neck:
                x = self.neck(x)
        return x if isinstance(x, tuple) else (x, )

    def _after_frozen(self, x: Tuple[torch.Tensor], stage: str):
        if self.with_neck and not self.freeze_neck:
            x = self.neck(x)
        if stage == 'neck':
            return x
        return self.head.pre_logits(x)

    def extract_feat(self, inputs: torch.Tensor, stage: str = 'neck'):
        if stage not in ('backbone', 'neck', 'pre_logits'):
            raise ValueError(f'stage must be backbone, neck or pre_logits, '
                             f'got {stage!r}')
        if stage == 'backbone':
            with torch.no_grad():
                return self._backbone(inputs)
        return self._after_frozen(self._frozen_forward(inputs), stage)

    def train_step(self, data, optim_wrapper):
        """mmengine's train step; when every sample of the batch is cached
        (and no check is due), the images are replaced by ``(B, c, 1, 1)``
        zeros before the data preprocessor, so that it does not normalise
        images whose features are read from the cache (it still prepares
        the labels as usual). On a 2-core CPU that normalisation cost more
        than the cached epoch's head."""
        samples = data.get('data_samples') if isinstance(data, dict) \
            else None
        if self._cache is not None and not self._verify_next and samples \
                and all(self._sample_key(s) in self._cache
                        for s in samples):
            mean = getattr(self.data_preprocessor, 'mean', None)
            channels = 3 if mean is None else int(mean.shape[0])
            data = dict(
                data,
                inputs=torch.zeros(
                    len(samples), channels, 1, 1, dtype=torch.uint8))
        return super().train_step(data, optim_wrapper)

    def loss(self, inputs: torch.Tensor, data_samples: list) -> dict:
        if self._cache is None:
            feats = self._after_frozen(self._frozen_forward(inputs), 'neck')
        else:
            feats = self._after_frozen(
                self._cached_frozen_forward(inputs, data_samples), 'neck')
        return self.head.loss(feats, data_samples)

    # --------------------------------------------------------------- cache
    def enable_feature_cache(self, key: str) -> None:
        """Start caching under ``key`` (a new key drops the old entries)."""
        if key != self.cache_key or self._cache is None:
            self._cache = {}
        self.cache_key = key

    def disable_feature_cache(self) -> None:
        self._cache, self.cache_key = None, None

    @property
    def feature_cache_size(self) -> int:
        return 0 if self._cache is None else len(self._cache)

    def export_feature_cache(self) -> dict:
        """The cache as plain tensors/lists (``torch.save``-able and
        readable with ``weights_only=True``)."""
        if not self._cache:
            return dict(key=self.cache_key, samples=[], features=[])
        keys = list(self._cache)
        levels = len(self._cache[keys[0]])
        return dict(
            key=self.cache_key,
            samples=[[idx, path] for idx, path in keys],
            features=[
                torch.stack([self._cache[k][lv] for k in keys])
                for lv in range(levels)
            ])

    def import_feature_cache(self, data: dict) -> int:
        """Add the entries of :meth:`export_feature_cache` output made under
        the current key; returns how many were added.

        Raises:
            ValueError: the data was made under another key, or is
                malformed.
        """
        if self._cache is None or data.get('key') != self.cache_key:
            raise ValueError('feature cache data of another key '
                             f'({str(data.get("key"))[:12]}) than the '
                             f'current one ({str(self.cache_key)[:12]})')
        samples, features = data['samples'], data['features']
        if any(len(f) != len(samples) for f in features):
            raise ValueError('feature cache data: features and samples '
                             'differ in length')
        for i, (idx, path) in enumerate(samples):
            self._cache[(int(idx),
                         str(path))] = tuple(f[i].to(self.cache_device)
                                             for f in features)
        return len(samples)

    def verify_feature_cache_next(self) -> None:
        """Recompute one cached sample at the next cached batch."""
        self._verify_next = True

    @staticmethod
    def _sample_key(sample) -> Tuple:
        meta = sample.metainfo
        if 'sample_idx' not in meta:
            raise KeyError(
                'the feature cache needs `sample_idx` in every data sample '
                '(PackInputs keeps it by default: do not drop it from '
                'meta_keys)')
        return (int(meta['sample_idx']), str(meta.get('img_path', '')))

    def _cached_frozen_forward(self, inputs: torch.Tensor,
                               data_samples: list) -> Tuple[torch.Tensor]:
        keys = [self._sample_key(s) for s in data_samples]
        missing = [i for i, k in enumerate(keys) if k not in self._cache]
        if missing:
            fresh = self._frozen_forward(inputs[missing])
            for j, i in enumerate(missing):
                self._cache[keys[i]] = tuple(t[j].detach().to(
                    self.cache_device,
                    copy=True,
                    memory_format=torch.contiguous_format) for t in fresh)
        computed = set(missing)
        hits = [i for i in range(len(keys)) if i not in computed]
        self.cache_misses += len(missing)
        self.cache_hits += len(hits)
        if self._verify_next and hits:
            self._verify_next = False
            self._verify(inputs[hits[:1]], keys[hits[0]])
        return tuple(
            torch.stack([self._cache[k][level]
                         for k in keys]).to(inputs.device)
            for level in range(len(self._cache[keys[0]])))

    def _verify(self, image: torch.Tensor, key: Tuple) -> None:
        fresh = self._frozen_forward(image)
        cached = self._cache[key]
        diff = max((f[0].cpu() - c.cpu()).abs().max().item()
                   for f, c in zip(fresh, cached))
        if diff > self.verify_atol:
            raise StaleFeatureCacheError(
                f'cached features of sample {key} differ from a fresh '
                f'forward pass by {diff:.3g} (> {self.verify_atol}): the '
                'train pipeline is not deterministic, or the frozen '
                'weights changed. Remove the transform from '
                'FeatureCacheHook(deterministic_transforms=...) or the hook.')
        MMLogger.get_current_instance().debug(
            f'feature cache verified on sample {key} (max diff {diff:.2g})')
