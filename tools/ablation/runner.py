"""Ablation grids: expand, train every point × seed (resumably), aggregate.

The engine of ``tools/ablate.py``, for the experiments of the CSRA paper
(Zhu & Wu, ICCV 2021, Sec. 4.4: the control experiment of the three pooling
modes, the number of heads H and the weight λ) or any other config key.

**Grid.** ``key=v1,v2,...`` per axis; ``mode``, ``heads`` and ``lam`` are
short for ``model.head.mode``, ``model.head.num_heads`` and
``model.head.lam``, and any dotted config key works (``a.b.c=1,2``). Values
are Python literals (``1`` int, ``0.1`` float, ``inf``, ``True``, ``[1,2]``),
anything else is a string (``avg``). Points are the Cartesian product, in
the order the axes and values are given.

**λ collapse.** ``MultiHeadCSRA`` scores ``'avg'`` as the mean of the class
scores and ``'attention'`` as the attention term alone; λ only weighs the
attention term in ``'residual'``. So for a ``CSRAHead`` whose mode (from the
grid, else the config) is ``'avg'`` or ``'attention'``, the λ axis is
dropped and the duplicate points are trained once: ``mode=avg,residual
lam=0.1,0.5`` is 3 points, not 4. Their λ cell in ``results.csv`` is empty
(``—`` in ``results.md``) and the plot draws them as horizontal lines. H is
*not* collapsed for ``'avg'``: the H heads are H unit-norm classifiers whose
sum bounds the logits' scale, a different model.

**Runs.** Each point × seed trains in a subprocess, ``python tools/train.py
CONFIG`` (``bash tools/dist_train.sh CONFIG N`` with ``launcher='pytorch'``),
with ``--work-dir WORK_DIR/<point>/seed-<seed>`` and ``--cfg-options
<user options> <point's keys> randomness.seed=<seed>``; its output goes to
``<run>/ablate.log``.

**Final metrics.** The last record of the newest non-empty
``<run>/<timestamp>/vis_data/scalars.json`` (mmengine's ``LoggerHook`` +
``LocalVisBackend``), if it is a validation record (no ``loss``/``lr``) at
the final step (``max_epochs`` for epoch-based training logged by epoch,
unchecked otherwise). mmengine validates after the last epoch whenever a
validation loop exists, so this is the final model's validation. Otherwise
(no validation configured, no JSON backend) ``tools/test.py`` evaluates the
last checkpoint into ``<run>/final_test``. Bookkeeping keys (``step``,
``time``, ``data_time``, ...) are dropped.

**Resume.** ``<run>/done.json`` (settings + metrics) is written atomically
only after a run succeeded and its metrics were read; such runs are skipped.
A run directory without it is re-run: with ``--resume`` (mmengine resumes
from ``last_checkpoint``, so a run killed after its final checkpoint trains
nothing and its metrics are read from the earlier log) if a checkpoint
exists, else from scratch. ``<run>/run.json`` records the run's settings
(config, point, seed, user cfg-options, launcher and process count); a run
directory made with other settings is an error, never silently reused.
With ``keep_checkpoints=False`` a run's checkpoints are deleted once its
``done.json`` is written.

**Outputs** in the work dir: ``results.csv`` (one row per point × seed,
every metric, full precision), ``results.md`` (mean ± sample standard
deviation, ddof = 1, over the seeds of each point; the best mean of the plot
metric in bold) and ``<metric>_vs_lam.png`` (e.g. ``mAP_vs_lam.png``: the
metric vs λ with ± std error bars, one line per H / other axes, one panel
per mode).
"""
import argparse
import ast
import copy
import csv
import inspect
import json
import os
import os.path as osp
import re
import statistics
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

__all__ = [
    'GRID_ALIASES', 'LAMBDA_FREE_MODES', 'GridAxis', 'GridPoint',
    'parse_value', 'split_values', 'parse_grid', 'expand_grid',
    'cfg_option_text', 'train_command', 'test_command',
    'read_final_val_metrics', 'read_test_metrics', 'final_val_step',
    'aggregate', 'table_metric_keys', 'format_markdown', 'write_csv',
    'plot_metric_vs_lam', 'run_ablation'
]

#: Short grid names of the CSRA head's arguments.
GRID_ALIASES = OrderedDict([('mode', 'model.head.mode'),
                            ('heads', 'model.head.num_heads'),
                            ('lam', 'model.head.lam')])
