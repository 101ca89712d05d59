import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from .utils import check_reduction, masked_reduce


@MODELS.register_module()
class MultiLabelBCELoss(nn.Module):
    """Binary cross-entropy on logits that respects an ignore mask.

    .. math::
        L = -\\sum_{b,i} w_{bi}\\,[y_{bi}\\log\\sigma(x_{bi})
            + (1-y_{bi})\\log(1-\\sigma(x_{bi}))]

    MMPretrain's ``CrossEntropyLoss(use_sigmoid=True)`` only takes
    per-sample weights; multi-label datasets need a per-entry mask.

    Args:
        reduction (str): ``'mean'`` (over non-ignored entries, the
            default), ``'sum'`` or ``'none'``.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, reduction: str = 'mean', loss_weight: float = 1.0):
        super().__init__()
        self.reduction = check_reduction(reduction)
        self.loss_weight = loss_weight

    def forward(self,
                logits: torch.Tensor,
                target: torch.Tensor,
                weight: torch.Tensor = None,
                **kwargs) -> torch.Tensor:
        """
        Args:
            logits (Tensor): (B, C) raw scores.
            target (Tensor): (B, C) targets in [0, 1].
            weight (Tensor, optional): (B, C), 0 for ignored entries.
        """
        loss = F.binary_cross_entropy_with_logits(
            logits, target.to(logits.dtype), reduction='none')
        return self.loss_weight * masked_reduce(loss, weight, self.reduction)
