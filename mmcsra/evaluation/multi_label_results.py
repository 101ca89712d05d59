"""Reading multi-label predictions for the metrics and the tools.

One record per sample, built from a data sample (a
:class:`mmpretrain.structures.DataSample` or the dict mmengine's
``Evaluator`` and ``DumpResults`` make of it):

* ``pred_score``: (C,) scores;
* ``gt_label``: positive class indices, or ``gt_score``: a dense 0/1 (C,)
  vector (used when present, as in MMPretrain);
* ``gt_ignore``: ignored class indices (optional). A class listed in both
  ``gt_label`` and ``gt_ignore`` is ignored.

The metrics stack these into one ``(B, C)`` record per batch and, across
ranks, restore the dataset order and drop the samples
``DefaultSampler(round_up=True)`` repeated (see
:class:`mmcsra.evaluation.metrics.multi_label_metric_base.MultiLabelMetricBase`).
"""
from typing import List, Optional, Sequence, Tuple

import torch

from mmcsra.structures import indices_to_multi_hot

__all__ = [
    'pack_multi_label_result', 'stack_multi_label_results',
    'resolve_class_names', 'load_multi_label_predictions'
]


def _describe(sample) -> str:
    path = sample.get('img_path', None) if hasattr(sample, 'get') else None
    return f' (img_path={path!r})' if path else ''


def _to_cpu(value):
    return value.detach().cpu() if isinstance(value, torch.Tensor) else value


def pack_multi_label_result(sample) -> dict:
    """One sample -> ``dict(pred_score, gt, valid)`` of (C,) CPU tensors.

    ``pred_score`` keeps its dtype and is cloned, so the record does not
    keep (and pickle) the storage of the whole batch it was a view of.
    ``gt`` and ``valid`` are bool.

    Raises:
        KeyError: if ``pred_score`` or both ``gt_label`` and ``gt_score``
            are missing.
        ValueError: if ``pred_score`` is not 1-D or ``gt_score`` has the
            wrong length or values other than 0 and 1.
    """
    if 'pred_score' not in sample:
        raise KeyError(f'data sample has no pred_score{_describe(sample)}; '
                       'multi-label metrics need the sigmoid scores')
    pred = torch.as_tensor(sample.get('pred_score')).detach().cpu().clone()
    if pred.ndim != 1:
        raise ValueError(f'pred_score must be 1-D (C,), got shape '
                         f'{tuple(pred.shape)}{_describe(sample)}')
    num_classes = pred.numel()
    if 'gt_score' in sample:
        gt_score = torch.as_tensor(sample.get('gt_score')).detach().cpu()
        gt_score = gt_score.reshape(-1)
        if gt_score.numel() != num_classes:
            raise ValueError(f'gt_score has {gt_score.numel()} entries but '
                             f'pred_score has {num_classes}'
                             f'{_describe(sample)}')
        if not ((gt_score == 0) | (gt_score == 1)).all():
            raise ValueError('gt_score must hold only 0 and 1 (mark unknown '
                             f'entries with gt_ignore){_describe(sample)}')
        gt = gt_score == 1
    elif 'gt_label' in sample:
        gt = indices_to_multi_hot(
            _to_cpu(sample.get('gt_label')), num_classes) == 1
    else:
        raise KeyError(f'data sample has neither gt_label nor gt_score'
                       f'{_describe(sample)}')
    ignore = indices_to_multi_hot(
        _to_cpu(sample.get('gt_ignore', None)), num_classes)
    return dict(pred_score=pred, gt=gt, valid=ignore == 0)


def stack_multi_label_results(
    results: Sequence[dict]
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Records of :func:`pack_multi_label_result` -> (N, C) tensors.

    Returns:
        tuple: ``scores`` (N, C), ``gt`` (N, C) bool, ``valid`` (N, C) bool.
    """
    if len(results) == 0:
        raise ValueError('no results to evaluate (0 samples)')
    sizes = {res['pred_score'].numel() for res in results}
    if len(sizes) != 1:
        raise ValueError(f'samples have different numbers of classes in '
                         f'pred_score: {sorted(sizes)}')
    scores = torch.stack([res['pred_score'] for res in results])
    gt = torch.stack([res['gt'] for res in results])
    valid = torch.stack([res['valid'] for res in results])
    return scores, gt, valid


def resolve_class_names(dataset_meta: Optional[dict],
                        num_classes: int) -> List[str]:
    """Class names from ``dataset_meta['classes']``, else ``'0'``, ``'1'``...

    Raises:
        ValueError: if the dataset names a different number of classes
            than the scores have.
    """
    classes = (dataset_meta or {}).get('classes', None)
    if classes is None:
        return [str(i) for i in range(num_classes)]
    classes = [str(name) for name in classes]
    if len(classes) != num_classes:
        raise ValueError(f"dataset_meta['classes'] has {len(classes)} names "
                         f'but pred_score has {num_classes} entries')
    return classes


def load_multi_label_predictions(
        path: str) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Load saved predictions as ``(scores, gt, valid)`` (N, C) tensors.

    Reads a ``.json`` list of per-sample dicts (lists of numbers), or the
    ``.pkl`` mmengine's ``DumpResults`` writes (``tools/test.py --out``).
    A dump is untrusted input: a pickle goes through
    :func:`mmcsra.engine.safe_loading.safe_pickle_load` (only containers,
    numbers, strings, tensors and numeric numpy arrays; anything else is
    refused without running it), never through plain :mod:`pickle`.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        UnsafeCheckpointError: if a pickle names anything else.
        CorruptCheckpointError: if the file is empty or truncated.
        ValueError: if the file is not a non-empty list of dicts.
    """
    import json
    import os.path as osp

    from mmcsra.engine.safe_loading import (CorruptCheckpointError,
                                            safe_pickle_load)
    if not osp.isfile(path):
        raise FileNotFoundError(f'prediction file {path!r} does not exist')
    if path.endswith('.json'):
        with open(path) as f:
            try:
                records = json.load(f)
            except json.JSONDecodeError as err:
                raise CorruptCheckpointError(
                    f'{path!r} is not valid JSON (truncated?): {err}') from err
    elif path.endswith(('.pkl', '.pickle')):
        records = safe_pickle_load(path)
    else:
        raise ValueError(f'{path}: predictions must be a .json or .pkl '
                         'file')
    if not isinstance(records, (list, tuple)) or not records:
        raise ValueError(f'{path} must hold a non-empty list of per-sample '
                         f'dicts, got {type(records).__name__}')
    packed = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise ValueError(f'{path}: entry {i} is a '
                             f'{type(record).__name__}, not a dict')
        try:
            packed.append(pack_multi_label_result(record))
        except (KeyError, ValueError, IndexError, TypeError) as err:
            raise ValueError(f'{path}: entry {i}: {err}') from err
    return stack_multi_label_results(packed)
