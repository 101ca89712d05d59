"""MultiLabelInferencer and tools/infer.py.

The decision tests use the GAP + linear demo model with a zero classifier
weight and a chosen bias, so every image gets the same, known scores
``s_i = sigmoid(b_i)`` and the expected label sets follow by hand.
"""
import copy
import json
import os.path as osp
import runpy

import cv2
import numpy as np
import pytest
import torch
from mmpretrain.registry import DATASETS

import mmcsra  # noqa: F401
from mmcsra.apis import MultiLabelInferencer, get_model
from mmcsra.apis.inferencer import PREDICTIONS_FORMAT
from mmcsra.datasets.multi_digits import DIGIT_CLASSES
from mmcsra.evaluation.threshold_file import save_thresholds

from utils import CONFIGS, TOOLS

GAP_CFG = osp.join(CONFIGS, 'baseline', 'resnet18-gap_multidigits.py')
# class:     0     1     2    3    4    5    6    7     8     9
SCORES = [0.95, 0.05, 0.9, 0.3, 0.6, 0.1, 0.8, 0.02, 0.55, 0.4]
PER_CLASS_THR = [0.99, 0.01, 0.5, 0.2, 0.7, 0.5, 0.5, 0.5, 0.5, 0.5]


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


@pytest.fixture(scope='module')
def fixed_model():
    """Demo GAP model whose scores are SCORES for any image."""
    model = get_model(GAP_CFG)
    with torch.no_grad():
        model.head.fc.weight.zero_()
        model.head.fc.bias.copy_(torch.tensor([_logit(p) for p in SCORES]))
    return model


@pytest.fixture(scope='module')
def canvases(tmp_path_factory):
    """Three MultiDigits test canvases (64 px) as PNG files, plus a text
    file the folder listing must skip."""
    folder = tmp_path_factory.mktemp('images')
    dataset = DATASETS.build(
        dict(type='MultiDigits', split='test', num_samples=3, pipeline=[]))
    images = [dataset.get_data_info(i)['img'] for i in range(3)]
    paths = []
    for i, img in enumerate(images):
        paths.append(str(folder / f'canvas_{i}.png'))
        assert cv2.imwrite(paths[-1], img)
    (folder / 'notes.txt').write_text('not an image')
    return dict(folder=str(folder), paths=paths, images=images)


@pytest.mark.parametrize(
    'rule, expected',
    [
        (dict(thr=0.5), [0, 2, 6, 4, 8]),
        (dict(thr=0.7), [0, 2, 6]),
        (dict(thr=0.96), []),
        (dict(topk=3), [0, 2, 6]),
        (dict(topk=1), [0]),
        (dict(), [0, 2, 6, 4, 8]),  # the head's default rule, thr = 0.5
        (dict(thr_file=True), [2, 6, 8, 3, 1]),
    ])
def test_label_sets(fixed_model, canvases, tmp_path, rule, expected):
    if rule.get('thr_file'):
        rule = dict(thr_file=str(tmp_path / 'thr.json'))
        save_thresholds(rule['thr_file'], PER_CLASS_THR, DIGIT_CLASSES)
    inferencer = MultiLabelInferencer(fixed_model, **rule)
    results = inferencer(canvases['folder'])
    assert [r['img_path'] for r in results] == canvases['paths']
    for result in results:
        assert result['labels'] == expected
        assert result['classes'] == [DIGIT_CLASSES[i] for i in expected]
        np.testing.assert_allclose(
            result['scores'], [SCORES[i] for i in expected], atol=1e-6)
        np.testing.assert_allclose(result['pred_score'], SCORES, atol=1e-6)


def test_topk_ties_go_to_the_lower_class_index(fixed_model, canvases):
    model = copy.deepcopy(fixed_model)
    with torch.no_grad():
        model.head.fc.bias.copy_(torch.tensor([0., 1, 1, 0, 1, 0, 0, 0, 0, 0]))
    inferencer = MultiLabelInferencer(model, topk=4)
    [result] = inferencer(canvases['paths'][0])
    assert result['labels'] == [1, 2, 4, 0]


def test_disk_images_equal_the_in_memory_dataset(canvases):
    """Reading a canvas from disk (LoadImageFromFileChecked + Resize to the
    64 px canvas) scores exactly as the dataset's in-memory sample does."""
    torch.manual_seed(0)
    model = get_model(GAP_CFG)  # random weights
    with torch.no_grad():
        model.head.fc.weight.normal_(std=0.5)
    dataset = DATASETS.build(
        dict(
            type='MultiDigits',
            split='test',
            num_samples=3,
            pipeline=model._config.test_dataloader.dataset.pipeline))
    with torch.no_grad():
        samples = model.test_step({
            k: [dataset[i][k] for i in range(3)]
            for k in ('inputs', 'data_samples')
        })
    expected = torch.stack([s.pred_score for s in samples])
    assert expected.std(dim=0).max() > 1e-3  # images score differently

    inferencer = MultiLabelInferencer(model, thr=0.5, batch_size=2)
    from_disk = inferencer(canvases['paths'])
    from_arrays = inferencer(canvases['images'])
    for results in (from_disk, from_arrays):
        got = torch.tensor([r['pred_score'] for r in results])
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    assert [r['img_path'] for r in from_arrays] == [None] * 3


