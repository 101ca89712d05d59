"""SAMOptimWrapper against SAM / ASAM steps computed by hand."""
import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmpretrain.models import ImageClassifier
from mmpretrain.structures import DataSample

import mmcsra  # noqa: F401  (registers the components)
from mmcsra.engine.optimizers import SAMOptimWrapper
from mmcsra.models.heads import CosineClsHead

W0 = np.array([0.5, -1.0])
X = np.array([[1.0, 2.0], [-1.0, 0.5], [0.3, -2.0], [2.0, 1.0]])
Y = np.array([1.0, -0.5, 2.0, 0.0])


class TwoParamRegressor(BaseModel):
    """y_hat = x @ w, loss = mean((y_hat - y)^2); optional BatchNorm input."""

    def __init__(self, with_bn: bool = False):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(W0))
        self.bn = nn.BatchNorm1d(2).double() if with_bn else None

    def forward(self, inputs, targets=None, mode='loss'):
        if self.bn is not None:
            inputs = self.bn(inputs)
        pred = inputs @ self.w
        return dict(loss=((pred - targets)**2).mean())


# ----------------------------------------------------------- hand SAM
def mse_grad(w, x, y):
    return 2.0 / len(y) * x.T @ (x @ w - y)


def sam_step_by_hand(w, x, y, lr, rho, adaptive, eta):
    g = mse_grad(w, x, y)
    t = np.abs(w) + eta if adaptive else np.ones_like(w)
    eps = rho * t**2 * g / np.linalg.norm(t * g)
    g_perturbed = mse_grad(w + eps, x, y)
    return w - lr * g_perturbed


def build_sam(model, **kwargs):
    cfg = dict(type='SAMOptimWrapper', optimizer=dict(type='SGD', lr=0.1))
    cfg.update(kwargs)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return build_optim_wrapper(model, cfg)


@pytest.mark.parametrize('adaptive,eta,rho', [(False, 0.0, 0.05),
                                              (False, 0.0, 0.5),
                                              (True, 0.0, 0.5),
                                              (True, 0.01, 1.0)])
def test_one_step_equals_hand_computed(adaptive, eta, rho):
    model = TwoParamRegressor()
    wrapper = build_sam(model, rho=rho, adaptive=adaptive, eta=eta)
    assert isinstance(wrapper, SAMOptimWrapper)
    data = dict(inputs=torch.tensor(X), targets=torch.tensor(Y))
    log_vars = model.train_step(data, wrapper)
    expected = sam_step_by_hand(W0, X, Y, 0.1, rho, adaptive, eta)
    np.testing.assert_allclose(model.w.detach().numpy(), expected,
                               rtol=1e-12)
    # the logged loss is L(w) at the unperturbed weights
    assert log_vars['loss'].item() == pytest.approx(
        np.mean((X @ W0 - Y)**2), rel=1e-12)
    assert model.w.grad is None  # zeroed after the step
    # and it is not a plain SGD step
    plain = W0 - 0.1 * mse_grad(W0, X, Y)
    assert np.abs(model.w.detach().numpy() - plain).max() > 1e-4


def test_explicit_closure_and_clip_grad():
    model = TwoParamRegressor()
    wrapper = build_sam(model, rho=0.05, clip_grad=dict(max_norm=0.1))
    x, y = torch.tensor(X), torch.tensor(Y)

    def closure():
        return model(x, y)['loss']

    wrapper.update_params(closure(), closure=closure)
    # hand: g' at w + eps, clipped to norm 0.1, then SGD
    g = mse_grad(W0, X, Y)
    g_perturbed = mse_grad(W0 + 0.05 * g / np.linalg.norm(g), X, Y)
    g_clipped = g_perturbed * min(1.0, 0.1 / np.linalg.norm(g_perturbed))
    np.testing.assert_allclose(model.w.detach().numpy(),
                               W0 - 0.1 * g_clipped, rtol=1e-6)


@pytest.mark.parametrize('freeze', [True, False])
def test_batchnorm_running_stats_in_second_pass(freeze):
    model = TwoParamRegressor(with_bn=True)
    wrapper = build_sam(model, rho=0.05, freeze_bn_stats=freeze)
    model.train()
    model.train_step(dict(inputs=torch.tensor(X), targets=torch.tensor(Y)),
                     wrapper)
    # the inputs do not depend on w: both passes see the same batch stats
    batch_mean = X.mean(axis=0)
    passes = 1 if freeze else 2
    expected_mean = (1 - (1 - 0.1)**passes) * batch_mean
    np.testing.assert_allclose(model.bn.running_mean.numpy(), expected_mean,
                               rtol=1e-12)
    assert model.bn.num_batches_tracked.item() == passes
    assert model.bn.momentum == 0.1  # restored


