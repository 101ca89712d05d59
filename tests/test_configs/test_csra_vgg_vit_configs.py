"""CSRA on VGG-16 and ViT: the VOC configs at 448 px and the demo configs.

The CSRA logits are checked against the paper's formula written out here
(Zhu & Wu, ICCV 2021, Eqs. 1-5 with the classifier moved inside):
``y_i = mean_j s_ij + lam * sum_j softmax_j(T s_ij) s_ij`` with
``s_ij = x_j^T m_i / ||m_i||``, on the locations x_j of the backbone output.
"""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmpretrain.apis.model import ModelHub
from mmpretrain.registry import MODELS

import mmcsra  # noqa: F401
from utils import CONFIGS, train_few_iters

CSRA_CONFIGS = osp.join(CONFIGS, 'csra')


def _vgg_locations(px: int) -> int:
    # VGG-16 has 5 stride-2 max-pools; with_last_pool=False keeps 4:
    # stride 2**4 = 16
    side = px // 2**4
    return side * side


def _vit_locations(px: int, patch: int) -> int:
    side = px // patch  # non-overlapping patches
    return side * side


# config: (input px, classes, channels D, lambda, CSRA locations N,
#          leading class tokens)
CASES = {
    'vgg16_voc': (448, 20, 512, 1e-3, _vgg_locations(448), 0),
    'vit-b16_voc': (448, 20, 768, 0.3, _vit_locations(448, 16), 1),
    'vgg16_multidigits': (64, 10, 512, 0.1, _vgg_locations(64), 0),
    'vit-b16_multidigits': (64, 10, 192, 0.1, _vit_locations(64, 8), 1),
}
DEMOS = ['vgg16_multidigits', 'vit-b16_multidigits']


def _cfg(name: str) -> Config:
    return Config.fromfile(osp.join(CSRA_CONFIGS, f'{name}.py'))


def _reference_csra(locations: torch.Tensor,
                    weight: torch.Tensor,
                    lam: float,
                    temperature: float = 1.0) -> torch.Tensor:
    """The CSRA logits of one image, in float64.

    Args:
        locations: ``(N, D)`` features x_j.
        weight: ``(C, D)`` classifier m_i.
    """
    x = locations.double()
    m = weight.double()
    s = x @ (m / m.norm(dim=1, keepdim=True)).T  # [N, C]
    base = s.mean(dim=0)  # [C]
    att = (torch.softmax(temperature * s, dim=0) * s).sum(dim=0)  # [C]
    return base + lam * att


def test_hand_derived_location_counts():
    assert CASES['vgg16_voc'][4] == 28 * 28 == 784
    assert CASES['vit-b16_voc'][4] == 28 * 28 == 784
    assert CASES['vgg16_multidigits'][4] == 4 * 4
    assert CASES['vit-b16_multidigits'][4] == 8 * 8


