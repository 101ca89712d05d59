"""Converters of official checkpoints (tools/model_converters/).

Each test builds a state dict with the official key names and shapes
(random values), converts it, loads it strictly into the mmcsra model and
compares the logits with a forward written here from the official code's
math (tolerance 1e-4):

* CSRA ResNet-101: torchvision's ``resnet101`` (the official backbone class)
  up to ``layer4``, then the official per-head CSRA formula; the converted
  file is loaded by ``get_model('resnet101_coco', pretrained=...)``;
* CSRA ViT: a small timm-layout ViT (the official ``VIT_CSRA``: pre-norm
  blocks, LayerNorm eps 1e-6, fused qkv, exact GELU) written out with
  explicit ops;
* ML-Decoder: the official ``MLDecoder`` head written out with explicit
  ops (embedding + ReLU, ``LN1(q + q)``, 8-head cross-attention from the
  fused ``in_proj``, ReLU FFN, post-norms, group FC).
"""
import math
import os.path as osp
import runpy

import pytest
import torch
import torch.nn.functional as F
import torchvision
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

import mmcsra  # noqa: F401
from mmcsra.apis import get_model
from mmcsra.engine.compat import safe_torch_load

from utils import TOOLS

CONVERTERS = osp.join(TOOLS, 'model_converters')
csra_tool = runpy.run_path(osp.join(CONVERTERS, 'csra_official_to_mmcsra.py'))
mld_tool = runpy.run_path(
    osp.join(CONVERTERS, 'ml_decoder_official_to_mmcsra.py'))

OFFICIAL_T = {1: [1], 2: [1, 99], 4: [1, 2, 4, 99]}  # MHA.temp_settings


def _build(cfg: dict):
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg).eval()


def official_csra(feat: torch.Tensor, heads, lam: float) -> torch.Tensor:
    """The official MHA: sum over heads of CSRA(T_h), feat (B, D, H, W)."""
    logit = 0.
    for weight, t in zip(heads, OFFICIAL_T[len(heads)]):
        score = F.conv2d(feat, weight)  # [B, C, H, W]
        score = score / torch.norm(weight, dim=1, keepdim=True).transpose(0, 1)
        score = score.flatten(2)  # [B, C, N]
        base = score.mean(dim=2)
        if t == 99:
            att = score.max(dim=2)[0]
        else:
            att = (score * torch.softmax(score * t, dim=2)).sum(dim=2)
        logit = logit + base + lam * att
    return logit


def _randomize_bn(net: torch.nn.Module, images: torch.Tensor) -> None:
    """Random BN affine parameters, running statistics measured on
    ``images`` (so activations stay O(1) through 101 layers)."""
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(std=0.1)
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration
    net.train()
    with torch.no_grad():
        net(images)
    net.eval()


# ------------------------------------------------------------ CSRA ResNet
@pytest.fixture(scope='module')
def official_resnet():
    torch.manual_seed(0)
    net = torchvision.models.resnet101(weights=None)
    _randomize_bn(net, torch.randn(4, 3, 64, 64))
    num_heads, num_classes = 4, 80
    heads = [
        torch.randn(num_classes, 2048, 1, 1) * 0.05 for _ in range(num_heads)
    ]
    state = {
        k: v
        for k, v in net.state_dict().items() if not k.startswith('fc.')
    }  # ResNet_CSRA: fc = Sequential()
    for h, weight in enumerate(heads):
        state[f'classifier.multi_head.{h}.head.weight'] = weight
    return dict(net=net, heads=heads, state=state, num_classes=num_classes)


@pytest.mark.parametrize('wrap', ['plain', 'data_parallel', 'state_dict'])
def test_csra_resnet101(official_resnet, tmp_path, wrap):
    state = official_resnet['state']
    if wrap == 'data_parallel':
        state = {'module.' + k: v for k, v in state.items()}
    elif wrap == 'state_dict':
        state = dict(state_dict=state)
    src, dst = str(tmp_path / 'official.pth'), str(tmp_path / 'mmcsra.pth')
    torch.save(state, src)
    converted, info = csra_tool['main']([src, dst])
    assert info == dict(
        backbone='ResNet',
        depth=101,
        num_extra_tokens=0,
        num_heads=4,
        num_classes=80,
        in_channels=2048)
    saved = safe_torch_load(dst)
    assert set(saved['state_dict']) == set(converted)

    # the converted file loads strictly into the indexed paper model
    # (ResNet-101, COCO: 80 classes, H = 4, lambda = 0.5)
    model = get_model('resnet101_coco', pretrained=dst)
    lam = model.head.csra.lam
    assert lam == 0.5
    # row h*C + i of the stacked classifier is class i of head h
    stacked = model.head.csra.classifier.weight
    assert torch.equal(stacked[2 * 80 + 3],
                       official_resnet['heads'][2][3].flatten())

    torch.manual_seed(1)
    x = torch.randn(2, 3, 64, 64)
    net = official_resnet['net']
    with torch.no_grad():
        f = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        f = net.layer4(net.layer3(net.layer2(net.layer1(f))))  # [2,2048,2,2]
        expected = official_csra(f, official_resnet['heads'], lam)
        got = model(x, mode='tensor')
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)
    assert expected.std() > 1e-2  # the logits are not trivially equal