MODE_KEY = GRID_ALIASES['mode']
HEADS_KEY = GRID_ALIASES['heads']
LAM_KEY = GRID_ALIASES['lam']
SEED_KEY = 'randomness.seed'
#: CSRA modes whose logits do not depend on λ (``MultiHeadCSRA``).
LAMBDA_FREE_MODES = ('avg', 'attention')
DONE_FILE = 'done.json'
RUN_FILE = 'run.json'
LOG_FILE = 'ablate.log'
#: Keys of mmengine's log records that are not metrics.
BOOKKEEPING_KEYS = ('step', 'data_time', 'time', 'epoch', 'iter', 'memory')
#: Short names of the metrics in results.md when present (else all
#: non-per-class metrics).
DEFAULT_TABLE_METRICS = ('mAP', 'CP', 'CR', 'CF1', 'OP', 'OR', 'OF1')
_MISSING = object()  # a config key that is not there
_TIMESTAMP = re.compile(r'^\d{8}_\d{6}$')
_KEY = re.compile(r'^[A-Za-z_]\w*(\.\w+)*$')


# ------------------------------------------------------------------ grid
def split_values(text: str) -> List[str]:
    """Split ``text`` at the commas outside brackets and quotes.

    >>> split_values("avg,'a,b',[1,2]")
    ['avg', "'a,b'", '[1,2]']
    """
    parts, depth, quote, current = [], 0, None, ''
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in '\'"':
            quote = char
        elif char in '([{':
            depth += 1
        elif char in ')]}':
            depth -= 1
            if depth < 0:
                raise ValueError(f'unbalanced brackets in {text!r}')
        elif char == ',' and depth == 0:
            parts.append(current)
            current = ''
            continue
        current += char
    if quote or depth:
        raise ValueError(f'unbalanced brackets or quotes in {text!r}')
    parts.append(current)
    return [p.strip() for p in parts]


def parse_value(text: str) -> Any:
    """A Python literal (``1``, ``0.1``, ``'a'``, ``[1, 2]``, ``True``,
    ``None``), ``inf``/``nan`` as floats, else the text as a string."""
    text = text.strip()
    if not text:
        raise ValueError('empty grid value')
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    try:
        return float(text)  # inf, -inf, nan, infinity
    except ValueError:
        return text


@dataclass
class GridAxis:
    """One axis: its name as given (``lam`` or ``a.b.c``), the config key it
    sets, and its values."""
    name: str
    key: str
    values: List[Any]


@dataclass
class GridPoint:
    """One point: ``values`` (axis name -> value) of the axes that apply,
    ``overrides`` (config key -> value), ``dropped`` (names of the axes that
    do not apply here, e.g. ``lam`` for mode ``'avg'``) and ``name`` (its
    directory name)."""
    values: 'OrderedDict[str, Any]'
    overrides: 'OrderedDict[str, Any]'
    dropped: List[str] = field(default_factory=list)
    name: str = ''


def parse_grid(specs: Sequence[str]) -> List[GridAxis]:
    """Parse ``['mode=avg,residual', 'lam=0.1,0.5', 'a.b=1']`` into axes.

    Raises:
        ValueError: on a spec without ``=``, a malformed key, an empty or
            repeated value, a key given twice (also as alias and dotted
            key), or ``randomness.seed`` (use the seeds argument).
    """
    axes: List[GridAxis] = []
    seen: Dict[str, str] = {}
    for spec in specs:
        if '=' not in spec:
            raise ValueError(f'grid axis {spec!r} must be key=v1,v2,...')
        name, text = spec.split('=', 1)
        name = name.strip()
        if not _KEY.match(name):
            raise ValueError(f'grid axis {spec!r}: {name!r} is not a config '
                             f'key (a.b.c) nor one of {list(GRID_ALIASES)}')
        key = GRID_ALIASES.get(name, name)
        if key == SEED_KEY:
            raise ValueError('give the seeds with --seeds, not as a grid axis')
        if key in seen:
            raise ValueError(f'grid axis {name!r} sets {key}, already set by '
                             f'{seen[key]!r}')
        seen[key] = name
        values = [parse_value(v) for v in split_values(text)]
        for i, value in enumerate(values):
            if any(repr(value) == repr(v) for v in values[:i]):
                raise ValueError(f'grid axis {name!r} repeats the value '
                                 f'{value!r}')
        axes.append(GridAxis(name, key, values))
    return axes


def _value_name(value: Any) -> str:
    if isinstance(value, float):
        text = repr(value)
    elif isinstance(value, (list, tuple)):
        text = '-'.join(_value_name(v) for v in value)
    else:
        text = str(value)
    return re.sub(r'[^A-Za-z0-9._+-]+', '-', text).strip('-') or 'x'


