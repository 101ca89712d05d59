"""What mmcsra's multi-label losses share: MMPretrain's call signature, the
weighted reduction, the argument checks and the asymmetric focal term."""
from typing import Optional

import torch
import torch.nn as nn

REDUCTIONS = ('none', 'mean', 'sum')


def check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f'reduction must be one of {REDUCTIONS}, '
                         f'got {reduction!r}')
    return reduction


def masked_reduce(loss: torch.Tensor,
                  weight: Optional[torch.Tensor],
                  reduction: str,
                  avg_factor: Optional[float] = None) -> torch.Tensor:
    """Weight an element-wise ``(B, C)`` loss and reduce it.

    With :math:`w` the weight (1 where it is not given):

    * ``'none'``: :math:`w \\odot L`, shape ``(B, C)``;
    * ``'sum'``: :math:`\\sum_{b,i} w_{bi} L_{bi}`;
    * ``'mean'``: :math:`\\sum_{b,i} w_{bi} L_{bi} / A`, with
      :math:`A` = ``avg_factor`` if given (as MMPretrain's
      ``weight_reduce_loss``), else the total weight
      :math:`\\max(\\sum_{b,i} w_{bi}, 1)`, so that entries with weight 0
      (ignored) neither add loss nor dilute the mean. Without a weight that
      is the plain mean over the ``B * C`` entries.

    Args:
        loss (Tensor): ``(B, C)`` element-wise loss.
        weight (Tensor, optional): ``(B, C)`` element-wise weights (0 =
            ignored) or ``(B,)`` per-sample weights (MMPretrain's
            convention), broadcast over the classes.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor (float, optional): the divisor of ``'mean'``. Ignored by
            ``'none'``; an error with ``'sum'`` (as in MMPretrain).

    Raises:
        ValueError: on a weight of another shape, or ``avg_factor`` with
            ``reduction='sum'``.
    """
    check_reduction(reduction)
    if weight is not None:
        if weight.dim() == 1 and loss.dim() == 2:  # per-sample, [B] -> [B, 1]
            weight = weight.reshape(-1, 1)
        if weight.dim() != loss.dim() or any(
                w not in (1, n) for w, n in zip(weight.shape, loss.shape)):
            raise ValueError(f'weight {tuple(weight.shape)} does not fit the '
                             f'loss {tuple(loss.shape)}: give (B, C) or (B,)')
        weight = weight.to(loss.dtype).expand_as(loss)  # [B, C]
        loss = loss * weight
    if reduction == 'none':
        return loss
    if reduction == 'sum':
        if avg_factor is not None:
            raise ValueError('avg_factor can not be used with reduction='
                             "'sum'")
        return loss.sum()
    if avg_factor is not None:
        return loss.sum() / avg_factor
    total = weight.sum() if weight is not None else loss.new_tensor(
        float(loss.numel()))
    return loss.sum() / total.clamp(min=1.0)


class MultiLabelLoss(nn.Module):
    """Base of mmcsra's multi-label losses, with MMPretrain's signature.

    A subclass implements :meth:`elementwise` (the ``(B, C)`` loss before
    weighting); ``forward`` weights and reduces it with
    :func:`masked_reduce` and multiplies by ``loss_weight``.

    ``elementwise_weight = True`` tells the heads (see
    :class:`mmcsra.models.heads.MultiLabelHeadBase`) that ``weight`` may be
    a ``(B, C)`` ignore mask, which MMPretrain's own losses do not accept.

    Args:
        reduction (str): default reduction, ``'none'``, ``'mean'`` or
            ``'sum'``.
        loss_weight (float): multiplier of the loss.
    """

    elementwise_weight = True

    def __init__(self, reduction: str, loss_weight: float = 1.0):
        super().__init__()
        self.reduction = check_reduction(reduction)
        self.loss_weight = loss_weight

    def elementwise(self, cls_score: torch.Tensor,
                    label: torch.Tensor) -> torch.Tensor:
        """``(B, C)`` loss of ``cls_score`` against float ``label``."""
        raise NotImplementedError

    def forward(self,
                cls_score: torch.Tensor,
                label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> torch.Tensor:
        """
        Args:
            cls_score (Tensor): ``(B, C)`` scores (logits, or cos θ for a
                cosine loss).
            label (Tensor): ``(B, C)`` targets in [0, 1].
            weight (Tensor, optional): ``(B, C)`` element-wise weights (0 =
                ignored) or ``(B,)`` per-sample weights.
            avg_factor (float, optional): divisor of the ``'mean'``
                reduction instead of the total weight.
            reduction_override (str, optional): ``'none'``, ``'mean'`` or
                ``'sum'`` instead of ``reduction`` for this call.
            **kwargs: accepted and unused, as in MMPretrain.

        Returns:
            Tensor: the loss, a scalar unless the reduction is ``'none'``.
        """
        reduction = self.reduction if reduction_override is None \
            else check_reduction(reduction_override)
        if cls_score.shape != label.shape:
            raise ValueError(f'{type(self).__name__}: cls_score '
                             f'{tuple(cls_score.shape)} and label '
                             f'{tuple(label.shape)} must have the same shape')
        loss = self.elementwise(cls_score, label.to(cls_score.dtype))
        return self.loss_weight * masked_reduce(loss, weight, reduction,
                                                avg_factor)


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
    return -(pos_weight * target * focal_pos * log_pos + neg_weight *
             (1 - target) * focal_neg * log_neg)  # [B, C]
