"""Training-free CSRA retrofit of a trained classifier (score = avg + λ·max).

    python tools/retrofit_csra.py CONFIG CHECKPOINT \
        --lams 0 0.02 0.1 0.2 0.5 1 [--out-dir DIR] [--metric KEY]

Prints a table of the test metrics vs λ (λ = 0 is the original model) and,
with ``--out-dir``, writes the retrofitted config and checkpoint for the best
λ. See :func:`mmcsra.apis.retrofit_csra`.
"""
import argparse

import mmcsra  # noqa: F401  (registers components, applies compat fixes)
from mmcsra.apis import format_retrofit_table, retrofit_csra
from mmengine.config import Config, DictAction


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--lams', type=float, nargs='+',
                        default=[0, 0.02, 0.1, 0.2, 0.5, 1])
    parser.add_argument('--out-dir', help='write the best retrofit here')
    parser.add_argument('--metric', help='metric key that picks the best λ')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    result = retrofit_csra(cfg, args.checkpoint, args.lams, args.out_dir,
                           args.metric, args.device)
    print(format_retrofit_table(result))
    print(f"best λ = {result['best_lam']:g} by {result['metric']}")
    if args.out_dir:
        print(f"wrote {result['config']} and {result['checkpoint']}")
    return result


if __name__ == '__main__':
    main()