def expand_grid(axes: Sequence[GridAxis],
                base: Optional[Dict[str, Any]] = None,
                csra_head: bool = True) -> List[GridPoint]:
    """The grid's points, with λ collapsed for λ-free CSRA modes.

    Args:
        axes (Sequence[GridAxis]): from :func:`parse_grid`.
        base (dict, optional): config values by key, for the keys the
            collapse reads when the grid does not set them (``model.head.
            mode``).
        csra_head (bool): whether the head is a ``CSRAHead``; only then is
            λ collapsed. Defaults to True.

    Returns:
        list[GridPoint]: in product order, duplicates (after collapsing)
        removed.
    """
    base = base or {}
    points: List[GridPoint] = [GridPoint(OrderedDict(), OrderedDict())]
    for axis in axes:
        points = [
            GridPoint(
                OrderedDict(list(p.values.items()) + [(axis.name, v)]),
                OrderedDict(list(p.overrides.items()) + [(axis.key, v)]))
            for p in points for v in axis.values
        ]
    lam_axis = next((a for a in axes if a.key == LAM_KEY), None)
    out, names = [], {}
    for point in points:
        mode = point.overrides.get(MODE_KEY, base.get(MODE_KEY))
        if csra_head and lam_axis is not None and \
                mode in LAMBDA_FREE_MODES:
            del point.values[lam_axis.name]
            del point.overrides[LAM_KEY]
            point.dropped.append(lam_axis.name)
        point.name = '_'.join(
            f'{name}-{_value_name(v)}'
            for name, v in point.values.items()) or 'base'
        identity = repr(list(point.values.items()))
        if point.name in names:
            if names[point.name] == identity:
                continue  # collapsed duplicate
            raise ValueError(f'grid points {names[point.name]} and '
                             f'{identity} get the same directory name '
                             f'{point.name!r}')
        names[point.name] = identity
        out.append(point)
    return out


# -------------------------------------------------------------- commands
def cfg_option_text(value: Any) -> str:
    """``value`` as ``--cfg-options`` text that mmengine parses back to it.

    Raises:
        ValueError: if mmengine's ``DictAction`` would read the text as
            another value (e.g. the string ``'1'``, or a string with a
            comma or a space).
    """
    from mmengine.config import DictAction

    if isinstance(value, float):
        text = repr(value)
    elif isinstance(value, list):
        text = '[' + ','.join(cfg_option_text(v) for v in value) + ']'
    elif isinstance(value, tuple):
        inner = ','.join(cfg_option_text(v) for v in value)
        text = '(' + inner + (',' if len(value) == 1 else '') + ')'
    elif value is None or isinstance(value, (bool, int, str)):
        text = str(value)
    else:
        raise ValueError(f'cannot pass {value!r} through --cfg-options')
    if repr(DictAction._parse_iterable(text)) != repr(value):
        raise ValueError(
            f'{value!r} cannot be passed through --cfg-options: mmengine '
            f'would read {text!r} as '
            f'{DictAction._parse_iterable(text)!r}')
    return text


def _options(overrides: Dict[str, Any]) -> List[str]:
    return [f'{key}={cfg_option_text(v)}' for key, v in overrides.items()]


def train_command(config: str, run_dir: str, cfg_options: Sequence[str],
                  tools_dir: str, launcher: str = 'none', nproc: int = 1,
                  resume: bool = False,
                  python: Optional[str] = None) -> List[str]:
    """The argv that trains one run (``tools/train.py`` or
    ``tools/dist_train.sh``)."""
    if launcher == 'none':
        cmd = [python or sys.executable, osp.join(tools_dir, 'train.py'),
               config]
    elif launcher == 'pytorch':
        cmd = ['bash', osp.join(tools_dir, 'dist_train.sh'), config,
               str(nproc)]
    else:
        raise ValueError(f"launcher must be 'none' or 'pytorch', got "
                         f'{launcher!r}')
    cmd += ['--work-dir', run_dir]
    if resume:
        cmd.append('--resume')
    if cfg_options:
        cmd += ['--cfg-options'] + list(cfg_options)
    return cmd


