"""SAMOptimWrapper against SAM / ASAM steps computed by hand."""
import copy
import os.path as osp

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

from utils import REPO, TOOLS

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
    np.testing.assert_allclose(model.w.detach().numpy(), expected, rtol=1e-12)
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
    np.testing.assert_allclose(
        model.w.detach().numpy(), W0 - 0.1 * g_clipped, rtol=1e-6)


@pytest.mark.parametrize('freeze', [True, False])
def test_batchnorm_running_stats_in_second_pass(freeze):
    model = TwoParamRegressor(with_bn=True)
    wrapper = build_sam(model, rho=0.05, freeze_bn_stats=freeze)
    model.train()
    model.train_step(
        dict(inputs=torch.tensor(X), targets=torch.tensor(Y)), wrapper)
    # the inputs do not depend on w: both passes see the same batch stats
    batch_mean = X.mean(axis=0)
    passes = 1 if freeze else 2
    expected_mean = (1 - (1 - 0.1)**passes) * batch_mean
    np.testing.assert_allclose(
        model.bn.running_mean.numpy(), expected_mean, rtol=1e-12)
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
        return dict(
            inputs=torch.tensor(X[index]), targets=torch.tensor(Y[index]))


def tiny_runner(tmp_path, model, dataset, collate: str, optim_wrapper: dict,
                max_iters: int) -> Runner:
    """An iteration-based Runner over ``dataset`` in order, batch 2.

    Named after the test's directory: mmengine names a run by its start time
    (to the second) and two runs of one name share a MessageHub, whose loss
    history would then mix the two tests' iterations.
    """
    return Runner(
        model=model,
        work_dir=str(tmp_path),
        experiment_name=f'sam-test-{tmp_path.name}',
        train_dataloader=dict(
            dataset=dataset,
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            num_workers=0,
            collate_fn=dict(type=collate)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=optim_wrapper,
        default_hooks=dict(checkpoint=None),
        default_scope='mmpretrain',
        log_level='WARNING')


def test_runs_two_iterations_in_runner(tmp_path):
    rho, lr = 0.1, 0.05
    runner = tiny_runner(
        tmp_path,
        TwoParamRegressor(),
        PairDataset(),
        'default_collate',
        dict(
            type='SAMOptimWrapper', rho=rho, optimizer=dict(type='SGD',
                                                            lr=lr)),
        max_iters=2)
    runner.train()
    assert isinstance(runner.optim_wrapper, SAMOptimWrapper)
    w1 = sam_step_by_hand(W0, X[:2], Y[:2], lr, rho, False, 0.0)
    w2 = sam_step_by_hand(w1, X[2:], Y[2:], lr, rho, False, 0.0)
    np.testing.assert_allclose(runner.model.w.detach().numpy(), w2, rtol=1e-12)
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    np.testing.assert_allclose(
        losses,
        [np.mean((X[:2] @ W0 - Y[:2])**2),
         np.mean((X[2:] @ w1 - Y[2:])**2)],
        rtol=1e-6)


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
        num_classes=4,
        in_channels=8,
        loss=dict(
            type='AsymmetricAngularMarginLoss',
            scale=10.0,
            margin=0.1,
            gamma_neg=1.0,
            clip=0.05))
    model = ImageClassifier(backbone=TinyConv(), head=head)
    reference = copy.deepcopy(model)
    inputs = torch.randn(2, 3, 6, 6)
    samples = []
    for gt, ignore in (([0, 2], [1]), ([3], [])):
        sample = DataSample().set_gt_label(gt)
        sample.set_field(torch.tensor(ignore, dtype=torch.long), 'gt_ignore')
        samples.append(sample)

    rho, lr = 0.05, 0.5
    wrapper = build_sam(model, rho=rho, optimizer=dict(type='SGD', lr=lr))
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


# ------------------------------------------- AmpSAMOptimWrapper (on CPU)
XF = torch.tensor(X, dtype=torch.float32)
YF = torch.tensor(Y, dtype=torch.float32)


