"""The CSRA paper-recipe configs: settings and models at paper resolution."""
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS, TRANSFORMS

import mmcsra  # noqa: F401
from utils import CONFIGS

# config: (classes, H, lambda, input px, lr step, CSRA locations)
PAPER = {
    'resnet101_voc': (20, 1, 0.1, 448, 4, 14 * 14),
    'resnet101_coco': (80, 4, 0.5, 448, 5, 14 * 14),
    'vit-b16_wider': (14, 1, 0.3, 224, 5, 14 * 14),
    'vit-l16_coco': (80, 8, 0.3, 448, 5, 28 * 28),
}


@pytest.mark.parametrize('name', sorted(PAPER))
def test_recipe(name):
    classes, heads, lam, px, step, _ = PAPER[name]
    cfg = Config.fromfile(f'{CONFIGS}/csra/{name}.py')
    head = cfg.model.head
    assert (head.type, head.num_classes, head.num_heads, head.lam) == \
        ('CSRAHead', classes, heads, lam)
    assert cfg.data_preprocessor.num_classes == classes
    # SGD, lr 0.01 for the backbone and 0.1 for the head
    optim = cfg.optim_wrapper
    assert optim.optimizer.type == 'SGD' and optim.optimizer.lr == 0.01
    assert optim.paramwise_cfg.custom_keys['head'].lr_mult == 10.0
    warmup, decay = cfg.param_scheduler
    assert (warmup.type, warmup.begin, warmup.end) == ('LinearLR', 0, 2)
    assert (decay.type, decay.step_size, decay.gamma) == ('StepLR', step, 0.1)
    assert cfg.train_cfg.max_epochs == 30
    assert cfg.train_dataloader.batch_size == 16
    sizes = [
        t.get('scale') for t in cfg.test_dataloader.dataset.pipeline
        if t.type == 'Resize'
    ]
    assert sizes == [(px, px)]


@pytest.mark.parametrize('name', sorted(PAPER))
def test_model_builds_at_paper_resolution(name):
    classes, heads, _, px, _, locations = PAPER[name]
    cfg = Config.fromfile(f'{CONFIGS}/csra/{name}.py')
    model = MODELS.build(cfg.model).eval()  # init_weights not called: offline
    assert model.head.csra.num_heads == heads
    with torch.no_grad():
        feats = model.extract_feat(torch.zeros(1, 3, px, px))
        scores = model.head.csra.class_score_maps(model.head.pre_logits(feats))
        logits = model.head(feats)
    assert scores.shape == (1, heads, classes, locations)
    assert logits.shape == (1, classes)


# ------------------------------------------------- issue 16: more tables
def _ops(pipeline):
    return [t.type for t in pipeline]


@pytest.mark.parametrize('name, table_lr_steps',
                         [('resnet101_voc12', None),
                          ('resnet101-cut_voc12', 'cutmix')])
def test_voc2012_recipes(name, table_lr_steps):
    """CSRA Table 3: VOC2012 trainval, as VOC2007 (H = 1, lambda = 0.1,
    448 px, 30 epochs), test set written for the server."""
    cfg = Config.fromfile(f'{CONFIGS}/csra/{name}.py')
    head = cfg.model.head
    assert (head.num_classes, head.num_heads, head.lam) == (20, 1, 0.1)
    train, test = cfg.train_dataloader.dataset, cfg.test_dataloader.dataset
    assert (train.type, train.split, train.data_root) == \
        ('VOCMultiLabel', 'trainval', 'data/VOCdevkit/VOC2012')
    assert (test.split, test.data_root) == ('test', 'data/VOCdevkit/VOC2012')
    assert cfg.val_dataloader.dataset.split == 'val'
    assert cfg.test_evaluator.type == 'VOCSubmission'
    assert cfg.test_evaluator.competition == 'comp2'
    assert name in cfg.test_evaluator.outfile_prefix
    assert cfg.train_cfg.max_epochs == 30
    assert cfg.default_hooks.checkpoint.save_best is None  # val in trainval
    init = cfg.model.backbone.init_cfg
    if table_lr_steps == 'cutmix':
        assert init.checkpoint == 'checkpoints/resnet101_cutmix.pth'
        assert 'prefix' not in init  # a plain torchvision state_dict
    else:
        assert 'resnet101_8xb32_in1k' in init.checkpoint
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 448, 448)).shape == (1, 20)


