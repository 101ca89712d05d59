"""The ablation runner: grid parsing/expansion, metric reading, aggregation,
and tools/ablate.py end to end on the demo (tiny schedule), with resume: of
runs that lost their done marker or their directory, and of a run SIGKILLed
in the middle of its schedule (resumed from its last checkpoint)."""
import csv
import importlib.util
import json
import math
import os
import os.path as osp
import shutil
import signal
import statistics
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from mmcsra.engine import safe_torch_load
from utils import CONFIGS, REPO, TOOLS, run_tool


def _load_tools_package(name):
    """``tools/<name>/`` (beside the tool scripts, not installed),
    imported as ``name`` so that its relative imports work."""
    path = osp.join(TOOLS, name, '__init__.py')
    spec = importlib.util.spec_from_file_location(
        name, path, submodule_search_locations=[osp.dirname(path)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


ab = _load_tools_package('ablation')
collect = ab.collect  # the run-log readers

DEMO = osp.join(CONFIGS, 'csra', 'resnet18_multidigits.py')
BASELINE = osp.join(CONFIGS, 'baseline', 'resnet18-gap_multidigits.py')
# 32 train / 32 test canvases, batch 16, one epoch, a ResNet-18 with 8 base
# channels (512 / 8 = 64 output channels): a run trains in about a second,
# the rest is process start-up
TINY = [
    'train_dataloader.dataset.num_samples=32',
    'val_dataloader.dataset.num_samples=32',
    'test_dataloader.dataset.num_samples=32',
    'train_dataloader.batch_size=16',
    'val_dataloader.batch_size=32',
    'test_dataloader.batch_size=32',
    'train_cfg.max_epochs=1',
    'param_scheduler=[]',
    'model.backbone.base_channels=8',
    'model.backbone.stem_channels=8',
    'model.head.in_channels=64',
    'custom_hooks=[]',
]
MAP = 'multi-label/mAP'


# ------------------------------------------------------------ pure parts
def test_ablation_is_a_tool_not_an_api():
    import mmcsra.apis
    assert not hasattr(mmcsra.apis, 'run_ablation')
    assert ab.run_ablation.__module__ == 'ablation.runner'
    assert ab.runner.TOOLS_DIR == TOOLS  # train.py / test.py beside it


@pytest.mark.parametrize('text,value', [
    ('1', 1),
    ('0.1', 0.1),
    ('1e-3', 0.001),
    ('-2', -2),
    ('avg', 'avg'),
    ("'avg'", 'avg'),
    ('True', True),
    ('None', None),
    ('[1, 2]', [1, 2]),
    ('(1.0,)', (1.0, )),
    ('inf', float('inf')),
    ('model.head', 'model.head'),
])
def test_parse_value(text, value):
    parsed = ab.parse_value(text)
    assert type(parsed) is type(value) and parsed == value


def test_split_values():
    assert ab.split_values('avg,attention') == ['avg', 'attention']
    assert ab.split_values("[1,2],(3,4),'a,b',x") == [
        '[1,2]', '(3,4)', "'a,b'", 'x'
    ]
    with pytest.raises(ValueError, match='unbalanced'):
        ab.split_values('[1,2')


def test_parse_grid_aliases_and_dotted_keys():
    axes = ab.parse_grid([
        'mode=avg,residual', 'heads=1,4', 'optim_wrapper.optimizer.lr=0.01,0.1'
    ])
    assert [(a.name, a.key, a.values) for a in axes] == [
        ('mode', 'model.head.mode', ['avg', 'residual']),
        ('heads', 'model.head.num_heads', [1, 4]),
        ('optim_wrapper.optimizer.lr', 'optim_wrapper.optimizer.lr',
         [0.01, 0.1]),
    ]


@pytest.mark.parametrize('specs,match', [
    (['lam'], 'key=v1'),
    (['lam='], 'empty'),
    (['lam=0.1,0.1'], 'repeats'),
    (['lam=0.1', 'model.head.lam=0.5'], 'already set'),
    (['randomness.seed=0,1'], '--seeds'),
    (['a..b=1'], 'not a config key'),
])
def test_parse_grid_errors(specs, match):
    with pytest.raises(ValueError, match=match):
        ab.parse_grid(specs)


def test_expand_grid_collapses_lambda_for_avg_and_attention():
    axes = ab.parse_grid(['mode=avg,residual', 'heads=1,2', 'lam=0.1,0.5'])
    points = ab.expand_grid(axes)
    # avg: 2 (H) instead of 4; residual: 2 x 2
    assert [p.name for p in points] == [
        'mode-avg_heads-1',
        'mode-avg_heads-2',
        'mode-residual_heads-1_lam-0.1',
        'mode-residual_heads-1_lam-0.5',
        'mode-residual_heads-2_lam-0.1',
        'mode-residual_heads-2_lam-0.5',
    ]
    assert points[0].dropped == ['lam']
    assert dict(points[0].overrides) == {
        'model.head.mode': 'avg',
        'model.head.num_heads': 1
    }
    assert dict(points[3].overrides) == {
        'model.head.mode': 'residual',
        'model.head.num_heads': 1,
        'model.head.lam': 0.5
    }
    # the paper's full grid: 5 (avg) + 5 (attention) + 5 x 5 (residual)
    paper = ab.parse_grid([
        'mode=avg,attention,residual', 'heads=1,2,4,6,8',
        'lam=0.02,0.1,0.3,0.5,1'
    ])
    assert len(ab.expand_grid(paper)) == 35  # of 3 * 5 * 5 = 75


def test_expand_grid_reads_mode_from_the_config():
    axes = ab.parse_grid(['lam=0.1,0.5'])
    assert [
        p.name for p in ab.expand_grid(axes, {'model.head.mode': 'attention'})
    ] == ['base']
    assert [
        p.name for p in ab.expand_grid(axes, {'model.head.mode': 'residual'})
    ] == ['lam-0.1', 'lam-0.5']
    # another head: no CSRA semantics, no collapse
    mixed = ab.parse_grid(['mode=avg', 'lam=0.1,0.5'])
    assert len(ab.expand_grid(mixed, csra_head=False)) == 2


@pytest.mark.parametrize('value,text', [
    (0.1, '0.1'),
    (4, '4'),
    ('avg', 'avg'),
    (float('inf'), 'inf'),
    (True, 'True'),
    ([1, 2], '[1,2]'),
    ((1.0, ), '(1.0,)'),
    (1e-05, '1e-05'),
])
def test_cfg_option_text_round_trips(value, text):
    assert ab.cfg_option_text(value) == text


@pytest.mark.parametrize('value', ['1', 'a b', 'a,b'])
def test_cfg_option_text_refuses_what_mmengine_misreads(value):
    with pytest.raises(ValueError, match='cannot be passed'):
        ab.cfg_option_text(value)


def test_commands():
    opts = ['model.head.lam=0.1', 'randomness.seed=1']
    assert ab.train_command(
        'c.py', 'w/p/seed-1', opts, 'T', python='py') == [
            'py', 'T/train.py', 'c.py', '--work-dir', 'w/p/seed-1',
            '--cfg-options', 'model.head.lam=0.1', 'randomness.seed=1'
        ]
    assert ab.train_command(
        'c.py', 'w', opts, 'T', 'pytorch', 2, resume=True) == [
            'bash', 'T/dist_train.sh', 'c.py', '2', '--work-dir', 'w',
            '--resume', '--cfg-options', 'model.head.lam=0.1',
            'randomness.seed=1'
        ]
    assert ab.test_command('c.py', 'w/e.pth', 'w/t', [], 'T', 'pytorch',
                           2) == [
                               'bash', 'T/dist_test.sh', 'c.py', 'w/e.pth',
                               '2', '--work-dir', 'w/t'
                           ]


def _write_log(run_dir, stamp, records):
    path = osp.join(run_dir, stamp, 'vis_data')
    os.makedirs(path, exist_ok=True)
    with open(osp.join(path, 'scalars.json'), 'w') as f:
        for rec in records:
            f.write(json.dumps(rec) + '\n')


TRAIN_REC = dict(lr=0.1, loss=0.5, time=1.0, epoch=2, iter=4, step=4)
VAL_REC = dict(
    **{
        MAP: 70.0,
        'multi-label/CF1': 60.0
    }, data_time=0.1, time=0.2, step=2)


def test_read_final_val_metrics(tmp_path):
    run = str(tmp_path)
    assert ab.read_final_val_metrics(run) is None
    _write_log(run, '20260101_000000', [TRAIN_REC, VAL_REC])
    want = {MAP: 70.0, 'multi-label/CF1': 60.0}
    assert ab.read_final_val_metrics(run, final_step=2) == want
    assert ab.read_final_val_metrics(run, final_step=3) is None
    # a later attempt that logged nothing (resumed after the last epoch)
    os.makedirs(osp.join(run, '20260101_000100', 'vis_data'))
    assert ab.read_final_val_metrics(run, final_step=2) == want
    # a later attempt whose last record is training: no final validation
    _write_log(run, '20260101_000200', [VAL_REC, TRAIN_REC])
    assert ab.read_final_val_metrics(run) is None


def test_final_val_step():
    assert ab.final_val_step(
        Config(dict(train_cfg=dict(by_epoch=True, max_epochs=6)))) == 6
    assert ab.final_val_step(
        Config(
            dict(
                train_cfg=dict(by_epoch=False, max_iters=100),
                default_hooks=dict(logger=dict(
                    log_metric_by_epoch=False))))) == 100
    assert ab.final_val_step(
        Config(dict(train_cfg=dict(by_epoch=False, max_iters=100)))) is None


def test_aggregate_and_markdown():
    recs = [
        dict(
            point='a',
            values={'mode': 'avg'},
            seed=0,
            metrics={
                MAP: 70.0,
                'n/CF1': 1.0
            }),
        dict(
            point='a',
            values={'mode': 'avg'},
            seed=1,
            metrics={
                MAP: 72.0,
                'n/CF1': 2.0
            }),
        dict(
            point='b',
            values={
                'mode': 'residual',
                'lam': 0.1
            },
            seed=0,
            metrics={
                MAP: 75.0,
                'n/CF1': 4.0
            }),
    ]
    agg = ab.aggregate(recs)
    assert [a['n'] for a in agg] == [2, 1]
    assert agg[0]['mean'][MAP] == 71.0
    assert agg[0]['std'][MAP] == pytest.approx(math.sqrt(2))  # ddof = 1
    assert agg[1]['std'][MAP] is None
    table = ab.format_markdown(
        agg, ['mode', 'lam'], [MAP, 'n/CF1'], best_key=MAP)
    assert table.splitlines() == [
        '| mode | lam | n | mAP | CF1 |',
        '|---|---|---|---|---|',
        '| avg | — | 2 | 71.00 ± 1.41 | 1.50 ± 0.71 |',
        '| residual | 0.1 | 1 | **75.00** | 4.00 |',
    ]


def test_table_metric_keys():
    keys = [
        MAP, 'multi-label/AP/zero', 'multi-label/CF1', 'multi-label/CP',
        'multi-label/CF1_top3', 'accuracy/top1'
    ]
    assert ab.table_metric_keys(keys) == [
        MAP, 'multi-label/CP', 'multi-label/CF1'
    ]
    assert ab.table_metric_keys(
        keys, ['CF1_top3', 'mAP']) == ['multi-label/CF1_top3', MAP]
    assert ab.table_metric_keys(['accuracy/top1',
                                 'a/b/c']) == ['accuracy/top1']


@pytest.mark.parametrize('config,grid,options,match', [
    (BASELINE, ['heads=1,2'], [], 'CSRAHead'),
    (DEMO, ['lam=0.1,0.5'], ['model.head.lam=0.3'], 'grid / seeds'),
    (DEMO, ['lam=0.1'], ['randomness.seed=3'], 'grid / seeds'),
    (DEMO, ['model.nope.x=1,2'], [], "no 'model.nope'"),
    (DEMO, ['mode=avg,max'], [], 'unknown CSRA mode'),
])
def test_run_ablation_refuses_bad_setups(tmp_path, config, grid, options,
                                         match):
    with pytest.raises(ValueError, match=match):
        ab.run_ablation(
            config, grid, work_dir=str(tmp_path), cfg_options=options)
    assert os.listdir(tmp_path) == []  # refused before any run


# ------------------------------------------------------------ end to end
GRID = ['mode=avg,residual', 'lam=0.1,0.5']
RUNS = {(p, s)
        for p in ('mode-avg', 'mode-residual_lam-0.1', 'mode-residual_lam-0.5')
        for s in (0, 1)}


def _ablate(work_dir):
    return run_tool(['ablate.py', DEMO, '--grid'] + GRID + [
        '--seeds', '0', '1', '--jobs', '2', '--work-dir', work_dir,
        '--cfg-options'
    ] + TINY)


def _stamps(run_dir):
    return [d for d in os.listdir(run_dir) if collect.TIMESTAMP.match(d)]


def _read_csv(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def _last_log_record(run_dir):
    """The metrics of the run's final validation, read independently."""
    for stamp in sorted(_stamps(run_dir), reverse=True):
        path = osp.join(run_dir, stamp, 'vis_data', 'scalars.json')
        if osp.isfile(path) and os.path.getsize(path):
            with open(path) as f:
                last = json.loads(f.read().splitlines()[-1])
            return {
                k: v
                for k, v in last.items()
                if k not in ('step', 'time', 'data_time')
            }


@pytest.fixture(scope='module')
def grid_run(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('ablate')
    proc = _ablate(work_dir)
    header, rows = _read_csv(work_dir / 'results.csv')
    return dict(
        work_dir=work_dir, stdout=proc.stdout, header=header, rows=rows)


def test_grid_runs_csv_md_png(grid_run):
    work_dir = grid_run['work_dir']
    assert '3 points x 2 seeds: 6 trained now, 0 done before' in \
        grid_run['stdout']
    # λ collapsed for avg: 3 points x 2 seeds, each trained exactly once
    found = {(p, int(s[len('seed-'):]))
             for p in os.listdir(work_dir) if osp.isdir(work_dir / p)
             for s in os.listdir(work_dir / p)}
    assert found == RUNS
    for point, seed in RUNS:
        run_dir = work_dir / point / f'seed-{seed}'
        assert osp.isfile(run_dir / 'done.json')
        assert len(_stamps(run_dir)) == 1

    header, rows = grid_run['header'], grid_run['rows']
    assert header[:4] == ['point', 'mode', 'lam', 'seed']
    classes = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven',
               'eight', 'nine')
    assert MAP in header and 'multi-label/CF1' in header
    assert all(f'multi-label/AP/{c}' in header for c in classes)
    assert len(rows) == 6
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ('mode-avg', 'avg', '', '0'),
        ('mode-avg', 'avg', '', '1'),
        ('mode-residual_lam-0.1', 'residual', '0.1', '0'),
        ('mode-residual_lam-0.1', 'residual', '0.1', '1'),
        ('mode-residual_lam-0.5', 'residual', '0.5', '0'),
        ('mode-residual_lam-0.5', 'residual', '0.5', '1'),
    ]
    # every metric is the run's final validation record, at full precision
    for row in rows:
        logged = _last_log_record(work_dir / row[0] / f'seed-{row[3]}')
        assert set(logged) == set(header[4:])
        for key, cell in zip(header[4:], row[4:]):
            assert float(cell) == logged[key]
    # the mAP of per-class APs is their mean
    for row in rows:
        aps = [
            float(row[header.index(f'multi-label/AP/{c}')]) for c in classes
        ]
        assert float(row[header.index(MAP)]) == pytest.approx(np.mean(aps))

    # results.md: mean ± sample std over the seeds, from the CSV
    with open(work_dir / 'results.md') as f:
        lines = [ln for ln in f.read().splitlines() if ln.startswith('|')]
    cols = [c.strip() for c in lines[0].strip('|').split('|')]
    assert cols[:3] == ['mode', 'lam', 'n'] and 'mAP' in cols
    body = [[c.strip() for c in ln.strip('|').split('|')] for ln in lines[2:]]
    assert [(b[0], b[1], b[2]) for b in body] == [('avg', '—', '2'),
                                                  ('residual', '0.1', '2'),
                                                  ('residual', '0.5', '2')]
    points = ['mode-avg', 'mode-residual_lam-0.1', 'mode-residual_lam-0.5']
    means = []
    for point, cells in zip(points, body):
        for name in ('mAP', 'CF1', 'OF1'):
            key = f'multi-label/{name}'
            vals = [float(r[header.index(key)]) for r in rows if r[0] == point]
            mean, std = statistics.fmean(vals), statistics.stdev(vals)
            got_mean, got_std = cells[cols.index(name)].strip('*').split(' ± ')
            assert abs(float(got_mean) - mean) <= 0.005 + 1e-9
            assert abs(float(got_std) - std) <= 0.005 + 1e-9
            if name == 'mAP':
                means.append(mean)
    bold = [cells[cols.index('mAP')].startswith('**') for cells in body]
    assert bold == [m == max(means) for m in means]

    with Image.open(work_dir / 'mAP_vs_lam.png') as im:
        im.verify()
    with Image.open(work_dir / 'mAP_vs_lam.png') as im:
        pixels = np.asarray(im.convert('RGB'))
    assert pixels.shape[0] > 100 and pixels.shape[1] > pixels.shape[0]
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10


def test_grid_resumes_only_missing_runs(grid_run):
    work_dir = grid_run['work_dir']
    # killed after its final checkpoint, before done.json: resumed (trains
    # nothing, metrics from its first log)
    resumed = work_dir / 'mode-residual_lam-0.5' / 'seed-1'
    os.remove(resumed / 'done.json')
    # never started (or killed before any checkpoint): trained from scratch
    lost = work_dir / 'mode-avg' / 'seed-1'
    shutil.rmtree(lost)
    untouched = {
        r: os.stat(work_dir / r[0] / f'seed-{r[1]}' / 'done.json').st_mtime_ns
        for r in RUNS - {('mode-residual_lam-0.5', 1), ('mode-avg', 1)}
    }

    proc = _ablate(work_dir)
    assert '3 points x 2 seeds: 2 trained now, 4 done before' in proc.stdout
    for (point, seed), mtime in untouched.items():
        run_dir = work_dir / point / f'seed-{seed}'
        assert os.stat(run_dir / 'done.json').st_mtime_ns == mtime
        assert len(_stamps(run_dir)) == 1
    assert len(_stamps(resumed)) == 2
    with open(resumed / 'ablate.log') as f:
        commands = [ln for ln in f if ln.startswith('=====')]
    assert len(commands) == 2 and '--resume' not in commands[0] and \
        '--resume' in commands[1]
    assert len(_stamps(lost)) == 1
    # same results: the resumed run's from its log, the retrained run's
    # from the same seed on the CPU (deterministic)
    header, rows = _read_csv(work_dir / 'results.csv')
    assert header == grid_run['header']
    assert rows == grid_run['rows']


# a real interruption: 2 epochs of 2 iterations (32 canvases, batch 16),
# every iteration logged; the test-only FaultPauseHook (tests/
# fault_injection.py) pauses a run after global iteration
# $MMCSRA_TEST_PAUSE_AT (0, the default: never), so that the test can
# SIGKILL the ablation tool at a known point of the schedule
ITERS_PER_EPOCH = 2
TWO_EPOCHS = [
    o for o in TINY
    if not o.startswith(('train_cfg.max_epochs=', 'custom_hooks='))
] + ['train_cfg.max_epochs=2', 'default_hooks.logger.interval=1']
PAUSABLE_CONFIG = """_base_ = [{base!r}]
custom_imports = dict(imports=['mmcsra', 'fault_injection'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='FaultPauseHook',
                     iteration={{{{'$MMCSRA_TEST_PAUSE_AT:0'}}}},
                     marker={marker!r})]
"""


@pytest.fixture
def started():
    """Processes a test started in their own process group; a failing test
    must not leave them (and a paused training) behind."""
    procs = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _train_records(run_dir, stamp):
    path = osp.join(run_dir, stamp, 'vis_data', 'scalars.json')
    return [r for r in collect.json_lines(path) if collect.is_train_record(r)]


def test_grid_point_killed_mid_schedule_resumes_from_its_checkpoint(
        tmp_path, monkeypatch, started):
    """Point ``mode-avg`` is done; the ablation tool is SIGKILLed while
    ``mode-residual`` trains epoch 2 of 2 (``epoch_1.pth`` saved, no
    ``done.json``). The rerun skips mode-avg and resumes mode-residual from
    ``epoch_1.pth``: it trains epoch 2 only (iterations 3 and 4), and its
    weights and metrics equal those of an uninterrupted run of its seed."""
    marker = str(tmp_path / 'paused')
    config = str(tmp_path / 'pausable.py')
    with open(config, 'w') as f:
        f.write(PAUSABLE_CONFIG.format(base=DEMO, marker=marker))
    monkeypatch.setenv(
        'PYTHONPATH',
        os.pathsep.join([osp.join(REPO, 'tests')] +
                        ([os.environ['PYTHONPATH']] if os.environ.
                         get('PYTHONPATH') else [])))
    monkeypatch.setenv('OMP_NUM_THREADS',
                       os.environ.get('OMP_NUM_THREADS', '1'))
    monkeypatch.delenv('MMCSRA_TEST_PAUSE_AT', raising=False)
    work_dir = str(tmp_path / 'work')
    grid = ['mode=avg,residual']
    kwargs = dict(
        seeds=[0],
        work_dir=work_dir,
        cfg_options=TWO_EPOCHS,
        log=lambda msg: None)

    # both points uninterrupted; mode-residual's run is kept aside as the
    # reference, leaving a partly finished grid (mode-avg done)
    first = ab.run_ablation(config, grid, **kwargs)
    first_csv = _read_csv(first['csv'])
    killed = osp.join(work_dir, 'mode-residual', 'seed-0')
    reference = str(tmp_path / 'reference')
    shutil.move(killed, reference)
    avg_run = osp.join(work_dir, 'mode-avg', 'seed-0')
    avg_mtime = os.stat(osp.join(avg_run, ab.DONE_FILE)).st_mtime_ns

    # the tool again; SIGKILLed (with its training) after the first
    # iteration of mode-residual's epoch 2
    env = dict(os.environ, MMCSRA_TEST_PAUSE_AT=str(ITERS_PER_EPOCH + 1))
    with open(tmp_path / 'killed.out', 'w') as out:
        proc = subprocess.Popen(
            [sys.executable,
             osp.join(TOOLS, 'ablate.py'), config, '--grid'] + grid +
            ['--seeds', '0', '--work-dir', work_dir, '--cfg-options'] +
            TWO_EPOCHS,
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True)
    started.append(proc)
    deadline = time.time() + 300
    while not osp.exists(marker):
        assert proc.poll() is None, (tmp_path / 'killed.out').read_text()
        assert time.time() < deadline, 'the run never reached the pause'
        time.sleep(0.2)
    with open(osp.join(killed, 'last_checkpoint')) as f:
        assert f.read().strip() == osp.join(killed, 'epoch_1.pth')
    assert not osp.exists(osp.join(killed, 'epoch_2.pth'))
    assert not osp.exists(osp.join(killed, ab.DONE_FILE))
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    (killed_stamp, ) = _stamps(killed)
    assert [r['iter']
            for r in _train_records(killed, killed_stamp)] == [1, 2, 3]

    result = ab.run_ablation(config, grid, **kwargs)
    # (c) the finished point is not retrained
    assert [(r['point'], r['trained'])
            for r in result['records']] == [('mode-avg', False),
                                            ('mode-residual', True)]
    assert os.stat(osp.join(avg_run, ab.DONE_FILE)).st_mtime_ns == avg_mtime
    assert len(_stamps(avg_run)) == 1
    # (a) resumed from epoch_1.pth, trained epoch 2 only
    with open(osp.join(killed, ab.LOG_FILE)) as f:
        text = f.read()
    commands = [ln for ln in text.splitlines() if ln.startswith('=====')]
    assert len(commands) == 2 and '--resume' not in commands[0] and \
        '--resume' in commands[1]
    assert ('Auto resumed from the latest checkpoint '
            f'{osp.join(killed, "epoch_1.pth")}') in text
    (resumed_stamp, ) = set(_stamps(killed)) - {killed_stamp}
    assert [
        (r['epoch'], r['iter']) for r in _train_records(killed, resumed_stamp)
    ] == [(2, ITERS_PER_EPOCH + 1), (2, 2 * ITERS_PER_EPOCH)]
    with open(osp.join(killed, ab.DONE_FILE)) as f:
        assert json.load(f)['resumed'] is True
    # (b) the same weights and metrics as the uninterrupted run
    final, final_ref = (
        safe_torch_load(osp.join(d, 'epoch_2.pth'))
        for d in (killed, reference))
    assert final['meta']['iter'] == final_ref['meta']['iter'] == \
        2 * ITERS_PER_EPOCH
    assert final['state_dict'].keys() == final_ref['state_dict'].keys()
    for key, value in final_ref['state_dict'].items():
        assert torch.equal(final['state_dict'][key], value), key
    assert MAP in first['records'][1]['metrics']
    assert [r['metrics'] for r in result['records']
            ] == [r['metrics'] for r in first['records']]  # exactly
    assert _read_csv(result['csv']) == first_csv


def test_no_validation_falls_back_to_test_tool(grid_run, tmp_path):
    """Without a validation loop the final checkpoint is evaluated by
    tools/test.py; the model is the one of the grid's (avg, seed 0) run,
    so the metrics equal that run's final validation."""
    messages = []
    result = ab.run_ablation(
        DEMO, ['mode=avg'],
        seeds=[0],
        work_dir=str(tmp_path),
        cfg_options=TINY + ['train_cfg.val_begin=1000'],
        keep_checkpoints=False,
        log=messages.append)
    (record, ) = result['records']
    assert any('no final validation log' in m for m in messages)
    run_dir = tmp_path / 'mode-avg' / 'seed-0'
    with open(run_dir / 'done.json') as f:
        assert json.load(f)['metrics_source'].startswith('tools/test.py')
    # keep_checkpoints=False: evaluated first, then deleted
    assert not [
        n for n in os.listdir(run_dir)
        if n.endswith('.pth') or n == 'last_checkpoint'
    ]
    header, rows = grid_run['header'], grid_run['rows']
    reference = dict(zip(header[4:], map(float, rows[0][4:])))
    assert rows[0][:4] == ['mode-avg', 'avg', '', '0']
    assert record['metrics'].keys() == reference.keys()
    for key, value in reference.items():
        assert record['metrics'][key] == pytest.approx(value, abs=1e-6)


def test_plot_has_one_line_per_heads_value(tmp_path):
    """mAP vs λ: one panel per mode, one line per H with the means at the
    grid's λ values; the λ-free avg points are flat lines."""
    axes = ab.parse_grid(['mode=avg,residual', 'heads=1,2', 'lam=0.1,0.5'])
    recs = []
    for p in ab.expand_grid(axes):
        lam = p.values.get('lam', 0.0)
        value = 10 * p.values['heads'] + 100 * lam
        recs.append(
            dict(point=p.name, values=p.values, seed=0, metrics={MAP: value}))
    fig = ab.plot_metric_vs_lam(
        ab.aggregate(recs), axes, {}, MAP, str(tmp_path / 'p.png'))
    avg, residual = fig.axes[:2]
    assert avg.get_title() == 'mode=avg' and \
        residual.get_title() == 'mode=residual'
    lines = {c.get_label(): c.lines[0] for c in residual.containers}
    assert set(lines) == {'H=1', 'H=2'}  # errorbar containers
    for h in (1, 2):
        xs, ys = lines[f'H={h}'].get_data()
        assert list(xs) == [0.1, 0.5]
        assert list(ys) == pytest.approx([10 * h + 10, 10 * h + 50])
    flat = {ln.get_label(): list(ln.get_ydata()) for ln in avg.get_lines()}
    assert flat == {'H=1 (λ-free)': [10, 10], 'H=2 (λ-free)': [20, 20]}
