"""Write the scores and labels of an evaluation to a ``.npz`` or ``.json``."""
import json
import os
import os.path as osp

import numpy as np
from mmpretrain.registry import METRICS

from .multi_label_metric_base import MultiLabelMetricBase


@METRICS.register_module()
class MultiLabelScoreDump(MultiLabelMetricBase):
    """Save the ``(N, C)`` scores, labels and valid mask, in dataset order.

    Writes ``out_file``, in a format that holds data only (no pickle):

    * ``.npz``: numeric arrays, read with plain ``np.load(out_file)``:
      ``scores`` (float32 sigmoid scores), ``gt`` (uint8 0/1 targets) and
      ``valid`` (uint8, 0 where the class is in ``gt_ignore``);
    * ``.json``: a list with one dict per sample, ``pred_score`` (list of
      C floats), ``gt_label`` and ``gt_ignore`` (class indices), the
      records :func:`mmcsra.evaluation.load_multi_label_predictions` (and
      so ``tools/calibrate_thresholds.py``) reads.

    Any metric can be recomputed from the file (e.g. with
    ``sklearn.metrics.average_precision_score``). The
    rows are in dataset order, without the samples a sampler repeated, on
    one or several ranks (:class:`MultiLabelMetricBase`). It reports no
    metric; add it next to the real ones::

        test_evaluator = [dict(type='MultiLabelMAP'),
                          dict(type='MultiLabelScoreDump',
                               out_file='work_dirs/x/test_scores.npz')]

    Args:
        out_file (str): the ``.npz`` or ``.json`` path (its folder is
            created).
        collect_device, collect_dir: as for :class:`MultiLabelMetricBase`.
    """

    FORMATS = ('.npz', '.json')

    def __init__(self,
                 out_file: str,
                 collect_device: str = 'cpu',
                 collect_dir=None) -> None:
        if not isinstance(out_file, str) or not out_file.endswith(
                self.FORMATS):
            raise ValueError(f'out_file must be a path ending in '
                             f'{" or ".join(self.FORMATS)}, got {out_file!r}')
        super().__init__(
            collect_device=collect_device,
            prefix=None,
            collect_dir=collect_dir)
        self.out_file = out_file

    def compute_metrics(self, results) -> dict:
        scores, gt, valid = self.stack_results(results)
        os.makedirs(osp.dirname(osp.abspath(self.out_file)), exist_ok=True)
        if self.out_file.endswith('.json'):
            records = [
                dict(
                    pred_score=[float(v) for v in row],
                    gt_label=[int(c) for c in (pos & ok).nonzero()[:, 0]],
                    gt_ignore=[int(c) for c in (~ok).nonzero()[:, 0]])
                for row, pos, ok in zip(scores.float(), gt, valid)
            ]
            with open(self.out_file, 'w') as f:
                json.dump(records, f)
            return {}
        np.savez(
            self.out_file,
            scores=scores.float().numpy().astype(np.float32),
            gt=gt.numpy().astype(np.uint8),
            valid=valid.numpy().astype(np.uint8))
        return {}
