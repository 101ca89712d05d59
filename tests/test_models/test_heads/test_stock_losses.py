"""Every mmcsra head with MMPretrain's stock losses (issue 15).

The references are the losses' formulas written out below, and the stock
loss module called directly as MMPretrain's ``MultiLabelClsHead`` calls it
(``avg_factor = B``: sum over the classes, mean over the batch):

* BCE: :math:`-[y\\log p + (1-y)\\log(1-p)]`, :math:`p = \\sigma(x)`;
* focal loss (Lin et al., ICCV 2017, sigmoid form):
  :math:`-\\alpha_t (1-p_t)^\\gamma \\log p_t` with :math:`p_t = p` and
  :math:`\\alpha_t = \\alpha` for positives, :math:`p_t = 1-p` and
  :math:`\\alpha_t = 1-\\alpha` for negatives;
* ASL (Ben-Baruch et al., ICCV 2021, Eqs. 4-7):
  :math:`-(1-p)^{\\gamma_+}\\log p` for positives and
  :math:`-p_m^{\\gamma_-}\\log(1-p_m)`, :math:`p_m = \\max(p - c, 0)`, for
  negatives.

With ignored labels these losses (which take only per-sample weights) must
raise an error naming the loss; mmcsra's losses instead give the loss with
those entries zero-weighted.
"""
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.models.heads import MultiLabelClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmcsra  # noqa: F401  (registers the components)

B, C, D = 3, 5, 8
LABELS = [[0, 2], [4], []]
IGNORES = [[1], [], [0, 3]]


# ------------------------------------------------------------ references
def bce_ref(x, y):
    p = torch.sigmoid(x)
    return -(y * p.log() + (1 - y) * (1 - p).log())


def focal_ref(x, y, gamma=2.0, alpha=0.25):
    p = torch.sigmoid(x)
    p_t = torch.where(y > 0, p, 1 - p)
    alpha_t = torch.where(y > 0, alpha, 1 - alpha)
    return -alpha_t * (1 - p_t)**gamma * p_t.log()


def asl_ref(x, y, gamma_pos=1.0, gamma_neg=4.0, clip=0.05, eps=1e-8):
    p = torch.sigmoid(x)
    p_m = (p - clip).clamp(min=0)
    pos = -(1 - p)**gamma_pos * p.clamp(min=eps).log()
    neg = -p_m**gamma_neg * (1 - p_m).clamp(min=eps).log()
    return torch.where(y > 0, pos, neg)


STOCK = {
    'CrossEntropyLoss': (dict(type='CrossEntropyLoss',
                              use_sigmoid=True), bce_ref),
    'FocalLoss': (dict(type='FocalLoss', gamma=2.0, alpha=0.25), focal_ref),
    'AsymmetricLoss':
    (dict(type='AsymmetricLoss', gamma_pos=1.0, gamma_neg=4.0,
          clip=0.05), asl_ref),
}


# ----------------------------------------------------------------- heads
def _map(*shape):
    return torch.randn(*shape)


HEADS = {
    'CSRAHead':
    (dict(type='CSRAHead', num_classes=C, in_channels=D, num_heads=2,
          lam=0.3), lambda: (_map(B, D, 3, 4), )),
    'CSRAHead-cosine': (dict(
        type='CSRAHead',
        num_classes=C,
        in_channels=D,
        num_heads=4,
        cosine=True,
        scale=8.0), lambda: (_map(B, D, 3, 4), )),
    'CosineClsHead':
    (dict(type='CosineClsHead', num_classes=C, in_channels=D,
          scale=8.0), lambda: (_map(B, D), )),
    'MLDecoderHead': (dict(
        type='MLDecoderHead',
        num_classes=C,
        in_channels=D,
        embed_dims=16,
        num_groups=2,
        num_heads=2,
        feedforward_channels=32,
        dropout=0.0), lambda: (_map(B, D, 3, 3), )),
    'CATHead': (dict(
        type='CATHead',
        num_classes=C,
        in_channels=D,
        alpha=1.0,
        beta=0.5,
        gamma=0.25), lambda: tuple(_map(B, D, s, s) for s in (6, 3, 2))),
}


def _build(head_name, loss):
    torch.manual_seed(0)
    cfg, make_feats = HEADS[head_name]
    head = MODELS.build(dict(cfg, loss=loss))
    head.init_weights()
    return head, make_feats()


def _samples(ignores=None):
    samples = []
    for b, labels in enumerate(LABELS):
        sample = DataSample().set_gt_label(labels)
        if ignores is not None:
            sample.set_field(
                torch.tensor(ignores[b], dtype=torch.long), 'gt_ignore')
        samples.append(sample)
    return samples


def _targets():
    target = torch.zeros(B, C)
    valid = torch.ones(B, C)
    for b in range(B):
        target[b, LABELS[b]] = 1.0
        valid[b, IGNORES[b]] = 0.0
    return target, valid


