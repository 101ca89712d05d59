"""CSRA attention / score maps: values, geometry, PNG output and the tool.

A hand-set model makes the expected maps derivable by hand: the backbone is
a fixed 8x8 average pooling (``10 * mean - 1``) of a 64x64 RGB image, so a
pure-red 16x16 square in the top-left corner gives the feature grid
``G_red = 9`` on cells (0..1, 0..1) and ``-1`` elsewhere, and the CSRA
classifier of class k is the one-hot vector of colour channel k (every
head), so ``s_kj = G_k[j]``.
"""
import importlib.util
import math
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from PIL import Image

import mmcsra  # noqa: F401
from mmcsra.visualization import compute_attention_maps, load_csra_model
from mmcsra.visualization import attention_maps as am

from utils import CONFIGS, TOOLS

SIZE, CELL, LAM = 64, 8, 0.1
CLASSES = ('red', 'green', 'blue')


@MODELS.register_module(name='AttnTestPatchBackbone', force=True)
class PatchBackbone(BaseModule):
    """Fixed backbone: ``10 * avg_pool(x, 8) - 1`` (no parameters)."""

    def forward(self, x):  # [B, 3, 64, 64] in [0, 1]
        return (10 * F.avg_pool2d(x, CELL) - 1, )  # [B, 3, 8, 8]


CONFIG_TEXT = f"""
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmcsra'], allow_failed_imports=False)
data_preprocessor = dict(num_classes=3, mean=[0, 0, 0], std=[255, 255, 255],
                         to_rgb=True)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='AttnTestPatchBackbone'),
    head=dict(type='CSRAHead', num_classes=3, in_channels=3, num_heads=2,
              lam={LAM}))
# in-memory style test pipeline: no loader (the tool prepends one)
test_dataloader = dict(dataset=dict(pipeline=[dict(type='PackInputs')]))
"""


def corner_image() -> np.ndarray:
    """BGR: red square top-left, green square bottom-right, black else."""
    img = np.zeros((SIZE, SIZE, 3), np.uint8)
    img[:16, :16, 2] = 255  # red (BGR channel 2)
    img[48:, 48:, 1] = 255  # green
    return img


def feature_grids() -> np.ndarray:
    """(3, 8, 8) hand-derived backbone output of corner_image (RGB)."""
    grid = -np.ones((3, 8, 8))
    grid[0, :2, :2] = 9.0
    grid[1, 6:, 6:] = 9.0
    return grid


def reference_map(k: int, score_map: bool, temperature: float) -> np.ndarray:
    s = feature_grids()[k].reshape(-1)
    if score_map:
        m = s
    elif math.isinf(temperature):
        m = np.zeros_like(s)
        m[np.argmax(s)] = 1.0
    else:
        e = np.exp(temperature * (s - s.max()))
        m = e / e.sum()
    m = torch.tensor(m, dtype=torch.float32).view(1, 1, 8, 8)
    return F.interpolate(
        m, size=(SIZE, SIZE), mode='bilinear', align_corners=False)[0,
                                                                    0].numpy()


def reference_scores() -> np.ndarray:
    """sigmoid(sum_h mean_j s + lam * att_h), heads T = (1, inf)."""
    out = []
    for s in feature_grids().reshape(3, -1):
        w = np.exp(s - s.max())
        att_t1 = (w * s).sum() / w.sum()
        logit = 2 * s.mean() + LAM * (att_t1 + s.max())
        out.append(1 / (1 + math.exp(-logit)))
    return np.array(out)


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp('attn')
    cfg_path = root / 'patch_csra.py'
    cfg_path.write_text(CONFIG_TEXT)
    img_path = root / 'corners.png'
    cv2.imwrite(str(img_path), corner_image())
    model, _ = load_csra_model(str(cfg_path))
    weight = torch.eye(3).repeat(2, 1)  # rows h*C+k = e_k
    model.head.csra.classifier.weight.data.copy_(weight)
    ckpt = root / 'patch_csra.pth'
    torch.save(
        dict(
            meta=dict(dataset_meta=dict(classes=list(CLASSES))),
            state_dict=model.state_dict()), str(ckpt))
    return dict(
        root=root, config=str(cfg_path), img=str(img_path), ckpt=str(ckpt))