# --------------------------------------------------------------- CSRA ViT
D, LAYERS, NUM_HEADS, FFN, PATCH, IMG = 32, 2, 4, 128, 8, 32


def official_vit_state(num_heads_csra: int, num_classes: int) -> dict:
    """Random weights in VIT_CSRA's (timm) key layout."""
    g = torch.Generator().manual_seed(2)

    def rand(*shape, std=0.2, mean=0.0):
        return torch.randn(*shape, generator=g) * std + mean

    num_patches = (IMG // PATCH)**2
    state = {
        'cls_token': rand(1, 1, D),
        'pos_embed': rand(1, num_patches + 1, D),
        'patch_embed.proj.weight': rand(D, 3, PATCH, PATCH, std=0.05),
        'patch_embed.proj.bias': rand(D),
        'norm.weight': rand(D, mean=1.0),
        'norm.bias': rand(D),
    }
    for i in range(LAYERS):
        p = f'blocks.{i}.'
        state.update({
            p + 'norm1.weight': rand(D, mean=1.0),
            p + 'norm1.bias': rand(D),
            p + 'attn.qkv.weight': rand(3 * D, D),
            p + 'attn.qkv.bias': rand(3 * D),
            p + 'attn.proj.weight': rand(D, D),
            p + 'attn.proj.bias': rand(D),
            p + 'norm2.weight': rand(D, mean=1.0),
            p + 'norm2.bias': rand(D),
            p + 'mlp.fc1.weight': rand(FFN, D),
            p + 'mlp.fc1.bias': rand(FFN),
            p + 'mlp.fc2.weight': rand(D, FFN),
            p + 'mlp.fc2.bias': rand(D),
        })
    for h in range(num_heads_csra):
        state[f'classifier.multi_head.{h}.head.weight'] = rand(
            num_classes, D, 1, 1)
    return state


def official_vit_forward(state: dict, x: torch.Tensor) -> torch.Tensor:
    """VIT_CSRA.backbone: timm's original ViT, written out. -> (B, D, g, g)
    """

    def ln(t, prefix):
        return F.layer_norm(
            t, (D, ),
            state[prefix + '.weight'],
            state[prefix + '.bias'],
            eps=1e-6)

    def linear(t, prefix):
        return t @ state[prefix + '.weight'].t() + state[prefix + '.bias']

    tokens = F.conv2d(
        x,
        state['patch_embed.proj.weight'],
        state['patch_embed.proj.bias'],
        stride=PATCH)
    tokens = tokens.flatten(2).transpose(1, 2)  # [B, N, D]
    b, n = tokens.shape[:2]
    tokens = torch.cat([state['cls_token'].expand(b, -1, -1), tokens], 1)
    tokens = tokens + state['pos_embed']
    d = D // NUM_HEADS
    for i in range(LAYERS):
        p = f'blocks.{i}.'
        h = ln(tokens, p + 'norm1')
        qkv = linear(h, p + 'attn.qkv').reshape(b, n + 1, 3, NUM_HEADS, d)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each [B, heads, N+1, d]
        attn = torch.softmax(q @ k.transpose(-2, -1) * d**-0.5, dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, n + 1, D)
        tokens = tokens + linear(out, p + 'attn.proj')
        h = ln(tokens, p + 'norm2')
        h = linear(F.gelu(linear(h, p + 'mlp.fc1')), p + 'mlp.fc2')
        tokens = tokens + h
    tokens = ln(tokens, 'norm')[:, 1:]  # drop the class token
    grid = IMG // PATCH
    return tokens.transpose(1, 2).reshape(b, D, grid, grid)


@pytest.mark.parametrize('num_heads', [1, 2])
def test_csra_vit(num_heads):
    num_classes, lam = 6, 0.3
    state = official_vit_state(num_heads, num_classes)
    converted, info = csra_tool['convert'](dict(state))
    assert info == dict(
        backbone='VisionTransformer',
        embed_dims=D,
        num_layers=LAYERS,
        feedforward_channels=FFN,
        patch_size=PATCH,
        img_size=IMG,
        num_extra_tokens=1,
        num_heads=num_heads,
        num_classes=num_classes,
        in_channels=D)
    model = _build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='VisionTransformer',
                arch=dict(
                    embed_dims=D,
                    num_layers=LAYERS,
                    num_heads=NUM_HEADS,
                    feedforward_channels=FFN),
                img_size=IMG,
                patch_size=PATCH,
                out_type='raw'),
            head=dict(
                type='CSRAHead',
                num_classes=num_classes,
                in_channels=D,
                num_heads=num_heads,
                lam=lam,
                num_extra_tokens=1)))
    model.load_state_dict(converted, strict=True)

    torch.manual_seed(3)
    x = torch.randn(2, 3, IMG, IMG)
    heads = [
        state[f'classifier.multi_head.{h}.head.weight']
        for h in range(num_heads)
    ]
    with torch.no_grad():
        expected = official_csra(official_vit_forward(state, x), heads, lam)
        got = model(x, mode='tensor')
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)
    assert expected.std() > 1e-2


