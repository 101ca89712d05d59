"""Dense graph layers over a small, fixed label graph (C nodes).

* :class:`GraphConvolution`: Kipf & Welling, *Semi-Supervised Classification
  with Graph Convolutional Networks*, ICLR 2017
  (https://arxiv.org/abs/1609.02907), as used by ML-GCN (Chen et al., CVPR
  2019): :math:`H' = \\hat A H W (+ b)`.
* :class:`GraphAttention`: Veličković et al., *Graph Attention Networks*,
  ICLR 2018 (https://arxiv.org/abs/1710.10903), single head:

  .. math::
      e_{ij} = \\mathrm{LeakyReLU}_{0.2}(a_1^{\\top} W h_i
          + a_2^{\\top} W h_j),
      \\quad
      \\alpha_{ij} = \\mathrm{softmax}_{j \\in \\mathcal N(i) \\cup \\{i\\}}
          (e_{ij}),
      \\quad
      h'_i = \\sum_j \\alpha_{ij} W h_j

  where :math:`\\mathcal N(i) = \\{j : \\hat A_{ij} > 0\\}`: the adjacency
  only masks the attention, its weights are not used. Self-loops are always
  included so that every row of the softmax has a finite entry. The
  attention is additive (not a dot product), so it is written out instead
  of calling ``F.scaled_dot_product_attention``.

Neither layer applies a non-linearity; the caller does.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def _check_graph_input(x: torch.Tensor, adj: torch.Tensor, in_features: int,
                       name: str) -> None:
    if x.dim() != 2 or x.size(1) != in_features:
        raise ValueError(f'{name} expects node features (C, {in_features}), '
                         f'got {tuple(x.shape)}')
    if adj.shape != (x.size(0), x.size(0)):
        raise ValueError(f'{name}: adjacency {tuple(adj.shape)} does not '
                         f'match {x.size(0)} nodes')


class GraphConvolution(nn.Module):
    """Graph convolution :math:`\\hat A H W (+ b)`.

    Args:
        in_features (int): input node-feature size.
        out_features (int): output node-feature size.
        bias (bool): add a learnable bias. Defaults to False (ML-GCN).

    Shapes:
        x (C, in_features), adj (C, C) -> (C, out_features).

    Initialisation (ML-GCN): weight and bias uniform in
    :math:`\\pm 1/\\sqrt{\\text{out\\_features}}`.
    """

    def __init__(self,
                 in_features: int,
                 out_features: int,
                 bias: bool = False):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features))
        else:
            self.register_parameter('bias', None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.out_features)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        _check_graph_input(x, adj, self.in_features, 'GraphConvolution')
        out = adj @ (x @ self.weight)  # [C, out]
        if self.bias is not None:
            out = out + self.bias
        return out

    def extra_repr(self) -> str:
        return (f'in_features={self.in_features}, out_features='
                f'{self.out_features}, bias={self.bias is not None}')


class GraphAttention(nn.Module):
    """Single-head graph attention masked by the adjacency.

    Args:
        in_features (int): input node-feature size.
        out_features (int): output node-feature size.
        negative_slope (float): LeakyReLU slope of the attention logits.
            Defaults to 0.2 (GAT).
        attn_drop (float): dropout on the attention coefficients during
            training. Defaults to 0.

    Shapes:
        x (C, in_features), adj (C, C) -> (C, out_features).

    Initialisation (GAT): Xavier-uniform with gain 1.414 for W and a.
    """

    def __init__(self,
                 in_features: int,
                 out_features: int,
                 negative_slope: float = 0.2,
                 attn_drop: float = 0.0):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.negative_slope = negative_slope
        self.attn_drop = attn_drop
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        # a = [a_1; a_2]: scores of the receiving and the sending node
        self.attn = nn.Parameter(torch.empty(2, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight, gain=1.414)
        nn.init.xavier_uniform_(self.attn, gain=1.414)

    def attention(self, wh: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        """Coefficients α (C, C) from the projected features ``wh``."""
        score_i = wh @ self.attn[0]  # [C] receiving node
        score_j = wh @ self.attn[1]  # [C] sending node
        logits = F.leaky_relu(score_i[:, None] + score_j[None, :],
                              self.negative_slope)  # [C, C]
        eye = torch.eye(adj.size(0), dtype=torch.bool, device=adj.device)
        neighbours = (adj > 0) | eye  # [C, C]
        logits = logits.masked_fill(~neighbours, float('-inf'))
        return torch.softmax(logits, dim=1)  # [C, C]

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        _check_graph_input(x, adj, self.in_features, 'GraphAttention')
        wh = x @ self.weight  # [C, out]
        alpha = self.attention(wh, adj)  # [C, C]
        alpha = F.dropout(alpha, self.attn_drop, self.training)
        return alpha @ wh  # [C, out]

    def extra_repr(self) -> str:
        return (f'in_features={self.in_features}, out_features='
                f'{self.out_features}, negative_slope={self.negative_slope}')
