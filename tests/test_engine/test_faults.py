"""Training under faults: SIGKILL + resume, torn checkpoint writes, NaN/Inf.

End-to-end tests run ``tools/train.py`` in subprocesses on the tiny CSRA demo
(tests/configs/csra_tiny_multidigits.py: 64 canvases, batch 16, 4 iterations
per epoch, 3 epochs, deterministic, a checkpoint and a validation every
epoch). Faults are injected by the test-only hooks of tests/fault_injection.py.
"""
import json
import math
import os
import os.path as osp
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional

import pytest
import torch

from utils import REPO

import mmcsra  # noqa: F401  (applies the compat fixes, registers hooks)
from mmcsra.engine import safe_torch_load
from mmcsra.engine.hooks import NonFiniteGuardHook, NonFiniteTrainingError

TESTS = osp.join(REPO, 'tests')
TINY = osp.join(TESTS, 'configs', 'csra_tiny_multidigits.py')
ITERS_PER_EPOCH = 4  # 64 canvases / batch 16

# ----------------------------------------------------------------- helpers
STARTED: List[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def kill_leftover_processes():
    """A failing test must not leave a (paused) training running."""
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def write_config(path: str,
                 base: str = TINY,
                 extra_hooks=(),
                 guard: Optional[dict] = None) -> str:
    """A config file inheriting ``base`` whose non-finite guard is ``guard``
    (default: ``NonFiniteGuardHook()``) and whose custom hooks are the
    test-only ``extra_hooks``."""
    guard = guard or dict(type='NonFiniteGuardHook')
    with open(path, 'w') as f:
        f.write(f'_base_ = [{base!r}]\n'
                "custom_imports = dict(imports=['mmcsra', 'fault_injection'], "
                'allow_failed_imports=False)\n'
                f'custom_hooks = {list(extra_hooks)!r}\n'
                # replaces the runtime's default guard
                f'default_hooks = dict(non_finite_guard=dict(_delete_=True, '
                f'**{guard!r}))\n')
    return path


def start_train(config: str, work_dir: str, *args: str) -> subprocess.Popen:
    """Start ``tools/train.py`` with ``tests/`` importable; output to a log."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [TESTS] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    env.setdefault('OMP_NUM_THREADS', '1')
    os.makedirs(work_dir, exist_ok=True)
    log = open(osp.join(work_dir, '..', osp.basename(work_dir) + '.out'), 'w')
    proc = subprocess.Popen(
        [
            sys.executable,
            osp.join(REPO, 'tools', 'train.py'), config, '--work-dir',
            work_dir, *args
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True)  # its own process group, see above
    proc.log_path = log.name
    log.close()
    STARTED.append(proc)
    return proc


def output(proc: subprocess.Popen) -> str:
    with open(proc.log_path) as f:
        return f.read()


def wait(proc: subprocess.Popen,
         expect_rc: Optional[int] = 0,
         timeout: float = 300) -> str:
    """Wait for ``proc``; check its exit code; return its output."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f'timed out after {timeout} s:\n'
                             f'{output(proc)[-6000:]}')
    text = output(proc)
    if expect_rc is not None:
        assert proc.returncode == expect_rc, (
            f'exit code {proc.returncode}, expected {expect_rc}:\n'
            f'{text[-6000:]}')
    return text


def last_checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def val_metrics(work_dir: str) -> Dict[int, dict]:
    """``{epoch: metrics}`` of the validations logged in ``work_dir``'s runs
    (a resumed run logs to its own timestamped folder; later runs win)."""
    found = {}
    for run in sorted(os.listdir(work_dir)):
        scalars = osp.join(work_dir, run, 'vis_data', 'scalars.json')
        if not osp.isfile(scalars):
            continue
        with open(scalars) as f:
            for line in f:
                record = json.loads(line)
                if 'multi-label/mAP' in record:
                    found[record['step']] = {
                        k: v
                        for k, v in record.items()
                        if k.startswith('multi-label/')
                    }
    return found


def checkpoints(work_dir: str) -> List[str]:
    return sorted(f for f in os.listdir(work_dir) if f.endswith('.pth'))


