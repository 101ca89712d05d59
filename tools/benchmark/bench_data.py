"""Data loading costs: COCO-sized annotation indexing and the demo pipeline.

    python tools/benchmark/bench_data.py [--quick] [--repeats 3]
        [--polygon-points 20] [--threads 1] [--seed 0]

**COCO indexing.** A file in the official ``instances_train2014.json``
format, the size of COCO-2014 train, is synthesised in a temporary folder:
82,783 images, 702 of them without annotations (as in the release; the
other 82,081 are the training set of CSRA and ASL), 604,907 annotations
(every annotated image has at least one; categories drawn from a skewed
distribution over the 80 official category ids; about 1% crowd regions with
RLE ``counts``, the others polygons of ``--polygon-points`` vertices),
images listed in random id order and annotations shuffled. No image file is
written.

Timed, alternating, ``--repeats`` rounds (the tables show medians):

* **baseline**: ``json.load`` + pycocotools' ``COCO.createIndex`` (what
  ``COCO(annotation_file)`` does);
* **COCOMultiLabel**: building the data list
  (``COCOMultiLabel.load_data_list``: the typed ``msgspec`` decode of
  ``images[].{id,file_name}``, ``annotations[].{id,image_id,category_id,
  iscrowd}`` and ``categories[].{id,name}``, its validation, the index and
  the labels of every image; the polygons are skipped unread). The dataset
  is created with ``lazy_init=True`` and ``load_data_list`` is called
  directly, so the check that every image exists (``filter_data``, one
  ``os.path.isfile`` per image, run by ``full_init``) is not part of it; it
  is timed on its own (on the 82,081 absent paths) and printed below the
  table.

The data list is compared with the labels the synthesis drew (every
category with an annotation on the image, crowd included, as
``crowd_as='positive'``).

**Demo pipeline.** ``MultiDigits`` (train split, 4,000 canvases) built from
scratch, then every sample through the demo training pipeline
(``PackInputs``) and ``pseudo_collate`` in batches of 32: samples per second.

``--quick`` (for the test suite): 2,000 images (17 without annotations,
~14,600 annotations), 200 canvases, 1 round.
"""
import argparse
import contextlib
import gc
import io
import json
import os
import os.path as osp
import statistics
import tempfile
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

# COCO-2014 train (instances_train2014.json)
FULL = dict(images=82783, empty=702, annotations=604907, canvases=4000)
QUICK = dict(images=2000, empty=17, annotations=14616, canvases=200)
UNUSED_IDS = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)
CATEGORY_IDS = tuple(i for i in range(1, 91) if i not in UNUSED_IDS)