def test_command(config: str, checkpoint: str, work_dir: str,
                 cfg_options: Sequence[str], tools_dir: str,
                 launcher: str = 'none', nproc: int = 1,
                 python: Optional[str] = None) -> List[str]:
    """The argv that evaluates a checkpoint (``tools/test.py`` or
    ``tools/dist_test.sh``)."""
    if launcher == 'none':
        cmd = [python or sys.executable, osp.join(tools_dir, 'test.py'),
               config, checkpoint]
    elif launcher == 'pytorch':
        cmd = ['bash', osp.join(tools_dir, 'dist_test.sh'), config,
               checkpoint, str(nproc)]
    else:
        raise ValueError(f"launcher must be 'none' or 'pytorch', got "
                         f'{launcher!r}')
    cmd += ['--work-dir', work_dir]
    if cfg_options:
        cmd += ['--cfg-options'] + list(cfg_options)
    return cmd


# --------------------------------------------------------------- metrics
def _timestamp_dirs(work_dir: str) -> List[str]:
    if not osp.isdir(work_dir):
        return []
    return [osp.join(work_dir, d) for d in sorted(os.listdir(work_dir))
            if _TIMESTAMP.match(d) and osp.isdir(osp.join(work_dir, d))]


def _json_lines(path: str) -> List[dict]:
    if not osp.isfile(path):
        return []
    records = []
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a killed process
            if isinstance(record, dict):
                records.append(record)
    return records


def _is_train_record(record: dict) -> bool:
    return any(k in ('lr', 'iter') or k.startswith('loss') for k in record)


def _metrics_of(record: dict) -> 'OrderedDict[str, Any]':
    return OrderedDict((k, v) for k, v in record.items()
                       if k not in BOOKKEEPING_KEYS)


def read_final_val_metrics(run_dir: str,
                           final_step: Optional[int] = None
                           ) -> Optional['OrderedDict[str, Any]']:
    """The final validation metrics of a finished training run, or None.

    Reads the newest ``<run_dir>/<timestamp>/vis_data/scalars.json`` that
    has records; its last record must be a validation record (no ``lr``,
    ``iter`` or ``loss*`` key) and, if ``final_step`` is given, at that
    step. None when no such record exists (then evaluate the checkpoint).
    """
    for stamp_dir in reversed(_timestamp_dirs(run_dir)):
        records = _json_lines(osp.join(stamp_dir, 'vis_data',
                                       'scalars.json'))
        if not records:
            continue  # e.g. resumed after the last epoch: nothing logged
        last = records[-1]
        if _is_train_record(last):
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


# ------------------------------------------------------------- aggregate
def aggregate(records: Sequence[dict]) -> List[dict]:
    """Mean and sample std (ddof = 1; None for one seed) per point.

    Args:
        records: dicts with ``point`` (name), ``values`` (axis name ->
            value) and ``metrics`` (key -> number), one per point × seed.

    Returns:
        list[dict]: per point, in first-seen order: ``point``, ``values``,
        ``n``, ``mean`` and ``std`` (metric key -> float / None).
    """
    groups: 'OrderedDict[str, List[dict]]' = OrderedDict()
    for rec in records:
        groups.setdefault(rec['point'], []).append(rec)
    out = []
    for name, recs in groups.items():
        keys = []
        for rec in recs:
            keys += [k for k in rec['metrics'] if k not in keys]
        mean, std = OrderedDict(), OrderedDict()
        for key in keys:
            vals = [float(r['metrics'][key]) for r in recs
                    if isinstance(r['metrics'].get(key), (int, float))]
            if not vals:
                continue
            mean[key] = statistics.fmean(vals)
            std[key] = statistics.stdev(vals) if len(vals) > 1 else None
        out.append(dict(point=name, values=recs[0]['values'], n=len(recs),
                        mean=mean, std=std))
    return out


def _short(key: str) -> str:
    return key.rsplit('/', 1)[-1]


def table_metric_keys(keys: Sequence[str],
                      wanted: Optional[Sequence[str]] = None) -> List[str]:
    """The metric keys of results.md.

    ``wanted`` (short names or full keys) picks them in its order; by
    default those of :data:`DEFAULT_TABLE_METRICS` present, else every key
    that is not per class (at most one ``/``).
    """
    if wanted:
        out = []
        for name in wanted:
            match = [k for k in keys if k == name or _short(k) == name]
            if not match:
                raise KeyError(f'metric {name!r} not among {list(keys)}')
            out += [k for k in match if k not in out]
        return out
    defaults = [k for name in DEFAULT_TABLE_METRICS for k in keys
                if _short(k) == name and k.count('/') <= 1]
    return defaults or [k for k in keys if k.count('/') <= 1]


def _cell(value: Any) -> str:
    return '' if value is None else (
        repr(value) if isinstance(value, float) else str(value))