# ------------------------------------------------ kill, torn save, resume
@pytest.mark.slow
def test_sigkill_mid_epoch_and_during_save_then_resume_is_identical(tmp_path):
    """A: 3 epochs uninterrupted. B: SIGKILLed mid-epoch 2 (after its 2nd
    iteration), resumed; killed again in the middle of writing
    ``last_checkpoint`` after epoch 2; resumed to the end. B's final weights,
    optimizer state and per-epoch metrics must equal A's bit for bit.

    Why this holds: mmengine resumes at the epoch boundary of the checkpoint
    (model, optimizer, schedulers, message hub, seed); DefaultSampler's order
    depends only on (seed, epoch); the demo has no augmentation and no
    dropout, so no RNG stream outside the checkpoint affects training.
    """
    work_a, work_b = str(tmp_path / 'A'), str(tmp_path / 'B')
    marker = str(tmp_path / 'paused')
    pause_at = ITERS_PER_EPOCH + 2  # epoch 2, batch 2
    config_a = write_config(str(tmp_path / 'a.py'))
    config_pause = write_config(
        str(tmp_path / 'b1.py'),
        extra_hooks=[
            dict(type='FaultPauseHook', iteration=pause_at, marker=marker)
        ])
    config_kill_save = write_config(
        str(tmp_path / 'b2.py'),
        extra_hooks=[
            dict(type='FaultKillDuringSaveHook', filename='last_checkpoint')
        ])

    run_a = start_train(config_a, work_a)
    run_b = start_train(config_pause, work_b)
    deadline = time.time() + 300
    while not osp.exists(marker):
        assert run_b.poll() is None, output(run_b)[-6000:]
        assert time.time() < deadline, 'run B never reached the pause'
        time.sleep(0.2)
    # paused after an optimizer step of epoch 2: epoch 1 is saved, epoch 2
    # is not; the kill loses two iterations of epoch 2
    assert last_checkpoint(work_b) == osp.join(work_b, 'epoch_1.pth')
    assert not osp.exists(osp.join(work_b, 'epoch_2.pth'))
    os.kill(run_b.pid, signal.SIGKILL)
    wait(run_b, expect_rc=-signal.SIGKILL)

    # resume; SIGKILL while last_checkpoint (-> epoch 2) is half written
    run_b = start_train(config_kill_save, work_b, '--resume')
    text = wait(run_b, expect_rc=-signal.SIGKILL)
    assert 'Auto resumed from the latest checkpoint' in text
    assert osp.isfile(osp.join(work_b, 'epoch_2.pth'))
    assert last_checkpoint(work_b) == osp.join(work_b, 'epoch_1.pth'), (
        'a kill during the write must leave the previous complete content')
    torn = [
        f for f in os.listdir(work_b) if f.startswith('last_checkpoint.tmp-')
    ]
    assert len(torn) == 1  # the half-written temporary, read by nobody

    run_b = start_train(config_a, work_b, '--resume')
    assert ('Auto resumed from the latest checkpoint '
            f'{osp.join(work_b, "epoch_1.pth")}') in wait(run_b)
    wait(run_a)

    final_a = safe_torch_load(osp.join(work_a, 'epoch_3.pth'))
    final_b = safe_torch_load(osp.join(work_b, 'epoch_3.pth'))
    assert final_a['meta']['epoch'] == final_b['meta']['epoch'] == 3
    assert final_a['meta']['iter'] == final_b['meta']['iter'] == 12
    weights_a, weights_b = final_a['state_dict'], final_b['state_dict']
    assert weights_a.keys() == weights_b.keys()
    for key in weights_a:
        assert torch.equal(weights_a[key], weights_b[key]), key
    momentum_a = final_a['optimizer']['state']
    momentum_b = final_b['optimizer']['state']
    assert momentum_a.keys() == momentum_b.keys()
    for key in momentum_a:
        assert torch.equal(momentum_a[key]['momentum_buffer'],
                           momentum_b[key]['momentum_buffer'])
    metrics_a, metrics_b = val_metrics(work_a), val_metrics(work_b)
    assert sorted(metrics_a) == sorted(metrics_b) == [1, 2, 3]
    for epoch in (1, 2, 3):
        assert metrics_a[epoch] == metrics_b[epoch], epoch
    assert math.isfinite(metrics_a[3]['multi-label/mAP'])


