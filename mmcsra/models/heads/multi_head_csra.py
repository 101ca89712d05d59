"""Class-specific residual attention (CSRA) with several temperature heads."""
import math
from numbers import Real
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from .multi_label_head_base import check_count

INF = float('inf')
#: The paper's temperatures for H heads; ``inf`` = max pooling.
DEFAULT_TEMPERATURES: Dict[int, Tuple[float, ...]] = {
    1: (1.0, ),
    2: (1.0, INF),
    4: (1.0, 2.0, 4.0, INF),
    6: (1.0, 2.0, 3.0, 4.0, 5.0, INF),
    8: (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, INF),
}


@MODELS.register_module()
class MultiHeadCSRA(BaseModule):
    r"""Multi-head class-specific residual attention (CSRA).

    `Residual Attention: A Simple but Effective Method for Multi-Label
    Recognition <https://arxiv.org/abs/2108.02456>`_ (Zhu & Wu, ICCV 2021).

    Every location :math:`x_j \in \mathbb{R}^D`, :math:`j = 1..N`, is scored
    by every class :math:`i` of every head :math:`h`,
    :math:`s^h_{ij} = x_j^\top m^h_i / \lVert m^h_i \rVert` (no division
    with ``normalize_weight=False``); each head pools its scores at its own
    temperature :math:`T_h` and the heads are summed:

    .. math::
        \mathrm{base}^h_i = \frac{1}{N}\sum_j s^h_{ij},\qquad
        \mathrm{att}^h_i = \sum_j \mathrm{softmax}_j(T_h s^h_{ij})\,s^h_{ij}
        \;\;(= \max_j s^h_{ij}\ \text{if}\ T_h=\infty),

    .. math::
        y_i = \sum_h \left(\mathrm{base}^h_i + \lambda\,
              \mathrm{att}^h_i\right).

    These are the paper's Eqs. (1)-(5) (feature
    :math:`a_i = \sum_j \mathrm{softmax}_j(T x_j^\top m_i) x_j`, logit
    :math:`m_i^\top (g + \lambda a_i)`) moved through the linear classifier,
    so only the :math:`(B, H, C, N)` scores are materialised. The H bias-free
    :math:`C \times D` classifiers (one 1x1 conv per head in the paper and in
    MMPretrain's ``CSRAClsHead``) are stacked into one
    ``nn.Linear(D, H * C, bias=False)``, row ``h * C + i``.

    Input: a feature map ``(B, D, H, W)`` (its ``H * W`` positions are the
    locations) or tokens ``(B, N, D)`` (the patch tokens after the first
    ``num_extra_tokens`` are the locations).

    ``MultiHeadCSRA(..., cosine=True)`` builds the cosine variant,
    :class:`CosineMultiHeadCSRA`.

    Args:
        num_classes (int): number of classes C (>= 1).
        in_channels (int): feature dimension D (>= 1).
        num_heads (int, optional): number of heads H. Without
            ``temperatures`` it picks the paper's temperatures from
            :attr:`DEFAULT_TEMPERATURES` (H in {1, 2, 4, 6, 8}). Defaults to
            None: ``len(temperatures)`` if given, else 1.
        lam (float): :math:`\lambda \ge 0`, weight of the attention term in
            ``'residual'`` mode. Defaults to 0.1.
        temperatures (Sequence[float], optional): temperature of each head,
            any length, each > 0; ``float('inf')`` means max pooling.
            Defaults to None (use the table).
        mode (str): ``'residual'`` (base + λ·att, CSRA), ``'avg'`` (base
            only: global average pooling) or ``'attention'`` (att only), the
            paper's control experiment. Defaults to ``'residual'``.
        normalize_weight (bool): divide each class weight by its L2 norm when
            scoring (as the authors' code does). Defaults to True.
        num_extra_tokens (int): leading non-patch tokens of a ``(B, N, D)``
            input to drop: 1 for a ViT class token, 2 for DeiT's class and
            distillation tokens. Must be 0 for a ``(B, D, H, W)`` map.
            Defaults to 0.
        cosine (bool): build :class:`CosineMultiHeadCSRA` instead. Defaults
            to False.
        eps (float): lower bound of the class-feature norm of the cosine
            variant; unused otherwise. Defaults to 1e-12.
        init_cfg (dict, optional): Defaults to
            ``dict(type='Normal', layer='Linear', std=0.01)``, which draws the
            stacked classifier from N(0, 0.01²) (MMPretrain's ``CSRAClsHead``
            has this config too, but its ``Conv2d`` classifiers escape it).
    """

    DEFAULT_TEMPERATURES = DEFAULT_TEMPERATURES
    MODES = ('residual', 'avg', 'attention')
    cosine = False

    def __new__(cls, *args, cosine: bool = False, **kwargs):
        if cosine and cls is MultiHeadCSRA:
            # MultiHeadCSRA(..., cosine=True) is a CosineMultiHeadCSRA
            from .cosine_multi_head_csra import CosineMultiHeadCSRA
            return super().__new__(CosineMultiHeadCSRA)
        return super().__new__(cls)

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 num_heads: Optional[int] = None,
                 lam: float = 0.1,
                 temperatures: Optional[Sequence[float]] = None,
                 mode: str = 'residual',
                 normalize_weight: bool = True,
                 num_extra_tokens: int = 0,
                 *,
                 cosine: bool = False,
                 eps: float = 1e-12,
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Linear', std=0.01)):
        super().__init__(init_cfg=init_cfg)
        self.num_classes = check_count(num_classes, 'num_classes')
        self.in_channels = check_count(in_channels, 'in_channels')
        self.num_extra_tokens = check_count(
            num_extra_tokens, 'num_extra_tokens', minimum=0)
        if not isinstance(lam, Real) or not math.isfinite(lam) or lam < 0:
            raise ValueError(f'lam must be a finite number >= 0, got {lam!r}')
        if mode not in self.MODES:
            raise ValueError(f'mode must be one of {self.MODES}, got {mode!r}')
        self.temperatures = resolve_temperatures(num_heads, temperatures)
        self.num_heads = len(self.temperatures)
        self.lam = float(lam)
        self.mode = mode
        self.normalize_weight = bool(normalize_weight)
        # the H (C, D) classifiers stacked: row h * C + i = head h, class i
        self.classifier = nn.Linear(
            in_channels, self.num_heads * num_classes, bias=False)

    def locations(self, x: torch.Tensor) -> torch.Tensor:
        """The features at the N pooled locations, as ``(B, D, N)``.

        A ``(B, D, H, W)`` map is flattened row-major (``N = H * W``);
        ``(B, N_all, D)`` tokens lose their first ``num_extra_tokens``.

        Raises:
            ValueError: on another rank, a channel dimension other than
                ``in_channels``, extra tokens asked of a feature map, or no
                location left.
        """
        if x.dim() not in (3, 4):
            raise ValueError(
                'expected a (B, D, H, W) feature map or (B, N, D) tokens, '
                f'got shape {tuple(x.shape)}')
        is_map = x.dim() == 4
        channels = x.size(1) if is_map else x.size(2)
        if channels != self.in_channels:
            layout = 'feature map (B, D, H, W)' if is_map \
                else 'tokens (B, N, D)'
            raise ValueError(
                f'{layout} {tuple(x.shape)} has D = {channels} channels but '
                f'in_channels = {self.in_channels}')
        if is_map and self.num_extra_tokens:
            raise ValueError(
                f'num_extra_tokens={self.num_extra_tokens} applies to '
                '(B, N, D) token input; a (B, D, H, W) feature map has no '
                'class token to drop (set num_extra_tokens=0)')
        feats = x.flatten(2) if is_map else \
            x[:, self.num_extra_tokens:].transpose(1, 2)  # [B, D, N]
        if feats.size(2) == 0:
            raise ValueError(
                f'input {tuple(x.shape)} has no location left to pool '
                f'(num_extra_tokens={self.num_extra_tokens})')
        return feats

    def class_score_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Per-head class scores :math:`s^h_{ij}` at every location.

        With a ``(B, D, h, w)`` input, ``scores.unflatten(-1, (h, w))``
        recovers the spatial layout; with tokens, the patch grid is the
        backbone's ``patch_resolution``.

        Args:
            x (Tensor): ``(B, D, H, W)`` feature map or ``(B, N, D)`` tokens.

        Returns:
            Tensor: ``(B, num_heads, num_classes, N)`` scores.
        """
        feats = self.locations(x)  # [B, D, N]
        weight = self.classifier.weight  # [H*C, D]
        if self.normalize_weight:
            weight = F.normalize(weight, dim=1)
        if x.dim() == 4:
            # a 1x1 convolution of the map: its weight gradient is one
            # matrix product over all B * N locations, not B small ones
            scores = F.conv2d(x, weight[:, :, None, None]).flatten(2)
        else:
            scores = F.linear(feats.transpose(1, 2), weight).transpose(1, 2)
        # [B, H*C, N] -> [B, H, C, N]
        return scores.unflatten(1, (self.num_heads, self.num_classes))

    def attention_maps(self,
                       x: torch.Tensor,
                       temperature: Optional[float] = None) -> torch.Tensor:
        """Class-specific attention :math:`\\mathrm{softmax}_j(T s^h_{ij})`.

        Args:
            x (Tensor): ``(B, D, H, W)`` feature map or ``(B, N, D)`` tokens.
            temperature (float, optional): one temperature for every head.
                None (default): each head's own. For ``T = inf`` the map is
                the limit of the softmax, one-hot at the arg-max location
                (the first one on ties).

        Returns:
            Tensor: ``(B, num_heads, num_classes, N)``, summing to 1 over N.
        """
        temperatures = self.temperatures if temperature is None else \
            resolve_temperatures(None, [temperature]) * self.num_heads
        return class_attention(self.class_score_maps(x), temperatures)

    def pool_scores(self, scores: torch.Tensor) -> torch.Tensor:
        """Pool ``(B, H, C, N)`` scores into per-head logits ``(B, H, C)``."""
        base = scores.mean(dim=-1)  # [B, H, C]
        if self.mode == 'avg':
            return base
        att = class_attention(scores, self.temperatures, pool=True)
        if self.mode == 'attention':
            return att
        return base + self.lam * att

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x (Tensor): ``(B, D, H, W)`` feature map or ``(B, N, D)`` tokens.

        Returns:
            Tensor: ``(B, num_classes)`` logits, summed over the heads.
        """
        scores = self.class_score_maps(x)  # [B, H, C, N]
        return self.pool_scores(scores).sum(dim=1)  # [B, C]

    def extra_repr(self) -> str:
        temps = ', '.join('inf' if math.isinf(t) else f'{t:g}'
                          for t in self.temperatures)
        return (f'num_classes={self.num_classes}, '
                f'in_channels={self.in_channels}, temperatures=[{temps}], '
                f'lam={self.lam:g}, mode={self.mode!r}, '
                f'normalize_weight={self.normalize_weight}, '
                f'num_extra_tokens={self.num_extra_tokens}, '
                f'cosine={self.cosine}')


