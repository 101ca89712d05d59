from typing import Optional

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from .utils import MultiLabelLoss, asymmetric_focal_loss, check_focusing_args


@MODELS.register_module()
class AsymmetricAngularMarginLoss(MultiLabelLoss):
    """Asymmetric Angular Margin loss (AAM) on cosine similarities.

    Prokofiev & Sovrasov, "Combining Metric Learning and Attention Heads For
    Accurate and Efficient Multilabel Image Classification", VISAPP 2023
    (https://arxiv.org/abs/2209.06585), Sec. 3; official code:
    ``AMBinaryLoss`` in openvinotoolkit/deep-object-reid (branch
    ``multilabel``). Each class is a binary problem on
    :math:`\\cos\\theta` between the L2-normalised feature and the
    normalised class weight (see :class:`mmcsra.models.utils.CosineLinear`):

    .. math::
        p_+ = \\sigma(s(\\cos\\theta - m)), \\qquad
        p_- = \\sigma(-s(\\cos\\theta + m)),

        L = -\\sum_{b,i} v_{bi}\\Big[\\frac{k}{s}\\,y\\,
            \\tilde p_-^{\\gamma_+}\\log p_+
            + \\frac{1-k}{s}\\,(1-y)\\,p_+^{\\gamma_-}\\log\\tilde p_-\\Big]

    with :math:`v` the validity (ignore) mask and the probability shifting
    of ASL carried over to the negative-class probability:
    :math:`\\tilde p_- = \\min(p_- + \\text{clip}, 1)`. :math:`\\tilde p_-`
    replaces :math:`p_-` everywhere it appears, exactly as the official code
    does: in the negatives' log term (a negative with
    :math:`p_- \\ge 1-\\text{clip}` gives zero loss and zero gradient, as
    ASL's :math:`p_m = \\max(p - \\text{clip}, 0)` does) and in the positives'
    focusing weight (no effect when :math:`\\gamma_+ = 0`). The negatives'
    weight :math:`p_+^{\\gamma_-}` is not shifted (as in the official code).
    With :math:`m = 0` and no clip, :math:`p_+ = 1 - p_-` and AAM is ASL on
    logits :math:`s\\cos\\theta` with the terms weighted by k/s and (1-k)/s.
    Differences from the official code: it shifts :math:`p_-` only when a
    :math:`\\gamma > 0`, here ``clip`` alone decides (set ``clip=0`` to
    reproduce a :math:`\\gamma = 0` official run); the logs are computed
    with ``logsigmoid`` (exact and finite for every :math:`\\cos\\theta`,
    so no eps clamp is needed); for soft targets the two terms are mixed
    linearly.

    The loss is called as MMPretrain's losses are (``weight``,
    ``avg_factor``, ``reduction_override``), see
    :meth:`~mmcsra.models.losses.utils.MultiLabelLoss.forward`; ``'mean'``
    divides by :math:`\\sum v` unless ``avg_factor`` is given.

    At inference the scores are :math:`\\sigma(s\\cos\\theta)` without
    margin: :class:`mmcsra.models.heads.CosineClsHead` passes
    ``cosine_scale = s`` to its base class.

    The defaults are those of the authors' released MS-COCO configs
    (``configs/TResNetL_mld.yml`` and ``EfficientNetV2_small_mld.yml`` of
    deep-object-reid: ``s=23, m=0, k=0.7, gamma_pos=gamma_neg=0``; their
    VOC GCN config uses ``s=17``). The paper's own text was not available
    to us, so these are the released configs' values, not quoted numbers.
    The official class defaults differ (``s=30, m=0.35, k=0.8``, clip 0.05).

    Args:
        scale (float): s, the scale of the cosines. Defaults to 23.0.
        margin (float): m, the additive cosine margin. Defaults to 0.0.
        k (float): positive/negative balance in [0, 1]. Defaults to 0.7.
        gamma_pos (float): :math:`\\gamma_+`, focusing exponent of the
            positives. Defaults to 0.0.
        gamma_neg (float): :math:`\\gamma_-`, focusing exponent of the
            negatives. Defaults to 0.0.
        clip (float, optional): probability margin added to :math:`p_-`;
            ``None`` or 0 disables it. Defaults to 0.0.
        detach_focal_weight (bool): if True the focusing weights are
            constants in backward (like ASL's
            ``disable_torch_grad_focal_loss``). Defaults to False, as the
            official ``AMBinaryLoss`` back-propagates through them.
        reduction (str): ``'sum'`` (official: ``-loss.sum()`` over batch and
            classes), ``'mean'`` (over non-ignored entries) or ``'none'``.
            Defaults to 'sum'.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 scale: float = 23.0,
                 margin: float = 0.0,
                 k: float = 0.7,
                 gamma_pos: float = 0.0,
                 gamma_neg: float = 0.0,
                 clip: Optional[float] = 0.0,
                 detach_focal_weight: bool = False,
                 reduction: str = 'sum',
                 loss_weight: float = 1.0):
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        if scale <= 0:
            raise ValueError(f'scale must be > 0, got {scale}')
        if not 0 <= k <= 1:
            raise ValueError(f'k must be in [0, 1], got {k}')
        check_focusing_args(gamma_pos, gamma_neg, clip)
        self.scale = scale
        self.margin = margin
        self.k = k
        self.gamma_pos = gamma_pos
        self.gamma_neg = gamma_neg
        self.clip = clip
        self.detach_focal_weight = detach_focal_weight

    def elementwise(self, cosine: torch.Tensor,
                    target: torch.Tensor) -> torch.Tensor:
        """(B, C) AAM of ``cosine`` (cos θ in [-1, 1]) against ``target``."""
        s, m = self.scale, self.margin
        z_pos = s * (cosine - m)  # [B, C], p+ = sigmoid(z_pos)
        z_neg = -s * (cosine + m)  # [B, C], p- = sigmoid(z_neg)

        prob_pos = torch.sigmoid(z_pos)  # [B, C]
        log_prob_pos = F.logsigmoid(z_pos)  # [B, C]
        if self.clip:
            prob_neg = (torch.sigmoid(z_neg) + self.clip).clamp(max=1)
            log_prob_neg = torch.log(prob_neg)  # >= log(clip), finite
        else:
            prob_neg = torch.sigmoid(z_neg)
            log_prob_neg = F.logsigmoid(z_neg)

        # focusing weights: positives by p~-, negatives by p+ (unshifted)
        return asymmetric_focal_loss(
            target,
            log_prob_pos,
            log_prob_neg,
            base_pos=prob_neg,
            base_neg=prob_pos,
            gamma_pos=self.gamma_pos,
            gamma_neg=self.gamma_neg,
            detach_focal_weight=self.detach_focal_weight,
            pos_weight=self.k / s,
            neg_weight=(1 - self.k) / s)  # [B, C]