# --------------------------------------------------- atomic file writes
@pytest.mark.skipif(not hasattr(os, 'fork'), reason='needs os.fork')
@pytest.mark.parametrize('target', ['epoch_2.pth', 'last_checkpoint'])
def test_kill_during_write_keeps_previous_file(tmp_path, target):
    """SIGKILL a writer half way through (re)writing ``target``: the file
    under the final name is still the previous complete one.

    ``epoch_2.pth`` is written by mmengine's ``save_checkpoint`` through
    the ``atomic_local`` backend (as AtomicCheckpointHook saves),
    ``last_checkpoint`` with ``atomic_open`` (as the hook writes it).
    """
    from fault_injection import FaultKillDuringSaveHook
    from mmengine.runner.checkpoint import save_checkpoint

    from mmcsra.engine.atomic_files import ATOMIC_BACKEND_ARGS, atomic_open

    path = str(tmp_path / target)
    if target.endswith('.pth'):
        old, new = {'w': torch.zeros(10)}, {'w': torch.ones(100_000)}
        save_checkpoint(old, path)

        def write():
            save_checkpoint(new, path, backend_args=ATOMIC_BACKEND_ARGS)
    else:
        old, new = '/work/epoch_1.pth', '/work/epoch_2.pth'
        with open(path, 'w') as f:
            f.write(old)

        def write():
            with atomic_open(path, 'w') as f:
                f.write(new)

    pid = os.fork()
    if pid == 0:  # child: die in the middle of the write
        try:
            FaultKillDuringSaveHook(target).before_run(None)
            write()
        finally:
            os._exit(3)  # only reached if the kill did not happen
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL

    if target.endswith('.pth'):
        assert torch.equal(safe_torch_load(path)['w'], old['w'])
    else:
        with open(path) as f:
            assert f.read() == old
    torn = sorted(f for f in os.listdir(tmp_path) if f != target)
    assert torn == [f'{target}.tmp-{pid}']
    # the completed write of the same data replaces the file
    write()
    if target.endswith('.pth'):
        assert torch.equal(safe_torch_load(path)['w'], new['w'])
    else:
        with open(path) as f:
            assert f.read() == new


@pytest.mark.parametrize('max_keep_ckpts', [1, 2])
def test_work_dir_is_resumable_between_any_two_file_operations(
        tmp_path, monkeypatch, max_keep_ckpts):
    """A kill during saving lands between two file-system operations of the
    saving code. Renames and removals are atomic, and nothing else touches
    a final name, so checking the work dir after each of them covers every
    kill point: ``last_checkpoint`` names a checkpoint that loads, and every
    ``*.pth`` loads. Stock mmengine fails this with ``max_keep_ckpts=1``: it
    removes epoch_1.pth while ``last_checkpoint`` still names it.
    """
    work_dir = str(tmp_path)
    operations = []

    def check_work_dir():
        if osp.exists(osp.join(work_dir, 'last_checkpoint')):
            assert osp.isfile(last_checkpoint(work_dir)), operations
            safe_torch_load(last_checkpoint(work_dir))
        for name in checkpoints(work_dir):
            safe_torch_load(osp.join(work_dir, name))

    def record(name, operation):

        def wrapped(path, *args, **kwargs):
            operation(path, *args, **kwargs)
            target = args[0] if args else path
            if osp.dirname(osp.realpath(target)) == osp.realpath(work_dir):
                operations.append(f'{name} {osp.basename(target)}')
                check_work_dir()

        return wrapped

    monkeypatch.setattr(os, 'replace', record('replace', os.replace))
    monkeypatch.setattr(os, 'remove', record('remove', os.remove))
    _train_in_process(
        tmp_path, [], max_epochs=3, max_keep_ckpts=max_keep_ckpts)
    expected = []
    for epoch in (1, 2, 3):
        expected += [f'replace epoch_{epoch}.pth', 'replace last_checkpoint']
        if epoch > max_keep_ckpts:
            expected.append(f'remove epoch_{epoch - max_keep_ckpts}.pth')
    assert operations == expected


