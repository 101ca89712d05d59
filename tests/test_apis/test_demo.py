"""The main demo (tools/demo.py) and the data it composes.

The fast tests build a tiny fake Tux Paint folder (flat-colour "drawings"
and noisy "photographs"); the slow one runs ``tools/demo.py --small`` end to
end on the real Debian packages (fetched once with ``apt-get download``
into the cache) and checks its outputs against reference computations.
"""
import json
import math
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mmcsra.apis import demo_data
from mmcsra.apis.demo_data import (collect_instances, compose_split,
                                   looks_drawn, split_instances,
                                   write_annotations)

from utils import REPO


# ------------------------------------------------------------- fake data
def _photo(path, size=(40, 30), seed=0):
    """An RGBA "photograph": noise inside an opaque ellipse."""
    rng = np.random.default_rng(seed)
    rgba = np.zeros((size[1], size[0], 4), np.uint8)
    rgba[..., :3] = rng.integers(0, 256, (size[1], size[0], 3))
    yy, xx = np.mgrid[:size[1], :size[0]]
    inside = ((xx - size[0] / 2) / (size[0] / 2))**2 + ((yy - size[1] / 2) /
                                                        (size[1] / 2))**2 <= 1
    rgba[..., 3] = np.where(inside, 255, 0)
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(rgba, 'RGBA').save(path)


