import math
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from ..utils.group_linear import CosineGroupLinear, GroupLinear
from ..utils.ml_decoder_layer import MLDecoderLayer
from .multi_label_head_base import (MultiLabelHeadBase, build_cosine_loss,
                                    check_count)


@MODELS.register_module()
class MLDecoderHead(MultiLabelHeadBase):
    """ML-Decoder: a query-based attention head with group decoding.

    Ridnik et al., *ML-Decoder: Scalable and Versatile Classification Head*,
    WACV 2023 (https://arxiv.org/abs/2111.12933). With backbone tokens
    :math:`x \\in R^{N \\times D_{in}}` (the H·W positions of a feature map):

    .. math::
        m &= \\mathrm{ReLU}(x W_e + b_e) \\in R^{N \\times D}
            \\quad \\text{(token embedding)} \\\\
        h &= \\mathrm{Decoder}(Q, m) \\in R^{K \\times D}
            \\quad \\text{(cross-attention + FFN, no self-attention)} \\\\
        \\text{logit}_c &= h_{\\lfloor c/G \\rfloor}^{\\top}
            W_{\\lfloor c/G \\rfloor, :, c \\bmod G} + b_c,
            \\quad G = \\lceil C/K \\rceil

    with K query embeddings :math:`Q` (fixed random by default, as the paper)
    and the group fully-connected decoding of
    :class:`~mmcsra.models.utils.GroupLinear`; the decoder layer is
    :class:`~mmcsra.models.utils.MLDecoderLayer`.

    **Cosine variant** (Prokofiev & Sovrasov, *Combining Metric Learning and
    Attention Heads for Accurate and Efficient Multilabel Image
    Classification*, VISAPP 2023, https://arxiv.org/abs/2209.06585): with
    ``normalized=True`` the group FC compares L2-normalised query outputs
    with L2-normalised group weights, so ``forward`` returns
    :math:`\\cos\\theta \\in [-1, 1]` for an angular-margin loss (AAM), and
    prediction scores are :math:`\\sigma(s \\cos\\theta)` with
    ``cosine_scale`` = s.

    Args:
        num_classes (int): C.
        in_channels (int): D_in, channels of the backbone feature map
            (B, D_in, H, W) or size of its tokens (B, N, D_in).
        embed_dims (int): D, the decoder width. Defaults to 768.
        num_groups (int, optional): K, the number of queries; capped at C.
            ``None`` (default) uses ML-Decoder's 100, i.e. K = min(100, C).
        num_heads (int): attention heads. Defaults to 8.
        feedforward_channels (int): FFN hidden size. Defaults to 2048.
        dropout (float): decoder dropout. Defaults to 0.1.
        learnable_queries (bool): learn the queries instead of keeping the
            paper's fixed random ones (a buffer drawn from N(0, 1)).
            Defaults to False.
        normalized (bool): use the cosine group FC (no bias) and return
            cos θ. Requires ``cosine_scale``. Defaults to False.
        cosine_scale (float, optional): s of the scores σ(s cos θ); only with
            ``normalized=True``. None (default) takes the loss's ``scale``
            (AAM's s); if both are given they must be equal.
        loss (dict): the loss config. Defaults to
            ``dict(type='MultiLabelBCELoss')``.
        thr (float, optional), topk (int, optional): prediction rule of
            ``MultiLabelClsHead``.
        init_cfg (dict, optional): every layer initialises itself in its
            constructor (see the layers' ``reset_parameters``), so the
            default is None.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 embed_dims: int = 768,
                 num_groups: Optional[int] = None,
                 num_heads: int = 8,
                 feedforward_channels: int = 2048,
                 dropout: float = 0.1,
                 learnable_queries: bool = False,
                 normalized: bool = False,
                 cosine_scale: Optional[float] = None,
                 loss: dict = dict(type='MultiLabelBCELoss'),
                 thr: Optional[float] = None,
                 topk: Optional[int] = None,
                 init_cfg: Optional[dict] = None):
        # normalized: scores sigmoid(s cos) with the loss's s
        loss, cosine_scale = build_cosine_loss(
            'MLDecoderHead',
            loss,
            cosine_scale,
            scale_arg='cosine_scale',
            cosine=normalized,
            flag='normalized=True')
        if num_groups is not None:
            check_count(num_groups, 'num_groups')
        super().__init__(
            cosine_scale=cosine_scale,
            loss=loss,
            thr=thr,
            topk=topk,
            init_cfg=init_cfg)
        self.num_classes = check_count(num_classes, 'num_classes')
        self.in_channels = in_channels
        self.embed_dims = embed_dims
        self.num_groups = min(100 if num_groups is None else num_groups,
                              num_classes)
        self.normalized = normalized

        self.token_embed = nn.Linear(in_channels, embed_dims)
        queries = torch.randn(self.num_groups, embed_dims)  # [K, D]
        if learnable_queries:
            self.queries = nn.Parameter(queries)
        else:
            self.register_buffer('queries', queries)
        self.decoder = MLDecoderLayer(
            embed_dims,
            num_heads=num_heads,
            feedforward_channels=feedforward_channels,
            dropout=dropout)
        group_fc = CosineGroupLinear if normalized else GroupLinear
        self.group_fc = group_fc(embed_dims, num_classes, self.num_groups)

    @property
    def group_size(self) -> int:
        """G = ⌈C / K⌉, the classes decoded by each query."""
        return math.ceil(self.num_classes / self.num_groups)

    def pre_logits(
            self, feats: Union[torch.Tensor,
                               Sequence[torch.Tensor]]) -> torch.Tensor:
        """The last backbone output as tokens (B, N, D_in)."""
        x = feats if isinstance(feats, torch.Tensor) else feats[-1]
        if x.dim() == 4:  # [B, D_in, H, W] -> [B, H*W, D_in]
            x = x.flatten(2).transpose(1, 2)
        if x.dim() != 3 or x.size(-1) != self.in_channels:
            raise ValueError(
                f'MLDecoderHead expects (B, {self.in_channels}, H, W) feature '
                f'maps or (B, N, {self.in_channels}) tokens, got '
                f'{tuple(x.shape)}')
        return x

    def forward(
            self, feats: Union[torch.Tensor,
                               Sequence[torch.Tensor]]) -> torch.Tensor:
        """Logits (B, C), or cos θ (B, C) with ``normalized=True``."""
        tokens = self.pre_logits(feats)  # [B, N, D_in]
        memory = F.relu(self.token_embed(tokens))  # [B, N, D]
        hidden = self.decoder(self.queries, memory)  # [B, K, D]
        return self.group_fc(hidden)  # [B, C]