class FloatMLP(BaseModel):
    """y_hat = fc2(tanh(fc1(x))), loss = mean((y_hat - y)^2), in float32
    (autocast casts float32, not float64). Records whether each forward ran
    under CPU autocast."""

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.fc1 = nn.Linear(2, 4)
        self.fc2 = nn.Linear(4, 1)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=generator))
        self.autocast_calls = []

    def forward(self, inputs, targets=None, mode='loss'):
        self.autocast_calls.append(torch.is_autocast_enabled('cpu'))
        pred = self.fc2(torch.tanh(self.fc1(inputs))).squeeze(-1)  # [B]
        return dict(loss=((pred.float() - targets)**2).mean())


def build_amp_sam(model, **kwargs):
    cfg = dict(
        type='AmpSAMOptimWrapper',
        dtype='bfloat16',
        optimizer=dict(type='SGD', lr=0.1))
    cfg.update(kwargs)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return build_optim_wrapper(model, cfg)


def amp_sam_step_by_hand(model, x, y, lr, rho, adaptive, dtype):
    """SAM / ASAM (eta 0) on ``model`` in place, both gradients computed by
    plain autograd under torch.autocast('cpu', dtype) (fp32 if dtype is
    None), no loss scaling."""
    params = list(model.parameters())
    originals = [p.detach().clone() for p in params]

    def grads_at_current_weights():
        with torch.autocast(
                'cpu', dtype=dtype or torch.bfloat16, enabled=dtype
                is not None):
            loss = model(x, y)['loss']
        return torch.autograd.grad(loss, params)

    grads = grads_at_current_weights()
    scales = [
        p.detach().abs() if adaptive else torch.ones_like(p) for p in params
    ]  # T_w
    norm = torch.sqrt(sum(((t * g)**2).sum() for t, g in zip(scales, grads)))
    with torch.no_grad():
        for p, t, g in zip(params, scales, grads):
            p.add_(rho * t**2 * g / norm)
    grads_perturbed = grads_at_current_weights()
    with torch.no_grad():
        for p, w, gp in zip(params, originals, grads_perturbed):
            p.copy_(w - lr * gp)


@pytest.mark.parametrize('adaptive,rho', [(False, 0.05), (True, 0.5)])
@pytest.mark.parametrize('loss_scale', [2.0**10, dict(init_scale=2.0**12)])
@pytest.mark.parametrize('nested', [False, True])
def test_amp_one_step_equals_hand_computed(adaptive, rho, loss_scale, nested):
    """Power-of-two loss scales are exact, so one step equals SAM with both
    gradients computed under bfloat16 autocast. ``nested``: train_step
    inside an enclosing autocast region, whose weight cache would otherwise
    feed the low-precision copies of w to the pass at w + eps."""
    from mmcsra.engine.optimizers import AmpSAMOptimWrapper
    model, reference, fp32 = FloatMLP(), FloatMLP(), FloatMLP()
    wrapper = build_amp_sam(
        model, rho=rho, adaptive=adaptive, loss_scale=loss_scale)
    assert isinstance(wrapper, AmpSAMOptimWrapper)
    assert wrapper.device_type == 'cpu'
    data = dict(inputs=XF, targets=YF)
    if nested:
        with torch.autocast('cpu', dtype=torch.bfloat16):
            log_vars = model.train_step(data, wrapper)
    else:
        log_vars = model.train_step(data, wrapper)
    assert model.autocast_calls == [True, True]  # both passes in autocast
    amp_sam_step_by_hand(reference, XF, YF, 0.1, rho, adaptive, torch.bfloat16)
    for (name, p), p_ref in zip(model.named_parameters(),
                                reference.parameters()):
        torch.testing.assert_close(p, p_ref, rtol=1e-6, atol=1e-6, msg=name)
    assert all(p.grad is None for p in model.parameters())
    # the logged loss is the first pass's, at w
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss_at_w = FloatMLP()(XF, YF)['loss']
    assert log_vars['loss'].item() == pytest.approx(loss_at_w.item())
    # autocast mattered: the fp32 SAM step lands elsewhere
    amp_sam_step_by_hand(fp32, XF, YF, 0.1, rho, adaptive, None)
    diff = max((p - q).abs().max().item()
               for p, q in zip(model.parameters(), fp32.parameters()))
    assert diff > 1e-4
    # a finite step: no back-off; the static scale stays, the dynamic one
    # grows only after growth_interval (2000) finite steps
    expected = loss_scale if isinstance(loss_scale, float) else 2.0**12
    assert wrapper.loss_scaler.get_scale() == expected