def format_markdown(agg: Sequence[dict], axis_names: Sequence[str],
                    metric_keys: Sequence[str], digits: int = 2,
                    best_key: Optional[str] = None) -> str:
    """Markdown table: the axes, n, and ``mean ± std`` of each metric (just
    the mean for n = 1); ``—`` for an axis that does not apply; the best
    mean of ``best_key`` in bold."""
    best = None
    if best_key is not None:
        means = [a['mean'][best_key] for a in agg if best_key in a['mean']]
        best = max(means) if means else None
    header = list(axis_names) + ['n'] + [_short(k) for k in metric_keys]
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    for a in agg:
        cells = [_cell(a['values'][n]) if n in a['values'] else '—'
                 for n in axis_names]
        cells.append(str(a['n']))
        for key in metric_keys:
            if key not in a['mean']:
                cells.append('')
                continue
            text = f'{a["mean"][key]:.{digits}f}'
            if a['std'][key] is not None:
                text += f' ± {a["std"][key]:.{digits}f}'
            if key == best_key and a['mean'][key] == best:
                text = f'**{text}**'
            cells.append(text)
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def write_csv(path: str, records: Sequence[dict], axis_names: Sequence[str],
              metric_keys: Sequence[str]) -> None:
    """``point``, the axes (empty where an axis does not apply), ``seed``
    and every metric (full precision), one row per record."""
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['point'] + list(axis_names) + ['seed'] +
                        list(metric_keys))
        for rec in records:
            writer.writerow(
                [rec['point']] +
                [_cell(rec['values'].get(n)) for n in axis_names] +
                [rec['seed']] +
                [_cell(rec['metrics'].get(k)) for k in metric_keys])


def plot_metric_vs_lam(agg: Sequence[dict], axes: Sequence[GridAxis],
                       base: Dict[str, Any], metric: str, out_file: str):
    """``metric`` vs λ, mean ± std over seeds.

    One panel per mode (the grid's, else the config's), one line per value
    of the other axes (``H=4`` for heads); points of a λ-free mode are drawn
    as a dashed horizontal line across the λ range. Writes a PNG.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    del matplotlib  # the Agg canvas is used directly: no pyplot, no GUI

    mode_axis = next((a for a in axes if a.key == MODE_KEY), None)
    lam_axis = next((a for a in axes if a.key == LAM_KEY), None)
    modes = list(mode_axis.values) if mode_axis else [base.get(MODE_KEY)]
    lams = list(lam_axis.values) if lam_axis else [base.get(LAM_KEY)]
    lams = [x for x in lams if isinstance(x, (int, float))] or [0.0]
    x_lo, x_hi = min(lams), max(lams)
    if x_lo == x_hi:
        x_lo, x_hi = x_lo - 0.05, x_hi + 0.05
    other = [a for a in axes if a is not mode_axis and a is not lam_axis]

    fig = Figure(figsize=(4.2 * len(modes), 3.6), dpi=100)
    FigureCanvasAgg(fig)
    panels = fig.subplots(1, len(modes), sharey=True, squeeze=False)[0]
    for panel, mode in zip(panels, modes):
        lines: 'OrderedDict[str, List[dict]]' = OrderedDict()
        for a in agg:
            if mode_axis and a['values'].get(mode_axis.name) != mode:
                continue
            parts = [(f'H={a["values"][o.name]}' if o.key == HEADS_KEY
                      else f'{o.name}={a["values"][o.name]}')
                     for o in other if o.name in a['values']]
            if not any(o.key == HEADS_KEY for o in other) and \
                    base.get(HEADS_KEY) is not None:
                parts.insert(0, f'H={base[HEADS_KEY]}')  # the config's
            label = ', '.join(parts) or 'mean ± std'
            lines.setdefault(label, []).append(a)
        for label, entries in lines.items():
            entries = [e for e in entries if metric in e['mean']]
            if not entries:
                continue
            lam_free = lam_axis is not None and all(
                lam_axis.name not in e['values'] for e in entries)
            if lam_free:
                e = entries[0]
                mean, std = e['mean'][metric], e['std'][metric] or 0.0
                drawn = panel.plot([x_lo, x_hi], [mean, mean], '--',
                                   label=f'{label} (λ-free)')
                panel.fill_between([x_lo, x_hi], mean - std, mean + std,
                                   color=drawn[0].get_color(), alpha=0.15)
                continue
            xs = [e['values'].get(lam_axis.name) if lam_axis else
                  base.get(LAM_KEY) for e in entries]
            order = sorted(range(len(xs)), key=lambda i: xs[i])
            panel.errorbar([xs[i] for i in order],
                           [entries[i]['mean'][metric] for i in order],
                           yerr=[entries[i]['std'][metric] or 0.0
                                 for i in order],
                           marker='o', capsize=3, label=label)
        panel.set_title(f'mode={mode}')
        panel.set_xlabel('λ')
        panel.grid(alpha=0.3)
        if panel.has_data():
            panel.legend(fontsize=7)
    panels[0].set_ylabel(metric)
    fig.tight_layout()
    fig.savefig(out_file, format='png')
    return fig


# ----------------------------------------------------------------- runs
def _get_key(cfg, key: str, missing=_MISSING):
    node = cfg.to_dict() if hasattr(cfg, 'to_dict') else cfg  # Config
    for part in key.split('.'):
        if isinstance(node, (list, tuple)) and part.isdigit() and \
                int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return missing
    return node


def _head_class(cfg):
    from mmpretrain.registry import MODELS
    head = _get_key(cfg, 'model.head', None)
    kind = head.get('type') if isinstance(head, dict) else None
    return MODELS.get(kind) if isinstance(kind, str) else kind


def _base_values(cfg, keys: Sequence[str]) -> Dict[str, Any]:
    """Config values of ``keys``; for ``model.head.X`` not in the config,
    the head class's default of argument X."""
    head_cls = _head_class(cfg)
    out = {}
    for key in keys:
        value = _get_key(cfg, key)
        if value is _MISSING and key.startswith('model.head.') and \
                head_cls is not None:
            param = inspect.signature(head_cls.__init__).parameters.get(
                key.rsplit('.', 1)[-1])
            if param is not None and param.default is not param.empty:
                value = param.default
        out[key] = None if value is _MISSING else value
    return out


