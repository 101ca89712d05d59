"""Train and evaluate a grid of config variants × seeds; tabulate and plot.

    python tools/ablate.py CONFIG --grid mode=avg,attention,residual \
        heads=1,2,4,6,8 lam=0.02,0.1,0.3,0.5,1 [--seeds 0 1 2] \
        [--work-dir D] [--launcher none|pytorch --nproc N] [--jobs J] \
        [--metric mAP] [--table-metrics mAP CF1 OF1] [--delete-checkpoints] \
        [--cfg-options ...]

``mode``, ``heads`` and ``lam`` stand for ``model.head.mode``,
``model.head.num_heads`` and ``model.head.lam``; any dotted key works
(``optim_wrapper.optimizer.lr=0.01,0.05``). For mode ``avg`` or
``attention`` λ has no effect, so the λ axis collapses there (one run per
H, not one per λ). Each point × seed trains with ``tools/train.py`` (or
``tools/dist_train.sh`` with ``--launcher pytorch``) in
``D/<point>/seed-<seed>``; a run with a ``done.json`` is skipped, so
re-running the same command resumes an interrupted grid (a run without it
is retrained, resuming from its last checkpoint if it has one). Writes
``D/results.csv``, ``D/results.md`` (mean ± std over seeds) and
``D/mAP_vs_lam.png``. The engine is the package ``tools/ablation/``.
"""
import argparse
import os.path as osp

from ablation import run_ablation  # tools/ablation/, beside this script


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument(
        '--grid',
        nargs='+',
        required=True,
        help='axes key=v1,v2,... (mode, heads, lam or a '
        'dotted config key)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0])
    parser.add_argument(
        '--work-dir', help='default: work_dirs/ablate_<config name>')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch'], default='none')
    parser.add_argument(
        '--nproc',
        type=int,
        default=1,
        help='processes per run with --launcher pytorch')
    parser.add_argument(
        '--jobs',
        type=int,
        default=1,
        help='runs at the same time (--launcher none)')
    parser.add_argument('--metric', help='metric of the plot (default: mAP)')
    parser.add_argument(
        '--table-metrics',
        nargs='+',
        help='metrics of results.md (default: mAP and the '
        'P/R/F1 summaries)')
    parser.add_argument(
        '--delete-checkpoints',
        action='store_true',
        help="delete a run's checkpoints once it is done")
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='key=value options of every run (passed to '
        'train.py as given)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    result = run_ablation(
        args.config,
        args.grid,
        seeds=args.seeds,
        work_dir=args.work_dir,
        launcher=args.launcher,
        nproc=args.nproc,
        cfg_options=args.cfg_options,
        jobs=args.jobs,
        metric=args.metric,
        table_metrics=args.table_metrics,
        keep_checkpoints=not args.delete_checkpoints,
        tools_dir=osp.dirname(osp.abspath(__file__)))
    with open(result['md']) as f:
        print(f.read())
    trained = sum(r['trained'] for r in result['records'])
    print(f'{len(result["points"])} points x {len(args.seeds)} seeds: '
          f'{trained} trained now, {len(result["records"]) - trained} done '
          'before')
    for key in ('csv', 'md', 'png'):
        print(f'wrote {result[key]}')
    return result


if __name__ == '__main__':
    main()
