import sys
from typing import Optional

from mmengine.hooks import Hook
from mmengine.utils import ProgressBar
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """Show a progress bar for every train epoch and every val/test loop.

    mmengine's ``LoggerHook`` prints a line every ``interval`` iterations;
    on a laptop-sized demo a live bar (iterations done, rate, ETA) is more
    useful. Only rank 0 draws. The bar is drawn on ``stream`` (default
    ``sys.stdout``) and finished with a newline so log lines stay readable.

    Args:
        bar_width (int): characters of the bar. Default 40.
    """

    # before LoggerHook (BELOW_NORMAL): the bar ends its line before the
    # epoch's log line is printed
    priority = 'NORMAL'

    def __init__(self, bar_width: int = 40):
        self.bar_width = bar_width
        self._bar: Optional[ProgressBar] = None

    def _start(self, runner, total: int) -> None:
        if runner.rank == 0 and total > 0:
            self._bar = ProgressBar(
                total, bar_width=self.bar_width, file=sys.stdout)

    def _step(self) -> None:
        if self._bar is not None:
            self._bar.update()
            if self._bar.completed >= self._bar.task_num:
                self._finish()

    def _finish(self) -> None:
        if self._bar is not None:
            self._bar.file.write('\n')
            self._bar.file.flush()
            self._bar = None

    def before_train_epoch(self, runner) -> None:
        self._start(runner, len(runner.train_dataloader))

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        self._step()

    def after_train_epoch(self, runner) -> None:
        self._finish()

    def before_val_epoch(self, runner) -> None:
        self._start(runner, len(runner.val_dataloader))

    def after_val_iter(self,
                       runner,
                       batch_idx,
                       data_batch=None,
                       outputs=None) -> None:
        self._step()

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._finish()

    def before_test_epoch(self, runner) -> None:
        self._start(runner, len(runner.test_dataloader))

    def after_test_iter(self,
                        runner,
                        batch_idx,
                        data_batch=None,
                        outputs=None) -> None:
        self._step()

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._finish()