def _is_csra(head_cls) -> bool:
    from mmcsra.models.heads import CSRAHead
    return isinstance(head_cls, type) and issubclass(head_cls, CSRAHead)


def _check_axes(cfg, axes: Sequence[GridAxis], head_cls) -> None:
    for axis in axes:
        parent = axis.key.rsplit('.', 1)[0] if '.' in axis.key else None
        if parent and _get_key(cfg, parent) is _MISSING:
            raise ValueError(f'grid axis {axis.name!r}: the config has no '
                             f'{parent!r} to set {axis.key!r} in')
        if axis.name in GRID_ALIASES and not _is_csra(head_cls):
            raise ValueError(
                f'grid axis {axis.name!r} sets {axis.key}, an argument of '
                'CSRAHead, but the config\'s head is '
                f'{getattr(head_cls, "__name__", head_cls)}; give the dotted '
                'key to set it anyway')
        if axis.key == MODE_KEY and _is_csra(head_cls):
            from mmcsra.models.heads.multi_head_csra import MultiHeadCSRA
            bad = [v for v in axis.values if v not in MultiHeadCSRA.MODES]
            if bad:
                raise ValueError(f'grid axis {axis.name!r}: unknown CSRA '
                                 f'mode(s) {bad}; choose from '
                                 f'{MultiHeadCSRA.MODES}')


def _normalise(obj):
    return json.loads(json.dumps(obj))


def _write_json(path: str, obj) -> None:
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)  # atomic: a reader never sees half a file


class RunFailed(RuntimeError):
    """A training or test subprocess of the ablation exited non-zero."""


def _call(cmd: List[str], log_path: str, env: dict) -> float:
    start = time.time()
    with open(log_path, 'a') as log:
        log.write(f'\n===== {time.strftime("%Y-%m-%d %H:%M:%S")} $ '
                  f'{" ".join(cmd)}\n')
        log.flush()
        code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT,
                               env=env)
    if code != 0:
        with open(log_path) as log:
            tail = ''.join(log.readlines()[-30:])
        raise RunFailed(f'{" ".join(cmd)} exited {code}; full output in '
                        f'{log_path}; its end:\n{tail}')
    return time.time() - start


