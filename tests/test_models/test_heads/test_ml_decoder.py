"""MLDecoderHead: shapes, parity with the ML-Decoder math, no self-attention,
cosine variant and a tiny training run."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmcsra  # noqa: F401
from mmcsra.models.heads import MLDecoderHead
from mmcsra.models.utils import CosineGroupLinear, GroupLinear


def make_head(num_classes,
              num_groups=None,
              in_channels=12,
              embed_dims=16,
              num_heads=4,
              **kwargs):
    torch.manual_seed(0)
    head = MODELS.build(
        dict(
            type='MLDecoderHead',
            num_classes=num_classes,
            in_channels=in_channels,
            embed_dims=embed_dims,
            num_groups=num_groups,
            num_heads=num_heads,
            feedforward_channels=24,
            **kwargs))
    return head.eval()


# ------------------------------------------------------------------ shapes
@pytest.mark.parametrize(
    'num_classes, num_groups, expect_k, expect_g',
    [
        (20, 5, 5, 4),  # K < C, divisible
        (7, 7, 7, 1),  # K = C
        (10, 4, 4, 3),  # C not divisible by K: 12 outputs, 10 kept
        (5, None, 5, 1),  # default 100 capped at C
        (150, None, 100, 2),  # default K = 100
        (6, 50, 6, 1),  # num_groups > C is capped
    ])
def test_shapes(num_classes, num_groups, expect_k, expect_g):
    head = make_head(num_classes, num_groups)
    assert head.num_groups == expect_k
    assert head.group_size == expect_g
    assert tuple(head.queries.shape) == (expect_k, 16)
    assert tuple(head.group_fc.weight.shape) == (expect_k, 16, expect_g)
    fmap = torch.randn(3, 12, 4, 5)
    assert tuple(head((fmap, )).shape) == (3, num_classes)
    # (B, N, D_in) tokens give the same as the (B, D_in, H, W) map
    tokens = fmap.flatten(2).transpose(1, 2)
    torch.testing.assert_close(head(tokens), head((fmap, )))


def test_bad_input_and_args():
    head = make_head(6, 3)
    with pytest.raises(ValueError, match=r'\(B, 12, H, W\)'):
        head(torch.randn(2, 11, 3, 3))
    with pytest.raises(ValueError, match='cosine_scale'):
        make_head(6, 3, normalized=True)
    with pytest.raises(ValueError, match='normalized=True'):
        make_head(6, 3, cosine_scale=10.0)
    with pytest.raises(ValueError, match='divisible'):
        make_head(6, 3, num_heads=5)
    # the cosine variant takes s from AAM and refuses a different one
    aam = dict(type='AsymmetricAngularMarginLoss', scale=23.0)
    assert make_head(6, 3, normalized=True, loss=aam).cosine_scale == 23.0
    with pytest.raises(ValueError, match='differs from the loss scale'):
        make_head(6, 3, normalized=True, cosine_scale=10.0, loss=aam)


# ----------------------------------------------------------- reference math
def reference_ml_decoder(head: MLDecoderHead, fmap: torch.Tensor):
    """ML-Decoder forward (eval) written out from the paper / official
    TransformerDecoderLayerOptimal, with explicit per-head softmax."""
    layer = head.decoder
    attn = layer.cross_attn
    tokens = fmap.flatten(2).transpose(1, 2)  # [B, N, Din]
    memory = torch.relu(tokens @ head.token_embed.weight.T +
                        head.token_embed.bias)  # [B, N, D]
    batch = fmap.size(0)
    q0 = head.queries.unsqueeze(0).expand(batch, -1, -1)  # [B, K, D]

    def ln(x, norm):
        return F.layer_norm(x, x.shape[-1:], norm.weight, norm.bias, norm.eps)

    q1 = ln(q0 + q0, layer.norm1)  # identity branch in place of self-attn
    num_heads, dim = attn.num_heads, q1.size(-1)
    dh = dim // num_heads
    qp = q1 @ attn.q_proj.weight.T + attn.q_proj.bias
    kp = memory @ attn.k_proj.weight.T + attn.k_proj.bias
    vp = memory @ attn.v_proj.weight.T + attn.v_proj.bias
    heads = []
    for h in range(num_heads):
        sl = slice(h * dh, (h + 1) * dh)
        scores = qp[..., sl] @ kp[..., sl].transpose(1, 2) / math.sqrt(dh)
        heads.append(torch.softmax(scores, dim=-1) @ vp[..., sl])
    att = torch.cat(heads, dim=-1) @ attn.out_proj.weight.T + \
        attn.out_proj.bias
    q2 = ln(q1 + att, layer.norm2)
    ffn = layer.ffn
    hidden = torch.relu(q2 @ ffn.fc1.weight.T + ffn.fc1.bias)
    q3 = ln(q2 + hidden @ ffn.fc2.weight.T + ffn.fc2.bias, layer.norm3)
    return q3, att, q1, memory


def reference_group_fc(hidden, weight, bias, num_classes, cosine=False):
    group_size = weight.size(2)
    out = torch.zeros(hidden.size(0), num_classes)
    for c in range(num_classes):
        k, g = divmod(c, group_size)
        h, w = hidden[:, k, :], weight[k, :, g]
        if cosine:
            out[:, c] = (h @ w) / (h.norm(dim=1) * w.norm())
        else:
            out[:, c] = h @ w + bias[c]
    return out


@pytest.mark.parametrize('num_classes, num_groups', [(10, 4), (6, 6), (9, 1)])
def test_parity_with_reference(num_classes, num_groups):
    head = make_head(num_classes, num_groups)
    nn.init.normal_(head.group_fc.bias)  # non-zero bias
    fmap = torch.randn(2, 12, 3, 4)
    hidden, att, q1, memory = reference_ml_decoder(head, fmap)
    expected = reference_group_fc(hidden, head.group_fc.weight,
                                  head.group_fc.bias, num_classes)
    with torch.no_grad():
        torch.testing.assert_close(head(fmap), expected, atol=1e-5, rtol=1e-5)

    # the attention block also matches torch's nn.MultiheadAttention
    mha = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    a = head.decoder.cross_attn
    with torch.no_grad():
        mha.in_proj_weight.copy_(
            torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]))
        mha.in_proj_bias.copy_(
            torch.cat([a.q_proj.bias, a.k_proj.bias, a.v_proj.bias]))
        mha.out_proj.weight.copy_(a.out_proj.weight)
        mha.out_proj.bias.copy_(a.out_proj.bias)
        torch.testing.assert_close(
            mha(q1, memory, memory, need_weights=False)[0],
            att,
            atol=1e-5,
            rtol=1e-5)


# ------------------------------------------------------- no self-attention
def test_groups_do_not_see_other_queries():
    """Without self-attention, group k's logits depend on query k only."""
    head = make_head(12, 4)  # G = 3
    fmap = torch.randn(2, 12, 3, 3)
    with torch.no_grad():
        base = head(fmap)
        head.queries[2] += torch.randn(16)  # change query 2 only
        changed = head(fmap)
    same = torch.ones(12, dtype=torch.bool)
    same[6:9] = False  # classes of group 2
    torch.testing.assert_close(changed[:, same], base[:, same])
    assert (changed[:, 6:9] - base[:, 6:9]).abs().min() > 1e-4


