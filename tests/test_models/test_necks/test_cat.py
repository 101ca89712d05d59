"""CAT: CrossLayerAggregationNeck, CATHead and their layers.

References in this file are written independently of the code under test
(explicit loops / formulas, weights copied from the module).
"""
import math

import pytest
import torch
import torch.nn.functional as F

import mmcsra  # noqa: F401  (registers the components)
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmcsra.models.heads import CATHead
from mmcsra.models.necks import CrossLayerAggregationNeck
from mmcsra.models.necks.cross_layer_aggregation_neck import \
    CrossLayerFusionLayer
from mmcsra.models.utils import MultiHeadAttention, sine_position_encoding_2d

IN_CHANNELS = (6, 10, 12)
D = 16
HEADS = 2


def make_neck(**kwargs) -> CrossLayerAggregationNeck:
    cfg = dict(
        type='CrossLayerAggregationNeck',
        in_channels=IN_CHANNELS,
        embed_dims=D,
        num_heads=HEADS,
        feedforward_channels=24,
        pool_size=2)
    cfg.update(kwargs)
    neck = MODELS.build(cfg)
    neck.init_weights()
    return neck.eval()


def stage_inputs(height: int, width: int, batch: int = 2):
    """C3 of ``height x width`` and the C4, C5 a stride-2 backbone makes."""
    sizes = []
    h, w = height, width
    for _ in range(3):  # strides 8 -> 16 -> 32, rounding up like a conv
        sizes.append((h, w))
        h, w = (h + 1) // 2, (w + 1) // 2
    return [torch.randn(batch, c, *s) for c, s in zip(IN_CHANNELS, sizes)]


# ------------------------------------------------------- reference helpers
def ref_nearest(x, height, width):
    """Nearest upsampling: output row i reads input row floor(i * h / H)."""
    h, w = x.shape[-2:]
    rows = [math.floor(i * h / height) for i in range(height)]
    cols = [math.floor(j * w / width) for j in range(width)]
    return x[:, :, rows][:, :, :, cols]


def ref_conv1x1(x, conv):
    return torch.einsum('bchw,oc->bohw', x, conv.weight[:, :, 0, 0]) + \
        conv.bias[None, :, None, None]


def ref_fpn(neck, inputs):
    l3, l4, l5 = [
        ref_conv1x1(x, c) for x, c in zip(inputs, neck.lateral_convs)
    ]
    p5 = l5
    p4 = l4 + ref_nearest(p5, *l4.shape[-2:])
    p3 = l3 + ref_nearest(p4, *l3.shape[-2:])
    return p3, p4, p5


def ref_maxpool(x, p):
    """Windows p x p with stride p; the last window may be partial."""
    h, w = x.shape[-2:]
    out = torch.empty(*x.shape[:2], math.ceil(h / p), math.ceil(w / p))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, i * p:(i + 1) * p,
                                j * p:(j + 1) * p].amax(dim=(2, 3))
    return out


def ref_adaptive_maxpool(x, grid):
    """Adaptive max pooling to ``grid`` (capped at the map's size): cell i
    covers rows floor(i*H/G) .. ceil((i+1)*H/G) - 1, columns likewise."""
    h, w = x.shape[-2:]
    gh, gw = (grid, grid) if isinstance(grid, int) else grid
    gh, gw = min(gh, h), min(gw, w)
    out = torch.empty(*x.shape[:2], gh, gw)
    for i in range(gh):
        rows = slice(math.floor(i * h / gh), math.ceil((i + 1) * h / gh))
        for j in range(gw):
            cols = slice(math.floor(j * w / gw), math.ceil((j + 1) * w / gw))
            out[:, :, i, j] = x[:, :, rows, cols].amax(dim=(2, 3))
    return out


