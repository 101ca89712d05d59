"""Train a model from a config (OpenMMLab ``tools/train.py`` conventions).

Works with CUDA and on CPU-only machines: the helpers of
:mod:`mmcsra.engine.compat.cpu_distributed` pick gloo and CPU DDP there, and
loaders with ``num_workers=0`` are allowed.

The runner is built from the config's ``runner_type`` (as MMPretrain's tool
does); a config without one gets :class:`mmcsra.engine.SafeRunner`, which
never executes the config text stored in a checkpoint it resumes from.

Examples::

    python tools/train.py configs/csra/resnet18_multidigits.py
    bash tools/dist_train.sh configs/csra/resnet101_voc.py 8
"""
import argparse

import mmcsra  # noqa: F401  (registers components, applies compat fixes)
from mmcsra.engine import (add_config_checks, build_runner, finish_distributed,
                           fix_dataloader_cfg, setup_distributed_env)
from mmcsra.engine.tool_args import (add_cfg_options_arg,
                                     add_config_dir_to_path, add_launcher_args,
                                     export_local_rank, resolve_work_dir)
from mmcsra.engine.weights_check import check_checkpoints_available
from mmengine.config import Config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint; without a value, resume '
        'from the latest checkpoint in the work dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed precision training (GPU): the optim wrapper becomes '
        'AmpOptimWrapper, or AmpSAMOptimWrapper (SAM in mixed precision) for '
        'a SAMOptimWrapper config; loss_scale defaults to dynamic')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the total batch size')
    add_cfg_options_arg(parser)
    parser.add_argument(
        '--reinit-head',
        action='store_true',
        help='with load_from: re-initialise the head layers whose shapes '
        'differ from the checkpoint (another number of classes) instead of '
        'stopping; sets the config key load_from_reinit_head=True')
    add_launcher_args(parser)
    args = parser.parse_args(argv)
    export_local_rank(args)
    return args


def amp_wrapper_type(wrapper_type) -> str:
    """The mixed-precision optim wrapper replacing ``wrapper_type``.

    SAM (with or without a registry scope, ``mmpretrain.SAMOptimWrapper``)
    becomes ``AmpSAMOptimWrapper`` and stays SAM; ``AmpSAMOptimWrapper``
    stays; any other wrapper becomes mmengine's ``AmpOptimWrapper``.
    """
    if not isinstance(wrapper_type, str):  # a class in a Python config
        wrapper_type = wrapper_type.__name__
    scope, dot, name = wrapper_type.rpartition('.')
    if name in ('SAMOptimWrapper', 'AmpSAMOptimWrapper'):
        return f'{scope}{dot}AmpSAMOptimWrapper'
    return 'AmpOptimWrapper'


def merge_args(cfg: Config, args) -> Config:
    cfg.launcher = args.launcher
    resolve_work_dir(cfg, args.work_dir, args.config)
    if args.amp:
        cfg.optim_wrapper.type = amp_wrapper_type(
            cfg.optim_wrapper.get('type', 'OptimWrapper'))
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if args.reinit_head:
        cfg.load_from_reinit_head = True
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    fix_dataloader_cfg(cfg)
    return cfg


def main(argv=None):
    args = parse_args(argv)
    add_config_dir_to_path(args.config)  # custom_imports beside the config
    cfg = merge_args(Config.fromfile(args.config), args)
    check_checkpoints_available(cfg, args.config)  # offline nodes: fail now
    setup_distributed_env(cfg, args.launcher)
    runner = build_runner(cfg)
    add_config_checks(runner)  # num_classes, in_channels, checkpoint shapes
    runner.train()
    finish_distributed()  # every rank exits cleanly


if __name__ == '__main__':
    main()
