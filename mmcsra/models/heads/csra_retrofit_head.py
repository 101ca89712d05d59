from typing import List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


def avg_and_max_logits(
        linear: nn.Linear,
        feat: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Apply a trained linear classifier at every location of a feature map.

    Args:
        linear: the classifier (weight ``(C, D)``, optional bias).
        feat: ``(B, D, H, W)`` backbone feature map.

    Returns:
        ``y_avg`` = classifier(global average of ``feat``), exactly what a
        GAP + linear model computes, and ``y_max`` = max over locations of the
        per-location scores, both ``(B, C)``.
    """
    if feat.dim() != 4:
        raise ValueError('the retrofit needs a (B, D, H, W) feature map, got '
                         f'shape {tuple(feat.shape)}')
    y_avg = linear(F.adaptive_avg_pool2d(feat, 1).flatten(1))  # [B, C]
    tokens = feat.flatten(2).transpose(1, 2)  # [B, HW, D]
    y_max = linear(tokens).amax(dim=1)  # [B, C]
    return y_avg, y_max


@MODELS.register_module()
class CSRARetrofitHead(BaseModule):
    """Training-free CSRA for an already trained GAP + linear classifier.

    Section 3.4 of Zhu & Wu, "Residual Attention: A Simple but Effective
    Method for Multi-Label Recognition" (ICCV 2021): with the classifier
    applied at every location j, the scores become

    .. math::
        y = \\underbrace{\\tfrac{1}{HW}\\sum_j (W x_j + b)}_{y_{avg}}
            + \\lambda \\max_j (W x_j + b)

    Since the first term equals the GAP model's own logits, ``lam = 0``
    reproduces the original model exactly. The wrapped ``head`` keeps its
    loss and prediction semantics (sigmoid for multi-label, softmax for
    single-label heads); it must expose its classifier as ``head.fc``
    (MMPretrain's ``LinearClsHead`` and ``MultiLabelLinearClsHead`` do).
    Use it with ``neck=None``: it pools the backbone map itself.

    Args:
        head (dict): config of the original linear head.
        lam (float): λ >= 0, the weight of the max-pooled scores.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self, head: dict, lam: float, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if lam < 0:
            raise ValueError(f'lam must be >= 0, got {lam}')
        self.head = MODELS.build(head)
        if not isinstance(getattr(self.head, 'fc', None), nn.Linear):
            raise TypeError(
                f'{type(self.head).__name__} has no linear classifier `fc`; '
                'the retrofit supports linear heads such as LinearClsHead '
                'and MultiLabelLinearClsHead')
        self.lam = float(lam)

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        y_avg, y_max = avg_and_max_logits(self.head.fc, feats[-1])
        return y_avg + self.lam * y_max

    def loss(self, feats: Tuple[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> dict:
        return self.head._get_loss(self(feats), data_samples, **kwargs)

    def predict(self,
                feats: Tuple[torch.Tensor],
                data_samples: List[DataSample] = None) -> List[DataSample]:
        return self.head._get_predictions(self(feats), data_samples)
