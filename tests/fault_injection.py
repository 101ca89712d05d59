"""Test-only hooks that inject faults into a training run.

Used by tests/test_engine/test_faults.py and tests/test_engine/test_distributed.py through the
configs in tests/configs/, which import this module with
``custom_imports = dict(imports=['fault_injection'])``; the tests put
``tests/`` on ``PYTHONPATH``. Never used by mmcsra itself.
"""
import os
import os.path as osp
import signal
import time

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class FaultPauseHook(Hook):
    """After global iteration ``iteration`` (1-based), write ``marker`` (the
    process id) and sleep, so that the test can SIGKILL the process there.

    Args:
        iteration (int): 1-based global training iteration.
        marker (str): file to create when paused.
        seconds (float): how long to sleep. Default 600.
    """

    priority = 'LOWEST'

    def __init__(self, iteration: int, marker: str, seconds: float = 600):
        self.iteration = iteration
        self.marker = marker
        self.seconds = seconds

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.iteration:
            with open(self.marker, 'w') as f:
                f.write(str(os.getpid()))
            time.sleep(self.seconds)


@HOOKS.register_module()
class FaultKillDuringSaveHook(Hook):
    """SIGKILL this process in the middle of writing the file ``filename``.

    Wraps :func:`os.replace` for the rest of the process: when a temporary
    file is about to be renamed to ``filename`` (its data has been written),
    the temporary file is cut to ``fraction`` of its size and the process
    SIGKILLs itself. The disk is then exactly as a kill in the middle of the
    data write leaves it. With a writer that does not go through
    ``os.replace`` (stock mmengine), nothing happens and the run completes.

    Args:
        filename (str): base name of the target, e.g. ``'epoch_2.pth'``.
        fraction (float): share of the bytes left on disk. Default 0.5.
    """

    def __init__(self, filename: str, fraction: float = 0.5):
        self.filename = filename
        self.fraction = fraction

    def before_run(self, runner):
        original = os.replace

        def replace(src, dst, *args, **kwargs):
            if osp.basename(dst) == self.filename:
                os.truncate(src, int(osp.getsize(src) * self.fraction))
                os.kill(os.getpid(), signal.SIGKILL)
            return original(src, dst, *args, **kwargs)

        os.replace = replace


@HOOKS.register_module()
class FaultRaiseOnRankHook(Hook):
    """Raise ``RuntimeError`` on rank ``rank`` before global iteration
    ``iteration`` (1-based)."""

    def __init__(self, rank: int = 1, iteration: int = 2):
        self.rank = rank
        self.iteration = iteration

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.rank == self.rank and runner.iter + 1 == self.iteration:
            raise RuntimeError(f'injected failure on rank {self.rank} at '
                               f'iteration {self.iteration}')


@HOOKS.register_module()
class FaultPoisonWeightHook(Hook):
    """Write ``value`` into the first entry of parameter ``param``.

    With ``when='before'`` this happens before global iteration
    ``iteration`` (1-based), so that iteration's forward pass and loss see
    it; with ``when='after'`` it happens after that iteration's optimizer
    step and before the hooks that check or save the new state (the loss
    of that iteration stays finite). ``rank`` limits it to one rank.
    ``value`` may be given as a string (``'nan'``, ``'inf'``) for configs.
    """

    priority = 'HIGHEST'

    def __init__(self,
                 iteration: int,
                 param: str,
                 value: float,
                 when: str = 'before',
                 rank=None):
        assert when in ('before', 'after'), when
        self.iteration = iteration
        self.param = param
        self.value = float(value)
        self.when = when
        self.rank = rank

    def _poison(self, runner):
        if runner.iter + 1 != self.iteration or (self.rank is not None
                                                 and runner.rank != self.rank):
            return
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        with torch.no_grad():
            model.get_parameter(self.param).view(-1)[0] = self.value

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self.when == 'before':
            self._poison(runner)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if self.when == 'after':
            self._poison(runner)
