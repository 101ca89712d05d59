"""Training-strategy configs of Prokofiev & Sovrasov (VISAPP 2023).

The real-dataset configs (VOC / COCO, EfficientNetV2-S, 448 px) are checked
against the recipe as the authors' released configs state it
(openvinotoolkit/deep-object-reid, branch ``multilabel``:
configs/EfficientNetV2_small_mld.yml, TResNetL_mld.yml and
EfficientNetV2_small_gcn.yml) and built without ``init_weights`` (nothing is
downloaded). The eight CPU demo configs (GAP / CSRA / ML-Decoder / graph
re-weighting, each with ASL and with AAM) must differ only in neck, head and
loss, and each trains a few iterations with SAM, one-cycle and EMA active.
"""
import copy
import math
import os.path as osp
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import EMAHook, Hook
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS, TRANSFORMS

import mmcsra  # noqa: F401
from mmcsra.engine.optimizers import SAMOptimWrapper
from mmcsra.utils.label_graph import (build_label_graph, class_indices_by_name,
                                      load_cooccurrence)
from utils import CONFIGS, REPO, TOOLS, LossRecorder, tiny_cfg

# ---------------------------------------------------------------- recipe
# As the authors' released configs state it (their paper's text was not
# available to us): `optim: sam` on SGD (momentum 0.9), `sam.rho: 0.05`,
# `weight_decay: 5e-4`, `nbd: True`, `lr_scheduler: onecycle`,
# `pct_start: 0.2`, `lr_decay_factor: 1000`, `max_epoch: 60`,
# `early_stopping: True` with `train_patience: 5`, `batch_size: 84`,
# `random_flip.p: 0.5`, `randaugment.enable: True`, `cutout_factor: 0.4`,
# `cutout.p: 0.5`, 448 x 448; loss `am_binary` with `m: 0.0`,
# `amb_k: 0.7`, `gamma_pos: 0.`, `gamma_neg: 0.`.
RHO = 0.05
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
PCT_START = 0.2
FINAL_DIV = 1000.
MAX_EPOCHS = 60
PATIENCE = 5
TOTAL_BATCH = 84
RESOLUTION = 448
CUTOUT_FACTOR = 0.4
AUG_PROB = 0.5
AAM_MARGIN, AAM_K, AAM_GAMMA = 0.0, 0.7, 0.0
SGD = dict(type='SGD', momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
# the demo keeps the CSRA demo's AdamW (lr 1e-3, weight decay 1e-4, 8
# epochs), SGD not learning the from-scratch demo within a CPU budget
DEMO_ADAMW = dict(type='AdamW', weight_decay=1e-4)
DEMO_LR, DEMO_EPOCHS, DEMO_EMA_DECAY = 1e-3, 4, 0.99
# per dataset: peak lr, EMA decay, AAM scale s (COCO: the ML-Decoder
# configs; VOC: EfficientNetV2_small_gcn.yml, the only released VOC config)
RELEASED = {
    'coco': dict(lr=0.007, ema_decay=0.9997, scale=23.0, classes=80),
    'voc': dict(lr=0.005, ema_decay=0.9993, scale=17.0, classes=20),
}
# ASL paper defaults (Ben-Baruch et al., ICCV 2021): gamma- 4, gamma+ 0,
# probability margin 0.05
ASL = dict(gamma_pos=0.0, gamma_neg=4.0, clip=0.05)
# CSRA paper (Zhu & Wu, ICCV 2021): VOC H = 1, lambda 0.1; COCO H = 4, 0.5
CSRA = {'voc': (1, 0.1), 'coco': (4, 0.5)}

# config -> (dataset, head type, loss)
REAL = {
    'ml_decoder/efficientnetv2-s_mld-asl_coco':
    ('coco', 'MLDecoderHead', 'asl'),
    'ml_decoder/efficientnetv2-s_mld-aam_coco':
    ('coco', 'MLDecoderHead', 'aam'),
    'ml_decoder/efficientnetv2-s_mld-asl_voc': ('voc', 'MLDecoderHead', 'asl'),
    'ml_decoder/efficientnetv2-s_mld-aam_voc': ('voc', 'MLDecoderHead', 'aam'),
    'label_graph/efficientnetv2-s_gat-aam_coco':
    ('coco', 'CosineClsHead', 'aam'),
    'label_graph/efficientnetv2-s_gat-aam_voc':
    ('voc', 'CosineClsHead', 'aam'),
    'csra/efficientnetv2-s_aam_coco': ('coco', 'CSRAHead', 'aam'),
    'csra/efficientnetv2-s_aam_voc': ('voc', 'CSRAHead', 'aam'),
}

# the 8 demo configs of the README's strategy table: (head, loss)
DEMO_ROOT = 'baseline/resnet18-gap-asl_multidigits'
DEMO = {
    'baseline/resnet18-gap-asl_multidigits': ('CSRAHead', 'asl'),
    'baseline/resnet18-gap-aam_multidigits': ('CosineClsHead', 'aam'),
    'csra/resnet18-asl_multidigits': ('CSRAHead', 'asl'),
    'csra/resnet18-aam_multidigits': ('CSRAHead', 'aam'),
    'ml_decoder/resnet18-mld-asl_multidigits': ('MLDecoderHead', 'asl'),
    'ml_decoder/resnet18-mld-aam_multidigits': ('MLDecoderHead', 'aam'),
    'label_graph/resnet18-gat-asl_multidigits': ('CSRAHead', 'asl'),
    'label_graph/resnet18-gat-aam_multidigits': ('CosineClsHead', 'aam'),
}

SHARED = Path(REPO).parent / 'shared' / 'label_graph'
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(),
    reason=f'the ML-GCN label-graph data is not at {SHARED} (shared/ is '
    'outside the repository and not shipped)')

