import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from .utils import MultiLabelLoss


@MODELS.register_module()
class MultiLabelBCELoss(MultiLabelLoss):
    """Binary cross-entropy on logits that respects an ignore mask.

    .. math::
        L = -\\sum_{b,i} w_{bi}\\,[y_{bi}\\log\\sigma(x_{bi})
            + (1-y_{bi})\\log(1-\\sigma(x_{bi}))]

    divided, for ``'mean'``, by :math:`\\sum_{b,i} w_{bi}` (or by
    ``avg_factor``). MMPretrain's ``CrossEntropyLoss(use_sigmoid=True)``
    only takes per-sample weights; multi-label datasets need the per-entry
    mask :math:`w` (0 = ignored). Called as MMPretrain's losses are, see
    :meth:`MultiLabelLoss.forward`.

    Args:
        reduction (str): ``'mean'`` (over non-ignored entries, the
            default), ``'sum'`` or ``'none'``.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, reduction: str = 'mean', loss_weight: float = 1.0):
        super().__init__(reduction=reduction, loss_weight=loss_weight)

    def elementwise(self, logits: torch.Tensor,
                    target: torch.Tensor) -> torch.Tensor:
        """(B, C) BCE of ``logits`` x against ``target`` y."""
        return F.binary_cross_entropy_with_logits(
            logits, target, reduction='none')  # [B, C]