def resolve_temperatures(
        num_heads: Optional[int],
        temperatures: Optional[Sequence[float]]) -> Tuple[float, ...]:
    """The per-head temperatures from ``num_heads`` and/or ``temperatures``.

    With ``num_heads`` alone (or neither: H = 1), the paper's
    :data:`DEFAULT_TEMPERATURES`.

    Raises:
        ValueError: on a bad count or temperature, no default for
            ``num_heads``, or the two disagreeing.
        TypeError: if ``temperatures`` is not a sequence of numbers.
    """
    if num_heads is not None:
        check_count(num_heads, 'num_heads')
    if temperatures is None:
        num_heads = 1 if num_heads is None else num_heads
        if num_heads not in DEFAULT_TEMPERATURES:
            raise ValueError(
                f'num_heads={num_heads} has no default temperatures; '
                f'choose num_heads in {sorted(DEFAULT_TEMPERATURES)} or pass '
                'temperatures=[...] explicitly')
        return DEFAULT_TEMPERATURES[num_heads]
    if isinstance(temperatures,
                  (str, bytes)) or not isinstance(temperatures, Sequence):
        raise TypeError('temperatures must be a list of numbers, got '
                        f'{temperatures!r}')
    if len(temperatures) == 0:
        raise ValueError('temperatures must not be empty')
    for t in temperatures:
        if not isinstance(t, Real) or math.isnan(t) or t <= 0:
            raise ValueError(
                'every temperature must be a number > 0 (float("inf") for '
                f'max pooling), got {t!r} in {list(temperatures)}')
    if num_heads is not None and num_heads != len(temperatures):
        raise ValueError(
            f'num_heads={num_heads} disagrees with the {len(temperatures)} '
            f'temperatures {list(temperatures)}; give one of them, or make '
            'them agree')
    return tuple(float(t) for t in temperatures)


