"""Tests of MultiHeadCSRA and CSRAHead (Zhu & Wu, ICCV 2021).

Hand examples use ln 3 so the softmax weights are simple fractions:
scores s = [0, L] with L = ln 3 give softmax(T s) = [1, 3^T] / (1 + 3^T),
i.e. [1/4, 3/4] at T = 1 and [1/10, 9/10] at T = 2.
"""
import math

import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmcsra.models.heads import CSRAHead, MultiHeadCSRA

L = math.log(3.0)
INF = float('inf')


def _set_weight(module: MultiHeadCSRA, rows) -> None:
    with torch.no_grad():
        module.classifier.weight.copy_(torch.as_tensor(rows).float())


def _two_locations(*values) -> torch.Tensor:
    """(1, D, 1, 2) map whose two locations are the given D-vectors."""
    return torch.tensor(values, dtype=torch.float).t().reshape(1, -1, 1, 2)


def reference_csra(x_map,
                   head_weights,
                   temperatures,
                   lam,
                   mode='residual',
                   normalize=True):
    """The paper's formula, one head at a time, in float64."""
    feats = x_map.double().flatten(2)  # [B, D, N]
    total = 0
    for weight, t in zip(head_weights, temperatures):
        m = weight.double()
        if normalize:
            m = m / m.norm(dim=1, keepdim=True)
        s = torch.einsum('cd,bdn->bcn', m, feats)  # [B, C, N]
        base = s.mean(-1)
        if math.isinf(t):
            att = s.max(-1).values
        else:
            att = (s * torch.softmax(t * s, dim=-1)).sum(-1)
        total = total + {
            'residual': base + lam * att,
            'avg': base,
            'attention': att
        }[mode]
    return total


