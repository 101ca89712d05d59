"""ML-Decoder's transformer-decoder layer without self-attention.

Ridnik et al., *ML-Decoder: Scalable and Versatile Classification Head*,
WACV 2023 (https://arxiv.org/abs/2111.12933), Sec. 3.1: the queries'
self-attention is removed (the queries are fixed, so it would only map them
to another fixed set), which makes the cost linear in the number of queries.
What remains is, with post-LayerNorm residuals as in the authors'
``TransformerDecoderLayerOptimal``:

.. math::
    q_1 &= \\mathrm{LN}_1(q + \\mathrm{Drop}(q)) \\\\
    q_2 &= \\mathrm{LN}_2(q_1 + \\mathrm{Drop}(\\mathrm{MHA}(q_1, m, m))) \\\\
    q_3 &= \\mathrm{LN}_3(q_2 + \\mathrm{Drop}(W_2\\,\\mathrm{Drop}(
           \\mathrm{ReLU}(W_1 q_2 + b_1)) + b_2))

The first line is the residual branch where self-attention used to be: the
official layer keeps its dropout and LayerNorm with an identity in place of
the attention (in eval :math:`q_1 = \\mathrm{LN}_1(2q)`).
:math:`\\mathrm{MHA}` is multi-head scaled dot-product attention
:math:`\\mathrm{softmax}(QK^{\\top}/\\sqrt{d_h})V` per head, with dropout on
the attention weights, followed by an output projection.
"""
import torch
import torch.nn as nn

from .attention import FeedForward, MultiHeadAttention


class MLDecoderLayer(nn.Module):
    """Cross-attention + FFN decoder layer (no self-attention).

    Built from mmcsra's shared :class:`~mmcsra.models.utils.attention.
    MultiHeadAttention` (``F.scaled_dot_product_attention``) and
    :class:`~mmcsra.models.utils.attention.FeedForward`.

    Args:
        embed_dims (int): D, the size of queries and memory tokens.
        num_heads (int): number of attention heads; must divide D.
            Defaults to 8.
        feedforward_channels (int): hidden size of the FFN. Defaults to 2048.
        dropout (float): dropout on the residual branches, the FFN hidden
            layer and the attention weights. Defaults to 0.1.
        layer_norm_eps (float): LayerNorm epsilon. Defaults to 1e-5.

    Shapes:
        queries (B, K, D) or (K, D) shared by the batch, memory (B, N, D)
        -> (B, K, D).
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int = 8,
                 feedforward_channels: int = 2048,
                 dropout: float = 0.1,
                 layer_norm_eps: float = 1e-5):
        super().__init__()
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        # dropout on the attention weights, as nn.MultiheadAttention(dropout)
        self.cross_attn = MultiHeadAttention(
            embed_dims, num_heads, attn_drop=dropout)
        # W2 Drop(ReLU(W1 x + b1)) + b2, then Drop: the third residual branch
        self.ffn = FeedForward(embed_dims, feedforward_channels, dropout)
        self.norm1 = nn.LayerNorm(embed_dims, eps=layer_norm_eps)
        self.norm2 = nn.LayerNorm(embed_dims, eps=layer_norm_eps)
        self.norm3 = nn.LayerNorm(embed_dims, eps=layer_norm_eps)
        self.drop1 = nn.Dropout(dropout)
        self.drop2 = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform attention projections with zero bias; the FFN
        keeps ``nn.Linear``'s default initialisation."""
        attn = self.cross_attn
        for proj in (attn.q_proj, attn.k_proj, attn.v_proj, attn.out_proj):
            nn.init.xavier_uniform_(proj.weight)
            nn.init.zeros_(proj.bias)

    def forward(self, queries: torch.Tensor,
                memory: torch.Tensor) -> torch.Tensor:
        if queries.dim() == 2:  # [K, D] shared by the batch
            queries = queries.unsqueeze(0).expand(memory.size(0), -1, -1)
        # where self-attention was: identity branch + dropout, then LN
        x = self.norm1(queries + self.drop1(queries))  # [B, K, D]
        attn = self.cross_attn(x, memory, memory)  # [B, K, D]
        x = self.norm2(x + self.drop2(attn))  # [B, K, D]
        return self.norm3(x + self.ffn(x))  # [B, K, D]