@pytest.fixture(scope='module')
def model(files):
    model, _ = load_csra_model(files['config'], files['ckpt'])
    return model


def quadrant(amap: np.ndarray):
    r, c = np.unravel_index(np.argmax(amap), amap.shape)
    return ('top' if r < SIZE // 2 else 'bottom',
            'left' if c < SIZE // 2 else 'right')


@pytest.mark.parametrize(
    'score_map,temperature,head,used_t',
    [
        (False, None, 0, 1.0),  # head 0's own T = 1
        (False, None, 1, float('inf')),  # head 1's own T = inf: arg-max
        (False, 4.0, 0, 4.0),
        (False, 0.5, 1, 0.5),
        (True, None, 0, None),
        (True, None, 1, None),
    ])
def test_maps_values_and_peak_corner(model, files, score_map, temperature,
                                     head, used_t):
    result = compute_attention_maps(
        model,
        files['img'],
        classes=[0, 1, 2],
        score_map=score_map,
        temperature=temperature,
        head=head)
    assert list(result['maps']) == [0, 1, 2]
    assert result['kind'] == ('score' if score_map else 'attention')
    assert result['temperature'] == used_t
    ref_t = used_t if used_t is not None else 1.0
    for k in range(3):
        amap = result['maps'][k]
        assert amap.shape == (SIZE, SIZE)
        np.testing.assert_allclose(
            amap, reference_map(k, score_map, ref_t), rtol=1e-5, atol=1e-6)
    assert quadrant(result['maps'][0]) == ('top', 'left')  # red
    assert quadrant(result['maps'][1]) == ('bottom', 'right')  # green
    if not score_map and math.isfinite(ref_t):
        # blue scores are tied: uniform attention 1/64 per location
        np.testing.assert_allclose(result['maps'][2], 1 / 64, rtol=1e-5)


def test_scores_predicted_classes_and_image(model, files):
    result = compute_attention_maps(model, files['img'])
    np.testing.assert_allclose(result['scores'], reference_scores(), rtol=1e-5)
    # sigmoid scores red, green > 0.5 = thr > blue
    assert result['predicted'] == [0, 1]
    assert list(result['maps']) == [0, 1]
    assert result['class_names'] == CLASSES
    # the drawn image is the network input in RGB
    assert result['image'].shape == (SIZE, SIZE, 3)
    assert tuple(result['image'][0, 0]) == (255, 0, 0)
    assert tuple(result['image'][-1, -1]) == (0, 255, 0)


def test_array_input_matches_file_input(model, files):
    from_file = compute_attention_maps(model, files['img'], classes=['red'])
    from_array = compute_attention_maps(model, corner_image(), classes=['red'])
    np.testing.assert_allclose(from_array['maps'][0], from_file['maps'][0])


def test_loader_prepended_only_when_missing():
    packs = [dict(type='PackInputs')]
    loaded = [dict(type='LoadImageFromFileChecked'), dict(type='PackInputs')]
    names = [
        type(t).__name__
        for t in am.build_image_pipeline(packs, from_file=True).transforms
    ]
    assert names == ['LoadImageFromFile', 'PackInputs']
    names = [
        type(t).__name__
        for t in am.build_image_pipeline(loaded, from_file=True).transforms
    ]
    assert names == ['LoadImageFromFileChecked', 'PackInputs']
    names = [
        type(t).__name__
        for t in am.build_image_pipeline(loaded, from_file=False).transforms
    ]
    assert names == ['PackInputs']


@pytest.mark.parametrize('kwargs,match', [
    (dict(score_map=True, temperature=2.0), 'temperature'),
    (dict(head=2), 'head'),
    (dict(temperature=0.0), 'temperature'),
    (dict(classes=['purple']), 'purple'),
    (dict(classes=[3]), 'out of range'),
])
def test_bad_arguments(model, files, kwargs, match):
    with pytest.raises(ValueError, match=match):
        compute_attention_maps(model, files['img'], **kwargs)


def test_other_heads_refused(files):
    from mmengine.config import Config
    cfg = Config.fromfile(files['config'])
    cfg.model.neck = dict(type='GlobalAveragePooling')
    cfg.model.head = dict(
        type='MultiLabelLinearClsHead', num_classes=3, in_channels=3)
    model, _ = load_csra_model(cfg)
    with pytest.raises(TypeError, match='CSRAHead.*MultiLabelLinearClsHead'):
        compute_attention_maps(model, files['img'])


def _tool():
    spec = importlib.util.spec_from_file_location(
        'visualize_attention', osp.join(TOOLS, 'visualize_attention.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _png(path):
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        return np.asarray(im.convert('RGB'))


def test_tool_writes_predicted_class_pngs(files, tmp_path):
    out = tmp_path / 'att'
    _, written = _tool().main(
        [files['img'], files['config'], files['ckpt'], '--out-dir',
         str(out)])
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        'corners_green_attention_T1_h0.png', 'corners_red_attention_T1_h0.png'
    ]
    zoom = math.ceil(am.MIN_DISPLAY_SIDE / SIZE)  # 4: 64 px -> 256 px
    for path in written.values():
        png = _png(path)
        # image area zoom*64 square + title band on top + colour bar right
        assert png.shape == (zoom * SIZE + am.TITLE_PX,
                             zoom * SIZE + am.COLORBAR_PX, 3)
    # red's overlay: jet high (red) on the top-left square, jet low (blue)
    # away from it: the map is drawn the right way up
    png = _png(written[0]).astype(int)
    top_left = png[am.TITLE_PX + zoom * 4, zoom * 4]
    bottom_left = png[am.TITLE_PX + zoom * 56, zoom * 4]
    assert top_left[0] > 150 and top_left[2] < 60
    assert bottom_left[2] > 40 and bottom_left[0] < 20


def test_tool_score_map_named_classes(files, tmp_path):
    out = tmp_path / 'score'
    _, written = _tool().main([
        files['img'], files['config'], files['ckpt'], '--out-dir',
        str(out), '--score-map', '--head', '1', '--classes', 'blue', '0',
        '--zoom', '1'
    ])
    assert [osp.basename(p) for p in written.values()
            ] == ['corners_blue_score_h1.png', 'corners_red_score_h1.png']
    for path in written.values():
        assert _png(path).shape == (SIZE + am.TITLE_PX, SIZE + am.COLORBAR_PX,
                                    3)


def test_demo_config_class_names_and_size(tmp_path):
    """The demo: in-memory dataset (loader prepended), names from METAINFO.
    """
    from mmcsra.datasets.multi_digits import DIGIT_CLASSES, MultiDigits
    config = osp.join(CONFIGS, 'csra', 'resnet18_multidigits.py')
    model, _ = load_csra_model(config)
    ckpt = tmp_path / 'random.pth'
    torch.save(dict(state_dict=model.state_dict()), str(ckpt))
    info = MultiDigits(
        split='test', num_samples=1, lazy_init=False).get_data_info(0)
    img = tmp_path / 'digits.png'
    cv2.imwrite(str(img), info['img'])
    out = tmp_path / 'demo'
    result, written = _tool().main([
        str(img), config,
        str(ckpt), '--out-dir',
        str(out), '--classes', 'seven', '3', '--temperature', 'inf'
    ])
    assert result['class_names'] == DIGIT_CLASSES
    assert [osp.basename(p) for p in written.values()] == [
        'digits_seven_attention_Tinf_h0.png',
        'digits_three_attention_Tinf_h0.png'
    ]
    # arg-max attention (T = inf) is one-hot over the 4x4 grid of the 64 px
    # input (ResNet-18 at output stride 16). Upsampled x16 (bilinear,
    # align_corners=False) every cell's weights sum to 16 per axis, so the
    # map sums to 16 * 16; its peak is 1 - 1/32 per axis off an inner cell's
    # centre (1 at the border).
    amap = result['maps'][7]
    assert amap.shape == (64, 64)
    assert amap.sum() == pytest.approx(16 * 16, rel=1e-4)
    assert (31 / 32)**2 - 1e-6 <= amap.max() <= 1 + 1e-6
    assert amap.min() == 0
    # zoom 4: the short side of the drawn image is at least 256 px
    assert _png(written[7]).shape == (4 * 64 + am.TITLE_PX,
                                      4 * 64 + am.COLORBAR_PX, 3)
