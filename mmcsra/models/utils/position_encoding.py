"""Fixed 2-D sine positional encoding for feature-map tokens."""
import math
from typing import Optional

import torch

__all__ = ['sine_position_encoding_2d']


def sine_position_encoding_2d(
        height: int,
        width: int,
        embed_dims: int,
        temperature: float = 10000.0,
        device: Optional[torch.device] = None,
        dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """2-D sine positional encoding of an ``height x width`` grid.

    The sinusoidal encoding of Vaswani et al. (2017), applied per axis as in
    DETR (Carion et al., 2020): half of the channels encode the row, half
    the column. For a normalised coordinate :math:`u` and channel
    :math:`j < F = D/2` of its half,

    .. math::
        PE(u)_j = \\begin{cases}
            \\sin(u / T^{2\\lfloor j/2 \\rfloor / F}) & j \\text{ even} \\\\
            \\cos(u / T^{2\\lfloor j/2 \\rfloor / F}) & j \\text{ odd}
        \\end{cases}

    Coordinates are cell centres normalised to the map,
    :math:`u_i = 2\\pi (i + 0.5) / \\text{size}`, so the encoding is
    computed for the actual grid (any size) and a coarser grid covering the
    same image (e.g. a max-pooled one) gets matching coordinates.

    Args:
        height (int): number of rows H (>= 1).
        width (int): number of columns W (>= 1).
        embed_dims (int): D, a multiple of 4.
        temperature (float): T. Defaults to 10000.
        device, dtype: of the result.

    Returns:
        Tensor: [H * W, D], row-major (token ``r * W + c``); channels
        ``[:D/2]`` encode the row, ``[D/2:]`` the column.
    """
    if embed_dims % 4 != 0:
        raise ValueError(f'embed_dims must be a multiple of 4 for a 2-D sine '
                         f'encoding, got {embed_dims}')
    if height < 1 or width < 1:
        raise ValueError(f'grid must be at least 1x1, got {height}x{width}')
    half = embed_dims // 2
    channel = torch.arange(half, device=device, dtype=torch.float64)
    inv_freq = temperature**(
        -2 * torch.div(channel, 2, rounding_mode='floor') / half)  # [F]
    is_even = (torch.arange(half, device=device) % 2 == 0)  # [F]

    def encode(size: int) -> torch.Tensor:
        coord = (torch.arange(size, device=device, dtype=torch.float64) +
                 0.5) / size * 2 * math.pi  # [S]
        angle = coord[:, None] * inv_freq[None, :]  # [S, F]
        return torch.where(is_even, angle.sin(), angle.cos())  # [S, F]

    rows = encode(height)[:, None, :].expand(height, width, half)
    cols = encode(width)[None, :, :].expand(height, width, half)
    pos = torch.cat([rows, cols], dim=-1)  # [H, W, D]
    return pos.reshape(height * width, embed_dims).to(dtype)