def synthesize(path: str, num_images: int, num_empty: int,
               num_annotations: int, polygon_points: int,
               seed: int) -> Dict[int, List[int]]:
    """Write the instances file; return {image id: sorted label indices}."""
    rng = np.random.default_rng(seed)
    img_ids = rng.choice(
        np.arange(1, 581930), size=num_images,
        replace=False)  # random order, as the release
    annotated = img_ids[num_empty:]
    # every annotated image gets >= 1 annotation, the rest at random
    counts = 1 + rng.multinomial(num_annotations - len(annotated),
                                 np.full(len(annotated), 1.0 / len(annotated)))
    # a skewed category distribution (person is ~30% of COCO's boxes)
    weights = 1.0 / np.arange(1, len(CATEGORY_IDS) + 1)**1.1
    cat_index = rng.choice(
        len(CATEGORY_IDS), size=num_annotations, p=weights / weights.sum())
    ann_img = np.repeat(annotated, counts)
    crowd = rng.random(num_annotations) < 0.01
    order = rng.permutation(num_annotations)
    expected: Dict[int, set] = {int(i): set() for i in annotated}
    for img, c in zip(ann_img.tolist(), cat_index.tolist()):
        expected[img].add(c)

    with open(path, 'w') as f:
        f.write('{"info": {"description": "COCO 2014 Dataset (synthetic)", '
                '"version": "1.0", "year": 2014}, "licenses": [{"url": '
                '"http://creativecommons.org/licenses/by-nc-sa/2.0/", '
                '"id": 1, "name": "Attribution-NonCommercial-ShareAlike '
                'License"}], "images": [')
        f.write(', '.join(
            f'{{"license": 1, "file_name": "COCO_train2014_{i:012d}.jpg", '
            f'"coco_url": "", "height": 480, "width": 640, '
            f'"date_captured": "2013-11-14 11:18:45", "flickr_url": "", '
            f'"id": {i}}}' for i in img_ids.tolist()))
        f.write('], "annotations": [')
        chunk = 20000
        for start in range(0, num_annotations, chunk):
            idx = order[start:start + chunk]
            coords = np.round(
                rng.uniform(0, 480, size=(len(idx), 2 * polygon_points)), 2)
            boxes = np.round(rng.uniform(1, 300, size=(len(idx), 4)), 2)
            parts = []
            for a, xy, box in zip(idx.tolist(), coords.tolist(),
                                  boxes.tolist()):
                if crowd[a]:
                    seg = ('{"counts": [' + ', '.join(
                        str(v) for v in rng.integers(1, 500, 20).tolist()) +
                           '], "size": [480, 640]}')
                else:
                    seg = '[[' + ', '.join(map(str, xy)) + ']]'
                parts.append(
                    f'{{"segmentation": {seg}, "area": {box[2] * box[3]:.2f}, '
                    f'"iscrowd": {int(crowd[a])}, "image_id": {ann_img[a]}, '
                    f'"bbox": {box}, "category_id": '
                    f'{CATEGORY_IDS[cat_index[a]]}, "id": {a + 1}}}')
            if start:
                f.write(', ')
            f.write(', '.join(parts))
        f.write('], "categories": [')
        f.write(', '.join(f'{{"supercategory": "thing", "id": {c}, "name": '
                          f'"category {c}"}}' for c in CATEGORY_IDS))
        f.write(']}')
    return {img: sorted(cats) for img, cats in expected.items()}


def _baseline(path: str) -> None:
    from pycocotools.coco import COCO
    with open(path) as f:
        data = json.load(f)
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()


def benchmark_coco(root: str, counts: dict, polygon_points: int, repeats: int,
                   seed: int) -> dict:
    from mmcsra.datasets import COCOMultiLabel

    path = osp.join(root, 'annotations', 'instances_train2014.json')
    os.makedirs(osp.dirname(path), exist_ok=True)
    start = time.perf_counter()
    expected = synthesize(path, counts['images'], counts['empty'],
                          counts['annotations'], polygon_points, seed)
    synth_time = time.perf_counter() - start

    dataset = COCOMultiLabel(
        ann_file='annotations/instances_train2014.json',
        data_root=root,
        data_prefix='train2014',
        lazy_init=True,
        serialize_data=False)
    times = {'baseline': [], 'ours': []}
    result_list: List[dict] = []
    for r in range(repeats):
        order = ('baseline', 'ours') if r % 2 == 0 else ('ours', 'baseline')
        for name in order:
            if name == 'ours':
                result_list = []  # free the previous data list first
            gc.collect()  # the previous round's objects, outside the timing
            start = time.perf_counter()
            if name == 'baseline':
                _baseline(path)
            else:
                result_list = dataset.load_data_list()
            times[name].append(time.perf_counter() - start)
    got = {info['coco_img_id']: info['gt_label'] for info in result_list}
    paths = [info['img_path'] for info in result_list]
    start = time.perf_counter()
    existing = sum(map(osp.isfile, paths))
    stat_time = time.perf_counter() - start
    return dict(
        counts=counts,
        size_mb=osp.getsize(path) / 2**20,
        synth_time=synth_time,
        times=times,
        samples=len(result_list),
        labels_agree=got == expected,
        expected_samples=len(expected),
        stat_time=stat_time,
        existing=existing,
        dropped=dataset.num_without_annotations)  # of the last call


