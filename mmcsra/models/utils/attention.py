"""Multi-head attention and the position-wise feed-forward block.

Shared layers of mmcsra's transformer-style modules (e.g. CAT's
:class:`~mmcsra.models.necks.CrossLayerAggregationNeck`).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['MultiHeadAttention', 'FeedForward']


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention (Vaswani et al., 2017).

    .. math::
        \\mathrm{head}_h = \\mathrm{softmax}\\Big(
            \\frac{(Q W^Q_h)(K W^K_h)^\\top}{\\sqrt{d}}\\Big) V W^V_h,
        \\qquad
        \\mathrm{MHA}(Q, K, V) = [\\mathrm{head}_1, \\dots,
            \\mathrm{head}_H]\\, W^O

    with :math:`d = D / H`. Queries and keys/values may have different
    lengths (cross-attention).

    Args:
        embed_dims (int): D, the width of queries, keys, values and output.
        num_heads (int): H; must divide ``embed_dims``.
        attn_drop (float): dropout on the attention weights (training only).
            Defaults to 0.0.
        proj_drop (float): dropout after the output projection. Defaults to
            0.0.
        explicit_softmax (bool): ``False`` (default) runs
            ``F.scaled_dot_product_attention``, whose fused CPU/GPU kernels
            never store the :math:`N_q \\times N_k` weight matrix.
            ``True`` computes ``softmax(QK^T/sqrt(d)) V`` step by step, so
            the matrix is materialised (and kept for backward) as in a
            classic attention implementation; the result is the same up to
            rounding. Use it to reproduce the memory footprint of a
            non-fused baseline.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 attn_drop: float = 0.0,
                 proj_drop: float = 0.0,
                 explicit_softmax: bool = False):
        super().__init__()
        if embed_dims % num_heads != 0:
            raise ValueError(f'embed_dims ({embed_dims}) must be divisible '
                             f'by num_heads ({num_heads})')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.head_dims = embed_dims // num_heads
        self.attn_drop = attn_drop
        self.explicit_softmax = explicit_softmax
        self.q_proj = nn.Linear(embed_dims, embed_dims)
        self.k_proj = nn.Linear(embed_dims, embed_dims)
        self.v_proj = nn.Linear(embed_dims, embed_dims)
        self.out_proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        # [B, N, D] -> [B, H, N, d]
        return x.view(batch, length, self.num_heads,
                      self.head_dims).transpose(1, 2)

    def forward(self, query: torch.Tensor, key: torch.Tensor,
                value: torch.Tensor) -> torch.Tensor:
        """
        Args:
            query (Tensor): [B, Nq, D].
            key (Tensor): [B, Nk, D].
            value (Tensor): [B, Nk, D].

        Returns:
            Tensor: [B, Nq, D].
        """
        q = self._split_heads(self.q_proj(query))  # [B, H, Nq, d]
        k = self._split_heads(self.k_proj(key))  # [B, H, Nk, d]
        v = self._split_heads(self.v_proj(value))  # [B, H, Nk, d]
        drop = self.attn_drop if self.training else 0.0
        if self.explicit_softmax:
            scores = q @ k.transpose(-2, -1) / self.head_dims**0.5
            weights = F.dropout(scores.softmax(dim=-1), p=drop)  # [B,H,Nq,Nk]
            out = weights @ v  # [B, H, Nq, d]
        else:
            out = F.scaled_dot_product_attention(
                q, k, v, dropout_p=drop)  # [B, H, Nq, d]
        batch, _, length, _ = out.shape
        out = out.transpose(1, 2).reshape(batch, length,
                                          self.embed_dims)  # [B, Nq, D]
        return self.proj_drop(self.out_proj(out))


class FeedForward(nn.Module):
    """Position-wise feed-forward block of a transformer layer.

    :math:`\\mathrm{FFN}(x) = W_2\\,\\mathrm{drop}(\\mathrm{ReLU}(W_1 x +
    b_1)) + b_2`, followed by dropout.

    Args:
        embed_dims (int): D, input and output width.
        feedforward_channels (int): hidden width.
        dropout (float): dropout after the activation and after the second
            linear layer. Defaults to 0.0.
    """

    def __init__(self,
                 embed_dims: int,
                 feedforward_channels: int,
                 dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(embed_dims, feedforward_channels)
        self.fc2 = nn.Linear(feedforward_channels, embed_dims)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, N, D] -> [B, N, D]."""
        hidden = self.drop(F.relu(self.fc1(x)))  # [B, N, F]
        return self.drop(self.fc2(hidden))  # [B, N, D]