# ------------------------------------------------------------- NaN / Inf
@pytest.mark.parametrize(
    'outputs,expected',
    [
        (dict(loss=torch.tensor(0.5), loss_cls=torch.tensor(0.5)), []),
        (dict(
            loss=torch.tensor(float('nan')),
            loss_cls=torch.tensor(float('nan'))), [('loss', 'nan'),
                                                   ('loss_cls', 'nan')]),
        (dict(
            loss=torch.tensor(float('inf')),
            loss_cls=torch.tensor(1.0),
            loss_aux=torch.tensor(float('inf'))), [('loss', 'inf'),
                                                   ('loss_aux', 'inf')]),
        # a non-loss entry (e.g. an accuracy of an empty batch) is not checked
        (dict(loss=torch.tensor(1.0), accuracy=torch.tensor(float('nan'))), []
         ),
        (dict(loss=float('-inf')), [('loss', '-inf')]),
    ])
def test_bad_losses(outputs, expected):
    found = [(name, str(value))
             for name, value in NonFiniteGuardHook._bad_losses(outputs)]
    assert found == expected


def test_bad_weights():
    """Names exactly the parameters/buffers with a NaN/Inf entry; a finite
    tensor whose float32 sum overflows (2 x 3e38) is not reported."""
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    assert NonFiniteGuardHook._bad_weights(model) == []
    with torch.no_grad():
        model[0].weight[1, 2] = float('nan')
        model[1].running_var[0] = float('inf')
        model[0].bias.fill_(3e38)
    assert NonFiniteGuardHook._bad_weights(model) == [
        '0.weight', '1.running_var'
    ]
    with torch.no_grad():
        model[0].weight[1, 2] = 0.0
        model[1].running_var[0] = 1.0
    assert NonFiniteGuardHook._bad_weights(model) == []


def test_guard_runs_before_the_hooks_that_keep_the_state():
    from mmengine.runner import get_priority
    guard = get_priority(NonFiniteGuardHook.priority)
    for later in ('NORMAL', 'BELOW_NORMAL', 'LOW', 'VERY_LOW'):
        # EMAHook, LoggerHook, ParamSchedulerHook, CheckpointHook
        assert guard < get_priority(later)


@pytest.mark.slow
def test_nan_loss_stops_training_without_poisoned_checkpoint(tmp_path):
    """A NaN written into a head weight before iteration 6 (epoch 2, batch
    2) makes that iteration's loss NaN: training stops there with a clear
    error and exit code 1; only epoch 1's checkpoints exist, all finite."""
    work_dir = str(tmp_path / 'work')
    poison_at = ITERS_PER_EPOCH + 2
    config = write_config(
        str(tmp_path / 'nan.py'),
        extra_hooks=[
            dict(
                type='FaultPoisonWeightHook',
                iteration=poison_at,
                param='head.csra.classifier.weight',
                value='nan',
                when='before')
        ])
    text = wait(start_train(config, work_dir), expect_rc=1)
    # the head's NaN reaches every weight through the backward pass
    assert ('NonFiniteTrainingError: Training stopped at epoch 2, batch 2/4 '
            '(global iteration 6): non-finite loss (loss=nan); non-finite '
            'weights after the optimizer step (backbone.conv1.weight, ') \
        in text, text[-3000:]
    assert (
        'No checkpoint of this state is saved. The last checkpoint, '
        f'saved before this, is {osp.join(work_dir, "epoch_1.pth")}.') in text
    # stopped before LoggerHook (BELOW_NORMAL) logged iteration 6
    assert 'Epoch(train) [2][1/4]' in text
    assert 'Epoch(train) [2][2/4]' not in text
    assert last_checkpoint(work_dir) == osp.join(work_dir, 'epoch_1.pth')
    assert checkpoints(work_dir) == [
        'best_multi-label_mAP_epoch_1.pth', 'epoch_1.pth'
    ]
    for name in checkpoints(work_dir):
        ckpt = safe_torch_load(osp.join(work_dir, name))
        assert ckpt['meta']['epoch'] == 1
        for key, value in ckpt['state_dict'].items():
            assert torch.isfinite(value).all(), (name, key)