def test_csra_converter_refuses_unknown_keys(official_resnet):
    state = dict(official_resnet['state'])
    state['fc.weight'] = torch.zeros(1000, 2048)  # an ImageNet classifier
    with pytest.raises(KeyError, match='fc.weight'):
        csra_tool['convert'](state)
    no_head = {
        k: v
        for k, v in official_resnet['state'].items()
        if not k.startswith('classifier.')
    }
    with pytest.raises(KeyError, match='not a CSRA checkpoint'):
        csra_tool['convert'](no_head)
    vit = official_vit_state(1, 3)
    vit['head.weight'] = torch.zeros(3, D)
    with pytest.raises(KeyError, match="'head.weight' is not a VIT_CSRA"):
        csra_tool['convert'](vit)


# ------------------------------------------------------------- ML-Decoder
D_IN, D_DEC, K, C, FF, HEADS = 48, 32, 3, 7, 2048, 8  # G = ceil(7/3) = 3


def official_ml_decoder_state(prefix: str = 'head.') -> dict:
    """Random weights in MLDecoder's key layout, plus two backbone keys."""
    g = torch.Generator().manual_seed(4)

    def rand(*shape, std=0.2, mean=0.0):
        return torch.randn(*shape, generator=g) * std + mean

    group = math.ceil(C / K)
    p = prefix + 'decoder.'
    layer = p + 'layers.0.'
    return {
        'body.conv1.weight': rand(16, 3, 3, 3),
        'body.layer1.0.bn1.running_mean': rand(16),
        p + 'embed_standart.weight': rand(D_DEC, D_IN),
        p + 'embed_standart.bias': rand(D_DEC),
        p + 'query_embed.weight': rand(K, D_DEC, std=1.0),
        layer + 'norm1.weight': rand(D_DEC, mean=1.0),
        layer + 'norm1.bias': rand(D_DEC),
        layer + 'multihead_attn.in_proj_weight': rand(3 * D_DEC, D_DEC),
        layer + 'multihead_attn.in_proj_bias': rand(3 * D_DEC),
        layer + 'multihead_attn.out_proj.weight': rand(D_DEC, D_DEC),
        layer + 'multihead_attn.out_proj.bias': rand(D_DEC),
        layer + 'linear1.weight': rand(FF, D_DEC, std=0.05),
        layer + 'linear1.bias': rand(FF),
        layer + 'linear2.weight': rand(D_DEC, FF, std=0.05),
        layer + 'linear2.bias': rand(D_DEC),
        layer + 'norm2.weight': rand(D_DEC, mean=1.0),
        layer + 'norm2.bias': rand(D_DEC),
        layer + 'norm3.weight': rand(D_DEC, mean=1.0),
        layer + 'norm3.bias': rand(D_DEC),
        p + 'duplicate_pooling': rand(K, D_DEC, group),
        p + 'duplicate_pooling_bias': rand(C),
    }


