"""CAT's neck: FPN + long-range dependencies + cross-layer fusion."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from mmcsra.models.utils.attention import FeedForward, MultiHeadAttention
from mmcsra.models.utils.position_encoding import sine_position_encoding_2d

__all__ = [
    'CrossLayerAggregationNeck', 'LongRangeDependencyLayer',
    'CrossLayerFusionLayer'
]

FUSION_ATTENTIONS = ('pre_max', 'plain')

GridSize = Union[int, Tuple[int, int]]


def _grid_size(size: GridSize) -> Tuple[int, int]:
    """``G`` or ``(G_h, G_w)`` -> ``(G_h, G_w)``, each an int >= 1."""
    pair = (size, size) if isinstance(size, int) else size
    valid = isinstance(pair, (tuple, list)) and len(pair) == 2 and all(
        isinstance(g, int) and not isinstance(g, bool) and g >= 1
        for g in pair)
    if not valid:
        raise ValueError(f'pool_output_size must be an int >= 1 or a pair '
                         f'of them (rows, columns), got {size!r}')
    return tuple(pair)


def _to_tokens(x: torch.Tensor) -> torch.Tensor:
    """[B, D, H, W] -> [B, H*W, D] (row-major tokens)."""
    return x.flatten(2).transpose(1, 2)


def _to_map(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """[B, H*W, D] -> [B, D, H, W]."""
    return x.transpose(1, 2).reshape(x.size(0), x.size(2), height, width)


def _position(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """[1, H*W, D] sine encoding for a grid, on ``like``'s device/dtype."""
    return sine_position_encoding_2d(
        height, width, like.size(1), device=like.device,
        dtype=like.dtype).unsqueeze(0)