# ------------------------------------------------------------ stock losses
@pytest.mark.parametrize('loss_name', sorted(STOCK))
@pytest.mark.parametrize('head_name', sorted(HEADS))
@pytest.mark.parametrize('ignore_field', ['absent', 'empty'])
def test_head_with_stock_loss(head_name, loss_name, ignore_field):
    loss_cfg, ref = STOCK[loss_name]
    head, feats = _build(head_name, loss_cfg)
    samples = _samples(None if ignore_field == 'absent' else [[]] * B)
    value = head.loss(feats, samples)['loss']
    logits = head(feats).detach()  # [B, C]
    target, _ = _targets()

    # the formula, summed over the classes and averaged over the batch
    expected = ref(logits.double(), target.double()).sum() / B
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    # the stock module called directly, as MultiLabelClsHead calls it
    stock = MODELS.build(loss_cfg)
    torch.testing.assert_close(value.detach(),
                               stock(logits, target, avg_factor=B))
    # ... and MMPretrain's own head on the same logits
    theirs = MultiLabelClsHead(loss=loss_cfg)._get_loss(logits,
                                                        _samples())['loss']
    torch.testing.assert_close(value.detach(), theirs)


@pytest.mark.parametrize('loss_name', sorted(STOCK))
@pytest.mark.parametrize('head_name', sorted(HEADS))
def test_stock_loss_refuses_ignored_labels(head_name, loss_name):
    loss_cfg, _ = STOCK[loss_name]
    head, feats = _build(head_name, loss_cfg)
    with pytest.raises(
            ValueError,
            match=rf'the loss {loss_name} takes no '
            r'element-wise \(B, C\) weight'):
        head.loss(feats, _samples(IGNORES))


@pytest.mark.parametrize('loss_name', sorted(STOCK))
def test_retrofit_head_with_stock_loss(loss_name):
    """CSRARetrofitHead keeps the loss of the MMPretrain head it wraps."""
    loss_cfg, ref = STOCK[loss_name]
    torch.manual_seed(0)
    head = MODELS.build(
        dict(
            type='CSRARetrofitHead',
            lam=0.5,
            head=dict(
                type='MultiLabelLinearClsHead',
                num_classes=C,
                in_channels=D,
                loss=loss_cfg)))
    feats = (torch.randn(B, D, 3, 4), )
    value = head.loss(feats, _samples())['loss']
    fc = head.head.fc
    locations = fc(feats[0].flatten(2).transpose(1, 2))  # [B, N, C]
    logits = locations.mean(1) + 0.5 * locations.amax(1)  # y_avg + λ y_max
    target, _ = _targets()
    expected = ref(logits.double(), target.double()).sum() / B
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)


# ------------------------------------------------ mmcsra's masked losses
MASKED = {
    # name: (config, element-wise reference, reduction)
    'MultiLabelBCELoss': (dict(type='MultiLabelBCELoss'), bce_ref, 'mean'),
    'MultiLabelAsymmetricLoss': (dict(
        type='MultiLabelAsymmetricLoss',
        gamma_pos=1.0,
        gamma_neg=4.0,
        clip=0.05), asl_ref, 'sum'),
}


@pytest.mark.parametrize('loss_name', sorted(MASKED))
@pytest.mark.parametrize('head_name', sorted(HEADS))
def test_head_with_masked_loss_zero_weights_ignored(head_name, loss_name):
    loss_cfg, ref, reduction = MASKED[loss_name]
    head, feats = _build(head_name, loss_cfg)
    value = head.loss(feats, _samples(IGNORES))['loss']
    logits = head(feats).detach().double()
    target, valid = _targets()
    elem = ref(logits, target.double()) * valid.double()  # ignored: 0
    expected = elem.sum() / valid.sum() if reduction == 'mean' \
        else elem.sum()  # 'mean' is over the 11 non-ignored entries
    assert valid.sum().item() == B * C - 3
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    # without ignored labels: every entry counts
    plain = head.loss(feats, _samples())['loss']
    full = ref(logits, target.double())
    expected = full.mean() if reduction == 'mean' else full.sum()
    assert plain.item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize('head_name', ['CSRAHead-cosine', 'CosineClsHead'])
def test_cosine_head_with_aam_zero_weights_ignored(head_name):
    """AAM (s = 8, m = 0.1, k = 0.7, no focusing, no clip): the positives
    cost (k/s) softplus(-s(cos - m)), the negatives ((1-k)/s) softplus(
    s(cos + m)); summed over the non-ignored entries."""
    aam = dict(
        type='AsymmetricAngularMarginLoss',
        scale=8.0,
        margin=0.1,
        k=0.7,
        clip=0.0)
    cfg, make_feats = HEADS[head_name]
    cfg = {k: v for k, v in cfg.items() if k != 'scale'}
    torch.manual_seed(0)
    head = MODELS.build(dict(cfg, loss=aam))
    feats = make_feats()
    value = head.loss(feats, _samples(IGNORES))['loss']
    cos = head(feats).detach().double()
    target, valid = _targets()
    pos = 0.7 / 8 * F.softplus(-8 * (cos - 0.1))
    neg = 0.3 / 8 * F.softplus(8 * (cos + 0.1))
    expected = (torch.where(target > 0, pos, neg) * valid).sum()
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)


def test_unknown_loss_is_treated_as_per_sample_only():
    """A loss that does not declare ``elementwise_weight`` gets no mask and
    MMPretrain's avg_factor; with ignored labels the head refuses."""

    class SumOfLogits(torch.nn.Module):

        def forward(self, cls_score, label, weight=None, avg_factor=None):
            assert weight is None
            return cls_score.sum() / avg_factor

    head, feats = _build('CSRAHead', dict(type='MultiLabelBCELoss'))
    head.loss_module = SumOfLogits()
    value = head.loss(feats, _samples())['loss']
    assert value.item() == pytest.approx(
        head(feats).sum().item() / B, rel=1e-5)
    with pytest.raises(ValueError, match='SumOfLogits'):
        head.loss(feats, _samples(IGNORES))
