"""Training-free CSRA retrofit of a trained classifier (score = avg + λ·max).

    python tools/retrofit_csra.py CONFIG CHECKPOINT \
        [--lams 0 0.02 0.1 0.2 0.5 1] [--select-split val] \
        [--report-split test] [--out-dir DIR | --out result.json]

λ is chosen on ``--select-split`` (default: the config's val dataloader)
and reported on ``--report-split`` (default: its test dataloader), next to
the baseline (λ = 0) and the CSRA paper's fixed λ (0.02 for ResNets, 0.2
otherwise; Table 1). The printed table has at most 8 columns; every metric
is in the JSON (``--out``, or ``DIR/retrofit_csra.json``). With
``--out-dir``, the model with the chosen λ is also written as a config and
checkpoint. Works for multi-label (mAP) and single-label (top-1) models.
See :func:`mmcsra.apis.retrofit_csra`.
"""
import argparse

import mmcsra  # noqa: F401  (registers components, applies compat fixes)
from mmcsra.apis.retrofit import (DEFAULT_LAMS, format_retrofit_table,
                                  retrofit_csra, write_json)
from mmcsra.engine.tool_args import add_cfg_options_arg
from mmengine.config import Config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument(
        '--lams',
        type=float,
        nargs='+',
        default=list(DEFAULT_LAMS),
        help='λ values tried on the selection split')
    parser.add_argument(
        '--select-split',
        default='val',
        choices=['train', 'val', 'test'],
        help='split whose dataloader chooses λ')
    parser.add_argument(
        '--report-split',
        default='test',
        choices=['train', 'val', 'test'],
        help='split the results are reported on')
    parser.add_argument(
        '--allow-same-split',
        action='store_true',
        help='allow choosing λ on the reported data')
    parser.add_argument(
        '--fixed-lam',
        type=float,
        help='the "fixed λ" column (default: 0.02 for '
        'ResNet backbones, 0.2 otherwise)')
    parser.add_argument(
        '--metric',
        help='metric key that picks λ '
        '(default: the first key of the evaluator)')
    parser.add_argument(
        '--out-dir',
        help='write the retrofitted config, '
        'checkpoint and retrofit_csra.json here')
    parser.add_argument('--out', help='write the full result as JSON here')
    parser.add_argument('--device', default='cpu')
    add_cfg_options_arg(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    result = retrofit_csra(
        cfg,
        args.checkpoint,
        args.lams,
        select_split=args.select_split,
        report_split=args.report_split,
        metric=args.metric,
        fixed_lam=args.fixed_lam,
        allow_same_split=args.allow_same_split,
        out_dir=args.out_dir,
        device=args.device,
        progress=True)
    print()
    print(format_retrofit_table(result))
    print(f"λ = {result['best_lam']:g} chosen on {result['select_split']} "
          f"by {result['metric']}; fixed λ = {result['fixed_lam']:g}")
    if args.out:
        write_json(result, args.out)
        print(f'wrote {args.out}')
    if result.get('json'):
        print(f"wrote {result['json']}")
    if result.get('checkpoint'):
        print(f"wrote {result['config']} and {result['checkpoint']}")
    return result


if __name__ == '__main__':
    main()