# MS-COCO 2014 category names in category-id order (instances_*.json)
COCO_ID_ORDER = [
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train',
    'truck', 'boat', 'traffic light', 'fire hydrant', 'stop sign',
    'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
    'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag',
    'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite',
    'baseball bat', 'baseball glove', 'skateboard', 'surfboard',
    'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon',
    'bowl', 'banana', 'apple', 'sandwich', 'orange', 'broccoli', 'carrot',
    'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant',
    'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote',
    'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink',
    'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear',
    'hair drier', 'toothbrush'
]


def load(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIGS, f'{name}.py'))


def hook(cfg: Config, type_name: str) -> dict:
    found = [h for h in cfg.custom_hooks if h['type'] == type_name]
    assert len(found) == 1, f'{type_name} in {cfg.custom_hooks}'
    return found[0]


def one_cycle_lr(step: int, total: int, eta_max: float, pct_start: float,
                 div: float, final_div: float) -> float:
    """Two-phase 1cycle (Smith & Topin 2019; PyTorch's OneCycleLR): cosine
    from eta_max/div up to eta_max at step pct*T - 1, then cosine down to
    eta_max/div/final_div at step T - 1."""

    def cos_anneal(start, end, frac):
        return end + (start - end) * (1 + math.cos(math.pi * frac)) / 2

    start, end = eta_max / div, eta_max / div / final_div
    peak_step = pct_start * total - 1
    if step <= peak_step:
        return cos_anneal(start, eta_max, step / peak_step)
    return cos_anneal(eta_max, end,
                      (step - peak_step) / (total - 1 - peak_step))


def check_strategy(cfg: Config, optimizer: dict, lr: float, ema_decay: float,
                   max_epochs: int) -> None:
    """The optimizer, lr schedule and hooks of the strategy."""
    optim = cfg.optim_wrapper
    assert optim.type == 'SAMOptimWrapper' and optim.rho == RHO
    assert {k: optim.optimizer[k] for k in optimizer} == optimizer
    assert optim.paramwise_cfg.bias_decay_mult == 0.
    assert optim.paramwise_cfg.norm_decay_mult == 0.
    (sched, ) = cfg.param_scheduler
    assert sched.type == 'OneCycleLR' and sched.eta_max == lr
    assert sched.pct_start == PCT_START
    assert sched.final_div_factor == FINAL_DIV
    assert (sched.begin, sched.end) == (0, max_epochs)
    assert sched.by_epoch and sched.convert_to_iter_based
    assert cfg.train_cfg.max_epochs == max_epochs
    assert cfg.train_cfg.val_interval == 1  # early stopping needs every epoch
    ema = hook(cfg, 'EMAHook')
    # mmengine: ema = (1 - momentum) * ema + momentum * live
    assert ema.momentum == pytest.approx(1 - ema_decay, rel=1e-9)
    assert ema.update_buffers
    stop = hook(cfg, 'EarlyStoppingHook')
    assert (stop.monitor, stop.rule, stop.patience) == ('multi-label/mAP',
                                                        'greater', PATIENCE)


