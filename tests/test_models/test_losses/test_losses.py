"""ASL, AAM, the cosine layer and CosineClsHead against independent formulas.

The references below are written from the papers' equations in numpy
float64, element by element; gradients are checked against central finite
differences of those references (with the focusing weight frozen at the
evaluation point when the loss detaches it).
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.models.losses import AsymmetricLoss as MMPretrainASL
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmcsra  # noqa: F401  (registers the components)
from mmcsra.models.heads import CosineClsHead
from mmcsra.models.losses import (AsymmetricAngularMarginLoss,
                                  MultiLabelAsymmetricLoss, MultiLabelBCELoss)
from mmcsra.models.utils import CosineLinear, cosine_linear

FD_STEP = 1e-6


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ------------------------------------------------------------ references
def asl_terms(x, y, gamma_pos, gamma_neg, clip, eps=1e-8):
    """ASL Eq. (4)-(7): (weight_pos, log_pos, weight_neg, log_neg)."""
    p = _sigmoid(x)
    p_m = np.maximum(p - clip, 0.0) if clip else p
    return ((1 - p)**gamma_pos, np.log(np.maximum(p, eps)), p_m**gamma_neg,
            np.log(np.maximum(1 - p_m, eps)))


def asl_ref(x, y, gamma_pos, gamma_neg, clip, eps=1e-8, frozen_at=None):
    """Element-wise ASL; ``frozen_at``: take the weights at that x."""
    w_pos, log_pos, w_neg, log_neg = asl_terms(x, y, gamma_pos, gamma_neg,
                                               clip, eps)
    if frozen_at is not None:
        w_pos, _, w_neg, _ = asl_terms(frozen_at, y, gamma_pos, gamma_neg,
                                       clip, eps)
    return -(y * w_pos * log_pos + (1 - y) * w_neg * log_neg)


def aam_terms(c, y, s, m, clip):
    p_pos = _sigmoid(s * (c - m))
    p_neg = _sigmoid(-s * (c + m))
    if clip:
        p_neg = np.minimum(p_neg + clip, 1.0)
    return p_pos, p_neg


def aam_ref(c, y, s, m, k, gamma_pos, gamma_neg, clip, frozen_at=None):
    """Element-wise AAM (paper Sec. 3 + official probability shifting)."""
    p_pos, p_neg = aam_terms(c, y, s, m, clip)
    w_src = aam_terms(frozen_at, y, s, m, clip) if frozen_at is not None \
        else (p_pos, p_neg)
    w_pos = w_src[1]**gamma_pos
    w_neg = w_src[0]**gamma_neg
    return -(
        k / s * y * w_pos * np.log(p_pos) + (1 - k) / s *
        (1 - y) * w_neg * np.log(p_neg))


def fd_grad(func, x):
    """Central differences of an element-wise function (float64)."""
    return (func(x + FD_STEP) - func(x - FD_STEP)) / (2 * FD_STEP)


def reduce_ref(loss, valid, reduction):
    loss = loss * valid
    if reduction == 'sum':
        return loss.sum()
    if reduction == 'mean':
        return loss.sum() / max(valid.sum(), 1.0)
    return loss


# ---------------------------------------------------------------- inputs
def _logits_and_targets(seed=0, shape=(4, 6), clip=0.05):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-4, 4, size=shape)
    if clip:  # keep away from the kink p = clip of the shifted probability
        kink = math.log(clip / (1 - clip))
        x = np.where(np.abs(x - kink) < 0.05, x + 0.3, x)
    y = (rng.uniform(size=shape) < 0.4).astype(np.float64)
    y[0, 0], y[0, 1] = 1.0, 0.0  # both kinds present
    return x, y


def _cosines_and_targets(seed=1, shape=(4, 6)):
    rng = np.random.default_rng(seed)
    c = rng.uniform(-0.95, 0.95, size=shape)
    y = (rng.uniform(size=shape) < 0.4).astype(np.float64)
    y[0, 0], y[0, 1] = 1.0, 0.0
    return c, y


def _grad(loss_module, x, y, valid=None):
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = torch.tensor(y, dtype=torch.float64)
    vt = None if valid is None else torch.tensor(valid, dtype=torch.float64)
    out = loss_module(xt, yt, weight=vt)
    out.sum().backward()
    return out.detach().numpy(), xt.grad.numpy()


# ----------------------------------------------------------------- ASL
ASL_SETTINGS = [(0.0, 4.0, 0.05), (1.0, 4.0, 0.05), (2.0, 3.0, 0.2),
                (0.0, 4.0, None), (0.0, 0.0, 0.0)]


@pytest.mark.parametrize('gamma_pos,gamma_neg,clip', ASL_SETTINGS)
@pytest.mark.parametrize('reduction', ['sum', 'mean', 'none'])
def test_asl_value_matches_formula(gamma_pos, gamma_neg, clip, reduction):
    x, y = _logits_and_targets(clip=clip)
    valid = np.ones_like(x)
    valid[1, :3] = 0.0  # ignored entries
    loss = MultiLabelAsymmetricLoss(
        gamma_pos=gamma_pos,
        gamma_neg=gamma_neg,
        clip=clip,
        reduction=reduction,
        loss_weight=2.0)
    value, _ = _grad(loss, x, y, valid)
    expected = 2.0 * reduce_ref(
        asl_ref(x, y, gamma_pos, gamma_neg, clip), valid, reduction)
    np.testing.assert_allclose(value, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('gamma_pos,gamma_neg,clip', ASL_SETTINGS)
@pytest.mark.parametrize('detach', [True, False])
def test_asl_gradient_matches_finite_differences(gamma_pos, gamma_neg, clip,
                                                 detach):
    x, y = _logits_and_targets(clip=clip)
    loss = MultiLabelAsymmetricLoss(
        gamma_pos=gamma_pos,
        gamma_neg=gamma_neg,
        clip=clip,
        detach_focal_weight=detach,
        reduction='sum')
    _, grad = _grad(loss, x, y)
    frozen = x if detach else None
    expected = fd_grad(
        lambda z: asl_ref(z, y, gamma_pos, gamma_neg, clip, frozen_at=frozen),
        x)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-9)


def test_asl_detached_and_full_gradients_differ():
    x, y = _logits_and_targets()
    grads = [
        _grad(
            MultiLabelAsymmetricLoss(gamma_pos=1.0, detach_focal_weight=d), x,
            y)[1] for d in (True, False)
    ]
    assert np.abs(grads[0] - grads[1]).max() > 1e-2


def test_asl_clip_discards_easy_negatives():
    # p = sigmoid(-4) = 0.018 < clip: p_m = 0, so no loss and no gradient
    x = np.array([[-4.0, -4.0]])
    y = np.array([[0.0, 0.0]])
    value, grad = _grad(
        MultiLabelAsymmetricLoss(clip=0.05, detach_focal_weight=False), x, y)
    assert value == 0.0
    np.testing.assert_array_equal(grad, 0.0)
    value, _ = _grad(MultiLabelAsymmetricLoss(clip=None), x, y)
    p = _sigmoid(-4.0)
    assert value == pytest.approx(-2 * p**4 * math.log(1 - p), rel=1e-10)


def test_asl_without_focusing_is_bce():
    x, y = _logits_and_targets(clip=None)
    value, _ = _grad(
        MultiLabelAsymmetricLoss(gamma_neg=0.0, clip=None, eps=1e-300), x, y)
    bce = F.binary_cross_entropy_with_logits(
        torch.tensor(x), torch.tensor(y), reduction='sum')
    assert value == pytest.approx(bce.item(), rel=1e-10)


def test_asl_matches_mmpretrain_on_hard_targets():
    """MMPretrain's AsymmetricLoss differentiates the weight (detach off)."""
    x, y = _logits_and_targets()
    ours = MultiLabelAsymmetricLoss(
        gamma_pos=1.0, gamma_neg=4.0, clip=0.05, detach_focal_weight=False)
    theirs = MMPretrainASL(
        gamma_pos=1.0, gamma_neg=4.0, clip=0.05, reduction='sum')
    value, grad = _grad(ours, x, y)
    xt = torch.tensor(x, requires_grad=True)
    ref = theirs(xt, torch.tensor(y))
    ref.backward()
    assert value == pytest.approx(ref.item(), rel=1e-10)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-10)


