from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmpretrain.registry import METRICS

from ..functional import (ZERO_DIVISIONS, multi_label_decisions, prf_counts,
                          prf_from_counts)
from ..multi_label_results import resolve_class_names
from ..threshold_file import load_thresholds
from .multi_label_metric_base import MultiLabelMetricBase

PRF_KEYS = ('CP', 'CR', 'CF1', 'OP', 'OR', 'OF1')


@METRICS.register_module()
class MultiLabelPRF(MultiLabelMetricBase):
    r"""Per-class and overall precision, recall and F1 (CP ... OF1).

    The six numbers of the multi-label recognition papers (e.g. ML-GCN,
    Chen et al., CVPR 2019; CSRA, Zhu & Wu, ICCV 2021), with
    :math:`TP_i, FP_i, FN_i` counted over the valid (non-ignored) entries of
    class :math:`i`:

    .. math::
        CP = \frac{1}{C}\sum_i \frac{TP_i}{TP_i + FP_i}, \quad
        CR = \frac{1}{C}\sum_i \frac{TP_i}{TP_i + FN_i}, \quad
        CF1 = \frac{2\,CP\,CR}{CP + CR}

        OP = \frac{\sum_i TP_i}{\sum_i (TP_i + FP_i)}, \quad
        OR = \frac{\sum_i TP_i}{\sum_i (TP_i + FN_i)}, \quad
        OF1 = \frac{2\,OP\,OR}{OP + OR}

    CF1 is the F1 of CP and CR (not the mean of per-class F1). An entry is
    predicted positive iff ``score >= thr`` (``thr`` is one value or one per
    class) and, for a top-k setting, it is also among the k highest scores
    of its sample (ranking all C classes, ties broken by the lower class
    index; the papers' "top-3" rows). An ignored entry (``gt_ignore``) is
    neither TP, FP nor FN, but does take a top-k slot if it scores high:
    the model does not know which entries are ignored.

    Several settings are reported by one metric through ``topk``; the keys
    (values in percent, under the prefix, default ``'multi-label'``) are
    ``CP, CR, CF1, OP, OR, OF1`` for the threshold-only setting (``None``)
    and ``CP_top3, ..., OF1_top3`` for ``k = 3``. The default
    ``topk=(None, 3)`` gives both rows of the papers' tables.

    Each data sample needs ``pred_score`` (C sigmoid scores), ``gt_label``
    or ``gt_score`` and optionally ``gt_ignore``; results are kept as one
    record per batch and distributed evaluation equals the single-process
    one (see :class:`MultiLabelMetricBase`).

    Args:
        thr (float | Sequence[float] | str | None): the decision threshold
            on the scores: one number for all classes (default 0.5), one
            per class, or the path of a ``.json`` file written by
            ``tools/calibrate_thresholds.py`` (its class names, when
            present, must match ``dataset_meta['classes']``). ``None``: no
            threshold, the top-k entries are positive (every entry of
            ``topk`` must then be an int).
        topk (int | Sequence[int | None] | None): the settings to report;
            ``None`` is threshold only, an int k keeps at most k positives
            per sample. Defaults to ``(None, 3)``.
        zero_division (str): a per-class ratio with a zero denominator (a
            class never predicted, a class without valid positives) is
            ``'zero'``: 0 in the class mean (default, the ML-GCN/CSRA
            evaluation code sets a class's prediction count to 1 when it
            is 0), or ``'exclude'``: left out of the class mean (OP/OR are
            then ``nan`` if nothing was predicted / nothing is positive).
        collect_device (str): ``'cpu'`` or ``'gpu'``, as in mmengine's
            :class:`BaseMetric`. Defaults to ``'cpu'``.
        prefix (str, optional): key prefix. Defaults to ``'multi-label'``.
        collect_dir (str, optional): shared directory for ``'cpu'``
            collection. Defaults to None (mmengine's choice).
    """

    def __init__(self,
                 thr: Union[float, Sequence[float], str, None] = 0.5,
                 topk: Union[int, Sequence[Optional[int]], None] = (None, 3),
                 zero_division: str = 'zero',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)
        self.zero_division = self._check_choice('zero_division', zero_division,
                                                ZERO_DIVISIONS)
        self.topk = self._parse_topk(topk)
        self.thr_file: Optional[str] = None
        self.thr_classes: Optional[List[str]] = None
        if isinstance(thr, str):
            self.thr_file = thr
            values, self.thr_classes = load_thresholds(thr)
            self.thr = torch.tensor(values, dtype=torch.float64)
        elif thr is None:
            if None in self.topk:
                raise ValueError('thr=None needs every topk entry to be an '
                                 f'int, got topk={self.topk}')
            self.thr = None
        else:
            self.thr = torch.as_tensor(thr, dtype=torch.float64)
            if self.thr.ndim > 1 or not torch.isfinite(self.thr).all():
                raise ValueError('thr must be a finite number or a 1-D '
                                 'sequence of them (one per class)')

    @staticmethod
    def _parse_topk(topk) -> Tuple[Optional[int], ...]:
        settings = (topk, ) if topk is None or isinstance(topk, int) else \
            tuple(topk)
        if not settings:
            raise ValueError('topk must name at least one setting')
        for k in settings:
            if k is not None and (isinstance(k, bool)
                                  or not isinstance(k, int) or k < 1):
                raise ValueError(f'topk entries must be None or ints >= 1, '
                                 f'got {k!r}')
        if len(set(settings)) != len(settings):
            raise ValueError(f'topk has duplicates: {settings}')
        return settings

    def check_dataset_meta(self, dataset_meta: dict) -> None:
        """Every top-k must be at most the dataset's class count, and
        per-class thresholds must fit its classes (count, and names when
        the threshold file has them). Called when mmengine's loops set
        ``dataset_meta``, i.e. before the first training iteration."""
        num_classes = self.num_classes_of(dataset_meta)
        if num_classes is None:
            return
        too_large = [k for k in self.topk if k is not None and k > num_classes]
        if too_large:
            raise ValueError(
                f'{type(self).__name__}: topk={too_large} is larger than '
                f'the number of classes of the dataset ({num_classes}); '
                f'use topk values in [1, {num_classes}] (or None)')
        self._check_thresholds(num_classes, dataset_meta)

    def _check_thresholds(self, num_classes: int,
                          dataset_meta: Optional[dict]) -> None:
        if self.thr is None or self.thr.ndim == 0:
            return
        source = self.thr_file or 'thr'
        if self.thr.numel() != num_classes:
            raise ValueError(f'{source} has {self.thr.numel()} thresholds '
                             f'but there are {num_classes} classes')
        classes = (dataset_meta or {}).get('classes', None)
        if self.thr_classes is not None and classes is not None and \
                list(map(str, classes)) != self.thr_classes:
            raise ValueError(f'{source} was calibrated for the classes '
                             f'{self.thr_classes}, but the dataset has '
                             f'{list(classes)}')

    def _class_thresholds(self, num_classes: int):
        self._check_thresholds(num_classes, self.dataset_meta)
        return self.thr

    def compute_metrics(self, results: list) -> dict:
        scores, gt, valid = self.stack_results(results)  # [N, C]
        num_classes = scores.size(1)
        resolve_class_names(self.dataset_meta, num_classes)  # size check
        thr = self._class_thresholds(num_classes)
        metrics = {}
        for k in self.topk:
            pred = multi_label_decisions(scores, thr, k)  # [N, C]
            counts = prf_counts(pred, gt, valid)
            values = prf_from_counts(
                **counts, zero_division=self.zero_division)
            suffix = '' if k is None else f'_top{k}'
            for key in PRF_KEYS:
                metrics[key + suffix] = values[key].item() * 100.0
        return metrics
