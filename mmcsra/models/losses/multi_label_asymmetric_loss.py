from typing import Optional

import torch
from mmpretrain.registry import MODELS

from .utils import MultiLabelLoss, asymmetric_focal_loss, check_focusing_args


@MODELS.register_module()
class MultiLabelAsymmetricLoss(MultiLabelLoss):
    """Asymmetric Loss (ASL) for multi-label classification, with ignore mask.

    Ben-Baruch, Ridnik, Zamir, Noy, Friedman, Protter, Zelnik-Manor,
    "Asymmetric Loss For Multi-Label Classification", ICCV 2021
    (https://arxiv.org/abs/2009.14119), Eqs. (4)-(7).

    With :math:`p = \\sigma(x)` and the shifted negative probability
    :math:`p_m = \\max(p - \\text{clip}, 0)`:

    .. math::
        L = -\\sum_{b,i} v_{bi}\\,\\big[\\,y\\,(1-p)^{\\gamma_+}
            \\log(\\max(p, \\epsilon))
            + (1-y)\\,p_m^{\\gamma_-}\\log(\\max(1-p_m, \\epsilon))\\,\\big]

    where :math:`v` is the validity (ignore) mask (``weight``); ``'mean'``
    divides by :math:`\\sum v` (or by ``avg_factor``). ``gamma_pos =
    gamma_neg = clip = 0`` gives binary cross-entropy (up to the ``eps``
    clamp). Called as MMPretrain's losses are, see
    :meth:`MultiLabelLoss.forward`.

    Differences from MMPretrain's ``AsymmetricLoss``: a per-entry ignore mask,
    the official 'sum' reduction available, and the option to treat the
    focusing weight as a constant.

    Args:
        gamma_pos (float): :math:`\\gamma_+`, focusing exponent of the
            positives. Defaults to 0.0 (paper).
        gamma_neg (float): :math:`\\gamma_-`, focusing exponent of the
            negatives. Defaults to 4.0 (paper).
        clip (float, optional): probability margin of the negative
            probability shifting. ``None`` or 0 disables the shift.
            Defaults to 0.05 (paper).
        eps (float): lower clamp of the probabilities inside the logs.
            Defaults to 1e-8 (official code).
        detach_focal_weight (bool): if True the focusing weights
            :math:`(1-p)^{\\gamma_+}` and :math:`p_m^{\\gamma_-}` are
            constants in backward (the official
            ``disable_torch_grad_focal_loss`` option). Defaults to True,
            because the official training script (``train.py`` of
            Alibaba-MIIL/ASL, which produced the paper's results) builds the
            loss with ``disable_torch_grad_focal_loss=True``. With False the
            weights are differentiated too (as MMPretrain's
            ``AsymmetricLoss`` does).
        reduction (str): ``'sum'`` (official; the loss grows with batch size
            and number of classes), ``'mean'`` (over non-ignored entries) or
            ``'none'``. Defaults to 'sum'.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.

    Note:
        For soft targets :math:`y \\in (0, 1)` the two terms above are mixed
        linearly; the official code instead mixes the focusing exponent.
        Both agree on hard 0/1 targets.
    """

    def __init__(self,
                 gamma_pos: float = 0.0,
                 gamma_neg: float = 4.0,
                 clip: Optional[float] = 0.05,
                 eps: float = 1e-8,
                 detach_focal_weight: bool = True,
                 reduction: str = 'sum',
                 loss_weight: float = 1.0):
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        check_focusing_args(gamma_pos, gamma_neg, clip)
        if eps <= 0:
            raise ValueError(f'eps must be > 0, got {eps}')
        self.gamma_pos = gamma_pos
        self.gamma_neg = gamma_neg
        self.clip = clip
        self.eps = eps
        self.detach_focal_weight = detach_focal_weight

    def elementwise(self, logits: torch.Tensor,
                    target: torch.Tensor) -> torch.Tensor:
        """(B, C) ASL of the raw scores ``logits`` x against ``target``."""
        prob = torch.sigmoid(logits)  # [B, C]
        if self.clip:
            prob_neg = (prob - self.clip).clamp(min=0)  # p_m, [B, C]
        else:
            prob_neg = prob

        log_pos = torch.log(prob.clamp(min=self.eps))  # [B, C]
        log_neg = torch.log((1 - prob_neg).clamp(min=self.eps))  # [B, C]

        return asymmetric_focal_loss(
            target,
            log_pos,
            log_neg,
            base_pos=1 - prob,
            base_neg=prob_neg,
            gamma_pos=self.gamma_pos,
            gamma_neg=self.gamma_neg,
            detach_focal_weight=self.detach_focal_weight)  # [B, C]
