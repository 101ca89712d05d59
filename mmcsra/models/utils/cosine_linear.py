"""Normalised (cosine) linear classifier.

Used with angular-margin losses such as AAM (Prokofiev & Sovrasov,
*Combining Metric Learning and Attention Heads For Accurate and Efficient
Multilabel Image Classification*, https://arxiv.org/abs/2209.06585) and, for
the normalised features and class weights, NormFace / CosFace:

.. math::
    \\cos\\theta_{c} = \\frac{x^{\\top} w_c}{\\lVert x \\rVert\\,
        \\lVert w_c \\rVert} \\in [-1, 1]
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def cosine_linear(x: torch.Tensor,
                  weight: torch.Tensor,
                  eps: float = 1e-12) -> torch.Tensor:
    """Cosines between the rows of ``x`` and the rows of ``weight``.

    Args:
        x (Tensor): (..., D) features.
        weight (Tensor): (C, D) class weights.
        eps (float): lower bound of the norms (``F.normalize``'s eps), so a
            zero vector gives cosines 0 instead of NaN. Defaults to 1e-12.

    Returns:
        Tensor: (..., C) cos θ, clamped to [-1, 1] against rounding.
    """
    if weight.dim() != 2 or x.size(-1) != weight.size(1):
        raise ValueError(f'cosine_linear expects x (..., D) and weight '
                         f'(C, D); got x {tuple(x.shape)} and weight '
                         f'{tuple(weight.shape)}')
    x = F.normalize(x, dim=-1, eps=eps)  # [..., D]
    weight = F.normalize(weight, dim=-1, eps=eps)  # [C, D]
    cos = F.linear(x, weight)  # [..., C]
    return cos.clamp(-1.0, 1.0)


class CosineLinear(nn.Module):
    """A bias-free linear layer on L2-normalised inputs and weights.

    ``CosineLinear(D, C)(x)`` returns :func:`cosine_linear` of ``x`` and the
    layer's (C, D) weight: cos θ between each feature and each class weight.
    The weight norm carries no information, so any scale of initialisation
    works; we draw it from N(0, 0.01²) like MMPretrain's linear heads (the
    head's ``init_cfg=dict(type='Normal', layer='CosineLinear', std=0.01)``
    matches this layer).

    Args:
        in_features (int): D.
        out_features (int): C.
        eps (float): lower bound of the norms. Defaults to 1e-12.

    Shapes:
        input (..., D) -> output (..., C), values in [-1, 1].
    """

    def __init__(self,
                 in_features: int,
                 out_features: int,
                 eps: float = 1e-12):
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError('in_features and out_features must be > 0, got '
                             f'{in_features} and {out_features}')
        self.in_features = in_features
        self.out_features = out_features
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, std=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cosine_linear(x, self.weight, self.eps)  # [..., C]

    def extra_repr(self) -> str:
        return (f'in_features={self.in_features}, '
                f'out_features={self.out_features}')