def test_asl_ignore_mask_removes_contributions():
    x, y = _logits_and_targets()
    valid = np.ones_like(x)
    valid[:, 2] = 0.0
    loss = MultiLabelAsymmetricLoss(reduction='mean')
    _, grad = _grad(loss, x, y, valid)
    np.testing.assert_array_equal(grad[:, 2], 0.0)
    # changing an ignored logit or target changes nothing
    x2, y2 = x.copy(), y.copy()
    x2[:, 2] += 3.0
    y2[:, 2] = 1 - y2[:, 2]
    assert _grad(loss, x2, y2, valid)[0] == pytest.approx(
        _grad(loss, x, y, valid)[0], rel=1e-12)
    # 'mean' divides by the number of non-ignored entries
    elem = asl_ref(x, y, 0.0, 4.0, 0.05)
    assert _grad(loss, x, y, valid)[0] == pytest.approx(
        (elem * valid).sum() / valid.sum(), rel=1e-10)


def test_asl_bad_arguments():
    with pytest.raises(ValueError, match='reduction'):
        MultiLabelAsymmetricLoss(reduction='avg')
    with pytest.raises(ValueError, match='clip'):
        MultiLabelAsymmetricLoss(clip=1.5)
    with pytest.raises(ValueError, match='same shape'):
        MultiLabelAsymmetricLoss()(torch.zeros(2, 3), torch.zeros(2, 4))