def ref_position(height, width, dims, temperature=10000.0):
    """Per-token loop over the sine formula, row half then column half."""
    half = dims // 2
    pos = torch.empty(height * width, dims, dtype=torch.float64)
    for r in range(height):
        for c in range(width):
            for axis, (idx, size) in enumerate(((r, height), (c, width))):
                u = 2 * math.pi * (idx + 0.5) / size
                for j in range(half):
                    a = u / temperature**(2 * (j // 2) / half)
                    pos[r * width + c, axis * half + j] = \
                        math.sin(a) if j % 2 == 0 else math.cos(a)
    return pos.float()


def ref_layer_norm(x, norm):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean)**2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


def ref_mha(attn, q, k, v):
    """Explicit per-head softmax(q k^T / sqrt(d)) v."""
    lin = lambda x, m: x @ m.weight.T + m.bias  # noqa: E731
    q, k, v = lin(q, attn.q_proj), lin(k, attn.k_proj), lin(v, attn.v_proj)
    d = attn.head_dims
    heads = []
    for h in range(attn.num_heads):
        qh, kh, vh = (t[..., h * d:(h + 1) * d] for t in (q, k, v))
        w = torch.exp(qh @ kh.transpose(1, 2) / math.sqrt(d))
        w = w / w.sum(-1, keepdim=True)
        heads.append(w @ vh)
    return lin(torch.cat(heads, -1), attn.out_proj)


def ref_ffn(ffn, x):
    return F.relu(x @ ffn.fc1.weight.T + ffn.fc1.bias) @ ffn.fc2.weight.T + \
        ffn.fc2.bias


def tokens(x):
    return x.flatten(2).transpose(1, 2)


def ref_fusion(layer, upper, lower, pool, grid=None):
    """CLF: query = up(upper), keys/values = maxpool(lower), residual lower.

    ``pool``: window p (or None); ``grid``: adaptive grid (or None)."""
    b, dims, height, width = lower.shape
    q = tokens(ref_nearest(upper, height, width)) + ref_position(
        height, width, dims)
    if grid is not None:
        mem = ref_adaptive_maxpool(lower, grid)
    else:
        mem = lower if pool is None else ref_maxpool(lower, pool)
    v = tokens(mem)
    k = v + ref_position(*mem.shape[-2:], dims)
    y = ref_layer_norm(
        tokens(lower) + ref_mha(layer.attn, q, k, v), layer.norm1)
    y = ref_layer_norm(y + ref_ffn(layer.ffn, y), layer.norm2)
    return y.transpose(1, 2).reshape(b, dims, height, width)


def ref_encoder(layer, x):
    b, dims, height, width = x.shape
    t = tokens(x)
    tp = t + ref_position(height, width, dims)
    y = ref_layer_norm(t + ref_mha(layer.attn, tp, tp, t), layer.norm1)
    y = ref_layer_norm(y + ref_ffn(layer.ffn, y), layer.norm2)
    return y.transpose(1, 2).reshape(b, dims, height, width)


# ------------------------------------------------------------------ layers
def test_sine_position_hand_values():
    # 1x1 grid, D=4: u = pi for both axes, channels sin(u), cos(u)
    expected = torch.tensor([[0.0, -1.0, 0.0, -1.0]])
    torch.testing.assert_close(
        sine_position_encoding_2d(1, 1, 4), expected, atol=1e-6, rtol=0)
    # 2x1 grid, D=8: rows u = pi/2, 3pi/2; frequencies 1, 1, 1/100, 1/100
    pos = sine_position_encoding_2d(2, 1, 8)
    u = [math.pi / 2, 3 * math.pi / 2]
    for r in range(2):
        row = [
            math.sin(u[r]),
            math.cos(u[r]),
            math.sin(u[r] / 100),
            math.cos(u[r] / 100)
        ]
        col = [0.0, -1.0, math.sin(math.pi / 100), math.cos(math.pi / 100)]
        torch.testing.assert_close(
            pos[r], torch.tensor(row + col), atol=1e-6, rtol=0)


@pytest.mark.parametrize('size', [(3, 5), (4, 4)])
def test_sine_position_matches_loop_reference(size):
    torch.testing.assert_close(
        sine_position_encoding_2d(*size, 12), ref_position(*size, 12))


def test_sine_position_rejects_bad_dims():
    with pytest.raises(ValueError, match='multiple of 4'):
        sine_position_encoding_2d(2, 2, 6)


@pytest.mark.parametrize('explicit', [False, True])
def test_multi_head_attention_matches_reference(explicit):
    torch.manual_seed(0)
    attn = MultiHeadAttention(8, 2, explicit_softmax=explicit).eval()
    q, kv = torch.randn(2, 5, 8), torch.randn(2, 7, 8)
    torch.testing.assert_close(attn(q, kv, kv), ref_mha(attn, q, kv, kv))


# -------------------------------------------------------------------- neck
@pytest.mark.parametrize('c3_size', [(16, 16), (24, 18), (17, 11), (2, 3),
                                     (1, 1)])
def test_neck_shapes(c3_size):
    neck = make_neck()
    inputs = stage_inputs(*c3_size)
    outputs = neck(inputs)
    assert len(outputs) == 3
    for x, y in zip(inputs, outputs):  # each level keeps its grid
        assert y.shape == (x.size(0), D, *x.shape[-2:])
        assert torch.isfinite(y).all()


def test_neck_shapes_with_resnet_stages():
    backbone = MODELS.build(
        dict(type='ResNet', depth=18, out_indices=(1, 2, 3)))
    backbone.eval()  # mmpretrain's ResNet.train() does not return self
    neck = make_neck(in_channels=(128, 256, 512))
    with torch.no_grad():
        stages = backbone(torch.randn(1, 3, 77, 53))
        outputs = neck(stages)
    assert [o.shape[-2:] for o in outputs] == [(10, 7), (5, 4), (3, 2)]


@pytest.mark.parametrize('c3_size', [(16, 12), (17, 11)])
def test_fpn_matches_reference(c3_size):
    torch.manual_seed(1)
    neck = make_neck(use_long_range=False, use_fusion=False)
    inputs = stage_inputs(*c3_size)
    with torch.no_grad():
        expected = ref_fpn(neck, inputs)
        for got, ref in zip(neck(inputs), expected):
            torch.testing.assert_close(got, ref)


def test_long_range_matches_reference():
    torch.manual_seed(2)
    neck = make_neck(use_fusion=False)
    inputs = stage_inputs(20, 28)
    with torch.no_grad():
        _, _, p5 = ref_fpn(neck, inputs)
        torch.testing.assert_close(
            neck(inputs)[2], ref_encoder(neck.long_range, p5))


@pytest.mark.parametrize('pool', [2, 3, 4])
@pytest.mark.parametrize('lower_size', [(8, 8), (7, 5)])
def test_pre_max_equals_plain_attention_on_pooled_keys(pool, lower_size):
    torch.manual_seed(3)
    layer = CrossLayerFusionLayer(
        D, HEADS, 24, 0.0, 0.0, pool_size=pool, explicit_softmax=False).eval()
    lower = torch.randn(2, D, *lower_size)
    upper = torch.randn(2, D, (lower_size[0] + 1) // 2,
                        (lower_size[1] + 1) // 2)
    with torch.no_grad():
        torch.testing.assert_close(
            layer(upper, lower), ref_fusion(layer, upper, lower, pool))
        # and it is not the same as attending to the unpooled keys
        plain = ref_fusion(layer, upper, lower, None)
        assert (layer(upper, lower) - plain).abs().max() > 1e-3


def grid_layer(grid, explicit=False, seed=3):
    torch.manual_seed(seed)
    return CrossLayerFusionLayer(
        D,
        HEADS,
        24,
        0.0,
        0.0,
        pool_size=None,
        explicit_softmax=explicit,
        pool_output_size=grid).eval()


@pytest.mark.parametrize('explicit', [False, True])
@pytest.mark.parametrize('grid', [3, (2, 4), (4, 8)])
@pytest.mark.parametrize('lower_size', [(8, 8), (7, 5), (13, 10)])
def test_grid_pre_max_equals_plain_attention_on_adaptive_pooled_keys(
        grid, lower_size, explicit):
    layer = grid_layer(grid, explicit)
    lower = torch.randn(2, D, *lower_size)
    upper = torch.randn(2, D, (lower_size[0] + 1) // 2,
                        (lower_size[1] + 1) // 2)
    gh, gw = (grid, grid) if isinstance(grid, int) else grid
    with torch.no_grad():
        assert layer.pool_keys(lower).shape[-2:] == (min(gh, lower_size[0]),
                                                     min(gw, lower_size[1]))
        got = layer(upper, lower)
        torch.testing.assert_close(
            got, ref_fusion(layer, upper, lower, None, grid=grid))
        # every case here pools at least one axis: not plain attention
        assert_differs(got, ref_fusion(layer, upper, lower, None))


def test_grid_pre_max_special_cases():
    """A grid at least the map's size is plain attention (no key is
    duplicated); a grid that divides the map is the window p = H / G."""
    layer = grid_layer(4)
    upper = torch.randn(2, D, 2, 2)
    with torch.no_grad():
        small = torch.randn(2, D, 3, 4)  # grid 4 >= 3 x 4: not pooled
        torch.testing.assert_close(
            layer.pool_keys(small), small, rtol=0, atol=0)
        torch.testing.assert_close(
            layer(upper, small), ref_fusion(layer, upper, small, None))
        lower = torch.randn(2, D, 8, 8)  # grid 4 on 8 x 8 = window 2
        torch.testing.assert_close(
            layer.pool_keys(lower), ref_maxpool(lower, 2), rtol=0, atol=0)


def test_grid_keeps_the_key_count_fixed():
    """The point of the grid: as the level grows the keys stay G_h x G_w
    (a window's keys grow with the level)."""
    grid = grid_layer((3, 5))
    window = CrossLayerFusionLayer(
        D, HEADS, 24, 0.0, 0.0, pool_size=2, explicit_softmax=False)
    for side in (5, 24, 97):
        lower = torch.randn(1, D, side, side)
        assert grid.pool_keys(lower).shape[-2:] == (3, 5)
        assert window.pool_keys(lower).shape[-2:] == (math.ceil(side / 2),
                                                      math.ceil(side / 2))


def test_full_neck_matches_reference():
    torch.manual_seed(4)
    neck = make_neck(pool_size=2)
    inputs = stage_inputs(16, 14)
    with torch.no_grad():
        p3, p4, p5 = ref_fpn(neck, inputs)
        f5 = ref_encoder(neck.long_range, p5)
        f4 = ref_fusion(neck.fusion_layers[0], f5, p4, 2)
        f3 = ref_fusion(neck.fusion_layers[1], f4, p3, 2)
        for got, ref in zip(neck(inputs), (f3, f4, f5)):
            torch.testing.assert_close(got, ref)


@pytest.mark.parametrize('grid', [3, [3, 2]])
def test_full_neck_with_grid_matches_reference(grid):
    torch.manual_seed(12)
    neck = make_neck(pool_size=None, pool_output_size=grid)
    expected = (3, 3) if grid == 3 else (3, 2)  # a config list -> a tuple
    assert neck.pool_output_size == expected
    for layer in neck.fusion_layers:
        assert layer.pool_size is None
        assert layer.pool_output_size == expected
        assert layer.attn.explicit_softmax is False  # pre-max: fused SDPA
    inputs = stage_inputs(16, 14)
    with torch.no_grad():
        p3, p4, p5 = ref_fpn(neck, inputs)
        f5 = ref_encoder(neck.long_range, p5)
        f4 = ref_fusion(neck.fusion_layers[0], f5, p4, None, grid=grid)
        f3 = ref_fusion(neck.fusion_layers[1], f4, p3, None, grid=grid)
        for got, ref in zip(neck(inputs), (f3, f4, f5)):
            torch.testing.assert_close(got, ref)


def test_default_neck_pools_with_the_window():
    """The default (and every existing config): window p = 2, no grid."""
    neck = MODELS.build(dict(type='CrossLayerAggregationNeck'))
    assert (neck.pool_size, neck.pool_output_size) == (2, None)
    for layer in neck.fusion_layers:
        assert (layer.pool_size, layer.pool_output_size) == (2, None)


# ---------------------------------------------------------------- ablation
def ablated(seed: int, **switches):
    """``(full, neck, inputs, (P3, P4, P5))``: a full neck, a neck with the
    same weights and the ``switches`` modules off, 16x16 stage inputs and
    the full neck's FPN levels on them."""
    torch.manual_seed(seed)
    full = make_neck()
    neck = make_neck(**switches)
    result = neck.load_state_dict(full.state_dict(), strict=False)
    assert not result.missing_keys
    inputs = stage_inputs(16, 16)
    with torch.no_grad():
        levels = full.fpn(inputs)
    return full, neck, inputs, levels


def assert_differs(a, b):
    assert (a - b).abs().max() > 1e-3


def test_ablation_no_long_range():
    full, neck, inputs, (p3, p4, p5) = ablated(5, use_long_range=False)
    assert neck.long_range is None
    with torch.no_grad():
        f4 = full.fusion_layers[0](p5, p4)  # fusion without the encoder
        f3 = full.fusion_layers[1](f4, p3)
        got = neck(inputs)
        for g, ref in zip(got, (f3, f4, p5)):
            torch.testing.assert_close(g, ref)
        for g, f in zip(got, full(inputs)):  # every level changes
            assert_differs(g, f)


def test_ablation_no_fusion():
    full, neck, inputs, (p3, p4, _) = ablated(6, use_fusion=False)
    assert neck.fusion_layers is None
    with torch.no_grad():
        got, ref_full = neck(inputs), full(inputs)
        torch.testing.assert_close(got[0], p3)
        torch.testing.assert_close(got[1], p4)
        torch.testing.assert_close(got[2], ref_full[2])  # F5 untouched
        assert_differs(got[0], ref_full[0])
        assert_differs(got[1], ref_full[1])


def test_ablation_all_off_is_fpn():
    torch.manual_seed(7)
    neck = make_neck(use_long_range=False, use_fusion=False)
    inputs = stage_inputs(13, 15)
    with torch.no_grad():
        for got, ref in zip(neck(inputs), neck.fpn(inputs)):
            torch.testing.assert_close(got, ref, rtol=0, atol=0)


@pytest.mark.parametrize('explicit', [True, False])
def test_ablation_plain_attention(explicit):
    torch.manual_seed(8)
    full = make_neck(pool_size=2)
    neck = make_neck(
        fusion_attention='plain', explicit_plain_attention=explicit)
    neck.load_state_dict(full.state_dict(), strict=True)  # same weights
    assert [layer.pool_size for layer in neck.fusion_layers] == [None, None]
    assert neck.fusion_layers[0].attn.explicit_softmax is explicit
    assert full.fusion_layers[0].attn.explicit_softmax is False
    inputs = stage_inputs(16, 14)
    with torch.no_grad():
        p3, p4, p5 = full.fpn(inputs)
        f5 = full.long_range(p5)
        f4 = ref_fusion(full.fusion_layers[0], f5, p4, None)
        f3 = ref_fusion(full.fusion_layers[1], f4, p3, None)
        got, pre_max = neck(inputs), full(inputs)
        for g, ref in zip(got, (f3, f4, f5)):
            torch.testing.assert_close(g, ref)
        torch.testing.assert_close(got[2], pre_max[2])  # F5 untouched
        assert_differs(got[0], pre_max[0])
        assert_differs(got[1], pre_max[1])


@pytest.mark.parametrize(
    'kwargs, match',
    [
        (dict(in_channels=(6, 10)), 'in_channels'),
        (dict(fusion_attention='linear'), 'fusion_attention'),
        (dict(pool_size=0), 'pool_size'),
        (dict(num_heads=3), 'divisible'),
        # a window and a grid together (make_neck sets pool_size=2)
        (dict(pool_output_size=4), 'mutually exclusive'),
        (dict(pool_size=3, pool_output_size=(4, 4)), 'mutually exclusive'),
        # pre-max with neither
        (dict(pool_size=None), 'needs pool_size'),
        # a grid for plain attention, which pools nothing
        (dict(fusion_attention='plain', pool_size=None,
              pool_output_size=4), 'does not pool'),
        # malformed grids
        (dict(pool_size=None, pool_output_size=0), 'pool_output_size must be'),
        (dict(pool_size=None,
              pool_output_size=(3, 0)), 'pool_output_size must be'),
        (dict(pool_size=None,
              pool_output_size=(1, 2, 3)), 'pool_output_size must be'),
        (dict(pool_size=None,
              pool_output_size=2.5), 'pool_output_size must be'),
        (dict(pool_size=None,
              pool_output_size=True), 'pool_output_size must be'),
        (dict(pool_size=None,
              pool_output_size='4'), 'pool_output_size must be'),
    ])
def test_neck_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_neck(**kwargs)


@pytest.mark.parametrize('kwargs, match', [
    (dict(pool_size=2, pool_output_size=3), 'mutually exclusive'),
    (dict(pool_size=0), 'pool_size'),
    (dict(pool_size=None,
          pool_output_size=(0, 1)), 'pool_output_size must be'),
])
def test_fusion_layer_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CrossLayerFusionLayer(
            D, HEADS, 24, 0.0, 0.0, explicit_softmax=False, **kwargs)


def test_plain_attention_accepts_no_window():
    """``fusion_attention='plain'`` ignores the window, so None is fine."""
    neck = make_neck(fusion_attention='plain', pool_size=None)
    assert [layer.pool_size for layer in neck.fusion_layers] == [None, None]


def test_neck_rejects_bad_inputs():
    neck = make_neck()
    inputs = stage_inputs(8, 8)
    with pytest.raises(ValueError, match='3 stages'):
        neck(inputs[1:])
    with pytest.raises(ValueError, match='in_channels'):
        neck([inputs[0], inputs[0], inputs[2]])


# ---------------------------------------------------------------- memory
def saved_tensor_bytes(layer, upper, lower):
    """Bytes autograd keeps between the forward and the backward pass.

    Every tensor saved for backward passes through the pack hook; we sum the
    sizes of their distinct storages. This is the training-time activation
    memory of the step, and it is a deterministic function of the shapes
    (unlike RSS or timing), so the test is stable on any CI machine.
    Also returns the bytes of saved tensors shaped like an attention
    weight matrix [..., Nq, Nk].
    """
    storages, matrix = {}, {}
    n_q = lower.shape[-2] * lower.shape[-1]

    def pack(t):
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        if t.dim() == 4 and t.shape[-2] == n_q and t.shape[-1] != D // HEADS:
            matrix[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = layer(upper, lower)
    out.sum().backward()
    return sum(storages.values()), sum(matrix.values())


def fusion_memory(pool, explicit, side, grid=None):
    """``saved_tensor_bytes`` of one fusion layer at a ``side x side`` lower
    level (window ``pool``, or adaptive ``grid``, or plain)."""
    torch.manual_seed(9)
    layer = CrossLayerFusionLayer(
        D,
        HEADS,
        24,
        0.0,
        0.0,
        pool_size=pool,
        explicit_softmax=explicit,
        pool_output_size=grid).train()
    lower = torch.randn(1, D, side, side, requires_grad=True)
    upper = torch.randn(1, D, side // 2, side // 2, requires_grad=True)
    return saved_tensor_bytes(layer, upper, lower)


def test_fusion_memory_neck_kernels_fused_pre_max_vs_explicit_plain():
    """The neck's two fusion modes as built, on DIFFERENT kernels.

    Token count N = 24^2 = 576 and 4N = 48^2 = 2304. Plain attention as the
    neck builds it (explicit softmax, the N x N matrix kept for backward)
    grows ~16x (measured 14.3x); window pre-max as the neck builds it
    (p = 2 through SDPA's fused kernel) grows ~4x (measured 3.9x). That
    linear growth is the fused kernel's, not the pooling's: the same
    window pre-max with an explicit softmax still grows quadratically
    (measured 11.6x), its matrix only p^2 = 4 times smaller. For the
    cost of the poolings themselves on one kernel, see
    ``test_fusion_memory_same_explicit_kernel``.
    """
    plain = [fusion_memory(None, True, s)[0] for s in (24, 48)]
    pre_max = [fusion_memory(2, False, s)[0] for s in (24, 48)]
    pre_max_explicit = [fusion_memory(2, True, s)[0] for s in (24, 48)]
    assert plain[1] / plain[0] >= 10, plain
    assert pre_max[1] / pre_max[0] <= 5, pre_max
    assert pre_max[1] * 10 < plain[1]
    assert pre_max_explicit[1] / pre_max_explicit[0] >= 8, pre_max_explicit


@pytest.mark.parametrize('pool', [2, 4])
def test_pooling_shrinks_attention_matrix_by_p_squared(pool):
    """What the max-pooling itself buys: an N x N/p^2 matrix instead of
    N x N (same p^2 factor in the QK^T / AV FLOPs). Measured with explicit
    softmax for both so the matrix is materialised; still quadratic in N.
    """
    side = 24
    n = side * side
    plain = fusion_memory(None, True, side)[1]
    pre_max = fusion_memory(pool, True, side)[1]
    keys = math.ceil(side / pool)**2
    bytes_per_copy = HEADS * n * 4  # float32, batch 1, per key
    assert plain % (bytes_per_copy * n) == 0 and plain > 0
    copies = plain // (bytes_per_copy * n)
    assert pre_max == copies * bytes_per_copy * keys
    assert plain / pre_max == pool**2


@pytest.mark.parametrize('grid', [4, 6])
def test_fusion_memory_same_explicit_kernel(grid):
    """Cost of the poolings on ONE kernel (explicit softmax, the matrix is
    stored for backward, as in a non-fused implementation), at
    N = 24^2 and 4N = 48^2 tokens:

    * plain, N x N matrix: grows ~16x (measured 14.3x in total, exactly
      16x in the matrix);
    * window p = 2, N x N/4: still quadratic (measured 11.6x in total,
      exactly 16x in the matrix), the matrix p^2 = 4 times smaller;
    * grid G x G, N x G^2: linear (measured 3.9x in total for G = 4 and 6,
      exactly 4x in the matrix).

    The totals are below the matrix ratios because the linear parts
    (projections, FFN, norms) are in them too.
    """
    sides, window = (24, 48), 2
    plain = [fusion_memory(None, True, s) for s in sides]
    pooled = [fusion_memory(window, True, s) for s in sides]
    gridded = [fusion_memory(None, True, s, grid=grid) for s in sides]

    def ratio(memory, which):  # 4N over N; which: 0 total, 1 matrix
        return memory[1][which] / memory[0][which]

    # the matrices: exact from the shapes
    copies = plain[0][1] // (HEADS * 4 * sides[0]**4)  # float32, batch 1
    assert copies >= 1
    for side, p, w, g in zip(sides, plain, pooled, gridded):
        n = side * side
        assert p[1] == copies * HEADS * 4 * n * n
        assert w[1] == copies * HEADS * 4 * n * math.ceil(side / window)**2
        assert g[1] == copies * HEADS * 4 * n * grid * grid
        assert p[1] == window**2 * w[1]
    assert ratio(plain, 1) == ratio(pooled, 1) == 16
    assert ratio(gridded, 1) == 4

    # the totals: quadratic, quadratic / p^2, linear
    assert 12 <= ratio(plain, 0) <= 16.5, plain
    assert 10 <= ratio(pooled, 0) <= 16.5, pooled
    assert 3.5 <= ratio(gridded, 0) <= 4.5, gridded
    assert gridded[1][0] < pooled[1][0] < plain[1][0]


def test_sdpa_kernel_keeps_no_attention_matrix():
    """Why the plain baseline uses an explicit softmax: through SDPA's
    fused CPU kernel even unpooled attention saves no [N, N] matrix (if
    this fails, the kernel changed and
    ``test_fusion_memory_neck_kernels_fused_pre_max_vs_explicit_plain``
    must be re-read)."""
    assert fusion_memory(None, False, 24)[1] == 0
    assert fusion_memory(None, True, 24)[1] > 0
    assert fusion_memory(None, False, 24, grid=4)[1] == 0


# -------------------------------------------------------------------- head
def test_head_combines_levels_by_hand():
    torch.manual_seed(10)
    alpha, beta, gamma = 0.7, 0.2, 0.1
    head = MODELS.build(
        dict(
            type='CATHead',
            num_classes=5,
            in_channels=D,
            alpha=alpha,
            beta=beta,
            gamma=gamma))
    head.init_weights()
    assert isinstance(head, CATHead)
    feats = (torch.randn(3, D, 8, 6), torch.randn(3, D, 4,
                                                  3), torch.randn(3, D, 2, 2))

    def level_logits(fc, f):
        gap = f.sum(dim=(2, 3)) / (f.shape[2] * f.shape[3])
        return gap @ fc.weight.T + fc.bias

    y3, y4, y5 = (level_logits(fc, f)
                  for fc, f in zip(head.classifiers, feats))
    expected = alpha * y5 + beta * y4 + gamma * y3
    torch.testing.assert_close(head(feats), expected)


def test_head_loss_and_predict():
    torch.manual_seed(11)
    head = MODELS.build(dict(type='CATHead', num_classes=4, in_channels=D))
    head.init_weights()
    feats = (torch.randn(2, D, 4, 4), torch.randn(2, D, 2,
                                                  2), torch.randn(2, D, 1, 1))
    samples = [
        DataSample().set_gt_label([0, 2]),
        DataSample().set_gt_label([3])
    ]
    samples[0].set_field([1], 'gt_ignore')
    logits = head(feats)
    target = torch.tensor([[1., 0, 1, 0], [0, 0, 0, 1]])
    valid = torch.tensor([[1., 0, 1, 1], [1, 1, 1, 1]])
    bce = -(
        target * torch.log(torch.sigmoid(logits)) +
        (1 - target) * torch.log(1 - torch.sigmoid(logits)))
    expected = (bce * valid).sum() / valid.sum()
    torch.testing.assert_close(head.loss(feats, samples)['loss'], expected)
    preds = head.predict(feats)
    torch.testing.assert_close(preds[1].pred_score, torch.sigmoid(logits[1]))


def test_head_rejects_wrong_number_of_levels():
    head = MODELS.build(dict(type='CATHead', num_classes=4, in_channels=D))
    with pytest.raises(ValueError, match='3 fused levels'):
        head((torch.randn(1, D, 2, 2), ))


# ----------------------------------------------------------------- configs
CONFIGS = {
    'configs/cat/resnet18_cat_multidigits.py': 10,
    'configs/cat/resnet50_cat_voc.py': 20,
    'configs/cat/resnext50_cat_coco.py': 80,
}


@pytest.mark.parametrize('path', sorted(CONFIGS))
def test_config_builds_model(path):
    from mmengine.config import Config
    cfg = Config.fromfile(path)
    num_classes = CONFIGS[path]
    assert cfg.data_preprocessor.num_classes == num_classes
    assert cfg.model.head.num_classes == num_classes
    model = MODELS.build(cfg.model)  # no init_weights: nothing downloaded
    model.eval()
    assert isinstance(model.neck, CrossLayerAggregationNeck)
    assert isinstance(model.head, CATHead)
    with torch.no_grad():  # the neck checks the stage channels it receives
        logits = model(torch.randn(1, 3, 64, 48), mode='tensor')
    assert logits.shape == (1, num_classes)


def test_demo_config_trains(tmp_path):
    """Three SGD steps of the demo config: finite loss, and every neck and
    head parameter moved (gradients reach all three levels)."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile('configs/cat/resnet18_cat_multidigits.py')
    cfg.work_dir = str(tmp_path)
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.dataset.update(num_samples=6, canvas_size=64)
    cfg.train_cfg = dict(by_epoch=False, max_iters=3)
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    cfg.param_scheduler = []
    cfg.custom_hooks = []
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.model.init_weights()
    before = {
        k: v.detach().clone()
        for k, v in runner.model.named_parameters()
        if k.startswith(('neck.', 'head.'))
    }
    runner.train()
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert math.isfinite(loss) and loss > 0
    params = dict(runner.model.named_parameters())
    frozen = [k for k, v in before.items() if torch.equal(v, params[k])]
    assert not frozen
