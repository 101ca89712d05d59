import logging
from typing import Sequence

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmpretrain.registry import HOOKS

from ..checkpoint_checks import check_checkpoint_fits
from ..config_checks import (DRY_RUN_SIZES, ConfigError, built_datasets,
                             check_runner_config, unwrap)


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
      :func:`mmcsra.engine.checkpoint_checks.check_checkpoint_fits` --
      tensors whose shapes differ from the model's raise
      :class:`~mmcsra.engine.checkpoint_checks.CheckpointShapeError`
      naming them, or, with ``reinit_head`` and ``load_from`` (not resume),
      the class-dependent modules' differing tensors are dropped and logged;
      missing / unexpected keys raise
      :class:`~mmcsra.engine.checkpoint_checks.CheckpointKeyError` (mmengine
      itself loads with ``strict=False``) unless ``allow_partial``; the
      checkpoint's ``meta['dataset_meta']['classes']`` must equal every
      built dataset's classes, in order
      (:class:`~mmcsra.engine.checkpoint_checks.ClassOrderError`).

    ``tools/train.py`` and ``tools/test.py`` register it through
    :func:`mmcsra.engine.add_config_checks`, which sets ``reinit_head`` from
    the config key ``load_from_reinit_head`` (``tools/train.py
    --reinit-head``); ``allow_partial`` is read from the config key
    ``load_from_allow_partial`` (``tools/test.py --allow-partial``) when
    the checkpoint is read.

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
        datasets = [(f'the {split} dataset', _dataset_classes(dataset))
                    for split, dataset in built_datasets(runner).items()]
        check_checkpoint_fits(
            unwrap(runner.model),
            checkpoint,
            filename=runner.cfg.get('load_from'),
            datasets_classes=datasets,
            allow_partial=bool(
                runner.cfg.get('load_from_allow_partial', False)),
            reinit_head=self.reinit_head and not resume,
            resume=resume)


def _dataset_classes(dataset):
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    return list(classes) if classes else None


def add_config_checks(runner) -> None:
    """Register :class:`ConfigCheckHook` (unless the config already has it).

    The config key ``load_from_reinit_head=True`` (``tools/train.py
    --reinit-head``) turns on the hook's ``reinit_head``.

    Raises:
        ConfigError: ``load_from_reinit_head`` together with resuming (a
            resumed run continues the same model; nothing is re-initialised).
    """
    reinit = bool(runner.cfg.get('load_from_reinit_head', False))
    if reinit and runner.cfg.get('resume', False):
        raise ConfigError(
            'load_from_reinit_head (--reinit-head) can not be combined with '
            'resuming: a resumed run continues the same model. Use load_from '
            '(without --resume) to start a new run from the checkpoint.')
    if reinit and not runner.cfg.get('load_from'):
        print_log(
            'load_from_reinit_head (--reinit-head) has no effect: no '
            'checkpoint is loaded (load_from is not set)',
            logger='current',
            level=logging.WARNING)
    for hook in runner.hooks:
        if isinstance(hook, ConfigCheckHook):
            hook.reinit_head = hook.reinit_head or reinit
            return
    runner.register_hook(ConfigCheckHook(reinit_head=reinit))
