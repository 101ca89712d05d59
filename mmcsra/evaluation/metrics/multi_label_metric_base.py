from typing import Optional, Sequence

from mmengine.evaluator import BaseMetric

from ..multi_label_results import pack_multi_label_result


class MultiLabelMetricBase(BaseMetric):
    """Shared part of mmcsra's multi-label metrics (not registered).

    :meth:`process` keeps one record (scores, targets, validity; see
    :func:`mmcsra.evaluation.multi_label_results.pack_multi_label_result`)
    per sample, never one per batch, so that on several ranks mmengine's
    collection drops the samples the sampler repeated and the numbers equal
    the single-process ones exactly. A subclass validates its own options,
    calls ``super().__init__(collect_device=..., prefix=...,
    collect_dir=...)`` and implements ``compute_metrics`` on
    ``stack_multi_label_results(results)``.

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

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep one record (scores, targets, validity) per sample."""
        for sample in data_samples:
            self.results.append(pack_multi_label_result(sample))
