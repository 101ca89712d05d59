"""Test (evaluate) a checkpoint (OpenMMLab ``tools/test.py`` conventions).

The checkpoint is loaded with ``torch.load(weights_only=True)`` and
mmcsra's allow-list: a checkpoint that needs any other pickle global is
refused (docs/security.md). Its keys must match the model's backbone, neck
and head (``--allow-partial`` to load a partial checkpoint on purpose) and
its class names and order the test set's.

``--out`` writes the predictions: ``.json`` (per-sample ``pred_score``,
``gt_label``, ``gt_ignore``; what ``tools/calibrate_thresholds.py`` reads)
or ``.npz`` (numeric arrays) by :class:`mmcsra.evaluation.MultiLabelScoreDump`,
or mmengine's ``DumpResults`` pickle for ``.pkl`` (which mmcsra reads only
through its restricted unpickler).

Examples::

    python tools/test.py CONFIG CHECKPOINT [--out preds.json]
    bash tools/dist_test.sh CONFIG CHECKPOINT 8
"""
import argparse

import mmcsra  # noqa: F401  (registers components, applies compat fixes)
from mmcsra.engine import (add_config_checks, build_runner, finish_distributed,
                           fix_dataloader_cfg, setup_distributed_env)
from mmcsra.engine.tool_args import (add_cfg_options_arg,
                                     add_config_dir_to_path, add_launcher_args,
                                     export_local_rank, resolve_work_dir)
from mmengine.config import Config
from mmengine.evaluator import DumpResults
from mmpretrain.registry import METRICS

OUT_FORMATS = ('.json', '.npz', '.pkl', '.pickle')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Evaluate a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument(
        '--out',
        help='dump the predictions to this .json (per-sample '
        'pred_score, gt_label, gt_ignore), .npz (arrays) or .pkl file')
    parser.add_argument(
        '--allow-partial',
        action='store_true',
        help='load a checkpoint whose keys match only part of the model '
        '(missing/unexpected keys are an error by default)')
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
    if args.allow_partial:
        cfg.load_from_allow_partial = True
    if args.out is not None and not args.out.endswith(OUT_FORMATS):
        raise ValueError(f'--out must end with one of {OUT_FORMATS}, got '
                         f'{args.out!r}')
    fix_dataloader_cfg(cfg)
    setup_distributed_env(cfg, args.launcher)

    runner = build_runner(cfg)
    add_config_checks(runner)  # keys, classes, num_classes, shapes
    if args.out is not None:
        dump = DumpResults(out_file_path=args.out) if args.out.endswith(
            ('.pkl', '.pickle')) else METRICS.build(
                dict(type='MultiLabelScoreDump', out_file=args.out))
        runner.test_evaluator.metrics.append(dump)
    metrics = runner.test()
    finish_distributed()  # every rank exits cleanly
    return metrics


if __name__ == '__main__':
    main()