def test_errors_for_unsupported_use():
    model = TwoParamRegressor()
    with pytest.raises(ValueError, match='accumulative_counts=1'):
        build_sam(model, accumulative_counts=2)
    with pytest.raises(ValueError, match='rho'):
        build_sam(model, rho=0.0)
    wrapper = build_sam(model)
    loss = model(torch.tensor(X), torch.tensor(Y))['loss']
    with pytest.raises(RuntimeError, match='optim_context'):
        wrapper.update_params(loss)  # no recorded call, no closure
    with pytest.raises(TypeError, match='fp32'):
        wrapper.update_params(loss.half(), closure=lambda: loss)
    with pytest.raises(RuntimeError, match='called 2 times'):
        with wrapper.optim_context(model):
            model(torch.tensor(X), torch.tensor(Y))
            model(torch.tensor(X), torch.tensor(Y))


# ----------------------------------------------------- mmengine Runner
class PairDataset(torch.utils.data.Dataset):

    def __len__(self):
        return len(Y)

    def __getitem__(self, index):
        return dict(inputs=torch.tensor(X[index]),
                    targets=torch.tensor(Y[index]))


def test_runs_two_iterations_in_runner(tmp_path):
    rho, lr = 0.1, 0.05
    runner = Runner(
        model=TwoParamRegressor(),
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=PairDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            num_workers=0,
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=2),
        optim_wrapper=dict(
            type='SAMOptimWrapper',
            rho=rho,
            optimizer=dict(type='SGD', lr=lr)),
        default_hooks=dict(checkpoint=None),
        default_scope='mmpretrain',
        log_level='WARNING')
    runner.train()
    assert isinstance(runner.optim_wrapper, SAMOptimWrapper)
    w1 = sam_step_by_hand(W0, X[:2], Y[:2], lr, rho, False, 0.0)
    w2 = sam_step_by_hand(w1, X[2:], Y[2:], lr, rho, False, 0.0)
    np.testing.assert_allclose(runner.model.w.detach().numpy(), w2,
                               rtol=1e-12)
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    np.testing.assert_allclose(
        losses, [np.mean((X[:2] @ W0 - Y[:2])**2),
                 np.mean((X[2:] @ w1 - Y[2:])**2)], rtol=1e-6)


# ------------------------------------- standard ImageClassifier + AAM
class TinyConv(nn.Module):

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        return (torch.tanh(self.conv(x)), )  # [B, 8, H, W]


def test_image_classifier_train_step_equals_manual_sam():
    torch.manual_seed(0)
    head = CosineClsHead(
        num_classes=4, in_channels=8,
        loss=dict(type='AsymmetricAngularMarginLoss', scale=10.0,
                  margin=0.1, gamma_neg=1.0, clip=0.05))
    model = ImageClassifier(backbone=TinyConv(), head=head)
    reference = copy.deepcopy(model)
    inputs = torch.randn(2, 3, 6, 6)
    samples = []
    for gt, ignore in (([0, 2], [1]), ([3], [])):
        sample = DataSample().set_gt_label(gt)
        sample.set_field(torch.tensor(ignore, dtype=torch.long), 'gt_ignore')
        samples.append(sample)

    rho, lr = 0.05, 0.5
    wrapper = build_sam(model, rho=rho,
                        optimizer=dict(type='SGD', lr=lr))
    fc_before = head.fc.weight.detach().clone()
    model.train_step(dict(inputs=inputs, data_samples=samples), wrapper)

    # manual SAM on the copy, with plain autograd
    params = list(reference.parameters())

    def loss_at_current_weights():
        return reference(inputs, copy.deepcopy(samples), mode='loss')['loss']

    grads = torch.autograd.grad(loss_at_current_weights(), params)
    norm = torch.sqrt(sum((g**2).sum() for g in grads))
    with torch.no_grad():
        for p, g in zip(params, grads):
            p.add_(rho * g / norm)
    grads_perturbed = torch.autograd.grad(loss_at_current_weights(), params)
    with torch.no_grad():
        for p, g, gp in zip(params, grads, grads_perturbed):
            p.sub_(rho * g / norm).sub_(lr * gp)
    for (name, p), p_ref in zip(model.named_parameters(), params):
        torch.testing.assert_close(p, p_ref, msg=name)
    # the step moved the classifier weights
    assert (head.fc.weight - fc_before).abs().max() > 1e-4