def test_vit_l16_wider_and_coco_randaugment():
    """CSRA Table 5 (ViT-L16 + CSRA on WIDER) and Table 4 (ViT-L16 +
    CSRA*, RandAugment, 86.9)."""
    wider = Config.fromfile(f'{CONFIGS}/csra/vit-l16_wider.py')
    base = Config.fromfile(f'{CONFIGS}/csra/vit-b16_wider.py')
    assert (wider.model.backbone.arch, wider.model.head.in_channels) == \
        ('l', 1024)
    assert 'vit-large-p16' in wider.model.backbone.init_cfg.checkpoint
    for key in ('num_classes', 'num_heads', 'lam'):
        assert wider.model.head[key] == base.model.head[key]
    assert wider.train_dataloader.dataset.split == 'trainval'

    ra = Config.fromfile(f'{CONFIGS}/csra/vit-l16-randaug_coco.py')
    plain = Config.fromfile(f'{CONFIGS}/csra/vit-l16_coco.py')
    assert ra.model == plain.model
    ops = _ops(ra.train_dataloader.dataset.pipeline)
    assert ops == _ops(plain.train_dataloader.dataset.pipeline)[:-1] + [
        'RandAugment', 'PackInputs'
    ]
    assert ra.test_dataloader == plain.test_dataloader
    randaug = TRANSFORMS.build(ra.train_dataloader.dataset.pipeline[3])
    out = randaug(dict(img=np.full((32, 32, 3), 100, np.uint8)))
    assert out['img'].shape == (32, 32, 3)


NUS = {
    'ml_decoder/efficientnetv2-s_mld-aam_nuswide': 'MLDecoderHead',
    'label_graph/efficientnetv2-s_gat-aam_nuswide': 'CosineClsHead',
}


@pytest.mark.parametrize('name', sorted(NUS))
def test_nuswide_recipes(name):
    """Metric-learning paper, Table 4: s = 23, lr = 0.009, gamma- = 2,
    gamma+ = 1, 81 concepts."""
    cfg = Config.fromfile(f'{CONFIGS}/{name}.py')
    loss = cfg.model.head.loss
    assert (loss.type, loss.scale, loss.gamma_neg, loss.gamma_pos, loss.margin,
            loss.k) == ('AsymmetricAngularMarginLoss', 23.0, 2.0, 1.0, 0.0,
                        0.7)
    assert cfg.model.head.type == NUS[name]
    assert cfg.model.head.num_classes == cfg.data_preprocessor.num_classes \
        == 81
    assert cfg.train_dataloader.dataset.type == 'NUSWIDE'
    assert cfg.optim_wrapper.optimizer.lr == 0.009
    [onecycle] = cfg.param_scheduler
    assert (onecycle.type, onecycle.eta_max) == ('OneCycleLR', 0.009)
    if 'gat' in name:
        assert cfg.model.neck.num_classes == 81
        assert cfg.model.neck.label_embeddings is None
        # the graph file is built by the user: give random counts here
        rng = np.random.default_rng(0)
        nums = rng.integers(50, 500, 81)
        adj = rng.integers(0, 50, (81, 81))
        adj = np.triu(adj, 1) + np.triu(adj, 1).T
        cfg.model.neck.cooccurrence = dict(adj=adj, nums=nums)
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.zeros(1, 3, 64, 64))
        assert model.head(feats).shape == (1, 81)


@pytest.mark.parametrize('name, gammas', [
    ('ml_decoder/efficientnetv2-s_mld-aam-paper_voc', (2.0, 1.0)),
    ('label_graph/efficientnetv2-s_gat-aam-paper_voc', (2.0, 1.0)),
    ('ml_decoder/efficientnetv2-s_mld-aam-paper_coco', (1.0, 0.0)),
    ('label_graph/efficientnetv2-s_gat-aam-paper_coco', (1.0, 0.0)),
])
def test_paper_text_aam_variants(name, gammas):
    """Paper text (Sec. 4.4) vs released config: the variant differs from
    its default only in the AAM gammas."""
    paper = Config.fromfile(f'{CONFIGS}/{name}.py')
    default = Config.fromfile(f'{CONFIGS}/{name.replace("-paper", "")}.py')
    loss = paper.model.head.loss
    assert (loss.gamma_neg, loss.gamma_pos) == gammas
    assert default.model.head.loss.gamma_neg == \
        default.model.head.loss.gamma_pos == 0.0
    paper.model.head.loss.gamma_neg = paper.model.head.loss.gamma_pos = 0.0
    assert paper.model == default.model
    for key in ('train_dataloader', 'test_dataloader', 'optim_wrapper',
                'param_scheduler', 'custom_hooks'):
        assert paper[key] == default[key], key
