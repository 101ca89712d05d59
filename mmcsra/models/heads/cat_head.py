from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from .multi_label_head_base import MultiLabelHeadBase, check_count


@MODELS.register_module()
class CATHead(MultiLabelHeadBase):
    """Multi-level classifier of CAT (Cross-Layer Aggregation with
    Transformers).

    W. Zhang, F. Zhu, J. Han, T. Guo, S. Hu. "Cross-Layer Aggregation with
    Transformers for Multi-Label Image Classification", ICASSP 2022
    (arXiv 2023).

    Each fused level :math:`F_l` of
    :class:`~mmcsra.models.necks.CrossLayerAggregationNeck` has its own
    classifier, global average pooling followed by a linear layer,
    :math:`\\hat y_l = W_l\\,\\mathrm{GAP}(F_l) + b_l`, and the logits are

    .. math::
        \\hat y = \\alpha\\,\\hat y_5 + \\beta\\,\\hat y_4
            + \\gamma\\,\\hat y_3

    trained with the multi-label loss on :math:`\\hat y` (scores are
    :math:`\\sigma(\\hat y)`). The defaults weight the levels equally;
    set ``alpha``, ``beta``, ``gamma`` to the paper's values for a
    reproduction.

    Args:
        num_classes (int): C.
        in_channels (int): width D of every fused level.
        alpha (float): weight of the top level :math:`\\hat y_5`.
            Defaults to 1.0.
        beta (float): weight of :math:`\\hat y_4`. Defaults to 1.0.
        gamma (float): weight of :math:`\\hat y_3`. Defaults to 1.0.
        loss (dict): loss config. Defaults to
            ``dict(type='MultiLabelBCELoss')``.
        init_cfg (dict, optional): defaults to ``Normal(std=0.01)`` on the
            three linear classifiers.
        **kwargs: ``thr``, ``topk``, ``cosine_scale`` of
            :class:`MultiLabelHeadBase`.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 alpha: float = 1.0,
                 beta: float = 1.0,
                 gamma: float = 1.0,
                 loss: dict = dict(type='MultiLabelBCELoss'),
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Linear', std=0.01),
                 **kwargs):
        super().__init__(loss=loss, init_cfg=init_cfg, **kwargs)
        self.num_classes = check_count(num_classes, 'num_classes')
        self.in_channels = in_channels
        # order of the neck's outputs: levels 3, 4, 5
        self.level_weights = (gamma, beta, alpha)
        self.classifiers = nn.ModuleList(
            nn.Linear(in_channels, num_classes) for _ in range(3))

    def pre_logits(
        self, feats: Sequence[torch.Tensor]
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """GAP of each fused level: (F3, F4, F5) -> 3 x [B, D]."""
        if len(feats) != 3:
            raise ValueError(f'CATHead needs the 3 fused levels (F3, F4, F5) '
                             f'of CrossLayerAggregationNeck, got {len(feats)}')
        return tuple(f.mean(dim=(2, 3)) for f in feats)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """(F3, F4, F5) -> [B, C] logits alpha*y5 + beta*y4 + gamma*y3."""
        pooled = self.pre_logits(feats)  # 3 x [B, D]
        logits = [
            weight * classifier(x) for weight, classifier, x in zip(
                self.level_weights, self.classifiers, pooled)
        ]  # 3 x [B, C]
        return sum(logits)