# ------------------------------------------------------------ MMPretrain
@pytest.mark.parametrize('num_heads', [1, 2, 4, 6, 8])
def test_parity_with_mmpretrain_csra(num_heads):
    torch.manual_seed(num_heads)
    C, D = 5, 16
    theirs = MODELS.build(
        dict(
            type='CSRAClsHead',
            num_classes=C,
            in_channels=D,
            num_heads=num_heads,
            lam=0.1))
    ours = MODELS.build(
        dict(
            type='CSRAHead',
            num_classes=C,
            in_channels=D,
            num_heads=num_heads,
            lam=0.1))
    # MMPretrain: head h is csra_heads[h].head, a (C, D, 1, 1) conv;
    # ours: rows h * C .. (h + 1) * C of the stacked classifier
    stacked = torch.cat([m.head.weight[:, :, 0, 0] for m in theirs.csra_heads])
    with torch.no_grad():
        ours.csra.classifier.weight.copy_(stacked)

    x = torch.randn(3, D, 4, 5)
    x_theirs = x.clone().requires_grad_()
    x_ours = x.clone().requires_grad_()
    out_theirs = theirs((x_theirs, ))
    out_ours = ours((x_ours, ))
    torch.testing.assert_close(out_ours, out_theirs, atol=1e-5, rtol=1e-5)

    # the gradients agree too (their T = 99 is max pooling, ours is inf)
    probe = torch.randn(3, C)
    (out_theirs * probe).sum().backward()
    (out_ours * probe).sum().backward()
    torch.testing.assert_close(
        x_ours.grad, x_theirs.grad, atol=1e-5, rtol=1e-5)
    grad_theirs = torch.cat(
        [m.head.weight.grad[:, :, 0, 0] for m in theirs.csra_heads])
    torch.testing.assert_close(
        ours.csra.classifier.weight.grad, grad_theirs, atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------ exact math
@pytest.mark.parametrize(
    'temperature,mode,expected',
    [
        # s = [0, L]; base = L/2; λ = 0.5
        (1.0, 'residual', 7 / 8 * L),  # L/2 + 0.5 * (3/4 L)
        (1.0, 'avg', L / 2),
        (1.0, 'attention', 3 / 4 * L),  # 0 * 1/4 + L * 3/4
        (2.0, 'residual', 0.95 * L),  # L/2 + 0.5 * (9/10 L)
        (2.0, 'attention', 0.9 * L),
        (INF, 'residual', L),  # L/2 + 0.5 * max(0, L)
        (INF, 'avg', L / 2),
        (INF, 'attention', L),
    ])
def test_single_head_by_hand(temperature, mode, expected):
    head = MultiHeadCSRA(1, 1, temperatures=[temperature], lam=0.5, mode=mode)
    _set_weight(head, [[1.0]])
    logit = head(_two_locations([0.0], [L]))
    assert logit.shape == (1, 1)
    assert logit.item() == pytest.approx(expected, abs=1e-6)


def test_infinite_temperature_is_the_limit_of_large_finite():
    x = _two_locations([0.0], [L])
    max_head = MultiHeadCSRA(1, 1, temperatures=[INF], mode='attention')
    big_head = MultiHeadCSRA(1, 1, temperatures=[200.0], mode='attention')
    _set_weight(max_head, [[1.0]])
    _set_weight(big_head, [[1.0]])
    assert max_head(x).item() == pytest.approx(L, abs=1e-6)  # exactly max
    # at T = 200 the location with s = 0 keeps weight 3^-200 ≈ 0
    assert big_head(x).item() == pytest.approx(L, abs=1e-6)
    # a small T is far from the max: 3/4 L at T = 1
    small = MultiHeadCSRA(1, 1, temperatures=[1.0], mode='attention')
    _set_weight(small, [[1.0]])
    assert small(x).item() == pytest.approx(0.75 * L, abs=1e-6)


@pytest.mark.parametrize(
    'normalize,expected',
    [
        # m = (3, 4), |m| = 5. Locations (0, 0) and (0.6 L, 0.8 L).
        # normalised: s = [0, L]              -> L/2 + 0.5 * 3/4 L
        (True, 7 / 8 * L),
        # raw: s = [0, 5L], softmax = [1, 3^5] / 244 -> 5L/2 + 0.5 * 243/244 * 5L
        (False, 2.5 * L + 0.5 * 243 / 244 * 5 * L),
    ])
def test_weight_normalisation_on_off(normalize, expected):
    head = MultiHeadCSRA(
        1, 2, temperatures=[1.0], lam=0.5, normalize_weight=normalize)
    _set_weight(head, [[3.0, 4.0]])
    x = _two_locations([0.0, 0.0], [0.6 * L, 0.8 * L])
    assert head(x).item() == pytest.approx(expected, rel=1e-6)


def test_heads_are_summed_with_their_own_temperature():
    # head 0: m = (1, 0), T = 1 -> s = [0, L]:  L/2 + 0.5 * 3/4 L = 7/8 L
    # head 1: m = (0, 1), T = inf -> s = [0, 2L]: L + 0.5 * 2L = 2L
    # (pairing the temperatures the other way round would give 2.9 L)
    head = MultiHeadCSRA(1, 2, temperatures=[1.0, INF], lam=0.5)
    _set_weight(head, [[1.0, 0.0], [0.0, 1.0]])
    x = _two_locations([0.0, 0.0], [L, 2 * L])
    scores = head.class_score_maps(x)  # [1, H, C, N]
    torch.testing.assert_close(scores,
                               torch.tensor([[[[0.0, L]], [[0.0, 2 * L]]]]))
    per_head = head.pool_scores(scores)  # [1, H, C]
    torch.testing.assert_close(per_head, torch.tensor([[[7 / 8 * L],
                                                        [2 * L]]]))
    assert head(x).item() == pytest.approx(23 / 8 * L, abs=1e-6)


@pytest.mark.parametrize('mode', ['residual', 'avg', 'attention'])
@pytest.mark.parametrize('normalize', [True, False])
@pytest.mark.parametrize(
    'temps', [[0.5, 3, INF], [INF, 1.0, INF, 2.0], [INF], [2.0, INF, 1.0]])
def test_explicit_temperatures_of_any_length(mode, normalize, temps):
    """Any order of finite and infinite temperatures (the head pools the
    finite ones and the max ones separately, then restores head order)."""
    torch.manual_seed(0)
    C, D = 4, 6
    head = MultiHeadCSRA(
        C,
        D,
        temperatures=temps,
        lam=0.3,
        mode=mode,
        normalize_weight=normalize)
    assert head.num_heads == len(temps)
    assert head.temperatures == tuple(float(t) for t in temps)
    with torch.no_grad():
        head.classifier.weight.normal_()
    x = torch.randn(2, D, 3, 3)
    weights = head.classifier.weight.detach().split(C)  # per head (C, D)
    expected = reference_csra(x, weights, temps, 0.3, mode, normalize)
    torch.testing.assert_close(
        head(x).double(), expected, atol=1e-5, rtol=1e-5)
    # each head's logits, in head order (the sum above cannot see the order)
    per_head = head.pool_scores(head.class_score_maps(x))  # [B, H, C]
    for h, t in enumerate(temps):
        torch.testing.assert_close(
            per_head[:, h].double(),
            reference_csra(x, weights[h:h + 1], [t], 0.3, mode, normalize),
            atol=1e-5,
            rtol=1e-5)


def test_attention_maps():
    head = MultiHeadCSRA(1, 1, temperatures=[1.0, INF])
    _set_weight(head, [[1.0], [1.0]])
    x = _two_locations([0.0], [L])  # s = [0, L] in both heads
    own = head.attention_maps(x)  # [1, H, C, N]
    torch.testing.assert_close(own,
                               torch.tensor([[[[0.25, 0.75]], [[0.0, 1.0]]]]))
    at_two = head.attention_maps(x, temperature=2.0)
    torch.testing.assert_close(at_two,
                               torch.tensor([[[[0.1, 0.9]], [[0.1, 0.9]]]]))
    with pytest.raises(ValueError, match='temperature'):
        head.attention_maps(x, temperature=0.0)


# ------------------------------------------------------------ token input
def test_tokens_with_and_without_class_token():
    torch.manual_seed(1)
    B, D, h, w, C = 2, 8, 2, 3, 3
    tokens = torch.randn(B, 1 + h * w, D)  # class token first
    drop = MultiHeadCSRA(C, D, num_heads=2, num_extra_tokens=1)
    keep = MultiHeadCSRA(C, D, num_heads=2, num_extra_tokens=0)
    on_map = MultiHeadCSRA(C, D, num_heads=2)
    keep.load_state_dict(drop.state_dict())
    on_map.load_state_dict(drop.state_dict())

    patch_map = tokens[:, 1:].transpose(1, 2).reshape(B, D, h, w)
    torch.testing.assert_close(drop(tokens), on_map(patch_map))
    # keeping the class token makes it one more location
    all_map = tokens.transpose(1, 2).reshape(B, D, 1, 1 + h * w)
    torch.testing.assert_close(keep(tokens), on_map(all_map))
    assert not torch.allclose(keep(tokens), drop(tokens), atol=1e-4)
    assert drop.class_score_maps(tokens).shape == (B, 2, C, h * w)


def test_vit_raw_tokens_equal_vit_featmap():
    torch.manual_seed(2)
    arch = dict(
        embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64)
    vit_raw = MODELS.build(
        dict(
            type='VisionTransformer',
            arch=arch,
            img_size=32,
            patch_size=8,
            out_type='raw'))
    vit_map = MODELS.build(
        dict(
            type='VisionTransformer',
            arch=arch,
            img_size=32,
            patch_size=8,
            out_type='featmap'))
    vit_map.load_state_dict(vit_raw.state_dict())
    head_tok = CSRAHead(
        num_classes=4, in_channels=32, num_heads=4, num_extra_tokens=1)
    head_map = CSRAHead(num_classes=4, in_channels=32, num_heads=4)
    head_map.load_state_dict(head_tok.state_dict())

    vit_raw.eval()  # (its train() returns None, so no chaining)
    vit_map.eval()
    img = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        raw, featmap = vit_raw(img), vit_map(img)
    assert raw[-1].shape == (2, 17, 32) and featmap[-1].shape == (2, 32, 4, 4)
    torch.testing.assert_close(head_tok(raw), head_map(featmap))
    att = head_tok.attention_maps(raw)  # [B, H, C, N], N = 4 x 4 patches
    assert att.shape == (2, 4, 4, 16)
    torch.testing.assert_close(att, head_map.attention_maps(featmap))
    torch.testing.assert_close(att.sum(-1), torch.ones(2, 4, 4))


# ------------------------------------------------------------ init
def _fraction_within_one_std(w: torch.Tensor, std: float) -> float:
    return (w.abs() < std).float().mean().item()


@pytest.mark.parametrize('wrapped', [False, True])
def test_init_weights_draws_classifier_from_normal(wrapped):
    torch.manual_seed(3)
    C, D, H = 10, 500, 4  # 20 000 weights
    if wrapped:
        module = CSRAHead(num_classes=C, in_channels=D, num_heads=H)
        classifier = module.csra.classifier
    else:
        module = MultiHeadCSRA(C, D, num_heads=H)
        classifier = module.classifier
    before = classifier.weight.detach().clone()
    # torch's default: U(-1/sqrt(D), 1/sqrt(D)), std = 1/sqrt(3 D) ≈ 0.0258
    assert before.std().item() == pytest.approx(1 / math.sqrt(3 * D), rel=0.05)
    module.init_weights()
    w = classifier.weight.detach()
    assert not torch.equal(w, before)
    assert w.std().item() == pytest.approx(0.01, rel=0.03)
    assert abs(w.mean().item()) < 3e-4
    # normal: P(|w| < std) = 0.6827; a uniform with this std gives 0.577
    assert _fraction_within_one_std(w, 0.01) == pytest.approx(
        0.6827, abs=0.015)


# ------------------------------------------------------------ errors
@pytest.mark.parametrize('kwargs,error,match', [
    (dict(num_heads=3), ValueError, 'num_heads=3'),
    (dict(num_heads=0), ValueError, 'num_heads'),
    (dict(temperatures=[1.0, 0.0]), ValueError, 'temperature'),
    (dict(temperatures=[-1.0]), ValueError, 'temperature'),
    (dict(temperatures=[-INF]), ValueError, 'temperature'),
    (dict(temperatures=[float('nan')]), ValueError, 'temperature'),
    (dict(temperatures=[]), ValueError, 'empty'),
    (dict(temperatures='1,2'), TypeError, 'temperatures'),
    (dict(num_heads=2, temperatures=[1.0, 2.0, 3.0]), ValueError, 'disagrees'),
    (dict(lam=-0.1), ValueError, 'lam'),
    (dict(lam=float('nan')), ValueError, 'lam'),
    (dict(num_classes=0), ValueError, 'num_classes'),
    (dict(in_channels=0), ValueError, 'in_channels'),
    (dict(mode='max'), ValueError, 'mode'),
    (dict(num_extra_tokens=-1), ValueError, 'num_extra_tokens'),
])
def test_bad_arguments(kwargs, error, match):
    args = dict(num_classes=3, in_channels=4)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        MultiHeadCSRA(**args)
    with pytest.raises(error, match=match):
        CSRAHead(**args)


def test_consistent_num_heads_and_temperatures_are_accepted():
    head = MultiHeadCSRA(3, 4, num_heads=2, temperatures=[1, INF])
    assert head.temperatures == (1.0, INF) and head.num_heads == 2
    assert MultiHeadCSRA(3, 4).temperatures == (1.0, )


@pytest.mark.parametrize(
    'extra_tokens,shape,match',
    [
        (0, (2, 5, 3, 3), 'in_channels'),  # map with D = 5
        (0, (2, 9, 5), 'in_channels'),  # tokens with D = 5
        (1, (2, 4, 3, 3), 'num_extra_tokens'),  # no class token in a map
        (1, (2, 1, 4), 'no location'),  # only the class token
        (0, (2, 4), 'expected'),
    ])
def test_bad_inputs(extra_tokens, shape, match):
    head = CSRAHead(
        num_classes=3, in_channels=4, num_extra_tokens=extra_tokens)
    with pytest.raises(ValueError, match=match):
        head((torch.randn(*shape), ))


def test_head_wants_a_tuple_of_stages():
    head = CSRAHead(num_classes=3, in_channels=4)
    with pytest.raises(TypeError, match='tuple'):
        head(torch.randn(2, 4, 3, 3))


# ------------------------------------------------------------ loss/predict
def _sample(labels, ignore=None) -> DataSample:
    sample = DataSample().set_gt_label(labels)
    if ignore is not None:
        sample.set_field(ignore, 'gt_ignore')
    return sample


def test_loss_ignores_masked_entries():
    torch.manual_seed(4)
    head = CSRAHead(num_classes=4, in_channels=6, num_heads=2)
    with torch.no_grad():
        head.csra.classifier.weight.normal_()
    feats = (torch.randn(2, 6, 3, 3), )
    logits = head(feats).detach()

    loss = head.loss(feats, [_sample([0, 2], ignore=[1]), _sample([3])])
    # class 1 of sample 0 marked positive instead: ignored, so no change
    flipped = head.loss(feats, [_sample([0, 1, 2], ignore=[1]), _sample([3])])
    unmasked = head.loss(feats, [_sample([0, 2]), _sample([3])])

    target = torch.tensor([[1., 0., 1., 0.], [0., 0., 0., 1.]])
    valid = torch.tensor([[1., 0., 1., 1.], [1., 1., 1., 1.]])
    p = torch.sigmoid(logits)
    bce = -(target * p.log() + (1 - target) * (1 - p).log())
    expected = (bce * valid).sum() / valid.sum()  # mean over 7 entries
    assert loss['loss'].item() == pytest.approx(expected.item(), rel=1e-5)
    assert flipped['loss'].item() == pytest.approx(expected.item(), rel=1e-5)
    assert unmasked['loss'].item() == pytest.approx(
        bce.mean().item(), rel=1e-5)


def _predict_head(**kwargs) -> CSRAHead:
    # identity classifier, one head, λ = 0.5: a constant map v gives
    # s_c = v_c everywhere, base = att = v_c, logit = 1.5 v_c
    head = CSRAHead(num_classes=4, in_channels=4, lam=0.5, **kwargs)
    _set_weight(head.csra, torch.eye(4))
    return head


V = torch.tensor([2.0, -1.0, 0.5, -3.0])  # logits 3, -1.5, 0.75, -4.5


@pytest.mark.parametrize(
    'kwargs,expected',
    [
        (dict(), [0, 2]),  # thr = 0.5: logit > 0
        (dict(thr=0.7), [0]),  # sigmoid(0.75) = 0.679 < 0.7 < sigmoid(3)
        (dict(topk=2), [0, 2]),
        (dict(topk=3), [0, 2, 1]),
        (dict(thr=0.7, topk=3), [0]),  # thr wins
    ])
def test_predict_thr_and_topk(kwargs, expected):
    head = _predict_head(**kwargs)
    feats = (V.view(1, 4, 1, 1).expand(2, 4, 2, 3).contiguous(), )
    samples = head.predict(feats)
    assert len(samples) == 2
    for sample in samples:
        assert sample.pred_label.tolist() == expected
        torch.testing.assert_close(sample.pred_score, torch.sigmoid(1.5 * V))


# ------------------------------------------------------- cosine variant
def reference_cosine_csra(x_map,
                          head_weights,
                          temperatures,
                          lam,
                          mode='residual'):
    """cos(m_i, f_i) with the class-specific feature f_i = g + lam * a_i
    built explicitly (paper Eq. 5), averaged over heads, in float64."""
    feats = x_map.double().flatten(2)  # [B, D, N]
    g = feats.mean(-1)  # [B, D]
    total = 0
    for weight, t in zip(head_weights, temperatures):
        m = weight.double()
        m = m / m.norm(dim=1, keepdim=True)  # [C, D]
        s = torch.einsum('cd,bdn->bcn', m, feats)  # [B, C, N]
        if math.isinf(t):
            alpha = torch.nn.functional.one_hot(s.argmax(-1),
                                                s.size(-1)).double()
        else:
            alpha = torch.softmax(t * s, dim=-1)  # [B, C, N]
        a = torch.einsum('bcn,bdn->bcd', alpha, feats)  # [B, C, D]
        f = {
            'residual': g[:, None] + lam * a,
            'avg': g[:, None].expand_as(a),
            'attention': a
        }[mode]
        total = total + torch.nn.functional.cosine_similarity(
            f, m[None].expand_as(f), dim=-1)  # [B, C]
    return total / len(head_weights)


@pytest.mark.parametrize('mode', ['residual', 'avg', 'attention'])
@pytest.mark.parametrize('temps', [[1.0], [1.0, 2.0, 4.0, INF], [INF, 0.5]])
def test_cosine_variant_is_the_cosine_of_the_class_feature(mode, temps):
    torch.manual_seed(len(temps))
    C, D = 3, 7
    head = MultiHeadCSRA(
        C, D, temperatures=temps, lam=0.4, mode=mode, cosine=True)
    with torch.no_grad():
        head.classifier.weight.normal_()
    x = torch.randn(2, D, 3, 4, dtype=torch.float64)
    head.double()
    weights = head.classifier.weight.detach().split(C)
    out = head(x)
    expected = reference_cosine_csra(x, weights, temps, 0.4, mode)
    torch.testing.assert_close(out, expected, atol=1e-10, rtol=1e-10)
    assert out.abs().max() <= 1
    # the gradient of the Gram-matrix form equals the explicit one's
    x1 = x.clone().requires_grad_()
    x2 = x.clone().requires_grad_()
    head(x1).sum().backward()
    reference_cosine_csra(x2, weights, temps, 0.4, mode).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-9, rtol=1e-9)


