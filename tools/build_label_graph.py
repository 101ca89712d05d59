"""Count label co-occurrences of a dataset split for ML-GCN label graphs.

    python tools/build_label_graph.py CONFIG --out graph.npz [--split train]

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

from mmcsra.utils.label_graph import (binarize_adjacency,
                                      conditional_probability,
                                      count_cooccurrence)


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = argparse.ArgumentParser(
        description='Count label co-occurrences of a dataset split')
    parser.add_argument('config', help='an mmcsra/MMPretrain config file')
    parser.add_argument('--out',
                        required=True,
                        help='output file, must end with .npz')
    parser.add_argument(
        '--split',
        default='train',
        choices=['train', 'val', 'test'],
        help='which <split>_dataloader.dataset to count (default: train)')
    parser.add_argument('--cfg-options',
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
        list(dataset.get_data_info(i)['gt_label']) for i in range(len(dataset))
    ]


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    if not args.out.endswith('.npz'):
        raise ValueError(f'--out must end with .npz, got {args.out!r}')
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
    edges = int(binarize_adjacency(conditional_probability(adj, nums)).sum())
    print(f'{len(dataset)} images, {len(classes)} classes, '
          f'{edges} edges with P(j|i) >= 0.4 -> {args.out}')
    return args.out


if __name__ == '__main__':
    main()
