"""Class-specific residual attention (CSRA) with several temperature heads."""
import math
from numbers import Integral, Real
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

INF = float('inf')


@MODELS.register_module()
class MultiHeadCSRA(BaseModule):
    r"""Multi-head class-specific residual attention (CSRA).

    `Residual Attention: A Simple but Effective Method for Multi-Label
    Recognition <https://arxiv.org/abs/2108.02456>`_ (Zhu & Wu, ICCV 2021).

    Every spatial location (or patch token) :math:`x_j \in \mathbb{R}^D`,
    :math:`j = 1..N`, is scored by every class :math:`i` of every head
    :math:`h`:

    .. math::
        s^h_{ij} = x_j^\top m^h_i / \lVert m^h_i \rVert

    (without the division when ``normalize_weight=False``). Each head pools
    the scores with its own temperature :math:`T_h`, residually adding
    class-specific attention to global average pooling, and the heads are
    summed:

    .. math::
        \mathrm{base}^h_i = \frac{1}{N}\sum_j s^h_{ij},\qquad
        \mathrm{att}^h_i = \sum_j \mathrm{softmax}_j(T_h s^h_{ij})\,
                           s^h_{ij}
                           \;\;(= \max_j s^h_{ij}\ \text{if}\ T_h=\infty),

    .. math::
        y_i = \sum_h \left(\mathrm{base}^h_i + \lambda\,
              \mathrm{att}^h_i\right).

    This is the paper's Eqs. (1)-(5) (class-specific feature
    :math:`a_i = \sum_j \mathrm{softmax}_j(T x_j^\top m_i) x_j`, logit
    :math:`m_i^\top (g + \lambda a_i)`) moved through the linear classifier,
    so only the :math:`(B, H, C, N)` scores are ever materialised, never
    :math:`(B, H, C, D)` class-specific features.

    Each head has its own bias-free :math:`C \times D` classifier (a 1x1
    convolution in the paper, one ``nn.Conv2d(bias=False)`` per head in
    MMPretrain's ``CSRAClsHead``). Here the :math:`H` classifiers are stacked
    into one ``nn.Linear(D, H * C, bias=False)``, rows ``h * C + i``, so all
    heads are scored with a single matrix product (applied as a 1x1
    convolution to a feature map, as a linear layer to tokens).

    **Cosine variant** (``cosine=True``, for margin losses on cos θ such as
    AAM, Prokofiev & Sovrasov, VISAPP 2023): each head returns the cosine
    between its class weight and the class-specific feature
    :math:`f^h_i = g + \lambda a^h_i` (paper Eq. 5; :math:`g` alone in
    ``'avg'`` mode, :math:`a^h_i` alone in ``'attention'`` mode), and the
    heads are averaged, so the output stays in [-1, 1]:

    .. math::
        \cos\theta^h_i = \frac{\mathrm{base}^h_i + \lambda\,
        \mathrm{att}^h_i}{\lVert f^h_i \rVert},\qquad
        y_i = \frac{1}{H}\sum_h \cos\theta^h_i,

    .. math::
        \lVert f^h_i \rVert^2 = \lVert g \rVert^2
        + 2\lambda\,\alpha^{h\top}_i G\,\mathbf{1}/N
        + \lambda^2\,\alpha^{h\top}_i G\,\alpha^h_i,

    with :math:`G_{jk} = x_j^\top x_k` (the :math:`N \times N` Gram matrix),
    :math:`\lVert g \rVert^2 = \mathbf{1}^\top G \mathbf{1} / N^2` and
    :math:`\alpha^h_i` the attention weights (one-hot at the arg-max for
    :math:`T_h = \infty`), so :math:`f` is still never materialised.

    Inputs accepted by :meth:`forward`:

    * a feature map ``(B, D, H, W)`` (CNN backbones, MMPretrain ViT with
      ``out_type='featmap'``): the ``H * W`` positions are the locations;
    * tokens ``(B, N, D)`` (MMPretrain ViT with ``out_type='raw'``): the first
      ``num_extra_tokens`` tokens (class / distillation tokens) are dropped
      and the remaining patch tokens are the locations.

    Args:
        num_classes (int): number of classes C (>= 1).
        in_channels (int): feature dimension D (>= 1).
        num_heads (int, optional): number of heads H. Without
            ``temperatures`` it picks the paper's temperatures from
            :attr:`DEFAULT_TEMPERATURES` (H in {1, 2, 4, 6, 8}). Defaults to
            None: ``len(temperatures)`` if given, else 1.
        lam (float): :math:`\lambda \ge 0`, weight of the attention term in
            ``'residual'`` mode. Defaults to 0.1.
        temperatures (Sequence[float], optional): explicit temperature of
            each head, any length, each > 0; ``float('inf')`` means max
            pooling. Defaults to None (use the table).
        mode (str): ``'residual'`` (base + λ·att, CSRA), ``'avg'`` (base
            only: global average pooling) or ``'attention'`` (att only), the
            paper's control experiment. Defaults to ``'residual'``.
        normalize_weight (bool): divide each class's classifier weight by its
            L2 norm when scoring (as the authors' code does). False scores
            with the raw weights. Defaults to True.
        num_extra_tokens (int): leading non-patch tokens of a ``(B, N, D)``
            token input to drop: 1 for a ViT class token, 2 for DeiT's class
            and distillation tokens, 0 to use every token. Must be 0 for a
            ``(B, D, H, W)`` feature map, which has no such tokens.
            Defaults to 0.
        cosine (bool): return cosines between the class weights and the
            class-specific features (averaged over heads) instead of summed
            logits, see above. Needs ``normalize_weight=True``. Defaults to
            False.
        eps (float): lower bound of :math:`\lVert f \rVert` in the cosine
            variant. Defaults to 1e-12.
        init_cfg (dict, optional): initialisation. Defaults to
            ``dict(type='Normal', layer='Linear', std=0.01)``: the stacked
            classifier is an ``nn.Linear``, so it is drawn from N(0, 0.01²)
            (MMPretrain's ``CSRAClsHead`` has the same config but its
            classifiers are ``Conv2d`` and are never initialised by it).
    """

    #: The paper's temperatures for H heads; ``inf`` = max pooling.
    DEFAULT_TEMPERATURES: Dict[int, Tuple[float, ...]] = {
        1: (1.0, ),
        2: (1.0, INF),
        4: (1.0, 2.0, 4.0, INF),
        6: (1.0, 2.0, 3.0, 4.0, 5.0, INF),
        8: (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, INF),
    }
    MODES = ('residual', 'avg', 'attention')

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 num_heads: Optional[int] = None,
                 lam: float = 0.1,
                 temperatures: Optional[Sequence[float]] = None,
                 mode: str = 'residual',
                 normalize_weight: bool = True,
                 num_extra_tokens: int = 0,
                 cosine: bool = False,
                 eps: float = 1e-12,
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Linear', std=0.01)):
        super().__init__(init_cfg=init_cfg)
        _check_positive_int(num_classes, 'num_classes')
        _check_positive_int(in_channels, 'in_channels')
        if isinstance(num_extra_tokens, bool) or not isinstance(
                num_extra_tokens, Integral) or num_extra_tokens < 0:
            raise ValueError('num_extra_tokens must be an int >= 0, got '
                             f'{num_extra_tokens!r}')
        if not isinstance(lam, Real) or not math.isfinite(lam) or lam < 0:
            raise ValueError(f'lam must be a finite number >= 0, got {lam!r}')
        if mode not in self.MODES:
            raise ValueError(f'mode must be one of {self.MODES}, got {mode!r}')

        self.num_classes = int(num_classes)
        self.in_channels = int(in_channels)
        self.temperatures = self._resolve_temperatures(num_heads, temperatures)
        self.num_heads = len(self.temperatures)
        self.lam = float(lam)
        self.mode = mode
        self.normalize_weight = bool(normalize_weight)
        self.num_extra_tokens = int(num_extra_tokens)
        if cosine and not normalize_weight:
            raise ValueError('cosine=True needs normalize_weight=True: a '
                             'cosine uses the unit class weights')
        if not (isinstance(eps, Real) and eps > 0):
            raise ValueError(f'eps must be a number > 0, got {eps!r}')
        self.cosine = bool(cosine)
        self.eps = float(eps)

        # the H (C, D) classifiers stacked: row h * C + i = head h, class i
        self.classifier = nn.Linear(
            in_channels, self.num_heads * num_classes, bias=False)

        # heads pooled by softmax attention, and heads pooled by max
        softmax_heads = [
            h for h, t in enumerate(self.temperatures) if math.isfinite(t)
        ]
        max_heads = [
            h for h, t in enumerate(self.temperatures) if math.isinf(t)
        ]
        # as slices (views, no copy) when the heads are consecutive, as the
        # paper's temperatures are (finite ones first, inf last); None if
        # there is no such head
        self._softmax_heads = _as_index(softmax_heads)
        self._max_heads = _as_index(max_heads)
        # the pooled heads come out softmax heads first, then max heads;
        # this puts them back in head order (None: they already are)
        order = softmax_heads + max_heads
        self._head_order = None if order == sorted(order) else [
            order.index(h) for h in range(self.num_heads)
        ]
        self.register_buffer(
            '_softmax_temperatures',
            torch.tensor([self.temperatures[h] for h in softmax_heads]),
            persistent=False)

    # ------------------------------------------------------------ arguments
    @classmethod
    def _resolve_temperatures(
            cls, num_heads: Optional[int],
            temperatures: Optional[Sequence[float]]) -> Tuple[float, ...]:
        if num_heads is not None:
            _check_positive_int(num_heads, 'num_heads')
        if temperatures is None:
            num_heads = 1 if num_heads is None else num_heads
            if num_heads not in cls.DEFAULT_TEMPERATURES:
                raise ValueError(
                    f'num_heads={num_heads} has no default temperatures; '
                    f'choose num_heads in {sorted(cls.DEFAULT_TEMPERATURES)} '
                    'or pass temperatures=[...] explicitly')
            return cls.DEFAULT_TEMPERATURES[num_heads]

        if isinstance(temperatures, (str, bytes)) or not isinstance(
                temperatures, Sequence):
            raise TypeError('temperatures must be a list of numbers, got '
                            f'{temperatures!r}')
        if len(temperatures) == 0:
            raise ValueError('temperatures must not be empty')
        for t in temperatures:
            if not isinstance(t, Real) or math.isnan(t) or t <= 0:
                raise ValueError(
                    'every temperature must be a number > 0 (float("inf") '
                    f'for max pooling), got {t!r} in {list(temperatures)}')
        if num_heads is not None and num_heads != len(temperatures):
            raise ValueError(
                f'num_heads={num_heads} disagrees with the '
                f'{len(temperatures)} temperatures {list(temperatures)}; '
                'give one of them, or make them agree')
        return tuple(float(t) for t in temperatures)

    # -------------------------------------------------------------- forward
    def locations(self, x: torch.Tensor) -> torch.Tensor:
        """The features at the N pooled locations, as ``(B, D, N)``.

        A ``(B, D, H, W)`` map is flattened row-major (``N = H * W``);
        ``(B, N_all, D)`` tokens lose their first ``num_extra_tokens``.

        Raises:
            ValueError: on another rank, a channel dimension other than
                ``in_channels``, extra tokens asked of a feature map, or no
                location left.
        """
        if x.dim() == 4:
            if x.size(1) != self.in_channels:
                raise ValueError(
                    f'feature map {tuple(x.shape)} (B, D, H, W) has D = '
                    f'{x.size(1)} channels but in_channels = '
                    f'{self.in_channels}')
            if self.num_extra_tokens:
                raise ValueError(
                    f'num_extra_tokens={self.num_extra_tokens} applies to '
                    '(B, N, D) token input; a (B, D, H, W) feature map has '
                    'no class token to drop (set num_extra_tokens=0)')
            feats = x.flatten(2)  # [B, D, N]
        elif x.dim() == 3:
            if x.size(2) != self.in_channels:
                raise ValueError(
                    f'tokens {tuple(x.shape)} (B, N, D) have D = {x.size(2)} '
                    f'channels but in_channels = {self.in_channels}')
            feats = x[:, self.num_extra_tokens:].transpose(1, 2)  # [B, D, N]
        else:
            raise ValueError(
                'expected a (B, D, H, W) feature map or (B, N, D) tokens, '
                f'got shape {tuple(x.shape)}')
        if feats.size(2) == 0:
            raise ValueError(
                f'input {tuple(x.shape)} has no location left to pool '
                f'(num_extra_tokens={self.num_extra_tokens})')
        return feats

    def class_score_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Per-head class scores :math:`s^h_{ij}` at every location.

        For the attention-map visualisation: with a ``(B, D, h, w)`` input,
        ``scores.unflatten(-1, (h, w))`` recovers the spatial layout; with
        tokens, the patch grid is the backbone's ``patch_resolution``.

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
            scores = F.conv2d(x, weight[:, :, None, None])  # [B, H*C, h, w]
            scores = scores.flatten(2)  # [B, H*C, N]
        else:
            tokens = feats.transpose(1, 2)  # [B, N, D]
            scores = F.linear(tokens, weight).transpose(1, 2)  # [B, H*C, N]
        return scores.unflatten(1, (self.num_heads, self.num_classes))

    def attention_maps(self,
                       x: torch.Tensor,
                       temperature: Optional[float] = None) -> torch.Tensor:
        """Class-specific attention :math:`\\mathrm{softmax}_j(T s^h_{ij})`.

        Args:
            x (Tensor): ``(B, D, H, W)`` feature map or ``(B, N, D)`` tokens.
            temperature (float, optional): one temperature for every head.
                None (default): each head's own temperature. For
                ``T = inf`` the map is the limit of the softmax, one-hot at
                the arg-max location (the first one on ties).

        Returns:
            Tensor: ``(B, num_heads, num_classes, N)``, summing to 1 over N.
        """
        scores = self.class_score_maps(x)  # [B, H, C, N]
        if temperature is not None:
            self._resolve_temperatures(None, [temperature])
            return _attention_weights(scores, float(temperature))
        return self._head_attention_weights(scores)  # [B, H, C, N]

    def _head_attention_weights(self, scores: torch.Tensor) -> torch.Tensor:
        """Each head's attention at its own temperature, ``(B, H, C, N)``."""
        return torch.stack([
            _attention_weights(scores[:, h], t)
            for h, t in enumerate(self.temperatures)
        ], dim=1)  # [B, H, C, N]

    def pool_scores(self, scores: torch.Tensor) -> torch.Tensor:
        """Pool ``(B, H, C, N)`` scores into per-head logits ``(B, H, C)``."""
        base = scores.mean(dim=-1)  # [B, H, C]
        if self.mode == 'avg':
            return base
        att = self._attention_pool(scores)  # [B, H, C]
        if self.mode == 'attention':
            return att
        return base + self.lam * att

    def _attention_pool(self, scores: torch.Tensor) -> torch.Tensor:
        """``(B, H, C, N)`` scores -> ``(B, H, C)`` attention logits."""
        pooled = []
        if self._softmax_heads is not None:
            s = scores[:, self._softmax_heads]  # [B, Hs, C, N]
            temperature = self._softmax_temperatures.to(s.dtype).view(
                1, -1, 1, 1)  # [1, Hs, 1, 1]
            # sum_j softmax_j(T s_j) s_j is attention with head dim 1; written
            # out, as F.scaled_dot_product_attention made the whole head up
            # to 1.3x slower on CPU
            weights = torch.softmax(temperature * s, dim=-1)  # [B, Hs, C, N]
            pooled.append((weights * s).sum(dim=-1))  # [B, Hs, C]
        if self._max_heads is not None:
            s = scores[:, self._max_heads]  # [B, Hm, C, N]
            pooled.append(s.amax(dim=-1))  # [B, Hm, C]
        att = torch.cat(pooled, dim=1) if len(pooled) > 1 else pooled[0]
        if self._head_order is not None:
            att = att[:, self._head_order]  # back to head order
        return att  # [B, H, C]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x (Tensor): ``(B, D, H, W)`` feature map or ``(B, N, D)`` tokens.

        Returns:
            Tensor: ``(B, num_classes)`` logits, summed over the heads; with
            ``cosine=True``, cosines averaged over the heads.
        """
        scores = self.class_score_maps(x)  # [B, H, C, N]
        logits = self.pool_scores(scores)  # [B, H, C]
        if not self.cosine:
            return logits.sum(dim=1)  # [B, C]
        norms = self.class_feature_norms(self.locations(x), scores)
        # clamped against rounding, as CosineLinear
        return (logits / norms).mean(dim=1).clamp(-1.0, 1.0)  # [B, C]

    def class_feature_norms(self, feats: torch.Tensor,
                            scores: torch.Tensor) -> torch.Tensor:
        r""":math:`\lVert f^h_i \rVert` of the class-specific features.

        From the Gram matrix of the locations (see the class docstring), so
        the ``(B, H, C, D)`` features are never built.

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
            alpha = self._head_attention_weights(scores)  # [B, H, C, N]
            a_sq = ((alpha @ gram[:, None]) * alpha).sum(-1)  # [B, H, C]
            if self.mode == 'attention':
                sq_norm = a_sq
            else:
                x_dot_g = gram.mean(dim=2)[:, None, None]  # [B, 1, 1, N]
                g_dot_a = (alpha * x_dot_g).sum(-1)  # [B, H, C]
                sq_norm = (g_sq + 2 * self.lam * g_dot_a +
                           self.lam**2 * a_sq)
        # rounding can make a vanishing |f|^2 slightly negative
        return sq_norm.clamp_min(self.eps**2).sqrt()  # [B, H, C]

    def extra_repr(self) -> str:
        temps = ', '.join('inf' if math.isinf(t) else f'{t:g}'
                          for t in self.temperatures)
        return (f'num_classes={self.num_classes}, '
                f'in_channels={self.in_channels}, temperatures=[{temps}], '
                f'lam={self.lam:g}, mode={self.mode!r}, '
                f'normalize_weight={self.normalize_weight}, '
                f'num_extra_tokens={self.num_extra_tokens}, '
                f'cosine={self.cosine}')


def _check_positive_int(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral) \
            or value < 1:
        raise ValueError(f'{name} must be an int >= 1, got {value!r}')


def _as_index(heads: Sequence[int]) -> Union[slice, List[int], None]:
    """``heads`` as a slice if consecutive, else the list; None if empty."""
    if not heads:
        return None
    if list(heads) == list(range(heads[0], heads[-1] + 1)):
        return slice(heads[0], heads[-1] + 1)
    return list(heads)


def _attention_weights(scores: torch.Tensor,
                       temperature: float) -> torch.Tensor:
    """softmax over the last dim at ``temperature``; one-hot arg-max at inf."""
    if math.isinf(temperature):
        winner = scores.argmax(dim=-1)
        return F.one_hot(winner, scores.size(-1)).to(scores.dtype)
    return torch.softmax(temperature * scores, dim=-1)