def test_cosine_variant_by_hand():
    """One class, D = 2, two locations x1 = (1, 0), x2 = (0, 2), m = (1, 1),
    max pooling (T = inf), lam = 1: s = (1/sqrt2, 2/sqrt2), the max picks
    x2, f = g + x2 = (0.5, 1) + (0, 2) = (0.5, 3);
    cos = (0.5 + 3) / (sqrt2 * sqrt(9.25))."""
    head = MultiHeadCSRA(1, 2, temperatures=[INF], lam=1.0, cosine=True)
    _set_weight(head, [[1.0, 1.0]])
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]]).t().reshape(1, 2, 1, 2)
    expected = 3.5 / (math.sqrt(2) * math.sqrt(9.25))
    assert head(x).item() == pytest.approx(expected, rel=1e-6)


def test_cosine_head_scores_and_errors():
    from mmcsra.models.heads import CSRAHead
    aam = dict(
        type='AsymmetricAngularMarginLoss',
        scale=23.0,
        margin=0.0,
        k=0.7,
        gamma_pos=0.0,
        gamma_neg=0.0,
        clip=0.0)
    head = CSRAHead(num_classes=3, in_channels=4, cosine=True, loss=aam)
    assert head.cosine_scale == 23.0 and head.csra.cosine
    x = torch.randn(2, 4, 2, 2)
    cos = head((x, ))
    [sample] = head.predict((x[:1], ))
    torch.testing.assert_close(sample.pred_score, torch.sigmoid(23 * cos[0]))
    with pytest.raises(ValueError, match='differs from the loss scale'):
        CSRAHead(
            num_classes=3, in_channels=4, cosine=True, scale=10., loss=aam)
    with pytest.raises(ValueError, match='needs cosine=True'):
        CSRAHead(num_classes=3, in_channels=4, scale=10.)
    with pytest.raises(ValueError, match='normalize_weight=True'):
        MultiHeadCSRA(3, 4, cosine=True, normalize_weight=False)
