"""Test (evaluate) a checkpoint (OpenMMLab ``tools/test.py`` conventions).

The checkpoint is loaded with ``torch.load(weights_only=True)`` and
mmcsra's allow-list: a checkpoint that needs any other pickle global is
refused (see :mod:`mmcsra.engine.compat`).

Examples::

    python tools/test.py CONFIG CHECKPOINT [--out preds.pkl]
    bash tools/dist_test.sh CONFIG CHECKPOINT 8
"""
import argparse

import mmcsra  # noqa: F401  (registers components, applies compat fixes)
from mmcsra.engine import (add_config_checks, fix_dataloader_cfg,
                           setup_distributed_env)
from mmcsra.engine.tool_args import (add_cfg_options_arg,
                                     add_config_dir_to_path,
                                     add_launcher_args, export_local_rank,
                                     resolve_work_dir)
from mmengine.config import Config
from mmengine.evaluator import DumpResults
from mmengine.runner import Runner


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Evaluate a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument(
        '--out', help='dump the predictions to this pickle file '
        '(a list of dicts with pred_score, gt_label, ...)')
    add_cfg_options_arg(parser)
    add_launcher_args(parser)
    args = parser.parse_args(argv)
    export_local_rank(args)
    return args


def main(argv=None):
    args = parse_args(argv)
    add_config_dir_to_path(args.config)  # custom_imports beside the config
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    resolve_work_dir(cfg, args.work_dir, args.config)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    fix_dataloader_cfg(cfg)
    setup_distributed_env(cfg, args.launcher)

    runner = Runner.from_cfg(cfg)
    add_config_checks(runner)  # num_classes, in_channels, checkpoint shapes
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl file, got {args.out!r}')
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    metrics = runner.test()
    return metrics


if __name__ == '__main__':
    main()
