import logging
from typing import Optional

from mmengine.logging import print_log
from mmpretrain.registry import METRICS

from ..functional import INTERPOLATIONS, average_precision
from ..multi_label_results import resolve_class_names
from .multi_label_metric_base import MultiLabelMetricBase

EMPTY_CLASS_MODES = ('exclude', 'zero')


@METRICS.register_module()
class MultiLabelMAP(MultiLabelMetricBase):
    r"""Mean average precision over classes, exact with ties and ignores.

    For each class, the valid samples (``gt_ignore`` entries removed) are
    ranked by score; every distinct score is one threshold, so tied samples
    count as a single point :math:`(R_k, P_k)` (as
    ``sklearn.metrics.average_precision_score`` does; MMPretrain's
    ``AveragePrecision`` ranks ties one by one and depends on their order).
    With ``interpolation='none'`` (non-interpolated AP, the definition used
    by the multi-label papers, e.g. ML-GCN and CSRA):

    .. math::
        AP_i = \sum_k (R_k - R_{k-1})\,P_k, \qquad
        mAP = \frac{1}{|\mathcal{C}|}\sum_{i \in \mathcal{C}} AP_i

    where :math:`\mathcal{C}` are the classes with at least one valid
    positive. ``'all_point_envelope'`` (PASCAL VOC 2010+; Everingham et
    al., "The PASCAL Visual Object Classes Challenge: A Retrospective",
    IJCV 2015) uses the monotone
    envelope :math:`\hat P_k = \max_{j \ge k} P_j` in place of
    :math:`P_k`; ``'voc07_11point'`` (PASCAL VOC 2007; Everingham et al.,
    "The PASCAL Visual Object Classes (VOC) Challenge", IJCV 2010) is
    :math:`\frac{1}{11}\sum_{t \in \{0, 0.1, .., 1\}}
    \max\{P_k : R_k \ge t\}`. See
    :func:`mmcsra.evaluation.functional.average_precision`.

    Each data sample needs ``pred_score`` (C scores), ``gt_label``
    (positive class indices) or ``gt_score`` (dense 0/1) and optionally
    ``gt_ignore`` (ignored class indices). Results are kept as one
    ``(B, C)`` record per batch; on several ranks the rows are put back in
    dataset order and the samples the sampler repeated are dropped, so the
    numbers equal the single-process ones exactly (see
    :class:`MultiLabelMetricBase`).

    Reported keys (values in percent, under the prefix, default
    ``'multi-label'``):

    * ``mAP``: the mean above (whatever ``interpolation`` is);
    * ``AP/<class name>`` when ``classwise``: one scalar per class, named
      from ``dataset_meta['classes']`` (the class index when the dataset
      has no names). Scalars, so mmengine's ``LoggerHook`` prints and
      stores them like ``mAP``. A class without valid positives has AP
      ``nan`` (``'exclude'``) or 0 (``'zero'``); such classes are also
      listed in a warning.

    Args:
        interpolation (str): ``'none'`` (default), ``'voc07_11point'`` or
            ``'all_point_envelope'``.
        empty_class (str): a class without valid positives is left out of
            the mean (``'exclude'``, default) or counts as AP 0 (``'zero'``,
            the convention of code that divides by the number of classes).
        classwise (bool): also report ``AP/<class name>``. Defaults to True.
        collect_device (str): ``'cpu'`` or ``'gpu'``, as in mmengine's
            :class:`BaseMetric`. Defaults to ``'cpu'``.
        prefix (str, optional): key prefix. Defaults to ``'multi-label'``.
        collect_dir (str, optional): shared directory for ``'cpu'``
            collection. Defaults to None (mmengine's choice).
    """

    def __init__(self,
                 interpolation: str = 'none',
                 empty_class: str = 'exclude',
                 classwise: bool = True,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)
        self.interpolation = self._check_choice('interpolation', interpolation,
                                                INTERPOLATIONS)
        self.empty_class = self._check_choice('empty_class', empty_class,
                                              EMPTY_CLASS_MODES)
        self.classwise = classwise

    def compute_metrics(self, results: list) -> dict:
        scores, gt, valid = self.stack_results(results)  # [N, C]
        names = resolve_class_names(self.dataset_meta, scores.size(1))
        ap = average_precision(scores, gt, valid, self.interpolation)  # [C]

        empty = ap.isnan()
        if empty.any():
            listed = [names[i] for i in empty.nonzero().flatten().tolist()]
            how = ('left out of mAP'
                   if self.empty_class == 'exclude' else 'counted as AP 0')
            print_log(
                f'{type(self).__name__}: {len(listed)} class(es) without '
                f'valid positives, {how}: {listed}',
                logger='current',
                level=logging.WARNING)
            if self.empty_class == 'zero':
                ap = ap.nan_to_num(nan=0.0)
        ap = ap * 100.0
        metrics = dict(mAP=ap.nanmean().item())  # nan if no class is valid
        if self.classwise:
            for name, value in zip(names, ap.tolist()):
                metrics[f'AP/{name}'] = value
        return metrics