def benchmark_demo(num_samples: int, repeats: int) -> dict:
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS

    import mmcsra  # noqa: F401
    init_default_scope('mmpretrain')
    pipeline = [dict(type='PackInputs', algorithm_keys=['gt_ignore'])]
    build_times, rates = [], []
    batches = 0
    for _ in range(repeats):
        start = time.perf_counter()
        dataset = DATASETS.build(
            dict(
                type='MultiDigits',
                split='train',
                num_samples=num_samples,
                pipeline=pipeline))
        build_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        batches = 0
        for first in range(0, len(dataset), 32):
            batch = pseudo_collate([
                dataset[i] for i in range(first, min(first + 32, len(dataset)))
            ])
            batches += 1
        rates.append(len(dataset) / (time.perf_counter() - start))
    return dict(
        num_samples=num_samples,
        build=statistics.median(build_times),
        rate=statistics.median(rates),
        batches=batches,
        last_batch=len(batch['inputs']),
        input_shape=tuple(batch['inputs'][0].shape))


def format_tables(coco: dict, demo: dict, repeats: int) -> str:
    counts = coco['counts']
    med = {k: statistics.median(v) for k, v in coco['times'].items()}
    ratio = med['ours'] / med['baseline']
    lines = [
        f"### COCO-2014-train-sized indexing: {counts['images']} images "
        f"({counts['empty']} without annotations), "
        f"{counts['annotations']} annotations, "
        f"{coco['size_mb']:.1f} MiB JSON (synthesised in "
        f"{coco['synth_time']:.1f} s), median of {repeats}",
        '',
        '| method | median (s) | min (s) | ratio to baseline |',
        '|---|---|---|---|',
    ]
    for key, name in (('baseline', 'json.load + pycocotools createIndex'),
                      ('ours', 'COCOMultiLabel.load_data_list')):
        t = coco['times'][key]
        lines.append(f'| {name} | {med[key]:.3f} | {min(t):.3f} | '
                     f"{med[key] / med['baseline']:.2f} |")
    lines += [
        '',
        f'COCOMultiLabel / baseline = {ratio:.2f}',
        f"data list: {coco['samples']} samples (expected "
        f"{coco['expected_samples']}; {coco['dropped']} images without "
        f"annotations dropped); labels equal to the synthesised ones: "
        f"{'yes' if coco['labels_agree'] else 'no'}",
        f"existence check of the {coco['samples']} image paths (filter_data, "
        f"not included above; {coco['existing']} exist here): "
        f"{coco['stat_time']:.3f} s",
        '',
        f"### Demo data pipeline: MultiDigits train ({demo['num_samples']} "
        'canvases), PackInputs + pseudo_collate (batch 32)',
        '',
        '| step | value |',
        '|---|---|',
        f"| build MultiDigits (s) | {demo['build']:.3f} |",
        f"| samples / s through pipeline + pseudo_collate | "
        f"{demo['rate']:.1f} |",
        f"| batches | {demo['batches']} (last of {demo['last_batch']}), "
        f"inputs {demo['input_shape']} uint8 |",
    ]
    return '\n'.join(lines)


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--quick',
        action='store_true',
        help='2,000 images, 200 canvases, 1 round')
    parser.add_argument(
        '--repeats',
        type=int,
        default=None,
        help='timed rounds (default 3, quick 1)')
    parser.add_argument(
        '--polygon-points',
        type=int,
        default=20,
        help='vertices of each polygon (default 20)')
    parser.add_argument(
        '--threads',
        type=int,
        default=1,
        help='torch intra-op threads (default 1)')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> str:
    import torch

    args = parse_args(argv)
    counts = QUICK if args.quick else FULL
    repeats = args.repeats or (1 if args.quick else 3)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        with tempfile.TemporaryDirectory() as root:
            coco = benchmark_coco(root, counts, args.polygon_points, repeats,
                                  args.seed)
        demo = benchmark_demo(counts['canvases'], repeats)
    finally:  # the caller's setting (e.g. the test process)
        torch.set_num_threads(threads)
    text = (f'seed {args.seed}, polygon vertices {args.polygon_points}, '
            f'threads {args.threads}\n\n' + format_tables(coco, demo, repeats))
    print(text)
    return text


if __name__ == '__main__':
    main()