def official_ml_decoder_forward(state: dict,
                                x: torch.Tensor,
                                prefix: str = 'head.') -> torch.Tensor:
    """MLDecoder.forward in eval mode, written out. x: (B, D_in, H, W)."""
    p = prefix + 'decoder.'
    layer = p + 'layers.0.'

    def ln(t, name):
        return F.layer_norm(
            t, (D_DEC, ),
            state[layer + name + '.weight'],
            state[layer + name + '.bias'],
            eps=1e-5)

    tokens = x.flatten(2).transpose(1, 2)  # [B, N, D_in]
    memory = F.relu(tokens @ state[p + 'embed_standart.weight'].t() +
                    state[p + 'embed_standart.bias'])  # [B, N, D]
    b, n = memory.shape[:2]
    tgt = state[p + 'query_embed.weight'].expand(b, -1, -1)  # [B, K, D]
    tgt = ln(tgt + tgt, 'norm1')  # dropout1 is the identity in eval

    w_in = state[layer + 'multihead_attn.in_proj_weight']
    b_in = state[layer + 'multihead_attn.in_proj_bias']
    q = tgt @ w_in[:D_DEC].t() + b_in[:D_DEC]
    k = memory @ w_in[D_DEC:2 * D_DEC].t() + b_in[D_DEC:2 * D_DEC]
    v = memory @ w_in[2 * D_DEC:].t() + b_in[2 * D_DEC:]
    d = D_DEC // HEADS
    q = q.reshape(b, K, HEADS, d).transpose(1, 2)  # [B, heads, K, d]
    k = k.reshape(b, n, HEADS, d).transpose(1, 2)
    v = v.reshape(b, n, HEADS, d).transpose(1, 2)
    attn = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d), dim=-1)
    out = (attn @ v).transpose(1, 2).reshape(b, K, D_DEC)
    out = out @ state[layer + 'multihead_attn.out_proj.weight'].t() + \
        state[layer + 'multihead_attn.out_proj.bias']
    tgt = ln(tgt + out, 'norm2')
    ffn = F.relu(tgt @ state[layer + 'linear1.weight'].t() +
                 state[layer + 'linear1.bias'])
    ffn = ffn @ state[layer + 'linear2.weight'].t() + \
        state[layer + 'linear2.bias']
    h = ln(tgt + ffn, 'norm3')  # [B, K, D]

    w = state[p + 'duplicate_pooling']  # [K, D, G]
    out = torch.zeros(b, K, w.shape[2])
    for i in range(K):  # GroupFC
        out[:, i, :] = h[:, i, :] @ w[i]
    return out.flatten(1)[:, :C] + state[p + 'duplicate_pooling_bias']


@pytest.mark.parametrize('official_prefix', ['head.', 'fc.'])
def test_ml_decoder(tmp_path, official_prefix):
    state = official_ml_decoder_state(official_prefix)
    names = {i: f'class_{i}' for i in range(C)}
    src, dst = str(tmp_path / 'official.pth'), str(tmp_path / 'mmcsra.pth')
    torch.save(dict(model=state, idx_to_class=names), src)
    converted, info = mld_tool['main']([src, dst])
    assert info['official_prefix'] == official_prefix + 'decoder.'
    assert (info['num_classes'], info['in_channels'], info['embed_dims'],
            info['num_groups'], info['feedforward_channels']) == \
        (C, D_IN, D_DEC, K, FF)
    saved = safe_torch_load(dst)
    assert saved['meta']['dataset_meta']['classes'] == tuple(f'class_{i}'
                                                             for i in range(C))
    # backbone keys pass through under the prefix, unchanged
    for key in ('body.conv1.weight', 'body.layer1.0.bn1.running_mean'):
        assert torch.equal(saved['state_dict']['backbone.' + key], state[key])

    head = _build(
        dict(
            type='MLDecoderHead',
            num_classes=C,
            in_channels=D_IN,
            embed_dims=D_DEC,
            num_groups=K,
            num_heads=HEADS,
            feedforward_channels=FF))
    head_state = {
        k[len('head.'):]: v
        for k, v in saved['state_dict'].items() if k.startswith('head.')
    }
    head.load_state_dict(head_state, strict=True)

    torch.manual_seed(5)
    x = torch.randn(2, D_IN, 3, 4)
    with torch.no_grad():
        expected = official_ml_decoder_forward(state, x, official_prefix)
        got = head((x, ))
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)
    assert expected.std() > 1e-2


def test_ml_decoder_backbone_prefix_option(tmp_path):
    src, dst = str(tmp_path / 'official.pth'), str(tmp_path / 'mmcsra.pth')
    torch.save(official_ml_decoder_state(), src)
    converted, _ = mld_tool['main']([src, dst, '--backbone-prefix', 'tres.'])
    assert {k
            for k in converted if not k.startswith('head.')} == {
                'tres.body.conv1.weight', 'tres.body.layer1.0.bn1.running_mean'
            }


def test_ml_decoder_converter_errors():
    state = official_ml_decoder_state()
    two_layers = dict(state)
    two_layers['head.decoder.layers.1.linear1.bias'] = torch.zeros(FF)
    with pytest.raises(KeyError, match='one decoder layer'):
        mld_tool['convert'](two_layers)
    bad_groups = dict(state)
    bad_groups['head.decoder.duplicate_pooling'] = torch.zeros(K, D_DEC, 2)
    with pytest.raises(ValueError, match='ceil'):
        mld_tool['convert'](bad_groups)
    no_head = {k: v for k, v in state.items() if 'decoder' not in k}
    with pytest.raises(KeyError, match='not an ML-Decoder checkpoint'):
        mld_tool['convert'](no_head)