def test_permuting_queries_permutes_groups():
    head = make_head(8, 4)  # G = 2
    fmap = torch.randn(3, 12, 2, 2)
    perm = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        base = head(fmap).view(3, 4, 2)
        head.queries.copy_(head.queries[perm])
        head.group_fc.weight.copy_(head.group_fc.weight[perm])
        head.group_fc.bias.copy_(head.group_fc.bias.view(4, 2)[perm].ravel())
        permuted = head(fmap).view(3, 4, 2)
    torch.testing.assert_close(permuted, base[:, perm], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize('learnable', [False, True])
def test_query_learnability(learnable):
    head = make_head(6, 3, learnable_queries=learnable)
    names = {name for name, _ in head.named_parameters()}
    assert ('queries' in names) == learnable
    assert 'queries' in head.state_dict()  # kept in checkpoints either way


# ---------------------------------------------------------------- cosine
def test_cosine_group_fc():
    head = make_head(10, 4, normalized=True, cosine_scale=8.0)
    assert isinstance(head.group_fc, CosineGroupLinear)
    assert head.group_fc.bias is None
    fmap = torch.randn(5, 12, 3, 3) * 10
    with torch.no_grad():
        cos = head(fmap)
        hidden = reference_ml_decoder(head, fmap)[0]
        expected = reference_group_fc(
            hidden, head.group_fc.weight, None, 10, cosine=True)
    assert cos.min() >= -1.0 and cos.max() <= 1.0
    torch.testing.assert_close(cos, expected, atol=1e-5, rtol=1e-5)
    # prediction scores are sigmoid(s * cos)
    samples = head.predict((fmap, ))
    scores = torch.stack([s.pred_score for s in samples])
    torch.testing.assert_close(scores, torch.sigmoid(8.0 * cos))


def test_group_linear_matches_loops():
    torch.manual_seed(1)
    layer = GroupLinear(5, 7, 3)  # G = 3, 9 outputs, 7 kept
    nn.init.normal_(layer.bias)
    x = torch.randn(4, 3, 5)
    expected = reference_group_fc(x, layer.weight, layer.bias, 7)
    torch.testing.assert_close(layer(x), expected)
    with pytest.raises(ValueError, match=r'\(B, 3, 5\)'):
        layer(torch.randn(4, 2, 5))
    with pytest.raises(ValueError, match='num_groups'):
        GroupLinear(5, 7, 8)


# --------------------------------------------------------------- training
@pytest.mark.parametrize('normalized', [False, True])
def test_loss_decreases(normalized):
    """A few SGD steps on a separable synthetic problem lower the loss."""
    torch.manual_seed(0)
    num_classes = 6
    feats = torch.randn(16, 12, 3, 3)
    # class c is present when channel c has a positive mean
    target = feats[:, :num_classes].mean(dim=(2, 3)) > 0
    samples = [
        DataSample().set_gt_label(torch.nonzero(row).flatten())
        for row in target
    ]
    kwargs = dict(normalized=True, cosine_scale=10.0) if normalized else {}
    head = make_head(num_classes, 3, dropout=0.0, **kwargs).train()
    if normalized:  # BCE on s * cos, the logits the scores are made from

        def loss_fn():
            cos = head((feats, ))
            return F.binary_cross_entropy_with_logits(10.0 * cos,
                                                      target.float())
    else:

        def loss_fn():
            return head.loss((feats, ), samples)['loss']

    optim = torch.optim.SGD(head.parameters(), lr=0.3)
    losses = []
    for _ in range(12):
        loss = loss_fn()
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


# ------------------------------------------------------------ integration
def test_in_image_classifier_with_label_graph_neck():
    """ResNet -> LabelGraphReweightNeck -> MLDecoderHead inside MMPretrain's
    ImageClassifier: predict() scores are sigmoid of the composed forward."""
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='ResNet', depth=18, base_channels=8),
            neck=dict(
                type='LabelGraphReweightNeck',
                num_classes=5,
                in_channels=64,
                adjacency=torch.eye(5).numpy(),
                hidden_channels=8),
            head=dict(
                type='MLDecoderHead',
                num_classes=5,
                in_channels=64,
                embed_dims=16,
                num_groups=2,
                num_heads=2,
                feedforward_channels=32)))
    model.eval()
    images = torch.randn(2, 3, 32, 32)
    samples = [
        DataSample().set_gt_label([0, 3]),
        DataSample().set_gt_label([])
    ]
    with torch.no_grad():
        preds = model(images, samples, mode='predict')
        expected = torch.sigmoid(
            model.head(model.neck(model.backbone(images))))
        loss = model(images, samples, mode='loss')['loss']
    scores = torch.stack([s.pred_score for s in preds])
    torch.testing.assert_close(scores, expected)
    logits = model.head(model.neck(model.backbone(images)))
    target = torch.tensor([[1., 0, 0, 1, 0], [0, 0, 0, 0, 0]])
    torch.testing.assert_close(
        loss, F.binary_cross_entropy_with_logits(logits, target))
