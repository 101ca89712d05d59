"""Count label co-occurrences of a dataset split for ML-GCN label graphs.

    python tools/build_label_graph.py CONFIG --out graph.npz [--split train]
        [--adjacency-out adj.npy [--t 0.4] [--p 0.25] [--convention paper]]

Builds ``cfg.<split>_dataloader.dataset`` (``import mmcsra`` registers the
mmcsra datasets) with an empty pipeline, so no image is read, takes each
sample's ``gt_label`` (positives; ``gt_ignore`` entries are not counted) and
writes a ``.npz`` with

* ``adj`` (C, C) int64: ``adj[i, j]`` = number of images with both i and j
  (the diagonal is 0);
* ``nums`` (C,) int64: number of images with class i;
* ``classes`` (C,) str: the dataset's class names, in index order.

This is the layout of the ML-GCN files in ``shared/label_graph``, and what
``LabelGraphReweightNeck(cooccurrence='graph.npz')`` reads; the neck turns
the counts into the adjacency with its ``t``, ``p`` and ``convention``.
With ``--adjacency-out`` the tool also writes that normalised (C, C)
adjacency (:func:`mmcsra.utils.label_graph.build_label_graph`) as a ``.npy``
for ``LabelGraphReweightNeck(adjacency='adj.npy')``.
Dataset wrappers are counted as built (``RepeatDataset`` scales all counts
alike, which leaves P(j|i) unchanged; ``ClassBalancedDataset`` does not).
"""
import argparse
import copy
import os
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
from mmengine.config import Config, DictAction

from mmcsra.utils.label_graph import (CONVENTIONS, binarize_adjacency,
                                      build_label_graph,
                                      conditional_probability,
                                      count_cooccurrence)


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = argparse.ArgumentParser(
        description='Count label co-occurrences of a dataset split')
    parser.add_argument('config', help='an mmcsra/MMPretrain config file')
    parser.add_argument(
        '--out', required=True, help='output file, must end with .npz')
    parser.add_argument(
        '--split',
        default='train',
        choices=['train', 'val', 'test'],
        help='which <split>_dataloader.dataset to count (default: train)')
    parser.add_argument(
        '--adjacency-out', help='also write the normalised adjacency (.npy)')
    parser.add_argument(
        '--t',
        type=float,
        default=0.4,
        help='binarisation threshold of P(j|i) (0.4)')
    parser.add_argument(
        '--p', type=float, default=0.25, help='neighbour re-weighting (0.25)')
    parser.add_argument(
        '--convention',
        default='paper',
        choices=CONVENTIONS,
        help='ML-GCN Eq. 8 (paper) or gen_A (official)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. '
        'train_dataloader.dataset.data_root=data/VOC2007')
    return parser.parse_args(argv)


def build_dataset_without_images(cfg: Config, split: str):
    """The split's dataset, built with an empty pipeline."""
    import mmcsra  # noqa: F401  (registers mmcsra's datasets)
    from mmpretrain.registry import DATASETS

    key = f'{split}_dataloader'
    if cfg.get(key) is None or cfg[key].get('dataset') is None:
        raise KeyError(f'the config has no {key}.dataset')
    dataset_cfg = copy.deepcopy(cfg[key]['dataset'])
    if 'pipeline' in dataset_cfg:
        dataset_cfg['pipeline'] = []
    return DATASETS.build(dataset_cfg)


def dataset_label_lists(dataset) -> List[List[int]]:
    """``gt_label`` of every sample, read from the annotations only."""
    if hasattr(dataset, 'get_cat_ids'):
        return [list(dataset.get_cat_ids(i)) for i in range(len(dataset))]
    return [
        list(dataset.get_data_info(i)['gt_label'])
        for i in range(len(dataset))
    ]


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    if not args.out.endswith('.npz'):
        raise ValueError(f'--out must end with .npz, got {args.out!r}')
    if args.adjacency_out and not args.adjacency_out.endswith('.npy'):
        raise ValueError('--adjacency-out must end with .npy, got '
                         f'{args.adjacency_out!r}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    dataset = build_dataset_without_images(cfg, args.split)
    classes = dataset.metainfo.get('classes')
    if not classes:
        raise KeyError(f'the {args.split} dataset has no metainfo '
                       f"'classes', so the number of classes is unknown")
    adj, nums = count_cooccurrence(dataset_label_lists(dataset), len(classes))

    out_dir = osp.dirname(osp.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    np.savez(args.out, adj=adj, nums=nums, classes=np.asarray(classes))
    if args.adjacency_out:
        os.makedirs(
            osp.dirname(osp.abspath(args.adjacency_out)), exist_ok=True)
        np.save(
            args.adjacency_out,
            build_label_graph(
                adj, nums, t=args.t, p=args.p, convention=args.convention))
    edges = int(
        binarize_adjacency(conditional_probability(adj, nums), args.t).sum())
    print(f'{len(dataset)} images, {len(classes)} classes, '
          f'{edges} edges with P(j|i) >= {args.t} -> {args.out}')
    return args.out


if __name__ == '__main__':
    main()
