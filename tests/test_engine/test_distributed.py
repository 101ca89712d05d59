"""Distributed training on CPU (gloo, ``tools/dist_train.sh``) under faults.

* 2 ranks x batch 8 train and evaluate like 1 rank x batch 16;
* a rank that raises makes the job exit non-zero with that rank's error,
  quickly instead of hanging in a collective;
* a NaN on one rank stops every rank before a checkpoint is saved.

Model: tests/configs/csra_tiny_gn_multidigits.py (the tiny CSRA demo with
GroupNorm, so no layer depends on the batch), 64 canvases, 3 epochs.
"""
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from utils import REPO

import mmcsra  # noqa: F401
from mmcsra.engine import safe_torch_load

from test_faults import (  # noqa: F401  (the autouse fixture included)
    ITERS_PER_EPOCH, STARTED, checkpoints, kill_leftover_processes,
    val_metrics, write_config)

TESTS = osp.join(REPO, 'tests')
TINY_GN = osp.join(TESTS, 'configs', 'csra_tiny_gn_multidigits.py')
# 31 validation canvases: the 2-rank evaluation pads rank 1's shard
UNEVEN_VAL = 'val_dataloader.dataset.num_samples=31'
HALF_BATCH = 'train_dataloader.batch_size=8'  # 2 ranks x 8 = 16

pytestmark = pytest.mark.skipif(
    torch.cuda.is_available(), reason='checks the CPU (gloo) path')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def start(args, work_dir: str) -> subprocess.Popen:
    """Start ``tools/<args>`` (``.sh`` via bash) with ``tests/`` importable,
    a free torchrun port, output to ``<work_dir>.out``."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [TESTS] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    env.setdefault('OMP_NUM_THREADS', '1')
    env['PYTHON'] = sys.executable
    env['PORT'] = str(_free_port())
    tool = osp.join(REPO, 'tools', args[0])
    cmd = (['bash', tool] if tool.endswith('.sh') else [sys.executable, tool])
    log = open(work_dir + '.out', 'w')
    proc = subprocess.Popen(
        cmd + [str(a) for a in args[1:]] + ['--work-dir', work_dir],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True)  # to kill torchrun and its workers at once
    proc.log_path = log.name
    log.close()
    STARTED.append(proc)  # killed by kill_leftover_processes if still alive
    return proc


def finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    """Wait for ``proc`` (killing its process group on timeout); output."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        with open(proc.log_path) as f:
            raise AssertionError(f'still running after {timeout} s:\n'
                                 f'{f.read()[-6000:]}')
    with open(proc.log_path) as f:
        return f.read()


@pytest.mark.slow
def test_two_ranks_train_and_evaluate_like_one_rank(tmp_path):
    """Same global batches, same weights, same metrics.

    DefaultSampler draws one permutation per epoch from (seed, epoch) on
    every rank and gives rank r the positions r, r+2, ...: the two rank
    batches of step t (8 + 8 samples) are exactly the 16 samples of the
    1-rank batch t. DDP averages the two ranks' gradients of their mean
    losses, which equals the gradient of the 16-sample mean loss up to
    float32 summation order (~1e-7 relative per step); over 12 SGD steps
    with momentum we measured at most 1.3e-7 absolute difference in the
    weights, and allow atol=1e-5, rtol=1e-4. Validation metrics (31
    canvases, split unevenly over the ranks and gathered back in order)
    must agree to 1e-4 (they are in percent).
    """
    one, two = str(tmp_path / 'one'), str(tmp_path / 'two')
    run_one = start(['train.py', TINY_GN, '--cfg-options', UNEVEN_VAL], one)
    run_two = start(
        ['dist_train.sh', TINY_GN, 2, '--cfg-options', HALF_BATCH, UNEVEN_VAL],
        two)
    out_two, out_one = finish(run_two), finish(run_one)
    assert run_one.returncode == 0, out_one[-6000:]
    assert run_two.returncode == 0, out_two[-6000:]
    assert 'Distributed launcher: pytorch' in out_two
    assert 'GPU number: 2' in out_two  # mmengine's name for the world size

    final_one = safe_torch_load(osp.join(one, 'epoch_3.pth'))
    final_two = safe_torch_load(osp.join(two, 'epoch_3.pth'))
    epoch_2 = safe_torch_load(osp.join(one, 'epoch_2.pth'))
    assert final_one['meta']['iter'] == final_two['meta']['iter'] == \
        3 * ITERS_PER_EPOCH
    weights_one, weights_two = final_one['state_dict'], final_two['state_dict']
    assert weights_one.keys() == weights_two.keys()
    moved = 0.0
    for key, value in weights_one.items():
        torch.testing.assert_close(
            weights_two[key], value, atol=1e-5, rtol=1e-4, msg=key)
        if value.is_floating_point():
            moved = max(
                moved, float((value - epoch_2['state_dict'][key]).abs().max()))
    assert moved > 1e-2  # epoch 3 alone moved the weights far beyond atol

    metrics_one, metrics_two = val_metrics(one), val_metrics(two)
    assert sorted(metrics_one) == sorted(metrics_two) == [1, 2, 3]
    for epoch in (1, 2, 3):
        assert metrics_one[epoch].keys() == metrics_two[epoch].keys()
        for key, value in metrics_one[epoch].items():
            assert metrics_two[epoch][key] == pytest.approx(
                value, abs=1e-4), (epoch, key)


