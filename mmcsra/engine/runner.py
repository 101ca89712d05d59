"""mmengine's Runner, without executing the config stored in a checkpoint."""
import ast
import logging
from typing import Any, Dict, Optional

from mmengine.logging import print_log
from mmengine.runner import Runner
from mmpretrain.registry import RUNNERS

__all__ = ['SafeRunner', 'build_runner', 'literal_assignments']


def literal_assignments(text: Any) -> Optional[Dict[str, Any]]:
    """The top-level ``name = <literal>`` assignments of a Python config.

    The text is parsed with :func:`ast.parse` and each right-hand side read
    with :func:`ast.literal_eval`; nothing is imported, called or executed.
    Assignments whose value is not a literal (calls, names, lambdas,
    f-strings, ...) are left out.

    Returns:
        dict or None: None if ``text`` is not a string of valid Python.
    """
    if not isinstance(text, str):
        return None
    try:
        tree = ast.parse(text, mode='exec')
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, RecursionError,
                    MemoryError):
                continue
    return found


@RUNNERS.register_module()
class SafeRunner(Runner):
    """A :class:`~mmengine.runner.Runner` that never runs checkpoint code.

    mmengine 0.10's :meth:`Runner.resume` (used by ``--resume FILE`` and
    ``--resume`` / ``resume=True`` from the work dir's ``last_checkpoint``)
    passes ``checkpoint['meta']['config']`` to ``Config.fromstring``, which
    *executes* that text as Python, only to read its ``gpu_ids``. A
    checkpoint from someone else -- or one dropped into a shared work dir --
    then runs any command it likes (``x = __import__('os').system(...)``).

    Here the stored config is removed from the checkpoint before mmengine's
    resume logic sees it and is read as data instead: its literal top-level
    assignments (:func:`literal_assignments`, no execution). mmengine's
    check is kept: a checkpoint whose ``gpu_ids`` name another number of
    processes than this run's is an error unless ``auto_scale_lr`` is
    enabled. Everything else of resuming (weights, optimizer, schedulers,
    message hub, seed, dataset-meta warning) is mmengine's.

    ``configs/_base_/default_runtime.py`` selects it with
    ``runner_type = 'SafeRunner'``; ``tools/train.py`` builds the runner from
    ``runner_type`` (and uses this class when a config names none).
    """

    _resuming: Optional[str] = None

    def resume(self, filename: str, *args, **kwargs) -> None:
        self._resuming = filename
        try:
            super().resume(filename, *args, **kwargs)
        finally:
            self._resuming = None

    def load_checkpoint(self, filename: str, *args, **kwargs):
        checkpoint = super().load_checkpoint(filename, *args, **kwargs)
        meta = checkpoint.get('meta') if isinstance(checkpoint, dict) \
            else None
        if self._resuming is not None and isinstance(meta, dict) and \
                'config' in meta:
            self._check_stored_config(meta.pop('config'), filename)
        return checkpoint

    def _check_stored_config(self, text: Any, filename: str) -> None:
        """mmengine's ``gpu_ids`` check, on the config read as data."""
        values = literal_assignments(text)
        if values is None:
            self.logger.warning(
                f'The config stored in {filename} is not valid Python; it is '
                'not compared with this run (it is never executed).')
            return
        gpu_ids = values.get('gpu_ids')
        if not isinstance(gpu_ids, (list, tuple)) or not gpu_ids or \
                len(gpu_ids) == self._world_size:
            return
        if self.auto_scale_lr and self.auto_scale_lr.get('enable', False):
            self.logger.info(
                f'{filename} was trained with {len(gpu_ids)} GPUs and this '
                f'run has {self._world_size} processes; the learning rate is '
                f'scaled by auto_scale_lr={self.auto_scale_lr}')
            return
        raise RuntimeError(
            f'{filename} was trained with {len(gpu_ids)} GPUs but this run '
            f'has {self._world_size} processes; resuming would train with '
            'another total batch size and the same learning rate. Set '
            '`auto_scale_lr = dict(enable=True, base_batch_size=...)` '
            '(tools/train.py --auto-scale-lr).')


def build_runner(cfg) -> Runner:
    """The runner ``cfg.runner_type`` names (default :class:`SafeRunner`).

    As MMPretrain's tools do, the runner class comes from the registry
    (``RUNNERS.build(cfg)``); a config that names none gets
    :class:`SafeRunner`. A runner of another type resumes the stock way,
    executing the config text stored in the checkpoint, so resuming with
    one logs a warning (docs/security.md).
    """
    cfg.setdefault('runner_type', 'SafeRunner')
    runner = RUNNERS.build(cfg)
    if cfg.get('resume', False) and not isinstance(runner, SafeRunner):
        print_log(
            f'runner_type={cfg.runner_type!r} is not a SafeRunner: resuming '
            'executes the config text stored in the checkpoint '
            '(docs/security.md)',
            logger='current',
            level=logging.WARNING)
    return runner