def check_loss(loss: dict,
               kind: str,
               scale: float = None,
               reduction: str = 'sum') -> None:
    # both losses default to the official 'sum'
    assert loss.get('reduction', 'sum') == reduction
    if kind == 'asl':
        assert loss.type == 'MultiLabelAsymmetricLoss'
        assert {k: loss[k] for k in ASL} == ASL
    else:
        assert loss.type == 'AsymmetricAngularMarginLoss'
        assert (loss.scale, loss.margin, loss.k) == (scale, AAM_MARGIN, AAM_K)
        assert loss.gamma_pos == loss.gamma_neg == AAM_GAMMA


# ------------------------------------------------------- real datasets
@pytest.mark.parametrize('name', sorted(REAL))
def test_real_config_recipe(name):
    dataset, head_type, kind = REAL[name]
    released = RELEASED[dataset]
    cfg = load(name)
    check_strategy(cfg, SGD, released['lr'], released['ema_decay'], MAX_EPOCHS)
    # the header's "G GPUs x B images" matches the config and gives 84
    header = Path(CONFIGS, f'{name}.py').read_text()
    gpus, per_gpu = map(
        int,
        re.search(r'(\d+) GPUs x (\d+) images', header).groups())
    assert cfg.train_dataloader.batch_size == per_gpu
    assert gpus * per_gpu == TOTAL_BATCH
    # augmentation and resolution
    train = {t.type: t for t in cfg.train_dataloader.dataset.pipeline}
    assert train['Resize'].scale == (RESOLUTION, RESOLUTION)
    assert train['RandomFlip'].prob == AUG_PROB
    assert train['RandAugment'].num_policies == 2
    assert train['Cutout'].shape == int(CUTOUT_FACTOR * RESOLUTION)
    assert train['Cutout'].prob == AUG_PROB
    assert 'RandomResizedCrop' not in train  # no random crop released
    test = [
        t for t in cfg.test_dataloader.dataset.pipeline if t.type == 'Resize'
    ]
    assert [t.scale for t in test] == [(RESOLUTION, RESOLUTION)]
    assert cfg.data_preprocessor.num_classes == released['classes']
    # EfficientNetV2 weights: inputs in [-1, 1]
    assert cfg.data_preprocessor.mean == [127.5] * 3
    assert cfg.data_preprocessor.std == [127.5] * 3
    # head and loss
    head = cfg.model.head
    assert head.type == head_type and head.num_classes == released['classes']
    check_loss(head.loss, kind, released['scale'])
    if head_type == 'MLDecoderHead':
        assert head.get('normalized', False) == (kind == 'aam')
        if kind == 'aam':
            assert head.cosine_scale == released['scale']
    if head_type == 'CSRAHead':
        assert (head.num_heads, head.lam) == CSRA[dataset]
        assert head.cosine  # AAM needs cosines: the cosine CSRA
    init = cfg.model.backbone.init_cfg
    assert (init.type, init.prefix) == ('Pretrained', 'backbone')
    assert 'efficientnetv2-s_3rdparty_in21k' in init.checkpoint


@pytest.mark.parametrize('name', sorted(REAL))
def test_real_config_model_builds(name, monkeypatch):
    """Built without init_weights (no download), forward on a small input."""
    dataset, head_type, _ = REAL[name]
    cfg = load(name)
    if 'neck' in cfg.model:
        if not SHARED.is_dir():
            pytest.skip(f'the label-graph files are not at {SHARED}')
        monkeypatch.chdir(REPO)  # the graph paths are relative to the repo
    model = MODELS.build(cfg.model).eval()
    assert type(model.head).__name__ == head_type
    assert model.backbone.init_cfg['checkpoint'].startswith('https://')
    with torch.no_grad():
        scores = model(torch.zeros(2, 3, 64, 64), mode='tensor')
    assert scores.shape == (2, RELEASED[dataset]['classes'])


