"""Shared helpers of the test suite (no test collected here)."""
import contextlib
import copy
import logging
import os
import os.path as osp
import subprocess
import sys
from typing import List, Optional, Sequence

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import MMLogger

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(REPO, 'configs')
TOOLS = osp.join(REPO, 'tools')


def run_tool(args: Sequence[str],
             timeout: float = 900,
             env: Optional[dict] = None) -> subprocess.CompletedProcess:
    """Run ``python tools/<args>`` (or a shell script) from the repo root.

    Raises ``AssertionError`` with the captured output if it fails.
    """
    args = [str(a) for a in args]
    if args[0].endswith('.sh'):
        cmd = ['bash', osp.join(TOOLS, args[0])] + args[1:]
    else:
        cmd = [sys.executable, osp.join(TOOLS, args[0])] + args[1:]
    full_env = dict(os.environ)
    full_env['PYTHON'] = sys.executable
    full_env.setdefault('OMP_NUM_THREADS', '1')
    if env:
        full_env.update(env)
    proc = subprocess.run(
        cmd,
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(
            f'{" ".join(cmd)} exited {proc.returncode}\n--- stdout\n'
            f'{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}')
    return proc


class LossRecorder(Hook):
    """Keeps the training loss of every iteration."""

    priority = 'LOWEST'

    def __init__(self):
        self.losses: List[float] = []

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self.losses.append(float(outputs['loss']))


def tiny_cfg(config: str,
             work_dir: str,
             max_iters: int = 3,
             num_samples: int = 32,
             batch_size: int = 8,
             cfg_options: Optional[dict] = None) -> Config:
    """A config that trains ``max_iters`` iterations without validation.

    Works for any mmcsra config on the ``MultiDigits`` demo dataset (its
    ``num_samples`` is shrunk) or on another dataset when ``num_samples`` is
    None.
    """
    cfg = Config.fromfile(config)
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    cfg.train_cfg = dict(by_epoch=False, max_iters=max_iters)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', by_epoch=False, interval=10**9)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10**9)
    cfg.custom_hooks = [
        h for h in cfg.get('custom_hooks', [])
        if h.get('type') != 'ProgressBarHook'
    ]
    cfg.train_dataloader.batch_size = batch_size
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    if num_samples is not None:
        cfg.train_dataloader.dataset.num_samples = num_samples
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def train_few_iters(config: str,
                    work_dir: str,
                    max_iters: int = 3,
                    **kwargs) -> List[float]:
    """Train a config for a few iterations; return the loss of each one.

    The build-time checks of ``tools/train.py`` (num_classes against the
    datasets, in_channels against the features) run as they would there.
    """
    import mmcsra  # noqa: F401
    from mmengine.runner import Runner

    from mmcsra.engine import add_config_checks

    cfg = tiny_cfg(config, work_dir, max_iters=max_iters, **kwargs)
    runner = Runner.from_cfg(cfg)
    add_config_checks(runner)
    recorder = LossRecorder()
    runner.register_hook(recorder)
    runner.train()
    return recorder.losses


@contextlib.contextmanager
def captured_logs(levels: bool = False):
    """The messages sent to mmengine's current logger inside the block:
    ``[message]``, or ``[(levelno, message)]`` with ``levels=True``."""
    logger = MMLogger.get_current_instance()
    messages = []

    class _Collect(logging.Handler):

        def emit(self, record):
            message = record.getMessage()
            messages.append((record.levelno, message) if levels else message)

    handler = _Collect(level=logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


def method_folders() -> List[str]:
    """The method folders of ``configs/`` (every folder but ``_base_``),
    sorted by name."""
    return sorted(
        d for d in os.listdir(CONFIGS)
        if d != '_base_' and osp.isdir(osp.join(CONFIGS, d)))
