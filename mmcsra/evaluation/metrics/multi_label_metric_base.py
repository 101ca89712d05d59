import logging
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.dist import (broadcast_object_list, collect_results,
                           get_dist_info, is_main_process)
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from ..multi_label_results import (pack_multi_label_result,
                                   stack_multi_label_results)

RECORD_KEYS = ('pred_score', 'gt', 'valid')


def concat_batch_records(
    records: Sequence[Dict[str, torch.Tensor]]
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batch records ``dict(pred_score, gt, valid)`` of ``(B_i, C)`` tensors
    -> ``(scores, gt, valid)`` of ``(sum B_i, C)``, in record order.

    Raises:
        ValueError: if there is no sample or the records disagree on C.
    """
    records = [rec for rec in records if rec['pred_score'].numel()]
    if not records:
        raise ValueError('no results to evaluate (0 samples)')
    sizes = {rec['pred_score'].size(1) for rec in records}
    if len(sizes) != 1:
        raise ValueError(f'samples have different numbers of classes in '
                         f'pred_score: {sorted(sizes)}')
    return tuple(
        torch.cat([rec[key] for rec in records]) for key in RECORD_KEYS)


def interleave_rank_records(parts: Sequence[Dict[str, torch.Tensor]],
                            size: int) -> Dict[str, torch.Tensor]:
    """One record per rank (rank order) -> the dataset's rows, in order.

    mmengine's ``DefaultSampler`` gives rank ``r`` of ``W`` the indices
    ``r, r + W, r + 2W, ...``, so the ``k``-th row of rank ``r`` is row
    ``k * W + r`` of the dataset; with ``round_up=True`` the last ones are
    the repeated samples that padded the shards, dropped by keeping the
    first ``size`` rows. This is the order of mmengine's
    ``collect_results`` (``zip_longest`` over the ranks' lists, truncated
    to ``size``), applied to rows instead of list items.
    """
    world_size = len(parts)
    keys, kept = [], []
    for rank, part in enumerate(parts):
        num = part['pred_score'].size(0)
        if num:
            keys.append(torch.arange(num) * world_size + rank)
            kept.append(part)
    if not kept:
        raise ValueError('no results to evaluate (0 samples)')
    order = torch.cat(keys).argsort()[:size]
    rows = concat_batch_records(kept)
    return dict(zip(RECORD_KEYS, (rows_i[order] for rows_i in rows)))


class MultiLabelMetricBase(BaseMetric):
    """Shared part of mmcsra's multi-label metrics (not registered).

    :meth:`process` keeps one record per **batch**: ``dict(pred_score, gt,
    valid)`` of ``(B, C)`` tensors (built from the samples by
    :func:`mmcsra.evaluation.multi_label_results.pack_multi_label_result`,
    which validates each one). ``compute_metrics`` concatenates the records
    (one ``torch.cat`` per field instead of stacking N per-sample records:
    on a 40,137 x 80 COCO-val matrix the stacking cost more than a third of
    the AP computation itself).

    Because mmengine's collection truncates a list of *items* to the
    dataset size, per-batch items would keep the samples the sampler
    repeated to pad the last batch. :meth:`evaluate` therefore gathers one
    record per rank and puts the rows back in dataset order, dropping the
    padding, with :func:`interleave_rank_records`: the numbers equal the
    single-process ones exactly, for even and uneven splits.

    A subclass validates its own options, calls ``super().__init__(
    collect_device=..., prefix=..., collect_dir=...)`` and implements
    ``compute_metrics`` on ``self.stack_results(results)``.

    Setting :attr:`dataset_meta` (mmengine's ``ValLoop`` / ``TestLoop`` do
    it when they are built, i.e. in ``Runner.train()`` before the first
    iteration, and in ``Runner.test()`` before the first batch) calls
    :meth:`check_dataset_meta`, so options that do not fit the dataset
    (e.g. a top-k larger than its class count) fail at once instead of
    after a full epoch.

    Args:
        collect_device (str): ``'cpu'`` or ``'gpu'``, as in mmengine's
            :class:`BaseMetric`. Defaults to ``'cpu'``.
        prefix (str, optional): key prefix. Defaults to ``'multi-label'``.
        collect_dir (str, optional): shared directory for ``'cpu'``
            collection. Defaults to None (mmengine's choice).
    """
    default_prefix: Optional[str] = 'multi-label'

    @staticmethod
    def _check_choice(name: str, value: str, choices: Sequence[str]) -> str:
        """Return ``value`` if it is one of ``choices``, else raise naming
        the argument ``name``."""
        if value not in choices:
            raise ValueError(f'{name} must be one of {choices}, '
                             f'got {value!r}')
        return value

    @property
    def dataset_meta(self) -> Optional[dict]:
        """Optional[dict]: the dataset's meta info (``classes``, ...)."""
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: Optional[dict]) -> None:
        if dataset_meta is not None:
            self.check_dataset_meta(dataset_meta)
        self._dataset_meta = dataset_meta

    def check_dataset_meta(self, dataset_meta: dict) -> None:
        """Raise ``ValueError`` if the metric's options do not fit the
        dataset described by ``dataset_meta``. Subclasses extend it; here
        nothing is checked."""

    @staticmethod
    def num_classes_of(dataset_meta: Optional[dict]) -> Optional[int]:
        """The number of ``dataset_meta['classes']``, None if not given."""
        classes = (dataset_meta or {}).get('classes', None)
        return None if classes is None else len(classes)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep one record ``dict(pred_score, gt, valid)`` of ``(B, C)``
        tensors for the batch."""
        if len(data_samples) == 0:
            return
        rows = stack_multi_label_results(
            [pack_multi_label_result(sample) for sample in data_samples])
        self.results.append(dict(zip(RECORD_KEYS, rows)))

    @staticmethod
    def stack_results(
        results: Sequence[dict]
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(scores, gt, valid)`` (N, C) tensors of the batch records."""
        return concat_batch_records(results)

    def _local_record(self) -> Dict[str, torch.Tensor]:
        """This rank's rows as one record (``(0, 0)`` tensors if none)."""
        if not any(rec['pred_score'].numel() for rec in self.results):
            empty = torch.empty(0, 0)
            return dict(pred_score=empty, gt=empty.bool(), valid=empty.bool())
        return dict(zip(RECORD_KEYS, concat_batch_records(self.results)))

    def evaluate(self, size: int) -> dict:
        """Collect the ranks' rows, drop the padding, compute the metrics.

        As mmengine's ``BaseMetric.evaluate`` (same ``collect_device`` /
        ``collect_dir`` collection, prefix, broadcast of the result to
        every rank, ``self.results`` cleared), except that the truncation
        to ``size`` counts samples, not batch records.
        """
        if len(self.results) == 0:
            print_log(
                f'{type(self).__name__} got empty `self.results`: no batch '
                'was processed on this rank.',
                logger='current',
                level=logging.WARNING)
        local = self._local_record()
        _, world_size = get_dist_info()
        if world_size == 1:
            parts: Optional[List[dict]] = [local]
        else:
            tmpdir = self.collect_dir if self.collect_device == 'cpu' \
                else None
            # one item per rank: the collection returns them in rank order
            parts = collect_results([local],
                                    world_size,
                                    self.collect_device,
                                    tmpdir=tmpdir)
        if is_main_process():
            rows = interleave_rank_records(parts, size)
            metrics = self.compute_metrics([rows])
            if self.prefix:
                metrics = {
                    '/'.join((self.prefix, k)): v
                    for k, v in metrics.items()
                }
            output = [metrics]
        else:
            output = [None]
        broadcast_object_list(output)
        self.results.clear()
        return output[0]
