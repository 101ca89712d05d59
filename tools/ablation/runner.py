"""Running a grid: every point × seed trains in its own subprocess,
resumably; then the reports are written.

**Runs.** Each point × seed trains with ``python tools/train.py CONFIG``
(``bash tools/dist_train.sh CONFIG N`` with ``launcher='pytorch'``), with
``--work-dir WORK_DIR/<point>/seed-<seed>`` and ``--cfg-options <user
options> <point's keys> randomness.seed=<seed>``; its output goes to
``<run>/ablate.log``. Its final metrics are read as :mod:`.collect`
describes; without a final validation record the last checkpoint is
evaluated with ``tools/test.py`` into ``<run>/final_test``.

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
"""
import argparse
import copy
import json
import os
import os.path as osp
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

from .collect import final_val_step, read_final_val_metrics, read_test_metrics
from .grid import (HEADS_KEY, LAM_KEY, MODE_KEY, SEED_KEY, GridPoint,
                   base_values, check_axes, expand_grid, head_class,
                   is_csra_head, parse_grid, point_options)
from .report import write_reports

__all__ = [
    'DONE_FILE', 'RUN_FILE', 'LOG_FILE', 'RunFailed', 'train_command',
    'test_command', 'run_ablation'
]

DONE_FILE = 'done.json'
RUN_FILE = 'run.json'
LOG_FILE = 'ablate.log'
#: ``tools/``: where ``train.py``, ``test.py`` and this package are.
TOOLS_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))


class RunFailed(RuntimeError):
    """A training or test subprocess of the ablation exited non-zero."""


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
    """Train and evaluate every grid point × seed; write the reports.

    Everything is checked (settings, grid, config) before the first run.

    Args:
        config (str): the config file.
        grid (Sequence[str]): axes, ``'key=v1,v2'`` (see :mod:`.grid`).
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
            (see :func:`.report.table_metric_keys`).
        keep_checkpoints (bool): False deletes a run's ``*.pth`` and
            ``last_checkpoint`` once its ``done.json`` is written (a demo
            run keeps ~225 MB of checkpoints). Default True.
        tools_dir (str, optional): where ``train.py``/``test.py`` are.
            Defaults to the ``tools/`` this package is in.
        log (callable): progress printer. Default ``print``.

    Returns:
        dict: ``points``, ``records`` (one per point × seed: ``point``,
        ``values``, ``seed``, ``metrics``, ``trained`` = run this call),
        ``aggregate``, ``metric``, ``csv``, ``md``, ``png``.
    """
    from mmengine.config import Config

    seeds = _check_settings(launcher, nproc, jobs, seeds)
    if not osp.isfile(config):
        raise FileNotFoundError(f'config {config!r} does not exist')
    config = osp.abspath(config)
    tools_dir = tools_dir or TOOLS_DIR
    if not osp.isfile(osp.join(tools_dir, 'train.py')):
        raise FileNotFoundError(f'no train.py in tools_dir={tools_dir!r}')
    work_dir = osp.abspath(
        work_dir or osp.join(
            'work_dirs', 'ablate_' + osp.splitext(osp.basename(config))[0]))

    axes = parse_grid(grid)
    user_options = list(cfg_options or [])
    user_dict = _parse_cfg_options(user_options)
    for key in user_dict:
        if key == SEED_KEY or any(a.key == key for a in axes):
            raise ValueError(f'--cfg-options sets {key}, which the grid / '
                             'seeds set per run')
    cfg = Config.fromfile(config, import_custom_modules=False)
    if user_dict:
        cfg.merge_from_dict(user_dict)
    check_axes(cfg, axes)
    base = base_values(cfg, [MODE_KEY, LAM_KEY, HEADS_KEY])
    points = expand_grid(axes, base, csra_head=is_csra_head(head_class(cfg)))

    lock = threading.Lock()

    def say(msg):
        with lock:
            log(msg)

    grid_run = _GridRun(
        config=config,
        cfg=cfg,
        user_options=user_options,
        work_dir=work_dir,
        tools_dir=tools_dir,
        launcher=launcher,
        nproc=int(nproc),
        keep_checkpoints=keep_checkpoints,
        env=_run_env(jobs),
        say=say)
    todo = [(p, s) for p in points for s in seeds]
    records = _run_all(grid_run, todo, jobs)
    return write_reports(records, axes, base, work_dir, metric, table_metrics,
                         points)