def run_ablation(config: str,
                 grid: Sequence[str],
                 seeds: Sequence[int] = (0, ),
                 work_dir: Optional[str] = None,
                 launcher: str = 'none',
                 nproc: int = 1,
                 cfg_options: Sequence[str] = (),
                 jobs: int = 1,
                 metric: Optional[str] = None,
                 table_metrics: Optional[Sequence[str]] = None,
                 keep_checkpoints: bool = True,
                 tools_dir: Optional[str] = None,
                 log=print) -> dict:
    """Train and evaluate every grid point × seed; write the summaries.

    Args:
        config (str): the config file.
        grid (Sequence[str]): axes, ``'key=v1,v2'`` (see the module doc).
        seeds (Sequence[int]): ``randomness.seed`` of the runs. Default (0,).
        work_dir (str, optional): defaults to
            ``work_dirs/ablate_<config name>``.
        launcher (str): ``'none'`` (``tools/train.py``) or ``'pytorch'``
            (``tools/dist_train.sh`` with ``nproc`` processes).
        nproc (int): processes per run with ``launcher='pytorch'``.
        cfg_options (Sequence[str]): ``key=value`` options of every run;
            they may not set a grid key nor the seed.
        jobs (int): runs trained at the same time (``launcher='none'``
            only). Without ``OMP_NUM_THREADS`` set, each run gets
            ``cpu_count // jobs`` threads. Default 1.
        metric (str, optional): metric of the plot and of the bold best
            mean (a key or short name). Defaults to the ``mAP`` key, else
            the first metric.
        table_metrics (Sequence[str], optional): metrics of results.md
            (see :func:`table_metric_keys`).
        keep_checkpoints (bool): False deletes a run's ``*.pth`` and
            ``last_checkpoint`` once its ``done.json`` is written (a demo
            run keeps ~225 MB of checkpoints). Default True.
        tools_dir (str, optional): where ``train.py``/``test.py`` are.
            Defaults to the repository's ``tools/``.
        log (callable): progress printer. Default ``print``.

    Returns:
        dict: ``points``, ``records`` (one per point × seed: ``point``,
        ``values``, ``seed``, ``metrics``, ``trained`` = run this call),
        ``csv``, ``md``, ``png``.
    """
    from mmengine.config import Config, DictAction

    if launcher not in ('none', 'pytorch'):
        raise ValueError(f"launcher must be 'none' or 'pytorch', got "
                         f'{launcher!r}')
    if int(nproc) < 1 or int(jobs) < 1:
        raise ValueError(f'nproc and jobs must be >= 1, got {nproc}, {jobs}')
    if jobs > 1 and launcher != 'none':
        raise ValueError('jobs > 1 needs launcher=none (one process per run)')
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f'seeds must be distinct integers, got {seeds}')
    if not osp.isfile(config):
        raise FileNotFoundError(f'config {config!r} does not exist')
    config = osp.abspath(config)
    tools_dir = tools_dir or osp.join(
        osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
        'tools')
    if not osp.isfile(osp.join(tools_dir, 'train.py')):
        raise FileNotFoundError(f'no train.py in tools_dir={tools_dir!r}')
    work_dir = osp.abspath(work_dir or osp.join(
        'work_dirs', 'ablate_' + osp.splitext(osp.basename(config))[0]))

    axes = parse_grid(grid)
    user_options = list(cfg_options or [])
    for option in user_options:
        if '=' not in option:
            raise ValueError(f'--cfg-options entry {option!r} is not '
                             'key=value')
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction, default={})
    user_dict = parser.parse_args(['--o'] + user_options).o \
        if user_options else {}
    for key in user_dict:
        if key == SEED_KEY or any(a.key == key for a in axes):
            raise ValueError(f'--cfg-options sets {key}, which the grid / '
                             'seeds set per run')

    cfg = Config.fromfile(config, import_custom_modules=False)
    if user_dict:
        cfg.merge_from_dict(user_dict)
    head_cls = _head_class(cfg)
    _check_axes(cfg, axes, head_cls)
    is_csra = _is_csra(head_cls)
    base = _base_values(cfg, [MODE_KEY, LAM_KEY, HEADS_KEY])
    points = expand_grid(axes, base, csra_head=is_csra)

    env = dict(os.environ)
    env['PYTHON'] = sys.executable  # for dist_train.sh / dist_test.sh
    if jobs > 1 and 'OMP_NUM_THREADS' not in env:
        env['OMP_NUM_THREADS'] = str(max(1, (os.cpu_count() or 1) // jobs))

    jobs_list = [(p, s) for p in points for s in seeds]
    total = len(jobs_list)
    lock = threading.Lock()

    def say(msg):
        with lock:
            log(msg)

    def run(index: int, point: GridPoint, seed: int) -> dict:
        tag = (f'[{index + 1}/{total}] {point.name} seed={seed}')
        run_dir = osp.join(work_dir, point.name, f'seed-{seed}')
        identity = _normalise(dict(
            config=config, point=list(point.values.items()),
            overrides=list(point.overrides.items()), seed=seed,
            cfg_options=user_options, launcher=launcher,
            nproc=int(nproc) if launcher == 'pytorch' else 1))
        record = dict(point=point.name, values=point.values, seed=seed)
        done_path = osp.join(run_dir, DONE_FILE)
        run_path = osp.join(run_dir, RUN_FILE)
        for path in (done_path, run_path):
            if osp.isfile(path):
                with open(path) as f:
                    stored = json.load(f)
                mine = {k: stored.get(k) for k in identity}
                if mine != identity:
                    raise ValueError(
                        f'{run_dir} was made with other settings ({path}: '
                        f'{mine} vs now {identity}); use another work dir')
        if osp.isfile(done_path):
            with open(done_path) as f:
                done = json.load(f)
            say(f'{tag}: done before, skipped')
            return dict(record, metrics=done['metrics'], trained=False)

        os.makedirs(run_dir, exist_ok=True)
        _write_json(run_path, identity)
        resume = osp.isfile(osp.join(run_dir, 'last_checkpoint'))
        options = user_options + _options(point.overrides) + [
            f'{SEED_KEY}={seed}'
        ]
        log_path = osp.join(run_dir, LOG_FILE)
        say(f'{tag}: training' + (' (resuming)' if resume else '') +
            f', log {log_path}')
        seconds = _call(
            train_command(config, run_dir, options, tools_dir, launcher,
                          nproc, resume), log_path, env)
        point_cfg = copy.deepcopy(cfg)
        if point.overrides:
            point_cfg.merge_from_dict(dict(point.overrides))
        metrics = read_final_val_metrics(run_dir, final_val_step(point_cfg))
        source = 'final validation log'
        if metrics is None:
            ckpt_file = osp.join(run_dir, 'last_checkpoint')
            if not osp.isfile(ckpt_file):
                raise RunFailed(f'{run_dir}: no final validation record and '
                                'no last_checkpoint to evaluate')
            with open(ckpt_file) as f:
                checkpoint = f.read().strip()
            test_dir = osp.join(run_dir, 'final_test')
            say(f'{tag}: no final validation log, evaluating {checkpoint}')
            seconds += _call(
                test_command(config, checkpoint, test_dir, options,
                             tools_dir, launcher, nproc), log_path, env)
            metrics = read_test_metrics(test_dir)
            source = 'tools/test.py on ' + checkpoint
        _write_json(done_path, dict(
            identity, metrics=metrics, metrics_source=source,
            seconds=round(seconds, 1), resumed=resume,
            finished=time.strftime('%Y-%m-%d %H:%M:%S')))
        if not keep_checkpoints:
            for name in os.listdir(run_dir):
                if name.endswith('.pth') or name == 'last_checkpoint':
                    os.remove(osp.join(run_dir, name))
        say(f'{tag}: finished in {seconds:.1f} s')
        return dict(record, metrics=metrics, trained=True)

    results: List[Optional[dict]] = [None] * total
    if jobs == 1:
        for i, (point, seed) in enumerate(jobs_list):
            results[i] = run(i, point, seed)
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run, i, p, s)
                       for i, (p, s) in enumerate(jobs_list)]
            try:
                for i, future in enumerate(futures):
                    results[i] = future.result()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    return _summarise(results, axes, base, work_dir, metric, table_metrics,
                      points)