@pytest.mark.slow
def test_crashing_rank_fails_the_job_quickly(tmp_path):
    """Rank 1 raises before iteration 2 while rank 0 waits in the gradient
    all-reduce: torchrun must stop the job with a non-zero exit code and
    rank 1's error, well before the 180 s limit."""
    config = write_config(
        str(tmp_path / 'crash.py'),
        base=TINY_GN,
        extra_hooks=[dict(type='FaultRaiseOnRankHook', rank=1, iteration=2)])
    begin = time.time()
    proc = start(['dist_train.sh', config, 2, '--cfg-options', HALF_BATCH],
                 str(tmp_path / 'work'))
    text = finish(proc, timeout=180)
    assert time.time() - begin < 180
    assert proc.returncode != 0, text[-6000:]
    assert 'RuntimeError: injected failure on rank 1 at iteration 2' in text
    assert checkpoints(str(tmp_path / 'work')) == []


@pytest.mark.slow
def test_nan_on_one_rank_stops_every_rank_before_saving(tmp_path):
    """Rank 1 alone gets a NaN weight before iteration 4, the last of epoch
    1; the weight check is off, so rank 0 sees a finite loss. Without the
    guard's all-reduced verdict rank 0 would go on and save the NaN weights
    (the gradient all-reduce spread them) as epoch_1.pth."""
    config = write_config(
        str(tmp_path / 'nan.py'),
        base=TINY_GN,
        extra_hooks=[
            dict(
                type='FaultPoisonWeightHook',
                iteration=ITERS_PER_EPOCH,
                param='head.csra.classifier.weight',
                value='nan',
                when='before',
                rank=1)
        ],
        guard=dict(type='NonFiniteGuardHook', check_weights=False))
    proc = start(['dist_train.sh', config, 2, '--cfg-options', HALF_BATCH],
                 str(tmp_path / 'work'))
    text = finish(proc, timeout=180)
    assert proc.returncode != 0, text[-6000:]
    where = 'Training stopped at epoch 1, batch 4/4 (global iteration 4)'
    after = ('No checkpoint of this state is saved. No checkpoint was saved '
             'in this run.')
    # rank 1's head computed NaN logits from its NaN weight
    assert (f'NonFiniteTrainingError: {where}: rank 1: non-finite loss '
            f'(loss=nan); non-finite logits (output of model.head). '
            f'{after}') in text, text[-6000:]
    assert (f'NonFiniteTrainingError: {where}: rank 0: a non-finite loss, '
            f'logits or weights on another rank. {after}') in text, \
        text[-6000:]
    assert checkpoints(str(tmp_path / 'work')) == []
