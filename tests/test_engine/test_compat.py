"""Stack compatibility: pkg_resources-free configs and safe checkpoints."""
import collections
import json
import math
import os
import pickle
import subprocess
import sys
import textwrap

import pytest
import torch

import mmcsra  # noqa: F401
from mmcsra.engine import UnsafeCheckpointError, safe_torch_load
from utils import REPO, run_tool

MMPRETRAIN_BASE = textwrap.dedent("""
    _base_ = 'mmpretrain::resnet/resnet50_8xb32_in1k.py'
    model = dict(head=dict(num_classes=7))
""")

LOAD_WITHOUT_PKG_RESOURCES = textwrap.dedent("""
    import sys
    sys.modules['pkg_resources'] = None  # as with setuptools >= 82
    {imports}
    from mmengine.config import Config
    cfg = Config.fromfile(sys.argv[1])
    print(cfg.model.backbone.type, cfg.model.backbone.depth,
          cfg.model.head.num_classes, cfg.train_dataloader.dataset.type)
""")


def _load_config_without_pkg_resources(tmp_path, imports):
    config = tmp_path / 'inherits_mmpretrain.py'
    config.write_text(MMPRETRAIN_BASE)
    code = LOAD_WITHOUT_PKG_RESOURCES.format(imports=imports)
    return subprocess.run(
        [sys.executable, '-c', code, str(config)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300)


def test_mmpretrain_base_loads_without_pkg_resources(tmp_path):
    proc = _load_config_without_pkg_resources(tmp_path, 'import mmcsra')
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the child overrides num_classes; everything else comes from the base
    assert proc.stdout.split()[-4:] == ['ResNet', '50', '7', 'ImageNet']


def test_stock_mmengine_needs_pkg_resources(tmp_path):
    """The trap the fix is for: without mmcsra the same load fails."""
    proc = _load_config_without_pkg_resources(tmp_path, '')
    assert proc.returncode != 0
    assert 'pkg_resources' in proc.stderr


# ------------------------------------------------------------ checkpoints
class _RunsCode:
    """Unpickling this runs a shell command (a malicious checkpoint)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


class _WalksAttributes:
    """Unpickling this calls builtins.getattr on a non-HistoryBuffer."""

    def __reduce__(self):
        return (getattr, (collections.OrderedDict, 'fromkeys'))


def test_training_checkpoint_needs_the_allow_list(tiny_gap_run):
    _, work_dir = tiny_gap_run
    ckpt = str(work_dir / 'epoch_2.pth')
    # stock torch >= 2.6 refuses mmengine's own checkpoint...
    with pytest.raises(pickle.UnpicklingError):
        torch.load(ckpt)
    # ...and mmcsra loads it with weights_only=True and the allow-list
    loaded = safe_torch_load(ckpt, map_location='cpu')
    assert loaded['meta']['epoch'] == 2
    assert loaded['meta']['dataset_meta']['classes'][3] == 'three'
    losses = loaded['message_hub']['log_scalars']['train/loss']
    assert len(losses.data[0]) > 0  # the HistoryBuffer came back whole
    assert losses.mean() == pytest.approx(float(losses.data[0].mean()))


def test_code_executing_pickle_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    ckpt = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': _RunsCode(marker)}, ckpt)
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        safe_torch_load(str(ckpt))
    assert not marker.exists()

    # through mmengine's loader, as load_from / --resume / tools/test.py use
    from mmengine.runner import CheckpointLoader
    with pytest.raises(UnsafeCheckpointError):
        CheckpointLoader.load_checkpoint(str(ckpt), map_location='cpu')
    assert not marker.exists()


def test_code_executing_pickle_from_a_url_is_refused(tmp_path, monkeypatch):
    """``load_from='https://...'`` / ``init_cfg`` Pretrained URLs: the
    download lands in the torch hub cache; a cached malicious file (no
    network needed) must be refused, not unpickled with weights_only=False
    as torch.hub.load_state_dict_from_url does by default."""
    from mmengine.runner.checkpoint import CheckpointLoader
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'hub'))
    marker = tmp_path / 'pwned'
    cache = tmp_path / 'hub' / 'hub' / 'checkpoints'
    cache.mkdir(parents=True)
    torch.save({'state_dict': {}, 'x': _RunsCode(marker)}, cache / 'evil.pth')
    for url in ('https://example.invalid/evil.pth',
                'http://example.invalid/evil.pth'):
        with pytest.raises(UnsafeCheckpointError):
            CheckpointLoader.load_checkpoint(url, map_location='cpu')
    assert not marker.exists()


def test_getattr_is_restricted_to_history_buffers(tmp_path):
    ckpt = tmp_path / 'walks.pth'
    torch.save({'x': _WalksAttributes()}, ckpt)
    with pytest.raises(UnsafeCheckpointError, match='getattr'):
        safe_torch_load(str(ckpt))


class _CallsScheduler:
    """Unpickling this calls the one-cycle scheduler class itself."""

    def __reduce__(self):
        from mmengine.optim.scheduler.param_scheduler import \
            OneCycleParamScheduler
        return (OneCycleParamScheduler, (None, 'lr', 1.0))


class _WalksScheduler:
    """Unpickling this fetches a non-annealing attribute of the scheduler."""

    def __reduce__(self):
        from mmengine.optim.scheduler.param_scheduler import \
            OneCycleParamScheduler
        return (getattr, (OneCycleParamScheduler, 'step'))


@pytest.mark.parametrize('strategy', ['cos', 'linear'])
def test_one_cycle_scheduler_state_round_trips(tmp_path, strategy):
    """OneCycle's state holds a static method (``anneal_func``): resuming a
    one-cycle run (the strategy configs) needs it, and it must come back as
    the same function."""
    from mmengine.optim import OneCycleLR
    model = torch.nn.Linear(2, 1)
    optim = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = OneCycleLR(
        optim, eta_max=0.1, total_steps=10, anneal_strategy=strategy)
    for _ in range(3):
        optim.step()
        sched.step()
    ckpt = tmp_path / 'sched.pth'
    torch.save({'param_schedulers': [sched.state_dict()]}, ckpt)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(ckpt)  # stock torch refuses it
    (state, ) = safe_torch_load(str(ckpt))['param_schedulers']
    assert state['anneal_func'] is sched.anneal_func
    # 0.1 -> 0 at pct 0.5: cos gives 0.05, linear 0.05; 0.25: 0.0854 / 0.075
    expected = {
        'cos': 0.1 + (0 - 0.1) / 2 * (1 - math.cos(math.pi / 4)),
        'linear': 0.075
    }[strategy]
    assert state['anneal_func'](0.1, 0., 0.25) == pytest.approx(expected)
    assert state['last_step'] == sched.last_step == 3


@pytest.mark.parametrize('payload', [_CallsScheduler, _WalksScheduler])
def test_scheduler_reference_is_inert(tmp_path, payload):
    """The scheduler's class is named only for its annealing functions: a
    pickle may neither call it nor fetch anything else from it."""
    ckpt = tmp_path / 'sched_evil.pth'
    torch.save({'x': payload()}, ckpt)
    with pytest.raises(UnsafeCheckpointError):
        safe_torch_load(str(ckpt))


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        safe_torch_load(str(tmp_path / 'nope.pth'))


def test_test_tool_refuses_malicious_checkpoint(tmp_path, tiny_gap_run):
    config, _ = tiny_gap_run
    marker = tmp_path / 'pwned'
    ckpt = tmp_path / 'evil.pth'
    torch.save({'state_dict': _RunsCode(marker)}, ckpt)
    with pytest.raises(AssertionError) as err:
        run_tool([
            'test.py', config, ckpt, '--work-dir', tmp_path / 'wd',
            '--cfg-options', 'test_dataloader.dataset.num_samples=8'
        ])
    assert 'UnsafeCheckpointError' in str(err.value)
    assert not marker.exists()


def test_resume_and_load_from_use_safe_loading(tmp_path, tiny_gap_run):
    """--resume and load_from read mmengine checkpoints on torch >= 2.6."""
    config, work_dir = tiny_gap_run
    resumed = tmp_path / 'resumed'
    proc = run_tool([
        'train.py', config, '--work-dir', resumed, '--resume',
        str(work_dir / 'epoch_1.pth'), '--cfg-options',
        'train_dataloader.dataset.num_samples=32',
        'train_dataloader.batch_size=16', 'train_cfg.max_epochs=2',
        'val_dataloader.dataset.num_samples=16',
        'test_dataloader.dataset.num_samples=16'
    ])
    assert 'resumed epoch: 1' in proc.stdout + proc.stderr
    ckpt = safe_torch_load(str(resumed / 'epoch_2.pth'))
    assert ckpt['meta']['epoch'] == 2

    proc = run_tool([
        'train.py', config, '--work-dir', tmp_path / 'finetune',
        '--cfg-options', f'load_from={work_dir / "epoch_2.pth"}',
        'train_dataloader.dataset.num_samples=16',
        'train_dataloader.batch_size=16', 'train_cfg.max_epochs=1',
        'val_dataloader.dataset.num_samples=16'
    ])
    assert 'Load checkpoint from' in proc.stdout + proc.stderr


_ATTRIBUTES_IMPORT_MUST_NOT_TOUCH = (
    'torch.load',
    'torch.save',
    'torch.cuda.set_device',
    'mmengine.fileio.backends.local_backend.LocalBackend.put',
    'mmengine.hooks.checkpoint_hook.CheckpointHook._save_checkpoint',
    'mmengine.hooks.checkpoint_hook.CheckpointHook.'
    '_save_checkpoint_with_step',
    'mmengine.runner.runner.Runner.__init__',
    'mmengine.runner.runner.Runner.resume',
    'mmengine.runner.runner.Runner.load_or_resume',
    'mmengine.runner.runner.Runner.wrap_model',
    'mmengine.runner.checkpoint.load_from_local',
    'mmengine.runner.checkpoint.load_checkpoint',
    'mmengine.dist.init_dist',
    'mmengine.dist.utils._init_dist_pytorch',
    'mmengine.config.Config.fromstring',
    'mmengine.fileio.load',
    'mmengine.model.wrappers.MMDistributedDataParallel.__init__',
    'mmpretrain.models.ImageClassifier.forward',
)


def test_import_changes_no_third_party_attribute_but_the_named_shims():
    """``import mmcsra`` leaves mmengine/torch attributes as they were.

    A fresh interpreter records the objects behind the attributes that an
    import-time patch would have to replace (checkpoint saving, resume,
    distributed init, DDP wrapping, the hook module's ``open``), imports
    mmcsra and compares identities. The only rebinding allowed is the
    version-gated shim named in ``applied_shims()``.
    """
    script = textwrap.dedent(f'''
        import functools, importlib, json
        import mmengine.hooks.checkpoint_hook as hook_module
        names = {list(_ATTRIBUTES_IMPORT_MUST_NOT_TOUCH)!r}
        def resolve(name):
            parts = name.split('.')
            for i in range(len(parts), 0, -1):
                try:
                    obj = importlib.import_module('.'.join(parts[:i]))
                except ImportError:
                    continue
                return functools.reduce(getattr, parts[i:], obj)
        before = {{n: resolve(n) for n in names}}
        hook_open = hook_module.__dict__.get('open')
        import mmcsra
        from mmcsra.engine.compat import applied_shims
        changed = [n for n in names if resolve(n) is not before[n]]
        print(json.dumps(dict(
            changed=changed, shims=applied_shims(),
            hook_open_same=hook_module.__dict__.get('open') is hook_open)))
    ''')
    out = subprocess.run([sys.executable, '-c', script],
                         capture_output=True,
                         text=True,
                         check=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    assert report['changed'] == []
    assert report['hook_open_same']
    # the shims this stack needs, and only those (see mmcsra.engine.compat)
    assert set(report['shims']) <= {
        'mmengine_unrestricted_torch_load', 'setuptools_pkg_resources_removed'
    }
    assert 'mmengine_unrestricted_torch_load' in report['shims']