# ----------------------------------------------------------------- AAM
AAM_SETTINGS = [
    # scale, margin, k, gamma_pos, gamma_neg, clip
    (23.0, 0.0, 0.7, 0.0, 0.0, 0.0),
    (30.0, 0.35, 0.8, 0.0, 1.0, 0.05),
    (10.0, 0.2, 0.6, 1.0, 2.0, 0.05),
    (10.0, 0.1, 0.5, 2.0, 4.0, None),
]


@pytest.mark.parametrize('s,m,k,gamma_pos,gamma_neg,clip', AAM_SETTINGS)
@pytest.mark.parametrize('reduction', ['sum', 'mean', 'none'])
def test_aam_value_matches_formula(s, m, k, gamma_pos, gamma_neg, clip,
                                   reduction):
    c, y = _cosines_and_targets()
    valid = np.ones_like(c)
    valid[2, 1:4] = 0.0
    loss = AsymmetricAngularMarginLoss(
        scale=s,
        margin=m,
        k=k,
        gamma_pos=gamma_pos,
        gamma_neg=gamma_neg,
        clip=clip,
        reduction=reduction,
        loss_weight=0.5)
    value, _ = _grad(loss, c, y, valid)
    expected = 0.5 * reduce_ref(
        aam_ref(c, y, s, m, k, gamma_pos, gamma_neg, clip), valid, reduction)
    np.testing.assert_allclose(value, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize('s,m,k,gamma_pos,gamma_neg,clip', AAM_SETTINGS)
@pytest.mark.parametrize('detach', [True, False])
def test_aam_gradient_matches_finite_differences(s, m, k, gamma_pos, gamma_neg,
                                                 clip, detach):
    c, y = _cosines_and_targets()
    loss = AsymmetricAngularMarginLoss(
        scale=s,
        margin=m,
        k=k,
        gamma_pos=gamma_pos,
        gamma_neg=gamma_neg,
        clip=clip,
        detach_focal_weight=detach)
    _, grad = _grad(loss, c, y)
    frozen = c if detach else None
    expected = fd_grad(
        lambda z: aam_ref(
            z, y, s, m, k, gamma_pos, gamma_neg, clip, frozen_at=frozen), c)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-9)


def test_aam_detached_and_full_gradients_differ():
    c, y = _cosines_and_targets()
    grads = [
        _grad(
            AsymmetricAngularMarginLoss(
                scale=10.0,
                gamma_pos=1.0,
                gamma_neg=2.0,
                detach_focal_weight=d), c, y)[1] for d in (True, False)
    ]
    assert np.abs(grads[0] - grads[1]).max() > 1e-3


def test_aam_hand_values():
    # cos = 0, m = 0: p+ = p- = 1/2, so a positive costs (k/s) ln 2 and a
    # negative ((1-k)/s) ln 2 (no focusing, no clip)
    loss = AsymmetricAngularMarginLoss(scale=20.0, margin=0.0, k=0.7)
    value = loss(torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]))
    assert value.item() == pytest.approx((0.7 + 0.3) / 20.0 * math.log(2))
    # m = 0, k = 1/2, no focusing/clip: 2 s AAM = BCE on logits s cos
    c, y = _cosines_and_targets()
    value, _ = _grad(AsymmetricAngularMarginLoss(scale=5.0, k=0.5), c, y)
    bce = F.binary_cross_entropy_with_logits(
        torch.tensor(5.0 * c), torch.tensor(y), reduction='sum')
    assert 2 * 5.0 * value == pytest.approx(bce.item(), rel=1e-10)


