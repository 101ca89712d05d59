"""Draw CSRA attention maps (or class score maps) over an image.

    python tools/visualize_attention.py IMG CONFIG CHECKPOINT --out-dir DIR \
        [--classes seven 3 ...] [--temperature T | --score-map] [--head H] \
        [--zoom Z] [--device cpu] [--cfg-options ...]

Writes one PNG per class: the map upsampled (bilinear) to the network input
and overlaid on it, with a colour bar and the class name and score in the
title. Without ``--classes``, the predicted classes (score >= the head's
``thr``, or its ``topk``). The attention is ``softmax_j(T s_ij)`` at the
chosen head's own temperature unless ``--temperature`` is given
(``inf`` = arg-max); ``--score-map`` draws the scores ``s_ij`` instead.

The image is read with the config's test pipeline; for the in-memory demo
(``MultiDigits``), whose test pipeline has no loader, ``LoadImageFromFile``
is prepended. Only models with a ``CSRAHead`` are supported. See
:mod:`mmcsra.visualization.attention_maps`.
"""
import argparse
import os.path as osp

import mmcsra  # noqa: F401  (registers components, applies compat fixes)
from mmcsra.visualization import (compute_attention_maps, load_csra_model,
                                  save_attention_maps)
from mmengine.config import DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('img', help='image file')
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint', help='trained weights')
    parser.add_argument(
        '--out-dir', required=True, help='where to write the PNG files')
    parser.add_argument(
        '--classes',
        nargs='+',
        help='class names or indices (default: the predicted classes)')
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument(
        '--temperature',
        type=float,
        help="attention temperature T > 0, 'inf' = arg-max (default: the "
        "head's own)")
    kind.add_argument(
        '--score-map',
        action='store_true',
        help='draw the class score map s_ij, not attention')
    parser.add_argument(
        '--head', type=int, default=0, help='which CSRA head (default 0)')
    parser.add_argument(
        '--zoom',
        type=int,
        help='integer enlargement of the drawn image '
        '(default: short side >= 256 px)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    model, _ = load_csra_model(args.config, args.checkpoint, args.device,
                               args.cfg_options)
    result = compute_attention_maps(
        model,
        args.img,
        classes=args.classes,
        score_map=args.score_map,
        temperature=args.temperature,
        head=args.head)
    names = result['class_names']
    print('predicted: ' + (', '.join(f'{names[i]} ({result["scores"][i]:.3f})'
                                     for i in result['predicted']) or 'none'))
    if not result['maps']:
        print('no class to draw: none is predicted; pass --classes')
    stem = osp.splitext(osp.basename(args.img))[0]
    written = save_attention_maps(result, args.out_dir, stem, args.zoom)
    for index, path in written.items():
        print(f'{names[index]}: score {result["scores"][index]:.3f} -> '
              f'{path}')
    return result, written


if __name__ == '__main__':
    main()