def test_no_decay_on_biases_and_norms():
    """The optimizer groups of a real config: decay on conv / linear weights
    only (the released `nbd`)."""
    cfg = load('ml_decoder/efficientnetv2-s_mld-aam_coco')
    model = MODELS.build(cfg.model)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    assert isinstance(wrapper, SAMOptimWrapper) and wrapper.rho == RHO
    decay = {
        id(p): g['weight_decay']
        for g in wrapper.param_groups
        for p in g['params']
    }
    norm_types = (torch.nn.modules.batchnorm._BatchNorm, torch.nn.LayerNorm)
    checked = 0
    for module in model.modules():
        for pname, param in module.named_parameters(recurse=False):
            expected = 0. if (pname == 'bias'
                              or isinstance(module, norm_types)) \
                else WEIGHT_DECAY
            assert decay[id(param)] == expected, (type(module), pname)
            checked += 1
    assert checked == len(list(model.parameters()))


@needs_shared
def test_graph_inputs_follow_the_dataset_class_order():
    # COCO: the ML-GCN rows are alphabetical; the config maps them to the
    # category-id order of COCOMultiLabel
    cfg = load('label_graph/efficientnetv2-s_gat-aam_coco')
    file_names = (SHARED / 'coco_classes.txt').read_text().split('\n')
    file_names = [n for n in file_names if n]
    expected = class_indices_by_name(file_names, COCO_ID_ORDER)
    assert list(cfg.model.neck.class_indices) == list(expected)
    assert [file_names[i] for i in cfg.model.neck.class_indices] == \
        COCO_ID_ORDER
    # VOC: the ML-GCN rows are already in VOCMultiLabel's order
    from mmcsra.datasets import VOCMultiLabel
    voc_names = (SHARED / 'voc_classes.txt').read_text().split()
    assert voc_names == list(VOCMultiLabel.METAINFO['classes'])
    assert 'class_indices' not in load(
        'label_graph/efficientnetv2-s_gat-aam_voc').model.neck


@needs_shared
def test_real_graph_neck_uses_ml_gcn_graph(monkeypatch):
    """The VOC neck's adjacency is ML-GCN's graph (t = 0.4, p = 0.25) of the
    shared counts."""
    monkeypatch.chdir(REPO)
    cfg = load('label_graph/efficientnetv2-s_gat-aam_voc')
    neck = MODELS.build(cfg.model.neck)
    counts, nums = load_cooccurrence(str(SHARED / 'voc_cooccurrence.npz'))
    expected = build_label_graph(counts, nums, t=0.4, p=0.25)
    np.testing.assert_allclose(neck.adjacency.numpy(), expected, rtol=1e-6)
    assert neck.embeddings.requires_grad  # GloVe trained further
    assert tuple(neck.embeddings.shape) == (20, 300)


def test_strategy_augmentations_run():
    """RandAugment + Cutout of the strategy pipeline on a 448 px image:
    Cutout paints one axis-aligned square of side <= 0.4 * 448 in grey."""
    cfg = load('ml_decoder/efficientnetv2-s_mld-aam_voc')
    pipeline = {t.type: t for t in cfg.train_dataloader.dataset.pipeline}
    randaug = TRANSFORMS.build(pipeline['RandAugment'])
    cutout = TRANSFORMS.build(dict(pipeline['Cutout'], prob=1.0))
    side = int(CUTOUT_FACTOR * RESOLUTION)
    np.random.seed(0)
    for _ in range(3):
        out = randaug(dict(img=np.full((448, 448, 3), 60, np.uint8)))
        assert out['img'].shape == (448, 448, 3)
        img = cutout(dict(img=np.zeros((448, 448, 3), np.uint8)))['img']
        rows, cols = np.nonzero(img[..., 0])
        assert set(np.unique(img).tolist()) == {0, 128}
        h = rows.max() - rows.min() + 1
        w = cols.max() - cols.min() + 1
        assert len(rows) == h * w and h <= side and w <= side
        assert max(h, w) > side // 2  # at most half of it falls outside


