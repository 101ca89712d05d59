"""Argument checks, the asymmetric focal term and the reduction shared by
mmcsra's multi-label losses."""
from typing import Optional

import torch

REDUCTIONS = ('none', 'mean', 'sum')


def check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f'reduction must be one of {REDUCTIONS}, '
                         f'got {reduction!r}')
    return reduction


def masked_reduce(loss: torch.Tensor, weight: Optional[torch.Tensor],
                  reduction: str) -> torch.Tensor:
    """Apply an element-wise ``weight`` (0 = ignored) and reduce.

    ``'mean'`` divides by the number of non-ignored entries (the total weight),
    so ignored entries neither add loss nor dilute it; ``'sum'`` adds the
    weighted entries; ``'none'`` returns the weighted element-wise loss.
    """
    if weight is not None:
        loss = loss * weight
    if reduction == 'sum':
        return loss.sum()
    if reduction == 'mean':
        denom = weight.sum() if weight is not None else loss.new_tensor(
            float(loss.numel()))
        return loss.sum() / denom.clamp(min=1.0)
    return loss


def check_focusing_args(gamma_pos: float, gamma_neg: float,
                        clip: Optional[float]) -> None:
    """Validate the focusing exponents and probability clip of ASL-style
    losses (:class:`MultiLabelAsymmetricLoss`,
    :class:`AsymmetricAngularMarginLoss`)."""
    if gamma_pos < 0 or gamma_neg < 0:
        raise ValueError('gamma_pos and gamma_neg must be >= 0, got '
                         f'{gamma_pos} and {gamma_neg}')
    if clip is not None and not 0 <= clip < 1:
        raise ValueError(f'clip must be in [0, 1) or None, got {clip}')


def asymmetric_focal_loss(target: torch.Tensor,
                          log_pos: torch.Tensor,
                          log_neg: torch.Tensor,
                          base_pos: torch.Tensor,
                          base_neg: torch.Tensor,
                          gamma_pos: float,
                          gamma_neg: float,
                          detach_focal_weight: bool,
                          pos_weight: float = 1.0,
                          neg_weight: float = 1.0) -> torch.Tensor:
    """Element-wise asymmetric focal loss, before masking and reduction.

    .. math::
        L = -\\big[w_+\\,y\\,b_+^{\\gamma_+}\\log p_+
            + w_-\\,(1-y)\\,b_-^{\\gamma_-}\\log p_-\\big]

    The ASL paper's form (Ben-Baruch et al., ICCV 2021, Eqs. (4)-(7)), used
    by :class:`MultiLabelAsymmetricLoss` (:math:`b_+ = 1-p`, :math:`b_- =
    p_m`, :math:`w_\\pm = 1`) and :class:`AsymmetricAngularMarginLoss`
    (:math:`b_+ = \\tilde p_-`, :math:`b_- = p_+`, :math:`w_+ = k/s`,
    :math:`w_- = (1-k)/s`).

    Args:
        target (Tensor): (B, C) targets y in [0, 1].
        log_pos (Tensor): (B, C) :math:`\\log p_+`, the positives' log term.
        log_neg (Tensor): (B, C) :math:`\\log p_-`, the negatives' log term.
        base_pos (Tensor): (B, C) :math:`b_+`, base of the positives'
            focusing weight.
        base_neg (Tensor): (B, C) :math:`b_-`, base of the negatives'
            focusing weight.
        gamma_pos (float): :math:`\\gamma_+`.
        gamma_neg (float): :math:`\\gamma_-`.
        detach_focal_weight (bool): if True the focusing weights are
            constants in backward.
        pos_weight (float): :math:`w_+`. Defaults to 1.0.
        neg_weight (float): :math:`w_-`. Defaults to 1.0.

    Returns:
        Tensor: (B, C) element-wise loss.
    """
    with torch.set_grad_enabled(torch.is_grad_enabled()
                                and not detach_focal_weight):
        focal_pos = base_pos.pow(gamma_pos)  # [B, C]
        focal_neg = base_neg.pow(gamma_neg)  # [B, C]
    return -(pos_weight * target * focal_pos * log_pos +
             neg_weight * (1 - target) * focal_neg * log_neg)  # [B, C]
