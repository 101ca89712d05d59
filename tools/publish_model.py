"""Turn a training checkpoint into a release file.

    python tools/publish_model.py IN.pth OUT.pth [--ema | --no-ema] \
        [--dataset-type NAME] [--config CONFIG]

Keeps ``state_dict`` and ``meta`` (with ``dataset_meta``: the class names),
drops the optimizer, parameter schedulers and message hub, and writes
``OUT_{YYYYMMDD}-{sha256[:8]}.pth`` (OpenMMLab's naming; the hash is that of
the written file). The result loads with plain
``torch.load(path, weights_only=True)``. With ``--config`` the written file
is also loaded into that config's model (``mmcsra.apis.init_model``: strict
keys, shapes, class order); a file that does not fit is removed.

Checkpoints of a run with an ``EMAHook`` need ``--ema`` (publish the
averaged weights) or ``--no-ema`` (the raw training weights); mmengine's
hook stores the former in ``state_dict`` and the latter in
``ema_state_dict`` (``module.``-prefixed). See
:func:`mmcsra.apis.publish_checkpoint`.
"""
import argparse

from mmcsra.apis import publish_checkpoint


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Process a checkpoint to be published')
    parser.add_argument('in_file', help='training checkpoint')
    parser.add_argument('out_file', help='output name (OUT.pth)')
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        '--ema',
        dest='ema',
        action='store_true',
        default=None,
        help='publish the EMA (averaged) weights of an EMAHook checkpoint')
    group.add_argument(
        '--no-ema',
        dest='ema',
        action='store_false',
        help='publish the raw training weights of an EMAHook checkpoint')
    parser.add_argument(
        '--dataset-type',
        help='registered dataset whose METAINFO gives the class names when '
        'the checkpoint has no meta["dataset_meta"]')
    parser.add_argument(
        '--config',
        help='check that the release file loads into this config\'s model '
        '(keys, shapes, class names and order)')
    return parser.parse_args(argv)


def main(argv=None) -> str:
    args = parse_args(argv)
    final_file = publish_checkpoint(
        args.in_file,
        args.out_file,
        ema=args.ema,
        dataset_type=args.dataset_type,
        config=args.config)
    print(f'published {final_file}')
    return final_file


if __name__ == '__main__':
    main()