# -------------------------------------------------------------- settings
def _check_settings(launcher: str, nproc: int, jobs: int,
                    seeds: Sequence[int]) -> List[int]:
    """Refuse bad launcher / process / seed settings; the seeds as ints."""
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
    return seeds


def _parse_cfg_options(options: Sequence[str]) -> dict:
    """``key=value`` options as mmengine's ``--cfg-options`` reads them."""
    from mmengine.config import DictAction

    for option in options:
        if '=' not in option:
            raise ValueError(f'--cfg-options entry {option!r} is not '
                             'key=value')
    if not options:
        return {}
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction, default={})
    return parser.parse_args(['--o'] + list(options)).o


def _run_env(jobs: int) -> dict:
    """The environment of the subprocesses."""
    env = dict(os.environ)
    env['PYTHON'] = sys.executable  # for dist_train.sh / dist_test.sh
    if jobs > 1 and 'OMP_NUM_THREADS' not in env:
        env['OMP_NUM_THREADS'] = str(max(1, (os.cpu_count() or 1) // jobs))
    return env


@dataclass
class _GridRun:
    """What every run of one grid shares."""
    config: str
    cfg: object  # the config with the user's cfg-options merged
    user_options: List[str]
    work_dir: str
    tools_dir: str
    launcher: str
    nproc: int
    keep_checkpoints: bool
    env: Dict[str, str]
    say: Callable[[str], None]


# ------------------------------------------------------------ scheduling
def _run_all(grid_run: _GridRun, todo: Sequence[tuple],
             jobs: int) -> List[dict]:
    """Run every ``(point, seed)`` of ``todo``, ``jobs`` at a time; the
    records in ``todo``'s order. The first failure cancels the runs not
    started yet and is raised."""
    total = len(todo)

    def run(index: int) -> dict:
        point, seed = todo[index]
        tag = f'[{index + 1}/{total}] {point.name} seed={seed}'
        return _run_one(grid_run, point, seed, tag)

    if jobs == 1:
        return [run(i) for i in range(total)]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run, i) for i in range(total)]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


# --------------------------------------------------------------- one run
def _run_one(grid_run: _GridRun, point: GridPoint, seed: int,
             tag: str) -> dict:
    """Train (or resume, or skip) one point × seed; its record."""
    say = grid_run.say
    run_dir = osp.join(grid_run.work_dir, point.name, f'seed-{seed}')
    identity = _identity(grid_run, point, seed)
    record = dict(point=point.name, values=point.values, seed=seed)
    done_path = osp.join(run_dir, DONE_FILE)
    run_path = osp.join(run_dir, RUN_FILE)
    _check_run_dir(run_dir, identity, (done_path, run_path))
    if osp.isfile(done_path):
        with open(done_path) as f:
            done = json.load(f)
        say(f'{tag}: done before, skipped')
        return dict(record, metrics=done['metrics'], trained=False)

    os.makedirs(run_dir, exist_ok=True)
    _write_json(run_path, identity)
    resume = osp.isfile(osp.join(run_dir, 'last_checkpoint'))
    options = grid_run.user_options + point_options(point, seed)
    log_path = osp.join(run_dir, LOG_FILE)
    say(f'{tag}: training' + (' (resuming)' if resume else '') +
        f', log {log_path}')
    seconds = _call(
        train_command(grid_run.config, run_dir, options, grid_run.tools_dir,
                      grid_run.launcher, grid_run.nproc, resume), log_path,
        grid_run.env)

    point_cfg = copy.deepcopy(grid_run.cfg)
    if point.overrides:
        point_cfg.merge_from_dict(dict(point.overrides))
    metrics = read_final_val_metrics(run_dir, final_val_step(point_cfg))
    source = 'final validation log'
    if metrics is None:
        checkpoint = _last_checkpoint(run_dir)
        test_dir = osp.join(run_dir, 'final_test')
        say(f'{tag}: no final validation log, evaluating {checkpoint}')
        seconds += _call(
            test_command(grid_run.config, checkpoint, test_dir, options,
                         grid_run.tools_dir, grid_run.launcher,
                         grid_run.nproc), log_path, grid_run.env)
        metrics = read_test_metrics(test_dir)
        source = 'tools/test.py on ' + checkpoint

    _write_json(
        done_path,
        dict(
            identity,
            metrics=metrics,
            metrics_source=source,
            seconds=round(seconds, 1),
            resumed=resume,
            finished=time.strftime('%Y-%m-%d %H:%M:%S')))
    if not grid_run.keep_checkpoints:
        for name in os.listdir(run_dir):
            if name.endswith('.pth') or name == 'last_checkpoint':
                os.remove(osp.join(run_dir, name))
    say(f'{tag}: finished in {seconds:.1f} s')
    return dict(record, metrics=metrics, trained=True)