def test_aam_clip_shifts_negative_probability():
    # a confident negative (p- >= 1 - clip) gives zero loss and gradient
    s, clip = 10.0, 0.05
    cos = torch.tensor([[-0.6]], dtype=torch.float64, requires_grad=True)
    p_neg = 1 / (1 + math.exp(-s * 0.6))
    assert p_neg + clip >= 1
    loss = AsymmetricAngularMarginLoss(scale=s, clip=clip, gamma_neg=1.0)
    value = loss(cos, torch.zeros(1, 1, dtype=torch.float64))
    value.backward()
    assert value.item() == 0.0 and cos.grad.item() == 0.0
    # a less confident negative: log(p- + clip) instead of log(p-)
    cos = torch.tensor([[-0.1]], dtype=torch.float64)
    p_pos, p_neg = 1 / (1 + math.exp(s * 0.1)), 1 / (1 + math.exp(-s * 0.1))
    value = loss(cos, torch.zeros(1, 1, dtype=torch.float64)).item()
    assert value == pytest.approx(
        -(1 - 0.7) / s * p_pos * math.log(p_neg + clip), rel=1e-12)


def test_aam_ignore_mask_and_extreme_cosines():
    loss = AsymmetricAngularMarginLoss(scale=64.0, margin=0.5)
    cos = torch.tensor([[1.0, -1.0, 1.0, -1.0]], requires_grad=True)
    target = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    valid = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    value = loss(cos, target, weight=valid)
    value.backward()
    # hard wrong-side entries: finite (logsigmoid) and gradient non-zero
    assert torch.isfinite(value)
    expected = (0.3 * F.softplus(torch.tensor(64.0 * 1.5)) +
                0.7 * F.softplus(torch.tensor(64.0 * 1.5))) / 64.0
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    assert (cos.grad[0, :2] != 0).all()
    assert (cos.grad[0, 2:] == 0).all()


# ---------------------------------------------------------- cosine layer
def test_cosine_linear_equals_normalized_dot_products():
    torch.manual_seed(0)
    layer = CosineLinear(16, 5)
    x = torch.randn(3, 7, 16) * 10
    out = layer(x)
    expected = F.normalize(x, dim=-1) @ F.normalize(layer.weight, dim=-1).t()
    assert out.shape == (3, 7, 5)
    torch.testing.assert_close(out, expected)
    assert out.min() >= -1 and out.max() <= 1
    # parallel / anti-parallel vectors hit the bounds exactly (clamped)
    w = layer.weight.detach()
    edge = cosine_linear(torch.stack([3.7 * w[0], -0.2 * w[1]]), w)
    assert edge.abs().max() <= 1.0
    assert edge[0, 0].item() == pytest.approx(1.0, abs=1e-6)
    assert edge[1, 1].item() == pytest.approx(-1.0, abs=1e-6)
    # a zero feature gives zeros, not NaN
    assert torch.equal(cosine_linear(torch.zeros(1, 16), w), torch.zeros(1, 5))
    with pytest.raises(ValueError, match='cosine_linear'):
        cosine_linear(torch.zeros(2, 15), w)


# ------------------------------------------------------------- the head
def _samples(labels, ignores):
    samples = []
    for gt, ign in zip(labels, ignores):
        sample = DataSample().set_gt_label(gt)
        sample.set_field(torch.tensor(ign, dtype=torch.long), 'gt_ignore')
        samples.append(sample)
    return samples


@pytest.mark.parametrize('spatial', [True, False])
def test_cosine_head_predict_is_sigmoid_of_scaled_cosine(spatial):
    torch.manual_seed(0)
    head = CosineClsHead(
        num_classes=5,
        in_channels=8,
        loss=dict(type='AsymmetricAngularMarginLoss', scale=16.0, margin=0.2))
    assert head.cosine_scale == 16.0  # taken from the loss
    feat = torch.randn(2, 8, 3, 3) if spatial else torch.randn(2, 8)
    pooled = feat.mean(dim=(2, 3)) if spatial else feat
    cos = F.normalize(pooled, dim=1) @ F.normalize(head.fc.weight, dim=1).t()
    torch.testing.assert_close(head((feat, )), cos)
    preds = head.predict((feat, ))
    scores = torch.stack([p.pred_score for p in preds])
    torch.testing.assert_close(scores, torch.sigmoid(16.0 * cos))
    for pred, score in zip(preds, scores):
        assert pred.pred_label.tolist() == torch.where(
            score >= 0.5)[0].tolist()