# ----------------------------------------------------------------- demo
SHARED_KEYS = ('model', 'data_preprocessor', 'train_dataloader',
               'val_dataloader', 'test_dataloader', 'val_evaluator',
               'test_evaluator', 'optim_wrapper', 'param_scheduler',
               'train_cfg', 'val_cfg', 'test_cfg', 'default_hooks',
               'custom_hooks', 'randomness', 'env_cfg', 'default_scope',
               'custom_imports', 'load_from', 'resume')


def without_model_head(cfg: Config) -> dict:
    """Everything the run depends on, except the neck and the head."""
    d = {key: copy.deepcopy(cfg.to_dict()[key]) for key in SHARED_KEYS}
    d['model'].pop('head')
    d['model'].pop('neck', None)
    return d


@pytest.mark.parametrize('name', sorted(DEMO))
def test_demo_configs_differ_in_head_and_loss_only(name):
    cfg, root = load(name), load(DEMO_ROOT)
    assert without_model_head(cfg) == without_model_head(root)
    head_type, kind = DEMO[name]
    assert cfg.model.head.type == head_type
    check_loss(cfg.model.head.loss, kind, 23.0)
    if head_type == 'MLDecoderHead' and kind == 'aam':
        assert cfg.model.head.normalized and cfg.model.head.cosine_scale == 23
    if head_type == 'CSRAHead':
        # AAM needs cosines: the cosine CSRA (the ASL rows: plain logits)
        assert cfg.model.head.get('cosine', False) == (kind == 'aam')
    assert ('neck' in cfg.model) == name.startswith('label_graph')
    # the demo strategy: AdamW + SAM, one-cycle peak 1e-3 over the 8 demo
    # epochs, EMA decay 0.99, early stopping; the progress bar is kept
    check_strategy(cfg, DEMO_ADAMW, DEMO_LR, DEMO_EMA_DECAY, DEMO_EPOCHS)
    # the CSRA demo's data and backbone: 64 px, output stride 16
    csra_demo = load('csra/resnet18_multidigits')
    assert cfg.train_dataloader.dataset == csra_demo.train_dataloader.dataset
    assert cfg.model.backbone == csra_demo.model.backbone
    assert cfg.custom_hooks[0]['type'] == 'ProgressBarHook'
    # no RandAugment / Cutout on the digit canvases
    assert [t.type for t in cfg.train_dataloader.dataset.pipeline] == \
        ['PackInputs']
    assert cfg.train_dataloader.batch_size == 32


