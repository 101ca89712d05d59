"""The cosine variant of class-specific residual attention (CSRA)."""
from numbers import Real

import torch
from mmpretrain.registry import MODELS

from .multi_head_csra import MultiHeadCSRA, class_attention


@MODELS.register_module()
class CosineMultiHeadCSRA(MultiHeadCSRA):
    r"""The cosine variant of :class:`MultiHeadCSRA`, for margin losses on
    cos θ such as AAM (Prokofiev & Sovrasov, VISAPP 2023,
    https://arxiv.org/abs/2209.06585).

    Each head returns the cosine between its unit class weight and the
    class-specific feature :math:`f^h_i = g + \lambda a^h_i` of CSRA's
    Eq. (5) (:math:`g` alone in ``'avg'`` mode, :math:`a^h_i` alone in
    ``'attention'`` mode), and the heads are averaged, so the output stays
    in [-1, 1]:

    .. math::
        \cos\theta^h_i = \frac{\mathrm{base}^h_i + \lambda\,
        \mathrm{att}^h_i}{\lVert f^h_i \rVert},\qquad
        y_i = \frac{1}{H}\sum_h \cos\theta^h_i,

    .. math::
        \lVert f^h_i \rVert^2 = \lVert g \rVert^2
        + 2\lambda\,\alpha^{h\top}_i G\,\mathbf{1}/N
        + \lambda^2\,\alpha^{h\top}_i G\,\alpha^h_i,

    with :math:`G_{jk} = x_j^\top x_k` the :math:`N \times N` Gram matrix,
    :math:`\lVert g \rVert^2 = \mathbf{1}^\top G \mathbf{1} / N^2` and
    :math:`\alpha^h_i` the attention weights (one-hot at the arg-max for
    :math:`T_h = \infty`), so :math:`f` is never materialised.

    Args:
        cosine (bool): must be True (the argument exists so that a
            ``MultiHeadCSRA`` config can be reused). Defaults to True.
        eps (float): lower bound of :math:`\lVert f \rVert`. Defaults to
            1e-12.
        *args, **kwargs: the arguments of :class:`MultiHeadCSRA`;
            ``normalize_weight`` must be True.
    """

    cosine = True

    def __init__(self,
                 *args,
                 cosine: bool = True,
                 eps: float = 1e-12,
                 **kwargs):
        if not cosine:
            raise ValueError('CosineMultiHeadCSRA is MultiHeadCSRA with '
                             'cosine=True; use MultiHeadCSRA otherwise')
        if not (isinstance(eps, Real) and eps > 0):
            raise ValueError(f'eps must be a number > 0, got {eps!r}')
        super().__init__(*args, **kwargs)
        if not self.normalize_weight:
            raise ValueError('cosine=True needs normalize_weight=True: a '
                             'cosine uses the unit class weights')
        self.eps = float(eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, num_classes)`` cosines, averaged over the heads."""
        scores = self.class_score_maps(x)  # [B, H, C, N]
        logits = self.pool_scores(scores)  # [B, H, C]
        norms = self.class_feature_norms(self.locations(x), scores)
        # clamped against rounding, as CosineLinear
        return (logits / norms).mean(dim=1).clamp(-1.0, 1.0)  # [B, C]

    def class_feature_norms(self, feats: torch.Tensor,
                            scores: torch.Tensor) -> torch.Tensor:
        r""":math:`\lVert f^h_i \rVert` of the class-specific features.

        Args:
            feats (Tensor): ``(B, D, N)`` locations (:meth:`locations`).
            scores (Tensor): ``(B, H, C, N)`` scores
                (:meth:`class_score_maps`).

        Returns:
            Tensor: ``(B, H, C)`` norms, at least ``eps``.
        """
        gram = feats.transpose(1, 2) @ feats  # [B, N, N], G_jk = x_j . x_k
        g_sq = gram.mean(dim=(1, 2))[:, None, None]  # [B, 1, 1], |g|^2
        if self.mode == 'avg':
            sq_norm = g_sq.expand(scores.shape[:3])  # [B, H, C]
        else:
            alpha = class_attention(scores, self.temperatures)  # [B,H,C,N]
            a_sq = ((alpha @ gram[:, None]) * alpha).sum(-1)  # [B, H, C]
            if self.mode == 'attention':
                sq_norm = a_sq
            else:
                x_dot_g = gram.mean(dim=2)[:, None, None]  # [B, 1, 1, N]
                g_dot_a = (alpha * x_dot_g).sum(-1)  # [B, H, C]
                sq_norm = g_sq + 2 * self.lam * g_dot_a + \
                    self.lam**2 * a_sq
        # rounding can make a vanishing |f|^2 slightly negative
        return sq_norm.clamp_min(self.eps**2).sqrt()  # [B, H, C]
