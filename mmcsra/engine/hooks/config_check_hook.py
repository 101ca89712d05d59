from typing import Sequence

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from ..checkpoint_checks import check_checkpoint_shapes
from ..config_checks import DRY_RUN_SIZES, check_runner_config, unwrap


@HOOKS.register_module()
class ConfigCheckHook(Hook):
    """Stop a run whose config or checkpoint does not fit, before it starts.

    * ``before_run`` (the model, data loaders and optimizer are built; no
      weight is initialised or loaded and no iteration has run):
      :func:`mmcsra.engine.config_checks.check_runner_config` -- every
      ``num_classes`` must equal the datasets' class count, and a dry forward
      of the backbone / neck must give the channels the neck / head declare
      as ``in_channels``. Raises
      :class:`~mmcsra.engine.config_checks.ConfigError`.
    * ``after_load_checkpoint`` (the checkpoint is read, not yet loaded
      into the model):
      :func:`mmcsra.engine.checkpoint_checks.check_checkpoint_shapes` --
      tensors whose shapes differ from the model's raise
      :class:`~mmcsra.engine.checkpoint_checks.CheckpointShapeError`
      naming them, or, with ``reinit_head`` and ``load_from`` (not resume),
      the class-dependent modules' differing tensors are dropped and logged.

    ``tools/train.py`` and ``tools/test.py`` register it through
    :func:`mmcsra.engine.add_config_checks`, which sets ``reinit_head`` from
    the config key ``load_from_reinit_head`` (``tools/train.py
    --reinit-head``).

    Args:
        reinit_head (bool): with ``load_from``, re-initialise the head (and
            any neck with ``num_classes``) where the checkpoint's shapes
            differ, e.g. to fine-tune on another class list. Defaults to
            False (raise).
        dry_run_sizes (Sequence[int]): image sides tried, in order, for the
            dry forward of the ``in_channels`` check. Defaults to (64, 224).
    """

    priority = 'VERY_HIGH'  # before other hooks act on a bad model / state

    def __init__(self,
                 reinit_head: bool = False,
                 dry_run_sizes: Sequence[int] = DRY_RUN_SIZES):
        self.reinit_head = bool(reinit_head)
        self.dry_run_sizes = tuple(dry_run_sizes)
        if not self.dry_run_sizes:
            raise ValueError('dry_run_sizes must not be empty')

    def before_run(self, runner) -> None:
        check_runner_config(runner, self.dry_run_sizes)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        resume = bool(runner.cfg.get('resume', False))
        check_checkpoint_shapes(
            unwrap(runner.model),
            checkpoint,
            filename=runner.cfg.get('load_from'),
            reinit_head=self.reinit_head and not resume,
            resume=resume)