def test_demo_graph_is_the_counted_graph(tmp_path):
    """The demo neck's ready adjacency is what tools/build_label_graph.py
    counts on the MultiDigits training split, at ML-GCN's t = 0.4."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'build_label_graph', osp.join(TOOLS, 'build_label_graph.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    name = 'label_graph/resnet18-gat-asl_multidigits'
    out = str(tmp_path / 'digits.npz')
    tool.main([osp.join(CONFIGS, f'{name}.py'), '--out', out])
    counts, nums = load_cooccurrence(out)
    assert nums.sum() > 4000  # 4,000 canvases, 1-4 digits each
    graph = build_label_graph(counts, nums, t=0.4, p=0.25)
    neck = load(name).model.neck
    np.testing.assert_allclose(np.asarray(neck.adjacency), graph)
    np.testing.assert_allclose(graph, np.eye(10))  # no pair reaches 0.4


class StateRecorder(Hook):
    """Per iteration: the lr used, and one live weight after the step."""

    priority = 'LOWEST'

    def __init__(self, weight_name: str):
        self.weight_name = weight_name
        self.lrs, self.weights = [], []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.lrs.append(runner.optim_wrapper.get_lr()['lr'][0])

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        weight = dict(runner.model.named_parameters())[self.weight_name]
        self.weights.append(weight.detach().clone())


@pytest.mark.parametrize('name', sorted(DEMO))
def test_demo_trains_with_sam_one_cycle_ema(name, tmp_path):
    """12 iterations on one batch of 8 canvases with the config's model,
    optimizer, EMA and one-cycle, the cycle shrunk to 240 iterations so that
    the 12 lie in its warm-up (the first 20%, 48 iterations): the loss falls,
    SAM runs two forward passes per step, the lr follows the one-cycle curve
    and the EMA weights are the EMA of the live weights. The sampler is
    infinite: mmengine's iteration loop sleeps 2 s each time a finite loader
    restarts."""
    iters, cycle = 12, 240
    cfg = load(name)
    (sched, ) = cfg.param_scheduler
    momentum = hook(cfg, 'EMAHook').momentum
    tiny = tiny_cfg(
        osp.join(CONFIGS, f'{name}.py'),
        str(tmp_path),
        max_iters=iters,
        num_samples=8,
        batch_size=8)
    assert iters < round(sched.pct_start * cycle)  # inside the warm-up
    # tiny_cfg drops the schedulers: the config's one-cycle, 240 iterations
    tiny.param_scheduler = [
        dict(
            sched,
            by_epoch=False,
            begin=0,
            end=cycle,
            convert_to_iter_based=False)
    ]
    tiny.train_dataloader.sampler = dict(type='InfiniteSampler', shuffle=False)
    tiny.log_level = 'WARNING'
    runner = Runner.from_cfg(tiny)
    weight_name = 'backbone.conv1.weight'
    losses, state = LossRecorder(), StateRecorder(weight_name)
    runner.register_hook(losses)
    runner.register_hook(state)
    forwards = []
    runner.model.register_forward_pre_hook(
        lambda module, args: forwards.append(module.training))
    runner.train()

    assert isinstance(runner.optim_wrapper, SAMOptimWrapper)
    assert sum(forwards) == 2 * iters  # SAM: w and w + epsilon
    first, last = np.mean(losses.losses[:3]), np.mean(losses.losses[-3:])
    assert last < first, losses.losses
    expected_lr = [
        one_cycle_lr(i, cycle, sched.eta_max, sched.pct_start,
                     sched.div_factor, sched.final_div_factor)
        for i in range(iters)
    ]
    np.testing.assert_allclose(state.lrs, expected_lr, rtol=1e-6)
    assert state.lrs[0] == pytest.approx(sched.eta_max / 25)
    assert np.all(np.diff(state.lrs) > 0)  # rising towards the peak
    # EMA: e_0 = w_0, e_t = (1 - m) e_{t-1} + m w_t
    (ema_hook, ) = [h for h in runner.hooks if isinstance(h, EMAHook)]
    ema = state.weights[0]
    for w in state.weights[1:]:
        ema = (1 - momentum) * ema + momentum * w
    ema_weight = dict(
        ema_hook.ema_model.module.named_parameters())[weight_name]
    torch.testing.assert_close(ema_weight, ema, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(ema_weight, state.weights[-1])


def test_demo_validation_feeds_early_stopping(tmp_path):
    """With validation on, the monitored key exists (strict=True would raise
    otherwise) and the hook stops the run, here at the first validation
    without a gain of 100 mAP points (the second)."""
    name = 'csra/resnet18-asl_multidigits'
    cfg = tiny_cfg(
        osp.join(CONFIGS, f'{name}.py'),
        str(tmp_path),
        num_samples=16,
        batch_size=16)
    root = load(name)
    cfg.train_cfg = dict(by_epoch=True, max_epochs=4, val_interval=1)
    cfg.val_cfg, cfg.val_evaluator = root.val_cfg, root.val_evaluator
    cfg.val_dataloader = root.val_dataloader
    cfg.val_dataloader.dataset.num_samples = 16
    stop = hook(cfg, 'EarlyStoppingHook')
    assert stop.strict
    stop.update(min_delta=100., patience=1)
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.train()
    (stopper, ) = [
        h for h in runner.hooks if type(h).__name__ == 'EarlyStoppingHook'
    ]
    assert runner.train_loop.stop_training
    assert runner.epoch == 2  # stopped after the 2nd of 4 epochs
    assert 0. <= stopper.best_score <= 100.  # the first validation's mAP
