"""The CSRA paper-recipe configs: settings and models at paper resolution."""
import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

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
    sizes = [t.get('scale') for t in cfg.test_dataloader.dataset.pipeline
             if t.type == 'Resize']
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
