"""Collecting a finished run's final metrics from what mmengine wrote.

**Final validation.** The last record of the newest non-empty
``<run>/<timestamp>/vis_data/scalars.json`` (mmengine's ``LoggerHook`` +
``LocalVisBackend``), if it is a validation record (no ``loss``/``lr``) at
the final step (``max_epochs`` for epoch-based training logged by epoch,
unchecked otherwise). mmengine validates after the last epoch whenever a
validation loop exists, so this is the final model's validation.

**Test fallback.** Otherwise (no validation configured, no JSON backend)
the runner evaluates the last checkpoint with ``tools/test.py`` and
:func:`read_test_metrics` reads the ``<timestamp>/<timestamp>.json`` it
writes.

Bookkeeping keys (``step``, ``time``, ``data_time``, ...) are dropped.
"""
import json
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Any, List, Optional

__all__ = [
    'BOOKKEEPING_KEYS', 'TIMESTAMP', 'json_lines', 'is_train_record',
    'read_final_val_metrics', 'read_test_metrics', 'final_val_step'
]

#: Keys of mmengine's log records that are not metrics.
BOOKKEEPING_KEYS = ('step', 'data_time', 'time', 'epoch', 'iter', 'memory')
#: Name of the directory mmengine makes per launch (``20260101_120000``).
TIMESTAMP = re.compile(r'^\d{8}_\d{6}$')


def _timestamp_dirs(work_dir: str) -> List[str]:
    """The launch directories of ``work_dir``, oldest first."""
    if not osp.isdir(work_dir):
        return []
    return [
        osp.join(work_dir, d) for d in sorted(os.listdir(work_dir))
        if TIMESTAMP.match(d) and osp.isdir(osp.join(work_dir, d))
    ]


def json_lines(path: str) -> List[dict]:
    """The dict records of a JSON-lines file (none if it does not exist);
    a line that is not JSON (cut by a killed process) is skipped."""
    if not osp.isfile(path):
        return []
    records = []
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def is_train_record(record: dict) -> bool:
    """Whether a ``scalars.json`` record was logged by training."""
    return any(k in ('lr', 'iter') or k.startswith('loss') for k in record)


def _metrics_of(record: dict) -> 'OrderedDict[str, Any]':
    return OrderedDict(
        (k, v) for k, v in record.items() if k not in BOOKKEEPING_KEYS)


def read_final_val_metrics(
        run_dir: str,
        final_step: Optional[int] = None) -> Optional['OrderedDict[str, Any]']:
    """The final validation metrics of a finished training run, or None.

    Reads the newest ``<run_dir>/<timestamp>/vis_data/scalars.json`` that
    has records; its last record must be a validation record (no ``lr``,
    ``iter`` or ``loss*`` key) and, if ``final_step`` is given, at that
    step. None when no such record exists (then evaluate the checkpoint).
    """
    for stamp_dir in reversed(_timestamp_dirs(run_dir)):
        records = json_lines(osp.join(stamp_dir, 'vis_data', 'scalars.json'))
        if not records:
            continue  # e.g. resumed after the last epoch: nothing logged
        last = records[-1]
        if is_train_record(last):
            return None
        if final_step is not None and last.get('step') != final_step:
            return None
        return _metrics_of(last)
    return None


def read_test_metrics(work_dir: str) -> 'OrderedDict[str, Any]':
    """Metrics that ``tools/test.py --work-dir work_dir`` wrote (newest
    ``<timestamp>/<timestamp>.json``)."""
    for stamp_dir in reversed(_timestamp_dirs(work_dir)):
        path = osp.join(stamp_dir, osp.basename(stamp_dir) + '.json')
        if osp.isfile(path):
            with open(path) as f:
                return _metrics_of(json.load(f))
    raise FileNotFoundError(f'no test metrics (<timestamp>/<timestamp>.json)'
                            f' in {work_dir}')


def final_val_step(cfg) -> Optional[int]:
    """The ``step`` of the final validation record, when it is knowable:
    ``max_epochs`` for epoch-based training logged by epoch (mmengine's
    default), ``max_iters`` for iteration-based training logged by
    iteration; None otherwise."""
    train_cfg = cfg.get('train_cfg') or {}
    logger = (cfg.get('default_hooks') or {}).get('logger') or {}
    by_epoch_log = logger.get('log_metric_by_epoch', True)
    loop = train_cfg.get('type', '')
    by_epoch = train_cfg.get('by_epoch', 'max_epochs' in train_cfg)
    if 'EpochBased' in str(loop) or (not loop and by_epoch):
        if by_epoch_log and 'max_epochs' in train_cfg:
            return int(train_cfg['max_epochs'])
    elif 'max_iters' in train_cfg and not by_epoch_log:
        return int(train_cfg['max_iters'])
    return None