def _identity(grid_run: _GridRun, point: GridPoint, seed: int) -> dict:
    """The settings that make a run (stored in run.json / done.json)."""
    return json.loads(
        json.dumps(
            dict(
                config=grid_run.config,
                point=list(point.values.items()),
                overrides=list(point.overrides.items()),
                seed=seed,
                cfg_options=grid_run.user_options,
                launcher=grid_run.launcher,
                nproc=grid_run.nproc
                if grid_run.launcher == 'pytorch' else 1)))


def _check_run_dir(run_dir: str, identity: dict, paths: Sequence[str]) -> None:
    """Refuse a run directory whose stored settings are not ``identity``."""
    for path in paths:
        if not osp.isfile(path):
            continue
        with open(path) as f:
            stored = json.load(f)
        mine = {k: stored.get(k) for k in identity}
        if mine != identity:
            raise ValueError(
                f'{run_dir} was made with other settings ({path}: '
                f'{mine} vs now {identity}); use another work dir')


def _last_checkpoint(run_dir: str) -> str:
    """The checkpoint mmengine's ``last_checkpoint`` names."""
    ckpt_file = osp.join(run_dir, 'last_checkpoint')
    if not osp.isfile(ckpt_file):
        raise RunFailed(f'{run_dir}: no final validation record and '
                        'no last_checkpoint to evaluate')
    with open(ckpt_file) as f:
        return f.read().strip()


def _write_json(path: str, obj) -> None:
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)  # atomic: a reader never sees half a file


# ----------------------------------------------------------- subprocess
def train_command(config: str,
                  run_dir: str,
                  cfg_options: Sequence[str],
                  tools_dir: str,
                  launcher: str = 'none',
                  nproc: int = 1,
                  resume: bool = False,
                  python: Optional[str] = None) -> List[str]:
    """The argv that trains one run (``tools/train.py`` or
    ``tools/dist_train.sh``)."""
    if launcher == 'none':
        cmd = [
            python or sys.executable,
            osp.join(tools_dir, 'train.py'), config
        ]
    elif launcher == 'pytorch':
        cmd = [
            'bash',
            osp.join(tools_dir, 'dist_train.sh'), config,
            str(nproc)
        ]
    else:
        raise ValueError(f"launcher must be 'none' or 'pytorch', got "
                         f'{launcher!r}')
    cmd += ['--work-dir', run_dir]
    if resume:
        cmd.append('--resume')
    if cfg_options:
        cmd += ['--cfg-options'] + list(cfg_options)
    return cmd


def test_command(config: str,
                 checkpoint: str,
                 work_dir: str,
                 cfg_options: Sequence[str],
                 tools_dir: str,
                 launcher: str = 'none',
                 nproc: int = 1,
                 python: Optional[str] = None) -> List[str]:
    """The argv that evaluates a checkpoint (``tools/test.py`` or
    ``tools/dist_test.sh``)."""
    if launcher == 'none':
        cmd = [
            python or sys.executable,
            osp.join(tools_dir, 'test.py'), config, checkpoint
        ]
    elif launcher == 'pytorch':
        cmd = [
            'bash',
            osp.join(tools_dir, 'dist_test.sh'), config, checkpoint,
            str(nproc)
        ]
    else:
        raise ValueError(f"launcher must be 'none' or 'pytorch', got "
                         f'{launcher!r}')
    cmd += ['--work-dir', work_dir]
    if cfg_options:
        cmd += ['--cfg-options'] + list(cfg_options)
    return cmd


def _call(cmd: List[str], log_path: str, env: dict) -> float:
    """Run ``cmd`` with its output appended to ``log_path``; the seconds it
    took.

    Raises:
        RunFailed: with the end of the log, if it exits non-zero.
    """
    start = time.time()
    with open(log_path, 'a') as log:
        log.write(f'\n===== {time.strftime("%Y-%m-%d %H:%M:%S")} $ '
                  f'{" ".join(cmd)}\n')
        log.flush()
        code = subprocess.call(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    if code != 0:
        with open(log_path) as log:
            tail = ''.join(log.readlines()[-30:])
        raise RunFailed(f'{" ".join(cmd)} exited {code}; full output in '
                        f'{log_path}; its end:\n{tail}')
    return time.time() - start
