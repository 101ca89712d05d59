"""Prefetch every checkpoint a config downloads, for nodes without internet.

    python tools/download_weights.py CONFIG [--cfg-options ...]

Run it on a machine with internet (a login node): the backbone's
``init_cfg`` checkpoints and ``load_from`` URLs (also ``torchvision://``,
``open-mmlab://``, ``mmcls://`` names) are downloaded into torch hub's cache
(``$TORCH_HOME/hub/checkpoints``, default ``~/.cache/torch/hub/checkpoints``)
where mmengine looks before downloading, and each is checked to load with
mmcsra's ``weights_only`` allow-list. If the training nodes do not share
that directory, copy the printed files to the same path there, or set
``TORCH_HOME`` to a shared directory on both. See
:mod:`mmcsra.engine.weights_check`.
"""
import argparse

import mmcsra  # noqa: F401  (registers components, applies compat fixes)
from mmcsra.engine.tool_args import add_cfg_options_arg
from mmcsra.engine.weights_check import download_checkpoints
from mmengine.config import Config


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    add_cfg_options_arg(parser)
    args = parser.parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    done = download_checkpoints(cfg)
    if not done:
        print(f'{args.config} loads no checkpoint')
    for ref, status in done:
        where = ref.cache_path if ref.url else ref.name
        print(f'{status:10s} {ref.key}: {where}')
    missing = [ref for ref, status in done if status == 'missing']
    if missing:
        raise SystemExit('local checkpoint(s) not found: ' +
                         ', '.join(ref.name for ref in missing))
    return done


if __name__ == '__main__':
    main()
