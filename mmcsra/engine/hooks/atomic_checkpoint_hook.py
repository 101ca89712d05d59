"""A checkpoint hook whose saving survives a kill at any moment."""
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.fileio import get_file_backend
from mmengine.hooks import CheckpointHook
from mmpretrain.registry import HOOKS

from ..atomic_files import ATOMIC_BACKEND_ARGS, atomic_open


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's :class:`~mmengine.hooks.CheckpointHook`, crash-safe.

    Stock mmengine 0.10 writes ``epoch_N.pth`` with one ``open``/``write``
    (a kill leaves a truncated file under its final name), then
    ``last_checkpoint`` -- the path ``--resume`` without a value loads --
    the same way, and with ``max_keep_ckpts`` it deletes the oldest kept
    checkpoint *before* writing the new one (with ``max_keep_ckpts=1`` a
    kill in between leaves ``last_checkpoint`` naming a deleted file).

    This hook, used by ``default_hooks.checkpoint`` in
    ``configs/_base_/default_runtime.py``:

    * saves checkpoints on local disks through
      :class:`~mmcsra.engine.atomic_files.AtomicLocalBackend` (temporary file
      + fsync + atomic rename) unless ``backend_args`` /
      ``file_client_args`` choose another backend;
    * writes ``last_checkpoint`` with
      :func:`~mmcsra.engine.atomic_files.atomic_open`, after the new
      checkpoint is complete, so it always names a complete file;
    * deletes checkpoints beyond ``max_keep_ckpts`` only after
      ``last_checkpoint`` names the new one (and not at all if saving
      failed).

    Every argument is :class:`~mmengine.hooks.CheckpointHook`'s.
    """

    def before_train(self, runner) -> None:
        out_dir = self.out_dir if self.out_dir is not None else \
            runner.work_dir
        if self.file_client_args is None and self.backend_args is None and \
                get_file_backend(out_dir).name == 'LocalBackend':
            self.backend_args = dict(ATOMIC_BACKEND_ARGS)
        super().before_train(runner)

    def _advance_kept_steps(self, runner, step) -> list:
        """Update ``keep_ckpt_ids`` for ``step``; return the checkpoint paths
        that fall out of it (to delete once the new one is recorded)."""
        outdated = []
        if self.max_keep_ckpts <= 0:
            return outdated
        # _save_checkpoint and _save_best_checkpoint may both save a step
        if self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step:
            return outdated
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            old = self.keep_ckpt_ids.popleft()
            outdated.append(
                self.file_backend.join_path(self.out_dir,
                                            self.filename_tmpl.format(old)))
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids',
                                       list(self.keep_ckpt_ids))
        return outdated

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        outdated = self._advance_kept_steps(runner, step)
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        with atomic_open(osp.join(runner.work_dir, 'last_checkpoint'),
                         'w') as f:
            f.write(self.last_ckpt)
        for path in outdated:
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # deepspeed saves folders
                self.file_backend.rmtree(path)
