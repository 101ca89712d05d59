"""The benchmark scripts' ``--quick`` output is complete and correct.

Each script runs in-process in its quick mode; the tests parse the printed
tables and check what can be wrong regardless of the machine's speed:
every row and column is there, every number is finite, the FLOP bounds
equal the formula, the mmcsra and MMPretrain versions of the same model
compute the same function, the data list has the synthesised samples and
labels. Timings are never compared with each other or with a target.
"""
import importlib.util
import math
import os.path as osp
import re
from typing import Dict, List

import pytest
import torch

from utils import TOOLS


def _load(name: str):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(TOOLS, 'benchmark', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _table(text: str, header_start: str) -> Dict[str, List[str]]:
    """Rows (first cell -> cells) of the markdown table whose header starts
    with ``header_start``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if line.startswith(header_start))
    header = [c.strip() for c in lines[start].strip('|').split('|')]
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith('|'):
            break
        cells = [c.strip() for c in line.strip('|').split('|')]
        assert len(cells) == len(header), line
        rows[cells[0]] = cells
    return rows


def _finite(cell: str) -> float:
    value = float(cell)
    assert math.isfinite(value), cell
    return value


def test_bench_heads_quick():
    bench = _load('bench_heads')
    threads = torch.get_num_threads()
    text = bench.main(['--quick'])
    assert torch.get_num_threads() == threads  # restored for the suite
    assert '### 224 px, 20 classes: features (2, 2048, 7, 7)' in text
    assert '448 px' not in text  # quick: one setting
    match = re.search(r'train step (\S+) ms, forward (\S+) ms', text)
    assert _finite(match.group(1)) > 0 and _finite(match.group(2)) > 0

    rows = _table(text, '| head |')
    expected = ['GAP + linear (baseline)'] + [
        f'{who} H={h}' for h in (1, 2, 4, 6, 8)
        for who in ('mmcsra CSRAHead', 'MMPretrain CSRAClsHead')
    ] + ['mmcsra MLDecoderHead', 'LabelGraphReweightNeck + GAP + linear']
    assert sorted(rows) == sorted(expected)
    for name, cells in rows.items():
        assert _finite(cells[1]) > 0 and _finite(cells[2]) > 0  # ms
        _finite(cells[3]), _finite(cells[4])  # costs may be < 0 (noise)
    base = rows['GAP + linear (baseline)']
    assert float(base[3]) == 0 and float(base[4]) == 0
    for h in (1, 2, 4, 6, 8):
        # H classifiers of C = 20 classes x D = 2048 at 7 x 7 locations,
        # over ResNet-50's 4.1 G multiply-accumulates at 224 px, in %
        bound = 100 * h * 20 * 2048 * 49 / 4.1e9
        for who in ('mmcsra CSRAHead', 'MMPretrain CSRAClsHead'):
            cells = rows[f'{who} H={h}']
            assert float(cells[5]) == pytest.approx(bound, abs=5e-4)
            assert _finite(cells[6]) == pytest.approx(
                float(cells[3]) / float(cells[5]), rel=0.02, abs=0.05)
        # the same weights give the same logits (T = 99 is max pooling)
        assert float(rows[f'MMPretrain CSRAClsHead H={h}'][7]) <= 1e-5
        ratio = re.search(
            rf'H={h}: mmcsra / MMPretrain head time: train '
            r'(\S+), inference (\S+)', text)
        assert _finite(ratio.group(1)) > 0 and _finite(ratio.group(2)) > 0
    for name in ('mmcsra MLDecoderHead', 'GAP + linear (baseline)'):
        assert rows[name][5] == '' and rows[name][7] == ''
    assert re.search(
        r"target 'CSRA H=8 no slower than MMPretrain's': "
        r'(met|NOT met)$', text, re.M)


def test_bench_heads_flop_bound_formula():
    bench = _load('bench_heads')
    # 8 heads x 80 classes x 2048 channels x 14 x 14 locations at 448 px,
    # against 4 x 4.1 G: 256.9 M / 16.4 G
    assert bench.flop_bound(8, 80, 196, 448) == pytest.approx(
        8 * 80 * 2048 * 196 / (4 * 4.1e9))
    assert bench.flop_bound(1, 20, 49,
                            224) == pytest.approx(20 * 2048 * 49 / 4.1e9)


def test_bench_plugin_quick():
    bench = _load('bench_plugin')
    text = bench.main(['--quick'])
    assert ('### ResNet-50 + CSRA (H=1), 64 px, batch 2, 20 classes: full '
            'train step (2 rounds, alternating)') in text
    rows = _table(text, '| model |')
    assert sorted(rows) == ['MMPretrain', 'mmcsra']
    for cells in rows.values():
        median, low, high = (_finite(c) for c in cells[1:4])
        assert 0 < low <= median <= high
        _finite(cells[4]), _finite(cells[5])
    # the same model: same logits, same first loss (the sum over classes of
    # BCE averaged over the batch, MMPretrain's; ours with loss_weight=C)
    assert float(rows['mmcsra'][4]) == pytest.approx(
        float(rows['MMPretrain'][4]), rel=1e-5)
    match = re.search(
        r'max \|logit difference\| before training = (\S+), '
        r'\|loss difference\| at the first step = (\S+) ', text)
    assert float(match.group(1)) <= 1e-5
    assert float(match.group(2)) <= 1e-4
    ratio = re.search(
        r'ratio mmcsra / MMPretrain = (\S+) \(median of '
        r'per-round ratios (\S+)\); target <= 1.02: '
        r'(met|NOT met)', text)
    assert _finite(ratio.group(1)) > 0 and _finite(ratio.group(2)) > 0
    medians = float(rows['mmcsra'][1]) / float(rows['MMPretrain'][1])
    assert float(ratio.group(1)) == pytest.approx(medians, abs=2e-3)


def test_bench_data_quick():
    bench = _load('bench_data')
    text = bench.main(['--quick'])
    assert ('2000 images (17 without annotations), 14616 annotations' in text)
    rows = _table(text, '| method |')
    base = rows['json.load + pycocotools createIndex']
    ours = rows['COCOMultiLabel.load_data_list']
    assert float(base[3]) == 1.0
    assert _finite(ours[3]) == pytest.approx(
        float(ours[1]) / float(base[1]), abs=0.01)
    # 2,000 - 17 images with annotations, each with the drawn labels
    assert ('data list: 1983 samples (expected 1983; 17 images without '
            'annotations dropped); labels equal to the synthesised ones: '
            'yes') in text
    demo = _table(text, '| step |')
    assert _finite(demo['build MultiDigits (s)'][1]) > 0
    assert _finite(
        demo['samples / s through pipeline + pseudo_collate'][1]) > 0
    # 200 canvases (the demo's 64 px) in batches of 32: 6 full and one of 8
    assert demo['batches'][1] == ('7 (last of 8), inputs (3, 64, 64) '
                                  'uint8')


def test_bench_data_synthesis_is_the_official_format(tmp_path):
    """The synthesised file, read by pycocotools itself, has the asked
    counts, and the labels the script compares against are the file's."""
    from pycocotools.coco import COCO
    bench = _load('bench_data')
    path = str(tmp_path / 'instances.json')
    expected = bench.synthesize(
        path,
        num_images=60,
        num_empty=7,
        num_annotations=400,
        polygon_points=5,
        seed=3)
    coco = COCO(path)
    assert len(coco.getImgIds()) == 60
    assert len(coco.getAnnIds()) == 400
    assert sorted(coco.getCatIds()) == list(bench.CATEGORY_IDS)
    assert len(bench.CATEGORY_IDS) == 80
    annotated = {i for i in coco.getImgIds() if coco.getAnnIds(imgIds=i)}
    assert len(annotated) == 53 and set(expected) == annotated
    for img_id in annotated:
        cats = {
            a['category_id']
            for a in coco.loadAnns(coco.getAnnIds(imgIds=img_id))
        }
        assert expected[img_id] == sorted(
            bench.CATEGORY_IDS.index(c) for c in cats)
    anns = coco.loadAnns(coco.getAnnIds())
    for ann in anns:
        if ann['iscrowd']:
            assert set(ann['segmentation']) == {'counts', 'size'}
        else:
            assert len(ann['segmentation'][0]) == 10  # 5 (x, y) vertices
        assert len(ann['bbox']) == 4
    assert len({a['id'] for a in anns}) == 400