@pytest.mark.parametrize('name', sorted(CASES))
def test_forward_locations_and_csra_formula(name):
    px, classes, channels, lam, locations, extra = CASES[name]
    cfg = _cfg(name)
    torch.manual_seed(0)
    # init_weights is not called for the VOC configs: it would download
    model = MODELS.build(cfg.model).eval()
    head = model.head.csra
    assert (head.num_classes, head.in_channels, head.num_heads, head.lam,
            head.temperatures) == (classes, channels, 1, lam, (1.0, ))
    with torch.no_grad():
        # a non-trivial head: the default init is N(0, 0.01^2)
        head.classifier.weight.normal_()
        feats = model.extract_feat(torch.randn(1, 3, px, px))
        logits = model.head(feats)
    (out, ) = feats
    if extra:  # ViT tokens: class token + patch tokens
        assert out.shape == (1, extra + locations, channels)
        patch_tokens = out[0, extra:]  # [N, D]
    else:  # CNN feature map
        side = math.isqrt(locations)
        assert out.shape == (1, channels, side, side)
        patch_tokens = out[0].flatten(1).T  # [N, D]
    scores = head.class_score_maps(out)
    assert scores.shape == (1, 1, classes, locations)
    expected = _reference_csra(patch_tokens, head.classifier.weight, lam)
    assert logits.shape == (1, classes)
    torch.testing.assert_close(
        logits[0].double(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('name, hub_name, backbone_keys', [
    ('vgg16_voc', 'vgg16_8xb32_in1k', ('type', 'depth')),
    ('vit-b16_voc', 'vit-base-p16_in21k-pre_3rdparty_in1k-384px',
     ('type', 'arch', 'patch_size')),
])
def test_voc_configs_load_mmpretrain_imagenet_weights(name, hub_name,
                                                      backbone_keys):
    """The checkpoint is MMPretrain's, for the same backbone."""
    cfg = _cfg(name)
    hub = ModelHub.get(hub_name)
    init = cfg.model.backbone.init_cfg
    assert (init.type, init.prefix) == ('Pretrained', 'backbone')
    assert init.checkpoint == hub.weights
    for key in backbone_keys:
        assert cfg.model.backbone[key] == hub.config.model.backbone[key], key
    # the checkpoint's input normalisation
    for key in ('mean', 'std'):
        assert cfg.data_preprocessor[key] == hub.config.data_preprocessor[key]
    assert cfg.data_preprocessor.num_classes == 20


def test_vgg16_voc_recipe():
    cfg = _cfg('vgg16_voc')
    backbone = cfg.model.backbone
    assert (backbone.num_classes, backbone.with_last_pool) == (-1, False)
    assert backbone.get('norm_cfg') is None  # plain VGG-16, as the weights
    assert cfg.optim_wrapper.optimizer.lr == 0.01
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys.head.lr_mult == 10.0
    assert cfg.train_cfg.max_epochs == 30
    assert cfg.param_scheduler[1].step_size == 4  # the VOC step


@pytest.mark.parametrize('ckpt_px', [224, 384])
def test_vit_b16_448_interpolates_pos_embed(ckpt_px):
    """A 224-px (14 x 14 + 1) or 384-px (24 x 24 + 1, MMPretrain's ViT-B/16)
    position embedding loads into the 448-px model (28 x 28 + 1)."""
    backbone = MODELS.build(_cfg('vit-b16_voc').model.backbone)
    dims = 768
    assert backbone.pos_embed.shape == (1, 28 * 28 + 1, dims)

    grid = ckpt_px // 16
    state = backbone.state_dict()
    channel_value = torch.linspace(-1.0, 1.0, dims)  # constant over positions
    cls_value = torch.full((dims, ), 5.0)
    pos = channel_value.expand(1, grid * grid + 1, dims).clone()
    pos[0, 0] = cls_value
    state['pos_embed'] = pos
    backbone.load_state_dict(state, strict=True)

    loaded = backbone.pos_embed.detach()
    assert loaded.shape == (1, 28 * 28 + 1, dims)
    torch.testing.assert_close(loaded[0, 0], cls_value)  # class token kept
    torch.testing.assert_close(
        loaded[0, 1:], channel_value.expand(28 * 28, dims), rtol=0, atol=1e-5)


def test_vit_b16_448_interpolates_a_ramp_along_columns():
    """A pos-embed varying only along the columns still varies only along
    the columns after the 14 x 14 -> 28 x 28 resize, and still increases
    (bicubic may overshoot the source range at the borders)."""
    backbone = MODELS.build(_cfg('vit-b16_voc').model.backbone)
    state = backbone.state_dict()
    ramp = torch.arange(14, dtype=torch.float32)  # column index
    grid = ramp.expand(14, 14)  # [rows, cols]
    pos = torch.zeros(1, 14 * 14 + 1, 768)
    pos[0, 1:] = grid.reshape(-1, 1)
    state['pos_embed'] = pos
    backbone.load_state_dict(state)
    loaded = backbone.pos_embed.detach()[0, 1:, 0].reshape(28, 28)
    torch.testing.assert_close(loaded, loaded[:1].expand(28, 28))
    row = loaded[0]
    assert torch.all(row[1:] > row[:-1])


@pytest.mark.parametrize('name', DEMOS)
def test_demo_configs_only_swap_the_model(name):
    demo = _cfg(name)
    resnet = _cfg('resnet18_multidigits')
    for key in ('train_dataloader', 'val_dataloader', 'optim_wrapper',
                'param_scheduler', 'train_cfg', 'data_preprocessor',
                'default_hooks', 'custom_hooks'):
        assert demo[key] == resnet[key], key
    # from scratch: nothing to download
    assert 'Pretrained' not in str(demo.model) and demo.load_from is None


def test_vit_demo_is_the_reduced_vit():
    backbone = _cfg('vit-b16_multidigits').model.backbone
    assert backbone.arch == dict(
        embed_dims=192, num_layers=4, num_heads=3, feedforward_channels=768)
    assert (backbone.img_size, backbone.patch_size) == (64, 8)


@pytest.mark.parametrize('name', DEMOS)
def test_demo_config_loss_falls(name, tmp_path):
    # one batch of 8 canvases seen at every iteration (AdamW, lr 1e-3)
    losses = train_few_iters(
        osp.join(CSRA_CONFIGS, f'{name}.py'),
        str(tmp_path),
        max_iters=5,
        num_samples=8,
        batch_size=8)
    assert len(losses) == 5
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0] - 0.05
