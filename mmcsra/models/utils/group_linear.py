"""Group fully-connected decoding of ML-Decoder.

Ridnik et al., *ML-Decoder: Scalable and Versatile Classification Head*,
WACV 2023 (https://arxiv.org/abs/2111.12933), Sec. 3.2: K query outputs
:math:`h_k \\in R^D` each decode :math:`G = \\lceil C / K \\rceil` classes
through their own weights :math:`W_k \\in R^{D \\times G}`:

.. math::
    z_{k,g} = h_k^{\\top} W_{k,:,g}, \\qquad
    \\text{logits} = [z_{1,1..G}, \\dots, z_{K,1..G}]_{1..C} + b

i.e. class :math:`c` is output :math:`g = c \\bmod G` of group
:math:`k = \\lfloor c / G \\rfloor`; the last :math:`KG - C` outputs are
dropped.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class GroupLinear(nn.Module):
    """K independent linear maps D -> G, flattened to C outputs.

    Args:
        in_features (int): D, the size of each query output.
        out_features (int): C, the number of classes.
        num_groups (int): K, the number of query outputs; 1 <= K <= C.
        bias (bool): add a learnable (C,) bias after flattening, as
            ML-Decoder. Defaults to True.

    Shapes:
        input (B, K, D) -> output (B, C).

    Initialisation: each group's (D, G) weight is Xavier-normal with
    std = sqrt(2 / (D + G)); the bias is 0.
    """

    def __init__(self,
                 in_features: int,
                 out_features: int,
                 num_groups: int,
                 bias: bool = True):
        super().__init__()
        if not 1 <= num_groups <= out_features:
            raise ValueError(f'num_groups must be in [1, out_features='
                             f'{out_features}], got {num_groups}')
        self.in_features = in_features
        self.out_features = out_features
        self.num_groups = num_groups
        self.group_size = math.ceil(out_features / num_groups)  # G
        self.weight = nn.Parameter(
            torch.empty(num_groups, in_features, self.group_size))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features))
        else:
            self.register_parameter('bias', None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        std = math.sqrt(2.0 / (self.in_features + self.group_size))
        nn.init.normal_(self.weight, std=std)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def _check_input(self, x: torch.Tensor) -> None:
        expected = (self.num_groups, self.in_features)
        if x.dim() != 3 or tuple(x.shape[1:]) != expected:
            raise ValueError(f'{type(self).__name__} expects (B, '
                             f'{expected[0]}, {expected[1]}) input, got '
                             f'{tuple(x.shape)}')

    def _flatten(self, out: torch.Tensor) -> torch.Tensor:
        # [B, K, G] -> [B, K*G] -> [B, C]
        return out.flatten(1)[:, :self.out_features]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        out = torch.einsum('bkd,kdg->bkg', x, self.weight)  # [B, K, G]
        out = self._flatten(out)  # [B, C]
        if self.bias is not None:
            out = out + self.bias
        return out

    def extra_repr(self) -> str:
        return (f'in_features={self.in_features}, out_features='
                f'{self.out_features}, num_groups={self.num_groups}, '
                f'group_size={self.group_size}, bias={self.bias is not None}')


class CosineGroupLinear(GroupLinear):
    """Normalised group FC: cos θ between each query output and the weights.

    Kobyshev et al., *Combining Metric Learning and Attention Heads for
    Accurate and Efficient Multilabel Image Classification*, 2022
    (https://arxiv.org/abs/2209.06585), replace ML-Decoder's group FC by a
    normalised one so that an angular-margin loss (AAM) can be used:

    .. math::
        \\cos\\theta_{k,g} = \\frac{h_k^{\\top} W_{k,:,g}}
            {\\lVert h_k \\rVert\\, \\lVert W_{k,:,g} \\rVert} \\in [-1, 1]

    No bias. The output is clamped to [-1, 1] against rounding.

    Args:
        in_features (int): D.
        out_features (int): C.
        num_groups (int): K.
        eps (float): lower bound of the norms in the normalisation.
            Defaults to 1e-12.
    """

    def __init__(self,
                 in_features: int,
                 out_features: int,
                 num_groups: int,
                 eps: float = 1e-12):
        super().__init__(in_features, out_features, num_groups, bias=False)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        x = F.normalize(x, dim=2, eps=self.eps)  # [B, K, D]
        weight = F.normalize(self.weight, dim=1, eps=self.eps)  # [K, D, G]
        cos = torch.einsum('bkd,kdg->bkg', x, weight)  # [B, K, G]
        return self._flatten(cos).clamp(-1.0, 1.0)  # [B, C]