def test_pipeline_adaptation(tmp_path):
    """A file-based test pipeline: its loader reads the file (and never
    skips), annotation-only transforms are dropped, the resize applies."""
    model = get_model(GAP_CFG)
    cfg = copy.deepcopy(model._config)
    cfg.test_dataloader.dataset.pipeline = [
        dict(type='LoadImageFromFileChecked', on_error='skip'),
        dict(type='CropByBBox', bbox_key='crop_bbox'),
        dict(type='Resize', scale=(32, 32)),
        dict(type='PackInputs'),
    ]
    model._config = cfg
    inferencer = MultiLabelInferencer(model)
    assert [type(t).__name__ for t in inferencer._load.transforms
            ] == ['LoadImageFromFileChecked']
    assert inferencer._load.transforms[0].on_error == 'raise'
    assert [type(t).__name__ for t in inferencer._transforms.transforms
            ] == ['Resize', 'PackInputs']
    path = str(tmp_path / 'wide.png')
    cv2.imwrite(path, np.full((50, 70, 3), 128, np.uint8))
    assert inferencer._prepare(path)['inputs'].shape == (3, 32, 32)
    from mmcsra.datasets.errors import ImageLoadError
    bad = tmp_path / 'broken.png'
    bad.write_bytes(b'not a png')
    with pytest.raises(ImageLoadError):
        inferencer(str(bad))

    # the in-memory demo: file loading + resize to the 64 px canvas
    demo = MultiLabelInferencer(get_model(GAP_CFG))
    assert demo._prepare(path)['inputs'].shape == (3, 64, 64)
    assert MultiLabelInferencer(
        get_model(GAP_CFG), image_size=40)._prepare(path)['inputs'].shape \
        == (3, 40, 40)


def test_bad_arguments(fixed_model, tmp_path):
    with pytest.raises(ValueError, match='at most one'):
        MultiLabelInferencer(fixed_model, thr=0.5, topk=2)
    with pytest.raises(ValueError, match=r'thr must be a number in \[0, 1\]'):
        MultiLabelInferencer(fixed_model, thr=1.5)
    with pytest.raises(ValueError, match=r'topk must be an int in \[1, 10\]'):
        MultiLabelInferencer(fixed_model, topk=11)
    short = str(tmp_path / 'short.json')
    save_thresholds(short, [0.5] * 9)
    with pytest.raises(ValueError, match='9 thresholds .* 10 classes'):
        MultiLabelInferencer(fixed_model, thr_file=short)
    renamed = str(tmp_path / 'renamed.json')
    save_thresholds(renamed, [0.5] * 10,
                    ['zero', 'uno'] + list(DIGIT_CLASSES[2:]))
    with pytest.raises(ValueError, match="class 1 is 'uno'"):
        MultiLabelInferencer(fixed_model, thr_file=renamed)
    with pytest.raises(FileNotFoundError, match='no image'):
        MultiLabelInferencer(fixed_model)(str(tmp_path))


def test_infer_tool_json(fixed_model, canvases, tmp_path, capsys):
    """tools/infer.py with a checkpoint and a threshold file: the JSON."""
    ckpt = str(tmp_path / 'fixed.pth')
    torch.save(
        dict(
            meta=dict(dataset_meta=dict(classes=DIGIT_CLASSES)),
            state_dict=fixed_model.state_dict()), ckpt)
    thr_file = str(tmp_path / 'thr.json')
    save_thresholds(thr_file, PER_CLASS_THR, DIGIT_CLASSES)
    out = str(tmp_path / 'results.json')
    tool = runpy.run_path(osp.join(TOOLS, 'infer.py'))
    tool['main']([
        canvases['folder'], GAP_CFG, ckpt, '--thr-file', thr_file, '--out',
        out, '--batch-size', '2'
    ])
    printed = capsys.readouterr().out
    assert f"{canvases['paths'][0]}: two (0.900), six (0.800)" in printed

    with open(out) as f:
        doc = json.load(f)
    assert set(doc) == {
        'format', 'rule', 'classes', 'results', 'config', 'checkpoint'
    }
    assert doc['format'] == PREDICTIONS_FORMAT
    assert doc['rule'] == dict(
        type='thr_file', path=thr_file, thresholds=PER_CLASS_THR)
    assert doc['classes'] == list(DIGIT_CLASSES)
    assert (doc['config'], doc['checkpoint']) == (GAP_CFG, ckpt)
    assert [r['img_path'] for r in doc['results']] == canvases['paths']
    for result in doc['results']:
        assert set(result) == {
            'img_path', 'labels', 'classes', 'scores', 'pred_score'
        }
        assert result['labels'] == [2, 6, 8, 3, 1]
        assert result['classes'] == ['two', 'six', 'eight', 'three', 'one']
        assert len(result['pred_score']) == 10


def test_folder_shows_a_progress_bar(fixed_model, canvases, capsys):
    """A folder (3 images) draws mmengine's bar on stderr; one image and
    progress=False do not."""
    inferencer = MultiLabelInferencer(fixed_model, thr=0.5)
    inferencer(canvases['folder'])
    err = capsys.readouterr().err
    assert '3/3' in err
    inferencer(canvases['paths'][0])
    assert '1/1' not in capsys.readouterr().err
    inferencer(canvases['folder'], progress=False)
    assert '3/3' not in capsys.readouterr().err
