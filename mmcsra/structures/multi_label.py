"""Multi-label targets with an ignore mask.

mmcsra's datasets describe every sample by two index lists:

* ``gt_label``: the classes present (positives);
* ``gt_ignore``: the classes whose presence is unknown or deliberately not
  scored (e.g. VOC "difficult" objects at test time, WIDER "unspecified"
  attributes). Packed into :class:`mmpretrain.structures.DataSample` by
  ``dict(type='PackInputs', algorithm_keys=['gt_ignore'])``.

Heads, losses and metrics turn them into dense ``(B, C)`` tensors with the
functions here, so every consumer reads the annotation the same way.
"""
from typing import Sequence, Tuple

import numpy as np
import torch

__all__ = ['indices_to_multi_hot', 'stack_multi_label_targets']


def _as_index_tensor(value) -> torch.Tensor:
    if value is None:
        return torch.zeros(0, dtype=torch.long)
    if isinstance(value, torch.Tensor):
        return value.reshape(-1).long().cpu()
    return torch.as_tensor(np.asarray(value, dtype=np.int64).reshape(-1))


def indices_to_multi_hot(indices, num_classes: int) -> torch.Tensor:
    """Class indices -> a ``(num_classes,)`` 0/1 float vector.

    Raises:
        IndexError: if an index is outside ``[0, num_classes)``, naming it.
    """
    idx = _as_index_tensor(indices)
    if idx.numel() and (idx.min() < 0 or idx.max() >= num_classes):
        bad = idx[(idx < 0) | (idx >= num_classes)].tolist()
        raise IndexError(f'label indices {bad} are out of range for '
                         f'{num_classes} classes')
    vec = torch.zeros(num_classes)
    vec[idx] = 1.0
    return vec


def stack_multi_label_targets(
        data_samples: Sequence,
        num_classes: int,
        device=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Dense targets and validity mask for a batch of data samples.

    Args:
        data_samples: :class:`DataSample` objects with ``gt_label`` (class
            indices) or ``gt_score`` (a dense target vector), and optionally
            ``gt_ignore`` (class indices to ignore).
        num_classes: C.
        device: where to put the result.

    Returns:
        tuple: ``target`` (B, C) float in [0, 1] and ``valid`` (B, C) float,
        0 where the entry is ignored, else 1.
    """
    targets, valids = [], []
    for sample in data_samples:
        if 'gt_score' in sample:
            target = sample.gt_score.float().reshape(-1).cpu()
            if target.numel() != num_classes:
                raise ValueError(f'gt_score has {target.numel()} entries '
                                 f'but the head has {num_classes} classes')
        else:
            target = indices_to_multi_hot(sample.get('gt_label'), num_classes)
        ignore = indices_to_multi_hot(sample.get('gt_ignore'), num_classes)
        targets.append(target)
        valids.append(1.0 - ignore)
    target = torch.stack(targets)
    valid = torch.stack(valids)
    if device is not None:
        target, valid = target.to(device), valid.to(device)
    return target, valid
