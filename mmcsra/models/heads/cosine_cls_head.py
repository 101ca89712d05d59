from typing import Optional, Tuple

import torch
from mmpretrain.registry import MODELS

from mmcsra.models.utils.cosine_linear import CosineLinear
from .multi_label_head_base import (MultiLabelHeadBase, build_cosine_loss,
                                    check_count)


@MODELS.register_module()
class CosineClsHead(MultiLabelHeadBase):
    """Multi-label head with a normalised (cosine) classifier, for AAM.

    Prokofiev & Sovrasov, "Combining Metric Learning and Attention Heads For
    Accurate and Efficient Multilabel Image Classification", VISAPP 2023
    (https://arxiv.org/abs/2209.06585): the classifier computes

    .. math::
        \\cos\\theta_c = \\frac{x^{\\top} w_c}{\\lVert x\\rVert
            \\lVert w_c\\rVert}

    between the pooled feature x and each class weight
    (:class:`mmcsra.models.utils.CosineLinear`), ``forward`` returns cos θ
    (B, C) for an angular-margin loss such as
    :class:`AsymmetricAngularMarginLoss`, and the scores at inference are
    :math:`\\sigma(s\\cos\\theta)` without margin (``cosine_scale=s`` of
    :class:`MultiLabelHeadBase`).

    Input: the last element of ``feats``, either a (B, D) vector (e.g. after
    a ``GlobalAveragePooling`` neck) or a (B, D, H, W) map, which is then
    global-average pooled here; any other rank is an error.

    Args:
        num_classes (int): C.
        in_channels (int): D.
        scale (float, optional): s used for the inference scores. ``None``
            (default) takes the loss's ``scale`` attribute (AAM's s) so the
            two can not disagree; it is then required that the loss has one.
            If both are given they must be equal.
        loss (dict): the loss config. Defaults to
            ``dict(type='AsymmetricAngularMarginLoss')``.
        thr (float, optional): score threshold of ``pred_label``.
        topk (int, optional): top-k rule of ``pred_label`` (used if ``thr``
            is None; with neither, thr = 0.5).
        eps (float): lower bound of the norms in the normalisation.
            Defaults to 1e-12.
        init_cfg (dict, optional): Defaults to N(0, 0.01²) on the
            ``CosineLinear`` weight.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 scale: Optional[float] = None,
                 loss: dict = dict(type='AsymmetricAngularMarginLoss'),
                 thr: Optional[float] = None,
                 topk: Optional[int] = None,
                 eps: float = 1e-12,
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='CosineLinear', std=0.01)):
        loss_module, scale = build_cosine_loss('CosineClsHead', loss, scale)
        super().__init__(
            cosine_scale=scale,
            loss=loss_module,
            thr=thr,
            topk=topk,
            init_cfg=init_cfg)
        self.num_classes = check_count(num_classes, 'num_classes')
        self.in_channels = in_channels
        self.fc = CosineLinear(in_channels, num_classes, eps=eps)

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """The last stage, global average pooled if it is a 4-D map."""
        x = feats[-1]
        if x.dim() == 4:
            x = x.mean(dim=(2, 3))  # [B, D, H, W] -> [B, D]
        elif x.dim() != 2:
            raise ValueError('CosineClsHead expects a (B, D) or (B, D, H, W) '
                             f'feature, got shape {tuple(x.shape)}')
        return x  # [B, D]

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """cos θ between the features and the class weights, (B, C)."""
        x = self.pre_logits(feats)  # [B, D]
        return self.fc(x)  # [B, C]
