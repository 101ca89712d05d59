"""Reduction shared by mmcsra's multi-label losses."""
from typing import Optional

import torch

REDUCTIONS = ('none', 'mean', 'sum')


def check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f'reduction must be one of {REDUCTIONS}, '
                         f'got {reduction!r}')
    return reduction


def masked_reduce(loss: torch.Tensor, weight: Optional[torch.Tensor],
                  reduction: str) -> torch.Tensor:
    """Apply an element-wise ``weight`` (0 = ignored) and reduce.

    ``'mean'`` divides by the number of non-ignored entries (the total weight),
    so ignored entries neither add loss nor dilute it; ``'sum'`` adds the
    weighted entries; ``'none'`` returns the weighted element-wise loss.
    """
    if weight is not None:
        loss = loss * weight
    if reduction == 'sum':
        return loss.sum()
    if reduction == 'mean':
        denom = weight.sum() if weight is not None else loss.new_tensor(
            float(loss.numel()))
        return loss.sum() / denom.clamp(min=1.0)
    return loss