def _drawing(path, size=(40, 30)):
    """An RGBA "drawing": two flat colours."""
    rgba = np.zeros((size[1], size[0], 4), np.uint8)
    rgba[:, :size[0] // 2] = (250, 200, 0, 255)
    rgba[:, size[0] // 2:] = (0, 0, 0, 255)
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(rgba, 'RGBA').save(path)


FAKE_CLASSES = {'a': ('animals/a', ), 'b': ('food/b', ), 'c': ('food/c', )}


@pytest.fixture
def fake_tuxpaint(tmp_path):
    root = str(tmp_path / 'tuxpaint')
    seed = 0
    for name, (folder, ) in FAKE_CLASSES.items():
        for i in range(5):
            seed += 1
            _photo(
                osp.join(root, 'stamps', folder, f'{name}{i}.png'), seed=seed)
        _drawing(osp.join(root, 'stamps', folder, f'{name}_drawn.png'))
        _photo(osp.join(root, 'stamps', folder, 'cartoon', 'x.png'), seed=99)
    # a mirrored copy of a0 is the same instance
    with Image.open(osp.join(root, 'stamps/animals/a/a0.png')) as img:
        img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(
            osp.join(root, 'stamps/animals/a/a0_mirror.png'))
    os.makedirs(osp.join(root, 'templates'))
    for name in demo_data.BACKGROUNDS:
        Image.fromarray(
            np.random.default_rng(len(name)).integers(
                0, 256, (120, 160, 3), dtype=np.uint8)).save(
                    osp.join(root, 'templates', name + '.jpg'))
    return root


def test_looks_drawn_separates_flat_colours_from_photographs(tmp_path):
    _drawing(str(tmp_path / 'd.png'))
    _photo(str(tmp_path / 'p.png'))
    # two flat colours cover all opaque pixels; 1,200 noisy pixels spread
    # over ~32^3 bins, so the top 8 hold a few percent at most
    assert demo_data.colour_share(str(tmp_path / 'd.png')) == 1.0
    assert demo_data.colour_share(str(tmp_path / 'p.png')) < 0.05
    assert looks_drawn(str(tmp_path / 'd.png'))
    assert not looks_drawn(str(tmp_path / 'p.png'))


def test_collect_and_split_instances(fake_tuxpaint):
    inst = collect_instances(fake_tuxpaint, FAKE_CLASSES)
    # drawings and cartoon folders are left out; a0 + its mirror are one
    assert inst['a'][0] == ['animals/a/a0.png', 'animals/a/a0_mirror.png']
    assert [len(inst[c]) for c in 'abc'] == [5, 5, 5]
    assert not any('drawn' in f or 'cartoon' in f for groups in inst.values()
                   for g in groups for f in g)
    splits = split_instances(inst, (0.6, 0.2, 0.2), seed=3)
    for name in 'abc':
        # round(0.2 * 5) = 1 instance each for val and test, 3 for train
        sizes = [len(splits[s][name]) for s in ('train', 'val', 'test')]
        assert sizes == [3, 1, 1]
        files = [
            set(f for g in splits[s][name] for f in g)
            for s in ('train', 'val', 'test')
        ]
        assert not (files[0] & files[1] or files[0] & files[2]
                    or files[1] & files[2])
        assert set.union(*files) == set(f for g in inst[name] for f in g)
    with pytest.raises(ValueError, match='every split needs one'):
        split_instances({'x': [['1'], ['2']]})
    with pytest.raises(ValueError, match='3 positive numbers'):
        split_instances(inst, (1, 0, 1))


def test_compose_split_and_openmmlab_annotations(fake_tuxpaint, tmp_path):
    from mmpretrain.registry import DATASETS
    inst = collect_instances(fake_tuxpaint, FAKE_CLASSES)
    pools = split_instances(inst)['test']
    out = str(tmp_path / 'data')
    records = compose_split(
        fake_tuxpaint,
        pools,
        list('abc'),
        12,
        osp.join(out, 'test'),
        image_size=224,
        seed=1)
    allowed = {f for groups in pools.values() for g in groups for f in g}
    for r in records:
        assert 1 <= len(r['labels']) <= 3
        assert len(set(r['labels'])) == len(r['labels'])  # distinct classes
        assert set(r['objects']) <= allowed  # only this split's instances
        # each object's file belongs to the class it is labelled with
        for label, obj in zip(r['labels'], r['objects']):
            assert obj.split('/')[1] == label
        with Image.open(osp.join(out, 'test', r['img'])) as img:
            assert img.size == (224, 224)
    ann = write_annotations(records, list('abc'), 'test',
                            osp.join(out, 'test'))
    ds = DATASETS.build(
        dict(
            type='MultiLabelFolder', data_root=out,
            ann_file=osp.basename(ann)))
    assert ds.CLASSES == ('a', 'b', 'c')
    assert [sorted(ds.get_data_info(i)['gt_label']) for i in range(12)] == \
        [sorted('abc'.index(c) for c in r['labels']) for r in records]


# ------------------------------------------------------------ end to end
def _tuxpaint_or_skip():
    try:
        return demo_data.find_tuxpaint(fetch=False)
    except FileNotFoundError:
        pass
    if shutil.which('apt-get') is None or shutil.which('dpkg-deb') is None:
        pytest.skip('the demo photographs come from the Debian packages '
                    f'{demo_data.PACKAGES}: they are not installed or '
                    'cached, and apt-get / dpkg-deb are missing')
    return None  # tools/demo.py fetches them


def _sklearn_map(npz):
    """mAP (percent) over the classes with a valid positive, by sklearn."""
    from sklearn.metrics import average_precision_score
    data = np.load(npz)
    scores, gt, valid = data['scores'], data['gt'], data['valid'] > 0
    aps = [
        average_precision_score(gt[valid[:, c], c], scores[valid[:, c], c])
        for c in range(gt.shape[1]) if gt[valid[:, c], c].any()
    ]
    return 100 * float(np.mean(aps))


@pytest.mark.slow
def test_demo_small_end_to_end(tmp_path):
    import torch

    from mmcsra.apis.retrofit import DEFAULT_LAMS
    _tuxpaint_or_skip()
    work = str(tmp_path / 'tmp')
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'demo.py'), '--small', '--work-dir', work
    ],
                          cwd=str(tmp_path),
                          capture_output=True,
                          text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(osp.join(work, 'results.json')) as f:
        results = json.load(f)

    assert set(results) == {'gap', 'retrofit', 'csra', 'meta'}
    for key in ('gap', 'retrofit', 'csra'):
        expected = {'mAP', 'CF1', 'OF1', 'seconds'
                    } | ({'lambda'} if key == 'retrofit' else set())
        assert set(results[key]) == expected
        for metric in ('mAP', 'CF1', 'OF1'):
            value = results[key][metric]
            assert math.isfinite(value) and 0 <= value <= 100, (key, metric)
        assert results[key]['seconds'] > 0
    meta = results['meta']
    assert {'dataset', 'backbone', 'seconds'} <= set(meta)
    assert results['retrofit']['lambda'] in DEFAULT_LAMS
    classes = meta['dataset']['classes']
    assert classes == list(demo_data.DEMO_CLASSES)

    # the selected λ is the best one of the val sweep (ties: smallest λ)
    sweep = {float(k): v for k, v in meta['retrofit']['val_sweep'].items()}
    best = max(sweep.values())
    assert results['retrofit']['lambda'] == min(lam
                                                for lam, v in sweep.items()
                                                if v == best)

    # the reported mAPs equal sklearn's on the dumped test scores
    for key in ('gap', 'retrofit', 'csra'):
        npz = osp.join(work, meta['test_scores'][key])
        data = np.load(npz)
        assert data['scores'].shape == (meta['dataset']['images']['test'],
                                        len(classes))
        assert abs(_sklearn_map(npz) - results[key]['mAP']) < 1e-6, key
    # λ = 0 scores are the GAP model's: retrofit at the chosen λ differs
    # from them exactly when λ > 0
    gap_scores = np.load(osp.join(work, meta['test_scores']['gap']))
    ret_scores = np.load(osp.join(work, meta['test_scores']['retrofit']))
    same = np.array_equal(gap_scores['scores'], ret_scores['scores'])
    assert same == (results['retrofit']['lambda'] == 0)

    # the published model loads without pickle and names the classes
    ckpt = meta['published']['checkpoint']
    assert osp.isfile(ckpt) and osp.isfile(meta['published']['config'])
    state = torch.load(ckpt, map_location='cpu', weights_only=True)
    assert set(state) == {'state_dict', 'meta'}
    assert list(state['meta']['dataset_meta']['classes']) == classes
    # tools/infer.py and the Python inferencer agree, on names of the list
    inference = meta['inference']
    with open(inference['infer_py']['out']) as f:
        infer_json = json.load(f)
    assert json.dumps(infer_json)  # valid JSON written by tools/infer.py
    assert set(inference['infer_py']['classes']) <= set(classes)
    assert inference['infer_py']['classes'] == \
        inference['inferencer']['classes']
    assert np.allclose(
        inference['infer_py']['scores'],
        inference['inferencer']['scores'],
        atol=1e-4)
    assert set(inference['truth']) <= set(classes)

    # object instances are disjoint between the splits, and every image
    # only shows its split's instances
    with open(osp.join(meta['dataset']['data_root'], 'instances.json')) as f:
        manifest = json.load(f)
    files = {
        s: {
            f
            for groups in manifest['instances'][s].values()
            for g in groups
            for f in g
        }
        for s in ('train', 'val', 'test')
    }
    assert not (files['train'] & files['val'] or files['train'] & files['test']
                or files['val'] & files['test'])
    for split, images in manifest['images'].items():
        assert all(set(objs) <= files[split] for objs in images.values())

    # the attention figure is a small PNG
    figure = meta['figure']['path']
    with Image.open(figure) as img:
        assert img.format == 'PNG'
    assert os.path.getsize(figure) < 300_000


@pytest.mark.parametrize('colours', [None, 64])
def test_attention_grid_layout(tmp_path, colours):
    from mmcsra.visualization import save_attention_grid
    image = np.zeros((32, 32, 3), np.uint8)
    amap = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)

    def result(num_maps):
        return dict(
            image=image,
            maps={i: amap
                  for i in range(num_maps)},
            scores=np.full(3, 0.5),
            predicted=[0],
            class_names=('x', 'y', 'z'))

    out = str(tmp_path / 'grid.png')
    save_attention_grid([result(3), result(1)],
                        out,
                        panel_px=64,
                        colours=colours)
    with Image.open(out) as img:
        # 1 image + at most 3 maps per row; 64 px panels + a 22 px title
        assert img.size == (4 * 64, 2 * (64 + 22))
        assert img.mode == ('P' if colours else 'RGBA')
        if colours:
            assert len(img.getcolors()) <= colours
    with pytest.raises(ValueError, match='at least one result'):
        save_attention_grid([], out)
    with pytest.raises(ValueError, match='colours must be'):
        save_attention_grid([result(1)], out, colours=1)