def record_leaf_grads(model):
    """The gradients autograd writes into each parameter (before the
    wrapper touches them)."""
    seen = []
    for p in model.parameters():
        p.register_hook(lambda grad: seen.append(grad.detach().clone()))
    return seen


def test_amp_first_pass_overflow_skips_the_step():
    """Scaled first-pass gradients overflow: no perturbation, no second
    forward, the weights stay w, the dynamic scale halves."""
    model = FloatMLP()
    w0 = [p.detach().clone() for p in model.parameters()]
    wrapper = build_amp_sam(model, loss_scale=dict(init_scale=2.0**127))
    seen = record_leaf_grads(model)
    model.train_step(dict(inputs=XF, targets=100 * YF), wrapper)
    # it really overflowed: some scaled gradient is inf / NaN
    assert len(seen) == len(w0)  # one backward only
    assert not all(torch.isfinite(g).all() for g in seen)
    assert model.autocast_calls == [True]  # the w + eps forward never ran
    for p, w in zip(model.parameters(), w0):
        assert torch.equal(p, w)  # not left at w + eps, no step
    assert wrapper.loss_scaler.get_scale() == 2.0**126  # backoff 0.5
    # sane batches: the scale halves on every overflow (one forward each)
    # until the scaled gradients are finite, then SAM steps (two forwards)
    for skipped in range(1, 40):
        model.autocast_calls.clear()
        model.train_step(dict(inputs=XF, targets=YF), wrapper)
        if len(model.autocast_calls) == 2:
            break
        assert model.autocast_calls == [True]
        assert wrapper.loss_scaler.get_scale() == 2.0**(126 - skipped)
    assert model.autocast_calls == [True, True]
    assert 1 < skipped < 39
    assert wrapper.loss_scaler.get_scale() == 2.0**(126 - skipped + 1)
    assert any(not torch.equal(p, w) for p, w in zip(model.parameters(), w0))


def test_amp_second_pass_overflow_restores_w_and_skips():
    """Finite g, non-finite g' (a closure whose loss overflows once
    scaled): the weights are restored to w exactly and the step is
    skipped."""
    model = FloatMLP()
    w0 = [p.detach().clone() for p in model.parameters()]
    wrapper = build_amp_sam(model, loss_scale=dict(init_scale=2.0**10))
    calls = []

    def closure():
        calls.append(torch.is_autocast_enabled('cpu'))
        return model(XF, YF)['loss'] * 3e38  # x 2^10 overflows

    with wrapper.optim_context(model):
        loss = model(XF, YF)['loss']
    wrapper.update_params(loss, closure=closure)
    assert calls == [True]
    for p, w in zip(model.parameters(), w0):
        assert torch.equal(p, w)
    assert wrapper.loss_scaler.get_scale() == 2.0**9


def test_amp_clip_grad_clips_the_unscaled_gradient():
    """clip_grad sees g' / S: the step is lr * clip(g'), whatever S."""
    steps = []
    for scale in (2.0**4, 2.0**14):
        model = FloatMLP()
        w0 = [p.detach().clone() for p in model.parameters()]
        wrapper = build_amp_sam(
            model, loss_scale=scale, clip_grad=dict(max_norm=0.01))
        model.train_step(dict(inputs=XF, targets=YF), wrapper)
        step = torch.sqrt(
            sum(((p - w)**2).sum() for p, w in zip(model.parameters(), w0)))
        steps.append(step.item())
    np.testing.assert_allclose(steps, [0.1 * 0.01] * 2, rtol=1e-4)


