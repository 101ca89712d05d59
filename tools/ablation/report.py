"""Reporting a grid: the CSV of every run, the mean ± std table, the plot.

Written into the grid's work dir by :func:`write_reports`:

* ``results.csv``: one row per point × seed, every metric at full
  precision (an axis that does not apply to a point is an empty cell);
* ``results.md``: mean ± sample standard deviation (ddof = 1) over the
  seeds of each point (``—`` for an axis that does not apply), the best
  mean of the plot metric in bold;
* ``<metric>_vs_lam.png`` (e.g. ``mAP_vs_lam.png``): the metric vs λ with
  ± std error bars, one line per H / other axes, one panel per mode; points
  of a λ-free mode are horizontal lines.
"""
import csv
import os
import os.path as osp
import re
import statistics
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

from .grid import HEADS_KEY, LAM_KEY, MODE_KEY, GridAxis, GridPoint

__all__ = [
    'DEFAULT_TABLE_METRICS', 'aggregate', 'table_metric_keys',
    'format_markdown', 'write_csv', 'plot_metric_vs_lam', 'write_reports'
]

#: Short names of the metrics in results.md when present (else all
#: non-per-class metrics).
DEFAULT_TABLE_METRICS = ('mAP', 'CP', 'CR', 'CF1', 'OP', 'OR', 'OF1')


# ---------------------------------------------------------------- tables
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
            vals = [
                float(r['metrics'][key]) for r in recs
                if isinstance(r['metrics'].get(key), (int, float))
            ]
            if not vals:
                continue
            mean[key] = statistics.fmean(vals)
            std[key] = statistics.stdev(vals) if len(vals) > 1 else None
        out.append(
            dict(
                point=name,
                values=recs[0]['values'],
                n=len(recs),
                mean=mean,
                std=std))
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
    defaults = [
        k for name in DEFAULT_TABLE_METRICS for k in keys
        if _short(k) == name and k.count('/') <= 1
    ]
    return defaults or [k for k in keys if k.count('/') <= 1]


def _cell(value: Any) -> str:
    return '' if value is None else (
        repr(value) if isinstance(value, float) else str(value))


def format_markdown(agg: Sequence[dict],
                    axis_names: Sequence[str],
                    metric_keys: Sequence[str],
                    digits: int = 2,
                    best_key: Optional[str] = None) -> str:
    """Markdown table: the axes, n, and ``mean ± std`` of each metric (just
    the mean for n = 1); ``—`` for an axis that does not apply; the best
    mean of ``best_key`` in bold."""
    best = None
    if best_key is not None:
        means = [a['mean'][best_key] for a in agg if best_key in a['mean']]
        best = max(means) if means else None
    header = list(axis_names) + ['n'] + [_short(k) for k in metric_keys]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for a in agg:
        cells = [
            _cell(a['values'][n]) if n in a['values'] else '—'
            for n in axis_names
        ]
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
                [_cell(rec['values'].get(n))
                 for n in axis_names] + [rec['seed']] +
                [_cell(rec['metrics'].get(k)) for k in metric_keys])


# ------------------------------------------------------------------ plot
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
            parts = [(f'H={a["values"][o.name]}' if o.key == HEADS_KEY else
                      f'{o.name}={a["values"][o.name]}') for o in other
                     if o.name in a['values']]
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
                drawn = panel.plot([x_lo, x_hi], [mean, mean],
                                   '--',
                                   label=f'{label} (λ-free)')
                panel.fill_between([x_lo, x_hi],
                                   mean - std,
                                   mean + std,
                                   color=drawn[0].get_color(),
                                   alpha=0.15)
                continue
            xs = [
                e['values'].get(lam_axis.name)
                if lam_axis else base.get(LAM_KEY) for e in entries
            ]
            order = sorted(range(len(xs)), key=lambda i: xs[i])
            panel.errorbar(
                [xs[i] for i in order],
                [entries[i]['mean'][metric] for i in order],
                yerr=[entries[i]['std'][metric] or 0.0 for i in order],
                marker='o',
                capsize=3,
                label=label)
        panel.set_title(f'mode={mode}')
        panel.set_xlabel('λ')
        panel.grid(alpha=0.3)
        if panel.has_data():
            panel.legend(fontsize=7)
    panels[0].set_ylabel(metric)
    fig.tight_layout()
    fig.savefig(out_file, format='png')
    return fig


# --------------------------------------------------------------- writing
def _plot_metric_key(metric_keys: Sequence[str], metric: Optional[str]) -> str:
    """The key of ``metric`` (a key or short name); by default the ``mAP``
    key, else the first metric."""
    if metric is None:
        return next((k for k in metric_keys if _short(k) == 'mAP'),
                    metric_keys[0])
    match = [k for k in metric_keys if k == metric or _short(k) == metric]
    if not match:
        raise KeyError(f'metric {metric!r} not among {metric_keys}')
    return match[0]


def write_reports(records: Sequence[dict],
                  axes: Sequence[GridAxis],
                  base: Dict[str, Any],
                  work_dir: str,
                  metric: Optional[str] = None,
                  table_metrics: Optional[Sequence[str]] = None,
                  points: Optional[Sequence[GridPoint]] = None) -> dict:
    """Write ``results.csv``, ``results.md`` and the plot into
    ``work_dir``.

    Args:
        records (Sequence[dict]): one per point × seed (``point``,
            ``values``, ``seed``, ``metrics``).
        axes (Sequence[GridAxis]): the grid's axes.
        base (dict): the config's values of the CSRA keys (for the plot).
        work_dir (str): where to write.
        metric (str, optional): metric of the plot and of the bold best
            mean (a key or short name). Defaults to the ``mAP`` key, else
            the first metric.
        table_metrics (Sequence[str], optional): metrics of results.md
            (see :func:`table_metric_keys`).
        points (Sequence[GridPoint], optional): passed through to the
            result.

    Returns:
        dict: ``points``, ``records``, ``aggregate``, ``metric`` (the plot
        metric's key), ``csv``, ``md``, ``png`` (the paths written).
    """
    metric_keys: List[str] = []
    for rec in records:
        metric_keys += [k for k in rec['metrics'] if k not in metric_keys]
    if not metric_keys:
        raise ValueError('the runs reported no metric')
    metric = _plot_metric_key(metric_keys, metric)
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

    png_path = osp.join(
        work_dir,
        re.sub(r'[^A-Za-z0-9_.+-]+', '-', _short(metric)) + '_vs_lam.png')
    plot_metric_vs_lam(agg, axes, base, metric, png_path)
    return dict(
        points=points,
        records=records,
        aggregate=agg,
        metric=metric,
        csv=csv_path,
        md=md_path,
        png=png_path)