class LongRangeDependencyLayer(nn.Module):
    """CAT's Long Range Dependencies (LRD) module: one transformer encoder
    layer over the top-level tokens (post-norm, positions added to queries
    and keys as in DETR).

    .. math::
        Y = \\mathrm{LN}(X + \\mathrm{MHA}(X + P, X + P, X)), \\qquad
        F_5 = \\mathrm{LN}(Y + \\mathrm{FFN}(Y))

    where :math:`X` are the tokens of :math:`P_5` and :math:`P` the 2-D sine
    encoding of its actual :math:`H \\times W` grid.

    Args:
        embed_dims (int): D.
        num_heads (int): attention heads.
        feedforward_channels (int): FFN hidden width.
        dropout (float): residual / FFN dropout.
        attn_drop (float): dropout on attention weights.
    """

    def __init__(self, embed_dims: int, num_heads: int,
                 feedforward_channels: int, dropout: float, attn_drop: float):
        super().__init__()
        self.attn = MultiHeadAttention(embed_dims, num_heads, attn_drop)
        self.ffn = FeedForward(embed_dims, feedforward_channels, dropout)
        self.drop = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(embed_dims)
        self.norm2 = nn.LayerNorm(embed_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, D, H, W] -> [B, D, H, W]."""
        height, width = x.shape[-2:]
        tokens = _to_tokens(x)  # [B, N, D]
        with_pos = tokens + _position(height, width, x)  # [B, N, D]
        tokens = self.norm1(tokens +
                            self.drop(self.attn(with_pos, with_pos, tokens)))
        tokens = self.norm2(tokens + self.ffn(tokens))  # [B, N, D]
        return _to_map(tokens, height, width)


class CrossLayerFusionLayer(nn.Module):
    """CAT's Cross-Layer Fusion (CLF) step with multi-head pre-max attention.

    The output of the upper level, :math:`F_{l+1}`, brought to level
    :math:`l`'s grid by nearest upsampling, is the query; the FPN level
    :math:`P_l` (:math:`H_l \\times W_l`) supplies keys and values,
    max-pooled first to a map :math:`M` of :math:`H' \\times W'` cells:

    .. math::
        Q &= \\mathrm{up}(F_{l+1}) + \\mathrm{PE}(H_l, W_l), \\quad
        M = \\mathrm{pool}(P_l), \\quad
        K = M + \\mathrm{PE}(H', W'), \\quad V = M \\\\
        Y &= \\mathrm{LN}(P_l + \\mathrm{MHA}(Q, K, V)), \\qquad
        F_l = \\mathrm{LN}(Y + \\mathrm{FFN}(Y))

    with one of two poolings (or none):

    * fixed window ``pool_size`` :math:`= p`: window = stride :math:`p`,
      ``ceil_mode`` so odd sizes keep their border,
      :math:`H' = \\lceil H_l / p \\rceil`,
      :math:`W' = \\lceil W_l / p \\rceil`;
    * fixed grid ``pool_output_size`` :math:`= (G_h, G_w)`: adaptive max
      pooling (``F.adaptive_max_pool2d``) to
      :math:`H' = \\min(G_h, H_l)`, :math:`W' = \\min(G_w, W_l)`; cell
      :math:`i` takes the max over rows
      :math:`\\lfloor i H_l / H' \\rfloor \\le r <
      \\lceil (i + 1) H_l / H' \\rceil` (columns likewise). A level
      smaller than the grid is not pooled along that axis (the cap keeps
      any key from being duplicated);
    * neither (``pool_size=None``, ``pool_output_size=None``): the paper's
      "plain attention" baseline, :math:`M = P_l`.

    The residual stream is :math:`P_l`, so :math:`F_l` keeps level
    :math:`l`'s resolution and fine detail, enriched by what the
    upper-level output gathers from the level below. (The paper pools
    the high-resolution lower-layer features before attention; the query
    side, residual stream, post-norm layout, positions of the pooled
    keys and the fixed-grid variant are our reading, following DETR's
    transformer layers.)

    Cost. With :math:`N_l = H_l W_l` query tokens, the attention weights
    are an :math:`N_l \\times H' W'` matrix per head (also the FLOPs of
    QK^T and AV; the K/V projections cost :math:`H' W'`):

    * plain: :math:`N_l \\times N_l`, quadratic in :math:`N_l` (the image
      area);
    * fixed window: :math:`N_l \\times N_l / p^2`, a constant
      :math:`p^2` saving, **still quadratic** in :math:`N_l`;
    * fixed grid: :math:`N_l \\times G_h G_w`, **linear** in
      :math:`N_l`, with any attention kernel.

    Whether the matrix is stored depends on the kernel, not on the pooling.
    ``explicit_softmax=True`` computes softmax(QK^T)V step by step and keeps
    the matrix for backward, like a classic attention implementation, so
    its memory follows the list above. ``explicit_softmax=False`` runs
    ``F.scaled_dot_product_attention``; its fused kernels (the CPU one,
    CUDA's flash / memory-efficient ones) never store the matrix, so when
    PyTorch picks one of them the memory grows linearly in :math:`N_l` for
    all three (the FLOPs do not). The neck uses the fused kernel for
    pre-max attention and, by default, the explicit softmax for its plain
    baseline (the paper reports plain attention running out of memory at
    :math:`C_3`).

    Args:
        embed_dims (int): D.
        num_heads (int): attention heads.
        feedforward_channels (int): FFN hidden width.
        dropout (float): residual / FFN dropout.
        attn_drop (float): dropout on attention weights.
        pool_size (int, optional): max-pool window = stride p applied to the
            keys/values; ``None`` for no fixed window (plain attention, or a
            fixed grid with ``pool_output_size``).
        explicit_softmax (bool): compute attention as an explicit
            softmax(QK^T)V (see :class:`MultiHeadAttention`).
        pool_output_size (int | tuple[int, int], optional): adaptive
            max-pool the keys/values to this grid, ``G`` or ``(G_h, G_w)``
            (capped at the level's size). Mutually exclusive with
            ``pool_size``. Defaults to None (no fixed grid).
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 feedforward_channels: int,
                 dropout: float,
                 attn_drop: float,
                 pool_size: Optional[int],
                 explicit_softmax: bool,
                 pool_output_size: Optional[GridSize] = None):
        super().__init__()
        if pool_size is not None and pool_size < 1:
            raise ValueError(f'pool_size must be >= 1 or None, got '
                             f'{pool_size}')
        if pool_size is not None and pool_output_size is not None:
            raise ValueError(
                f'pool_size (a fixed window, {pool_size}) and '
                f'pool_output_size (a fixed grid, {pool_output_size!r}) are '
                f'mutually exclusive; set one of them to None')
        self.pool_size = pool_size
        self.pool_output_size = None if pool_output_size is None else \
            _grid_size(pool_output_size)
        self.attn = MultiHeadAttention(
            embed_dims,
            num_heads,
            attn_drop,
            explicit_softmax=explicit_softmax)
        self.ffn = FeedForward(embed_dims, feedforward_channels, dropout)
        self.drop = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(embed_dims)
        self.norm2 = nn.LayerNorm(embed_dims)

    def pool_keys(self, lower: torch.Tensor) -> torch.Tensor:
        """The key/value map: [B, D, H, W] -> [B, D, H', W'].

        ``(ceil(H/p), ceil(W/p))`` for a window, ``(min(G_h, H),
        min(G_w, W))`` for a grid, ``(H, W)`` for plain attention.
        """
        if self.pool_output_size is not None:
            height, width = lower.shape[-2:]
            grid = (min(self.pool_output_size[0],
                        height), min(self.pool_output_size[1], width))
            return F.adaptive_max_pool2d(lower, grid)
        if self.pool_size is None:
            return lower
        return F.max_pool2d(
            lower, self.pool_size, self.pool_size, ceil_mode=True)

    def forward(self, upper: torch.Tensor,
                lower: torch.Tensor) -> torch.Tensor:
        """
        Args:
            upper (Tensor): [B, D, h, w], the fused output of level l+1.
            lower (Tensor): [B, D, H, W], the FPN level P_l.

        Returns:
            Tensor: [B, D, H, W], the fused level F_l.
        """
        height, width = lower.shape[-2:]
        upper = F.interpolate(
            upper, size=(height, width), mode='nearest')  # [B, D, H, W]
        memory = self.pool_keys(lower)  # [B, D, H', W']
        query = _to_tokens(upper) + _position(height, width,
                                              lower)  # [B, N, D]
        value = _to_tokens(memory)  # [B, M, D]
        key = value + _position(*memory.shape[-2:], lower)  # [B, M, D]
        tokens = _to_tokens(lower)  # [B, N, D]
        tokens = self.norm1(tokens + self.drop(self.attn(query, key, value)))
        tokens = self.norm2(tokens + self.ffn(tokens))  # [B, N, D]
        return _to_map(tokens, height, width)


@MODELS.register_module()
class CrossLayerAggregationNeck(BaseModule):
    """Neck of CAT: Cross-Layer Aggregation with Transformers.

    W. Zhang, F. Zhu, J. Han, T. Guo, S. Hu. "Cross-Layer Aggregation with
    Transformers for Multi-Label Image Classification", ICASSP 2022
    (arXiv 2023).

    Input: three backbone stages :math:`(C_3, C_4, C_5)` (e.g. ResNet
    ``out_indices=(1, 2, 3)``), strides 8/16/32. Steps, top-down:

    1. FPN: lateral 1x1 convs :math:`L_l` to a common width D,
       :math:`P_5 = L_5(C_5)`, :math:`P_4 = L_4(C_4) + \\mathrm{up}(P_5)`,
       :math:`P_3 = L_3(C_3) + \\mathrm{up}(P_4)`, where ``up`` is nearest
       interpolation to the lateral's size (any input size works).
    2. Long Range Dependencies: :math:`F_5 = \\mathrm{LRD}(P_5)`, a
       transformer encoder layer with 2-D sine positions
       (:class:`LongRangeDependencyLayer`).
    3. Cross-Layer Fusion: :math:`F_4 = \\mathrm{CLF}(F_5, P_4)`,
       :math:`F_3 = \\mathrm{CLF}(F_4, P_3)`: the upper-level output is the
       query, the max-pooled lower level keys/values
       (:class:`CrossLayerFusionLayer`, "multi-head pre-max attention").
       The pooling is a fixed window ``pool_size`` (default, :math:`p = 2`)
       or a fixed grid ``pool_output_size``.

    Cost of the fusion at level :math:`l` (:math:`N_l = H_l W_l` tokens,
    growing with the image area): the attention matrix is
    :math:`N_l \\times N_l` for plain attention and
    :math:`N_l \\times N_l / p^2` with a fixed window, a constant
    :math:`p^2` saving that stays quadratic in :math:`N_l`; with a fixed
    :math:`G_h \\times G_w` key grid it is :math:`N_l \\times G_h G_w`,
    linear in :math:`N_l` whatever the attention kernel. Independently of
    the pooling, pre-max attention runs through
    ``F.scaled_dot_product_attention``, whose fused kernel does not store
    the matrix, so its activation memory grows linearly either way; the
    plain baseline materialises it (``explicit_plain_attention``).

    Ablation switches (the paper's ablation table):

    * ``use_long_range=False``: :math:`F_5 = P_5` (no encoder);
    * ``use_fusion=False``: :math:`F_4 = P_4`, :math:`F_3 = P_3` (the FPN
      levels directly);
    * ``fusion_attention='plain'``: no pooling of keys/values.

    Args:
        in_channels (Sequence[int]): channels of :math:`C_3, C_4, C_5`.
            Defaults to ResNet-50/101's ``(512, 1024, 2048)``.
        embed_dims (int): common width D (multiple of 4 and of
            ``num_heads``). Defaults to 256.
        num_heads (int): attention heads of LRD and CLF. Defaults to 8.
        feedforward_channels (int): FFN hidden width. Defaults to 1024.
        dropout (float): residual / FFN dropout. Defaults to 0.1.
        attn_drop (float): attention-weight dropout. Defaults to 0.0.
        pool_size (int, optional): pre-max window = stride p on
            keys/values (unused with ``fusion_attention='plain'``). Set it
            to None to use ``pool_output_size`` instead. Defaults to 2.
        pool_output_size (int | tuple[int, int], optional): pre-max with a
            fixed key grid: adaptive max pooling of the keys/values to
            ``G x G`` or ``G_h x G_w`` cells (capped at the level's size),
            so the attention cost is linear in the token count. Requires
            ``pool_size=None`` (the two are mutually exclusive; a window
            and a grid together raise ``ValueError``, as does a grid with
            ``fusion_attention='plain'`` or pre-max with neither).
            Defaults to None (the window ``pool_size`` is used).
        use_long_range (bool): apply LRD to :math:`P_5`. Defaults to True.
        use_fusion (bool): apply CLF to levels 4 and 3. Defaults to True.
        fusion_attention (str): ``'pre_max'`` (default) or ``'plain'``.
        explicit_plain_attention (bool): with ``fusion_attention='plain'``,
            compute softmax(QK^T)V explicitly, materialising the full
            weight matrix as the paper's baseline did (a fused kernel would
            hide its quadratic memory). Defaults to True.
        init_cfg (dict | list[dict], optional): defaults to Xavier-uniform
            for the 1x1 convs and the linear layers.

    Returns (forward):
        tuple[Tensor]: :math:`(F_3, F_4, F_5)`, each [B, D, H_l, W_l].
    """

    def __init__(self,
                 in_channels: Sequence[int] = (512, 1024, 2048),
                 embed_dims: int = 256,
                 num_heads: int = 8,
                 feedforward_channels: int = 1024,
                 dropout: float = 0.1,
                 attn_drop: float = 0.0,
                 pool_size: Optional[int] = 2,
                 pool_output_size: Optional[GridSize] = None,
                 use_long_range: bool = True,
                 use_fusion: bool = True,
                 fusion_attention: str = 'pre_max',
                 explicit_plain_attention: bool = True,
                 init_cfg: Optional[dict] = dict(
                     type='Xavier',
                     layer=['Conv2d', 'Linear'],
                     distribution='uniform')):
        super().__init__(init_cfg=init_cfg)
        in_channels = list(in_channels)
        if len(in_channels) != 3:
            raise ValueError(f'in_channels must list the channels of the 3 '
                             f'stages (C3, C4, C5), got {in_channels}')
        if fusion_attention not in FUSION_ATTENTIONS:
            raise ValueError(f'fusion_attention must be one of '
                             f'{FUSION_ATTENTIONS}, got {fusion_attention!r}')
        if pool_size is not None and pool_size < 1:
            raise ValueError(f'pool_size must be >= 1 or None, got '
                             f'{pool_size}')
        pre_max = fusion_attention == 'pre_max'
        if pool_output_size is not None:
            if not pre_max:
                raise ValueError(
                    f"pool_output_size={pool_output_size!r} pools the "
                    f"keys/values of pre-max attention; "
                    f"fusion_attention='plain' does not pool them")
            if pool_size is not None:
                raise ValueError(
                    f'pool_size={pool_size} (a fixed window) and '
                    f'pool_output_size={pool_output_size!r} (a fixed grid) '
                    f'are mutually exclusive; set pool_size=None to pool '
                    f'the keys/values to a fixed grid')
            pool_output_size = _grid_size(pool_output_size)
        elif pre_max and pool_size is None:
            raise ValueError(
                "fusion_attention='pre_max' needs pool_size (a window) or "
                "pool_output_size (a grid); fusion_attention='plain' is the "
                "unpooled baseline")
        self.in_channels = in_channels
        self.embed_dims = embed_dims
        self.use_long_range = use_long_range
        self.use_fusion = use_fusion
        self.fusion_attention = fusion_attention
        self.pool_size = pool_size if pre_max else None
        self.pool_output_size = pool_output_size

        # index 0, 1, 2 = levels 3, 4, 5
        self.lateral_convs = nn.ModuleList(
            nn.Conv2d(c, embed_dims, kernel_size=1) for c in in_channels)
        self.long_range = LongRangeDependencyLayer(
            embed_dims, num_heads, feedforward_channels, dropout,
            attn_drop) if use_long_range else None
        # index 0 fuses F5 into level 4, index 1 fuses F4 into level 3
        self.fusion_layers = nn.ModuleList(
            CrossLayerFusionLayer(
                embed_dims,
                num_heads,
                feedforward_channels,
                dropout,
                attn_drop,
                pool_size=pool_size if pre_max else None,
                explicit_softmax=explicit_plain_attention and not pre_max,
                pool_output_size=pool_output_size)
            for _ in range(2)) if use_fusion else None

    def fpn(self, inputs: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """Lateral 1x1 convs + top-down sum: (C3, C4, C5) -> [P3, P4, P5]."""
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, inputs)]
        levels = [laterals[2]]  # P5: [B, D, H5, W5]
        for lateral in (laterals[1], laterals[0]):  # level 4, then level 3
            up = F.interpolate(
                levels[-1], size=lateral.shape[-2:], mode='nearest')
            levels.append(lateral + up)  # [B, D, H_l, W_l]
        return levels[::-1]

    def forward(self, inputs: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
        """(C3, C4, C5) -> (F3, F4, F5), each [B, D, H_l, W_l]."""
        if len(inputs) != 3:
            raise ValueError(
                f'CrossLayerAggregationNeck needs the 3 stages (C3, C4, C5) '
                f'(e.g. ResNet out_indices=(1, 2, 3)), got {len(inputs)}')
        for i, (x, c) in enumerate(zip(inputs, self.in_channels)):
            if x.size(1) != c:
                raise ValueError(f'input {i} has {x.size(1)} channels but '
                                 f'in_channels[{i}] = {c}')
        p3, p4, p5 = self.fpn(inputs)
        f5 = self.long_range(p5) if self.use_long_range else p5
        if not self.use_fusion:
            return (p3, p4, f5)
        f4 = self.fusion_layers[0](f5, p4)  # [B, D, H4, W4]
        f3 = self.fusion_layers[1](f4, p3)  # [B, D, H3, W3]
        return (f3, f4, f5)
