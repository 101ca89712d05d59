"""Ablation grids: expand, train every point × seed (resumably), report.

The engine of ``tools/ablate.py``, for the experiments of the CSRA paper
(Zhu & Wu, ICCV 2021, Sec. 4.4: the control experiment of the three pooling
modes, the number of heads H and the weight λ) or any other config key. It
lives beside the tool scripts because it drives them (``train.py``,
``test.py``, ``dist_*.sh``) as subprocesses; it is not part of the
``mmcsra`` package. One module per job, in the order of a grid's life:

* :mod:`.grid`: axes from the command line, the points (λ collapsed for
  λ-free CSRA modes) and the ``--cfg-options`` of each point;
* :mod:`.runner`: :func:`run_ablation`, one training subprocess per
  point × seed, resumable (``run.json`` / ``done.json`` per run);
* :mod:`.collect`: a finished run's final metrics, from mmengine's
  ``scalars.json`` or from ``tools/test.py``'s output;
* :mod:`.report`: ``results.csv``, ``results.md`` (mean ± std over seeds)
  and ``<metric>_vs_lam.png``.

Python puts a script's directory first on ``sys.path``, so
``python tools/ablate.py`` finds this package as ``ablation``; tests load it
with ``importlib`` from its path.
"""
from .collect import (final_val_step, read_final_val_metrics,
                      read_test_metrics)
from .grid import (GRID_ALIASES, LAMBDA_FREE_MODES, GridAxis, GridPoint,
                   cfg_option_text, expand_grid, parse_grid, parse_value,
                   split_values)
from .report import (aggregate, format_markdown, plot_metric_vs_lam,
                     table_metric_keys, write_csv, write_reports)
from .runner import (DONE_FILE, LOG_FILE, RUN_FILE, RunFailed, run_ablation,
                     test_command, train_command)

__all__ = [
    'GRID_ALIASES', 'LAMBDA_FREE_MODES', 'GridAxis', 'GridPoint',
    'parse_value', 'split_values', 'parse_grid', 'expand_grid',
    'cfg_option_text', 'train_command', 'test_command',
    'read_final_val_metrics', 'read_test_metrics', 'final_val_step',
    'aggregate', 'table_metric_keys', 'format_markdown', 'write_csv',
    'plot_metric_vs_lam', 'write_reports', 'run_ablation', 'RunFailed',
    'DONE_FILE', 'RUN_FILE', 'LOG_FILE'
]