def _summarise(records, axes, base, work_dir, metric, table_metrics,
               points) -> dict:
    metric_keys: List[str] = []
    for rec in records:
        metric_keys += [k for k in rec['metrics'] if k not in metric_keys]
    if not metric_keys:
        raise ValueError('the runs reported no metric')
    if metric is None:
        metric = next((k for k in metric_keys if _short(k) == 'mAP'),
                      metric_keys[0])
    else:
        match = [k for k in metric_keys if k == metric or _short(k) == metric]
        if not match:
            raise KeyError(f'metric {metric!r} not among {metric_keys}')
        metric = match[0]
    axis_names = [a.name for a in axes]
    os.makedirs(work_dir, exist_ok=True)
    csv_path = osp.join(work_dir, 'results.csv')
    write_csv(csv_path, records, axis_names, metric_keys)
    agg = aggregate(records)
    md_path = osp.join(work_dir, 'results.md')
    keys = table_metric_keys(metric_keys, table_metrics)
    if metric not in keys:
        keys = [metric] + keys
    with open(md_path, 'w') as f:
        f.write(format_markdown(agg, axis_names, keys, best_key=metric))
    png_path = osp.join(work_dir,
                        re.sub(r'[^A-Za-z0-9_.+-]+', '-', _short(metric)) +
                        '_vs_lam.png')
    plot_metric_vs_lam(agg, axes, base, metric, png_path)
    return dict(points=points, records=records, aggregate=agg,
                metric=metric, csv=csv_path, md=md_path, png=png_path)