def test_cosine_head_loss_uses_aam_and_ignore_mask():
    torch.manual_seed(0)
    head = CosineClsHead(
        num_classes=4,
        in_channels=6,
        loss=dict(
            type='AsymmetricAngularMarginLoss',
            scale=10.0,
            margin=0.1,
            k=0.8,
            gamma_neg=1.0,
            clip=0.05))
    feat = torch.randn(2, 6, dtype=torch.float64)
    head = head.double()
    samples = _samples([[0, 2], [3]], [[1], []])
    loss = head.loss((feat, ), samples)['loss']
    cos = head((feat, )).detach().numpy()
    y = np.array([[1, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float64)
    valid = np.array([[1, 0, 1, 1], [1, 1, 1, 1]], dtype=np.float64)
    expected = (aam_ref(cos, y, 10.0, 0.1, 0.8, 0.0, 1.0, 0.05) * valid).sum()
    assert loss.item() == pytest.approx(expected, rel=1e-10)


def test_cosine_head_scale_checks_and_init():
    with pytest.raises(ValueError, match='differs from the loss scale'):
        CosineClsHead(
            4,
            6,
            scale=10.0,
            loss=dict(type='AsymmetricAngularMarginLoss', scale=23.0))
    with pytest.raises(ValueError, match='no `scale` attribute'):
        CosineClsHead(4, 6, loss=dict(type='MultiLabelBCELoss'))
    head = CosineClsHead(4, 6, scale=7.0, loss=dict(type='MultiLabelBCELoss'))
    assert head.cosine_scale == 7.0
    with pytest.raises(ValueError, match=r'\(B, D\) or \(B, D, H, W\)'):
        head((torch.zeros(2, 6, 3), ))
    # the default init_cfg reaches the CosineLinear weight
    head = MODELS.build(
        dict(type='CosineClsHead', num_classes=64, in_channels=256))
    torch.nn.init.zeros_(head.fc.weight)
    head.init_weights()
    assert head.fc.weight.std().item() == pytest.approx(0.01, rel=0.1)


# ---------------------------------------------- MMPretrain's signature
# A 2 x 3 example with sigmoids 1/2, 3/4, 1/4 (logits 0, ln 3, -ln 3) and
# the entry (0, 1) ignored. The element-wise matrices are written out from
# the papers' formulas:
LN2, LN3 = math.log(2.0), math.log(3.0)
SIG_X = torch.tensor([[0.0, LN3, -LN3], [LN3, 0.0, -LN3]], dtype=torch.float64)
SIG_Y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
SIG_V = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
HAND = {
    # BCE: -log p (y = 1) or -log(1 - p) (y = 0)
    'bce': (lambda: MultiLabelBCELoss(reduction='mean'), SIG_X,
            [[LN2, 2 * LN2, 2 * LN2], [2 * LN2, LN2,
                                       2 * LN2 - LN3]], 8 * LN2 - LN3),
    # ASL, gamma+ = 1, gamma- = 2, clip = 1/4: positives (1 - p) (-log p);
    # negatives p_m^2 (-log(1 - p_m)), p_m = max(p - 1/4, 0)
    'asl': (lambda: MultiLabelAsymmetricLoss(
        gamma_pos=1.0, gamma_neg=2.0, clip=0.25, reduction='mean'), SIG_X,
            [[LN2 / 2, LN2 / 4, 1.5 * LN2], [LN2 / 4, LN2 / 2,
                                             0.0]], 11 * LN2 / 4),
    # AAM, s = ln 3, m = 0, k = 3/4 on cos = x / ln 3: positives
    # (k/s)(-log p+), negatives ((1-k)/s)(-log p-)
    'aam': (lambda: AsymmetricAngularMarginLoss(
        scale=LN3, margin=0.0, k=0.75, reduction='mean'), SIG_X / LN3, [[
            0.75 * LN2 / LN3, 0.5 * LN2 / LN3, 1.5 * LN2 / LN3
        ], [0.5 * LN2 / LN3, 0.75 * LN2 / LN3,
            (0.5 * LN2 - 0.25 * LN3) / LN3]], 4 * LN2 / LN3 - 0.25),
}


@pytest.mark.parametrize('name', sorted(HAND))
def test_loss_signature_by_hand(name):
    build, score, matrix, masked_sum = HAND[name]
    loss = build()
    elem = torch.tensor(matrix, dtype=torch.float64)
    kept = elem * SIG_V
    assert kept.sum().item() == pytest.approx(masked_sum, rel=1e-12)

    def call(**kwargs):
        return loss(score, SIG_Y, **kwargs)

    # the element-wise loss and the weighted reductions
    torch.testing.assert_close(call(reduction_override='none'), elem)
    torch.testing.assert_close(
        call(weight=SIG_V, reduction_override='none'), kept)
    assert call(weight=SIG_V, reduction_override='sum').item() == \
        pytest.approx(masked_sum, rel=1e-12)
    # 'mean' (the default here): over the 5 non-ignored entries ...
    assert call(weight=SIG_V).item() == pytest.approx(
        masked_sum / 5, rel=1e-12)
    assert call().item() == pytest.approx(elem.sum().item() / 6, rel=1e-12)
    # ... or by avg_factor, as MMPretrain's weight_reduce_loss
    assert call(
        weight=SIG_V, avg_factor=2).item() == pytest.approx(
            masked_sum / 2, rel=1e-12)
    assert call(avg_factor=4.0).item() == pytest.approx(
        elem.sum().item() / 4, rel=1e-12)
    # 'none' ignores avg_factor; 'sum' refuses it
    torch.testing.assert_close(
        call(weight=SIG_V, avg_factor=2, reduction_override='none'), kept)
    with pytest.raises(ValueError, match='avg_factor'):
        call(avg_factor=2, reduction_override='sum')
    # a (B,) per-sample weight (MMPretrain's convention): row 0 x 2, row 1
    # dropped; 'mean' divides by the total weight 2 * 3
    per_sample = torch.tensor([2.0, 0.0], dtype=torch.float64)
    row0 = elem[0].sum().item()
    assert call(weight=per_sample, reduction_override='sum').item() == \
        pytest.approx(2 * row0, rel=1e-12)
    assert call(weight=per_sample).item() == pytest.approx(
        2 * row0 / 6, rel=1e-12)
    # loss_weight multiplies every reduction
    loss.loss_weight = 3.0
    assert call(weight=SIG_V, reduction_override='sum').item() == \
        pytest.approx(3 * masked_sum, rel=1e-12)
    # unknown keyword arguments are accepted (MMPretrain's **kwargs)
    assert call(
        weight=SIG_V, unused=1).item() == pytest.approx(
            3 * masked_sum / 5, rel=1e-12)


@pytest.mark.parametrize('name', sorted(HAND))
def test_loss_signature_errors(name):
    build, score, _, _ = HAND[name]
    loss = build()
    with pytest.raises(ValueError, match='reduction'):
        loss(score, SIG_Y, reduction_override='max')
    with pytest.raises(ValueError, match='does not fit'):
        loss(score, SIG_Y, weight=torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match='same shape'):
        loss(score, SIG_Y[:, :2])
    assert loss.elementwise_weight  # heads may pass a (B, C) mask


def test_bce_loss_matches_mmpretrain_cross_entropy():
    """MultiLabelBCELoss = CrossEntropyLoss(use_sigmoid=True) under the same
    call, except 'mean' with a weight: MMPretrain divides by B * C, mmcsra
    by the total weight (so ignored entries do not dilute the mean)."""
    theirs = MODELS.build(dict(type='CrossEntropyLoss', use_sigmoid=True))
    ours = MultiLabelBCELoss()
    x, y = SIG_X.float(), SIG_Y.float()
    per_sample = torch.tensor([0.5, 2.0])
    for kwargs in (dict(), dict(avg_factor=2), dict(reduction_override='sum'),
                   dict(weight=per_sample, avg_factor=2),
                   dict(weight=per_sample, reduction_override='sum'),
                   dict(weight=per_sample, reduction_override='none')):
        torch.testing.assert_close(
            ours(x, y, **kwargs), theirs(x, y, **kwargs))