def _train_in_process(tmp_path,
                      hooks,
                      guard: bool = True,
                      max_epochs: int = 2,
                      max_keep_ckpts: int = -1,
                      checkpoint_hook: str = 'AtomicCheckpointHook'):
    """Train the tiny config in this process (no validation)."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(TINY)
    cfg.work_dir = str(tmp_path)
    cfg.custom_hooks = ([dict(
        type='NonFiniteGuardHook')] if guard else []) + hooks
    cfg.default_hooks.pop('non_finite_guard')  # the test decides on a guard
    cfg.train_cfg = dict(by_epoch=True, max_epochs=max_epochs)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint = dict(
        type=checkpoint_hook, interval=1, max_keep_ckpts=max_keep_ckpts)
    # do not leave torch.use_deterministic_algorithms on in this process
    cfg.randomness = dict(seed=0, deterministic=False)
    if TESTS not in sys.path:
        sys.path.insert(0, TESTS)
    import fault_injection  # noqa: F401  (registers the hooks)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions: threads only contend
    try:
        Runner.from_cfg(cfg).train()
    finally:
        torch.set_num_threads(threads)


def test_inf_weight_after_finite_step_stops_training(tmp_path):
    """An Inf written into a backbone weight right after the optimizer step
    of iteration 7 (the loss of that iteration is finite) is caught by the
    weight check, before the checkpoint of epoch 2 (after iteration 8)."""
    poison = dict(
        type='FaultPoisonWeightHook',
        iteration=7,
        param='backbone.conv1.weight',
        value=float('inf'),
        when='after')
    with pytest.raises(NonFiniteTrainingError) as info:
        _train_in_process(tmp_path, [poison])
    message = str(info.value)
    assert message.startswith(
        'Training stopped at epoch 2, batch 3/4 (global iteration 7): '
        'non-finite weights after the optimizer step (backbone.conv1.weight)'
        '. No checkpoint of this state is saved.')
    assert 'non-finite loss' not in message
    assert checkpoints(str(tmp_path)) == ['epoch_1.pth']


def test_infinite_logits_under_a_clamping_loss_stop_training(tmp_path):
    """The asymmetric loss clamps probabilities: -inf logits give a finite
    loss and finite gradients, so only the logits check sees them. A head
    whose training forward returns -inf for class 0 from iteration 6 on
    stops there, before epoch 2's checkpoint."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(TINY)
    cfg.work_dir = str(tmp_path)
    cfg.model.head.loss = dict(type='MultiLabelAsymmetricLoss')
    cfg.custom_hooks = [dict(type='NonFiniteGuardHook')]
    cfg.default_hooks.pop('non_finite_guard')
    cfg.train_cfg = dict(by_epoch=True, max_epochs=2)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.randomness = dict(seed=0, deterministic=False)
    runner = Runner.from_cfg(cfg)

    def poison(module, args, output):
        if module.training and runner.iter + 1 >= ITERS_PER_EPOCH + 2:
            output = output.clone()
            output[:, 0] = float('-inf')
            return output

    # registered first, so the guard's hook (added in before_train) sees it
    runner.model.head.register_forward_hook(poison)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.raises(NonFiniteTrainingError) as info:
            runner.train()
    finally:
        torch.set_num_threads(threads)
    message = str(info.value)
    assert message.startswith('Training stopped at epoch 2, batch 2/4 '
                              '(global iteration 6): non-finite logits')
    assert checkpoints(str(tmp_path)) == ['epoch_1.pth']


def test_without_guard_the_poisoned_state_is_saved(tmp_path):
    """Control for the two tests above: the same NaN without the guard
    trains on and writes NaN weights into epoch 2's checkpoint."""
    poison = dict(
        type='FaultPoisonWeightHook',
        iteration=ITERS_PER_EPOCH + 2,
        param='head.csra.classifier.weight',
        value=float('nan'),
        when='before')
    _train_in_process(tmp_path, [poison], guard=False)
    assert checkpoints(str(tmp_path)) == ['epoch_1.pth', 'epoch_2.pth']
    weights = safe_torch_load(str(tmp_path / 'epoch_2.pth'))['state_dict']
    assert not torch.isfinite(weights['head.csra.classifier.weight']).all()