def test_amp_state_dict_round_trip():
    model = FloatMLP()
    wrapper = build_amp_sam(
        model,
        loss_scale=dict(init_scale=2.0**8, growth_interval=1),
        optimizer=dict(type='SGD', lr=0.1, momentum=0.9))
    model.train_step(dict(inputs=XF, targets=YF), wrapper)
    assert wrapper.loss_scaler.get_scale() == 2.0**9  # grew after 1 step
    state = wrapper.state_dict()
    assert state['loss_scaler']['scale'] == 2.0**9
    assert state['loss_scaler']['growth_interval'] == 1

    other = build_amp_sam(
        FloatMLP(), optimizer=dict(type='SGD', lr=0.1, momentum=0.9))
    assert other.loss_scaler.get_scale() == 2.0**16  # 'dynamic' default
    other.load_state_dict(copy.deepcopy(state))
    assert other.loss_scaler.state_dict() == wrapper.loss_scaler.state_dict()
    buffers = [s['momentum_buffer'] for s in state['state'].values()]
    loaded = [
        s['momentum_buffer']
        for s in other.optimizer.state_dict()['state'].values()
    ]
    assert len(buffers) == 4
    for b, b_loaded in zip(buffers, loaded):
        assert torch.equal(b, b_loaded)
    # a fp32 SAM checkpoint (no 'loss_scaler'): the optimizer only
    fresh = build_amp_sam(
        FloatMLP(),
        loss_scale=2.0**5,
        optimizer=dict(type='SGD', lr=0.1, momentum=0.9))
    sam_state = build_sam(
        FloatMLP(), optimizer=dict(type='SGD', lr=0.1,
                                   momentum=0.9)).state_dict()
    fresh.load_state_dict(sam_state)
    assert fresh.loss_scaler.get_scale() == 2.0**5


def test_amp_arguments():
    model = FloatMLP()
    with pytest.raises(ValueError, match='dtype'):
        build_amp_sam(model, dtype='float32')
    with pytest.raises(TypeError, match='loss_scale'):
        build_amp_sam(model, loss_scale=[1.0])
    with pytest.raises(ValueError, match='loss_scale'):
        build_amp_sam(model, loss_scale='static')
    with pytest.raises(ValueError, match='loss_scale'):
        build_amp_sam(model, loss_scale=0.0)
    with pytest.raises(ValueError, match='accumulative_counts=1'):
        build_amp_sam(model, accumulative_counts=2)
    wrapper = build_amp_sam(model, dtype=None)
    assert wrapper.cast_dtype == torch.bfloat16  # CPU autocast default
    # a half-precision loss is fine here (fp32 SAM refuses it)
    wrapper.update_params(
        model(XF, YF)['loss'].bfloat16(),
        closure=lambda: model(XF, YF)['loss'])
    assert wrapper.inner_count == 1 and len(model.autocast_calls) == 2


class DigitImages(torch.utils.data.Dataset):
    """Random 6 x 6 images with two multi-label samples per pair."""

    def __init__(self):
        generator = torch.Generator().manual_seed(1)
        self.images = torch.rand(6, 3, 6, 6, generator=generator) * 255
        self.labels = [[0, 2], [3], [1], [0, 1], [2, 3], [1]]

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        sample = DataSample().set_gt_label(self.labels[index])
        sample.set_field(torch.zeros(0, dtype=torch.long), 'gt_ignore')
        return dict(inputs=self.images[index], data_samples=sample)