def class_attention(scores: torch.Tensor,
                    temperatures: Sequence[float],
                    pool: bool = False) -> torch.Tensor:
    r"""Each head's attention over the locations, at its own temperature.

    Args:
        scores (Tensor): ``(B, H, C, N)`` scores :math:`s^h_{ij}`.
        temperatures (Sequence[float]): :math:`T_h` of the H heads, > 0;
            ``inf`` = max pooling.
        pool (bool): False: return the weights
            :math:`\mathrm{softmax}_j(T_h s^h_{ij})` ``(B, H, C, N)``
            (one-hot at the first arg-max for :math:`T_h = \infty`). True:
            return :math:`\mathrm{att}^h_i = \sum_j \mathrm{weight}_{ij}\,
            s^h_{ij}` ``(B, H, C)`` (:math:`\max_j s^h_{ij}` for
            :math:`T_h = \infty`).
    """
    finite = [math.isfinite(t) for t in temperatures]
    # infinite heads get T = 1 here and are replaced below, so no inf * s
    # (whose NaN would leak into the gradient of torch.where)
    temps = scores.new_tensor(
        [t if f else 1.0 for t, f in zip(temperatures, finite)])
    weights = torch.softmax(temps.view(-1, 1, 1) * scores, dim=-1)
    out = (weights * scores).sum(dim=-1) if pool else weights
    if all(finite):
        return out
    if pool:
        at_inf = scores.amax(dim=-1)  # [B, H, C]
    else:
        at_inf = F.one_hot(scores.argmax(dim=-1),
                           scores.size(-1)).to(scores.dtype)  # [B, H, C, N]
    is_finite = torch.tensor(finite, device=scores.device)
    return torch.where(is_finite.view(-1, *[1] * (out.dim() - 2)), out, at_inf)