def test_amp_runner_trains_image_classifier(tmp_path):
    """The Runner with an ImageClassifier (AAM head) and
    AmpSAMOptimWrapper(dtype='bfloat16'): 3 iterations, 2 forwards each
    under autocast, finite losses, the weights move."""
    from mmcsra.engine.optimizers import AmpSAMOptimWrapper
    torch.manual_seed(0)
    head = CosineClsHead(
        num_classes=4,
        in_channels=8,
        loss=dict(
            type='AsymmetricAngularMarginLoss',
            scale=10.0,
            margin=0.1,
            gamma_neg=1.0,
            clip=0.05))
    model = ImageClassifier(
        backbone=TinyConv(),
        head=head,
        data_preprocessor=dict(
            type='ClsDataPreprocessor',
            num_classes=4,
            mean=[127.5] * 3,
            std=[127.5] * 3))
    autocast_calls = []
    model.register_forward_pre_hook(lambda module, args: autocast_calls.append(
        torch.is_autocast_enabled('cpu')))
    conv_before = model.backbone.conv.weight.detach().clone()
    runner = tiny_runner(
        tmp_path,
        model,
        DigitImages(),
        'pseudo_collate',
        dict(
            type='AmpSAMOptimWrapper',
            rho=0.05,
            dtype='bfloat16',
            optimizer=dict(type='SGD', lr=0.5)),
        max_iters=3)
    runner.train()
    assert isinstance(runner.optim_wrapper, AmpSAMOptimWrapper)
    assert autocast_calls == [True] * 6
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 3 and np.isfinite(losses).all()
    assert runner.optim_wrapper.loss_scaler.get_scale() == 2.0**16
    moved = (runner.model.backbone.conv.weight - conv_before).abs().max()
    assert moved > 1e-4


# ------------------------------------------------- tools/train.py --amp
def _train_tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location('mmcsra_tools_train_amp',
                                                  osp.join(TOOLS, 'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, REPO


@pytest.mark.parametrize('config,expected', [
    ('ml_decoder/efficientnetv2-s_mld-aam_coco.py', 'AmpSAMOptimWrapper'),
    ('ml_decoder/resnet18-mld-aam_multidigits.py', 'AmpSAMOptimWrapper'),
    ('csra/resnet18_multidigits.py', 'AmpOptimWrapper'),
])
def test_train_amp_switch(config, expected, tmp_path):
    """--amp keeps SAM (AmpSAMOptimWrapper, dynamic loss scale, the SAM and
    optimizer settings unchanged); other wrappers become AmpOptimWrapper.
    The SAM result builds on this CPU-only machine."""
    from mmengine.config import Config

    from mmcsra.engine.optimizers import AmpSAMOptimWrapper
    train, repo = _train_tool()
    path = f'{repo}/configs/{config}'
    before = Config.fromfile(path).optim_wrapper
    args = train.parse_args([path, '--amp', '--work-dir', str(tmp_path)])
    cfg = train.merge_args(Config.fromfile(path), args)
    wrapper = cfg.optim_wrapper
    assert wrapper.type == expected
    assert wrapper.loss_scale == 'dynamic'
    assert wrapper.optimizer == before.optimizer
    assert wrapper.get('rho') == before.get('rho')
    if expected == 'AmpSAMOptimWrapper':
        assert before.type == 'SAMOptimWrapper'
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            built = build_optim_wrapper(TwoParamRegressor().float(),
                                        copy.deepcopy(wrapper))
        assert isinstance(built, AmpSAMOptimWrapper)
        assert built.cast_dtype == torch.bfloat16  # CPU autocast default
        assert built.rho == before.rho
        assert built.loss_scaler.get_scale() == 2.0**16
    # without --amp nothing changes
    args = train.parse_args([path, '--work-dir', str(tmp_path)])
    unchanged = train.merge_args(Config.fromfile(path), args).optim_wrapper
    assert unchanged.get('type') == before.get('type')
    assert 'loss_scale' not in unchanged


def test_train_amp_wrapper_type_names():
    train, _ = _train_tool()
    assert train.amp_wrapper_type('SAMOptimWrapper') == 'AmpSAMOptimWrapper'
    assert train.amp_wrapper_type('mmpretrain.SAMOptimWrapper') \
        == 'mmpretrain.AmpSAMOptimWrapper'
    assert train.amp_wrapper_type('AmpSAMOptimWrapper') \
        == 'AmpSAMOptimWrapper'
    assert train.amp_wrapper_type(SAMOptimWrapper) == 'AmpSAMOptimWrapper'
    assert train.amp_wrapper_type('OptimWrapper') == 'AmpOptimWrapper'
    assert train.amp_wrapper_type('AmpOptimWrapper') == 'AmpOptimWrapper'
