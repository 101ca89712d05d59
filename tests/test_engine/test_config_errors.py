"""Config and checkpoint errors found before training starts.

``tools/train.py`` / ``tools/test.py`` run in-process (their ``main``) with
``--cfg-options``; every error case asserts the message and that no
iteration ran (the loops' ``run_iter`` is wrapped by a counter that calls
through). Covered:

* ``num_classes`` of the head / data preprocessor vs the dataset's classes,
  ``in_channels`` of the head / neck vs the backbone's real output (a CNN
  feature map, ViT tokens, a neck fed by three stages), arguments that
  ``MultiHeadCSRA`` refuses (temperatures, lambda);
* a checkpoint trained for 10 classes loaded into a 7-class model: a clear
  error naming the head tensors and both shapes, or, with ``--reinit-head``,
  the head re-initialised (exactly as a run without the checkpoint) and
  every other weight loaded.
"""
import glob
import importlib.util
import logging
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import loops
from mmpretrain.registry import MODELS

import mmcsra  # noqa: F401
from mmcsra.engine import (CheckpointShapeError, ConfigError,
                           check_checkpoint_shapes, safe_torch_load)
from mmcsra.engine.config_checks import (check_feature_channels,
                                         check_num_classes)
from utils import CONFIGS, TOOLS, captured_logs, train_few_iters

from fixtures.multi_label_data import write_image

DEMO = osp.join(CONFIGS, 'csra', 'resnet18_multidigits.py')
GRAPH_DEMO = osp.join(CONFIGS, 'label_graph',
                      'resnet18-gat-asl_multidigits.py')
SMALL_DEMO = [
    'train_dataloader.dataset.num_samples=16',
    'train_dataloader.batch_size=8',
    'val_dataloader.dataset.num_samples=16',
    'train_cfg.max_epochs=1',
]
DIGITS = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven',
          'eight', 'nine')


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(
        f'mmcsra_tools_{name}', osp.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train_tool = _load_tool('train')
test_tool = _load_tool('test')


@pytest.fixture
def iterations(monkeypatch):
    """Counts of the train / test iterations run (calls go through)."""
    counts = {'train': 0, 'test': 0}

    def counting(cls, kind):
        original = cls.run_iter

        def run_iter(self, *args, **kwargs):
            counts[kind] += 1
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, 'run_iter', run_iter)

    counting(loops.EpochBasedTrainLoop, 'train')
    counting(loops.IterBasedTrainLoop, 'train')
    counting(loops.TestLoop, 'test')
    return counts


def train_main(config, work_dir, *options, flags=()):
    train_tool.main([
        str(config), '--work-dir',
        str(work_dir), *flags, '--cfg-options', *SMALL_DEMO, *options
    ])


# ============================================================ num_classes
@pytest.mark.parametrize('option, key, value', [
    ('model.head.num_classes=7', 'model.head.num_classes', 7),
    ('data_preprocessor.num_classes=12', 'data_preprocessor.num_classes', 12),
])
def test_num_classes_differs_from_the_dataset(tmp_path, iterations, option,
                                              key, value):
    with pytest.raises(ConfigError) as info:
        train_main(DEMO, tmp_path, option)
    message = str(info.value)
    # one line for the train and val datasets, with the fix
    assert (f'{key} = {value} but the train (MultiDigits) and val '
            '(MultiDigits) datasets have 10 classes') in message
    assert "'zero', 'one', 'two'" in message
    assert f'set {key}=10' in message
    assert iterations == {'train': 0, 'test': 0}


def test_num_classes_of_a_neck(tmp_path, iterations):
    # the label-graph neck's (and its 7 x 7 graph's) class count
    eye = [[float(i == j) for j in range(7)] for i in range(7)]
    with pytest.raises(
            ConfigError,
            match=r'model\.neck\.num_classes = 7 but the train '
            r'\(MultiDigits\)'):
        train_main(GRAPH_DEMO, tmp_path, 'model.neck.num_classes=7',
                   f'model.neck.adjacency={eye}'.replace(' ', ''))
    assert iterations['train'] == 0


def test_num_classes_check_compares_every_built_dataset():
    init_default_scope('mmpretrain')
    model = MODELS.build(Config.fromfile(DEMO).model)  # 10 classes
    from mmpretrain.registry import DATASETS
    seven = DATASETS.build(
        dict(
            type='MultiDigits',
            num_samples=4,
            metainfo=dict(classes=DIGITS[:7])))
    ten = DATASETS.build(dict(type='MultiDigits', num_samples=4))
    check_num_classes(model, {'train': ten})  # fits: no error
    with pytest.raises(
            ConfigError,
            match=r'model\.head\.num_classes = 10 '
            r'but the test \(MultiDigits\) dataset has 7 classes'):
        check_num_classes(model, {'train': ten, 'test': seven})


def test_model_parts_disagree_without_a_class_list():
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(DEMO)
    cfg.model.data_preprocessor = dict(
        type='ClsDataPreprocessor', num_classes=12)
    model = MODELS.build(cfg.model)
    with pytest.raises(ConfigError) as info:
        check_num_classes(model, {})  # no dataset to compare with
    assert str(info.value).endswith(
        'the model disagrees with itself: model.head.num_classes = 10, '
        'data_preprocessor.num_classes = 12')


def test_headless_backbone_num_classes_is_not_a_class_count():
    # MMPretrain's VGG with num_classes=-1 has no classifier of its own
    # (configs/csra/vgg16_multidigits.py): only the head's count is compared
    init_default_scope('mmpretrain')
    model = MODELS.build(
        Config.fromfile(osp.join(CONFIGS, 'csra',
                                 'vgg16_multidigits.py')).model)
    assert model.backbone.num_classes == -1
    from mmcsra.engine.config_checks import model_class_counts
    assert model_class_counts(model) == {'model.head.num_classes': 10}
    from mmpretrain.registry import DATASETS
    ten = DATASETS.build(dict(type='MultiDigits', num_samples=4))
    check_num_classes(model, {'train': ten})  # fits: no error


DEMO_CONFIGS = sorted(glob.glob(osp.join(CONFIGS, '*', '*_multidigits.py')))


@pytest.mark.parametrize(
    'path', DEMO_CONFIGS, ids=[osp.relpath(p, CONFIGS) for p in DEMO_CONFIGS])
def test_every_demo_config_passes_the_build_time_checks(path):
    # what tools/train.py runs before the first iteration, on the built
    # model and the demo datasets of the config itself
    init_default_scope('mmpretrain')
    from mmpretrain.registry import DATASETS
    cfg = Config.fromfile(path)
    model = MODELS.build(cfg.model)
    datasets = {}
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader:
            dataset = dict(loader.dataset, num_samples=4)
            dataset.pop('pipeline', None)
            datasets[split] = DATASETS.build(dataset)
    assert {len(d.metainfo['classes']) for d in datasets.values()} == {10}
    check_num_classes(model, datasets)
    assert check_feature_channels(model)  # the dry forward ran and fit


# ============================================================ in_channels
def test_head_in_channels_differs_from_the_backbone(tmp_path, iterations):
    with pytest.raises(ConfigError) as info:
        train_main(DEMO, tmp_path, 'model.head.in_channels=256')
    # ResNet-18's last stage: 512 channels; a 64 px image shrinks by 4 in
    # the stem, then by each stage's stride
    strides = Config.fromfile(DEMO).model.backbone.get('strides', (1, 2, 2, 2))
    side = 64 // (4 * math.prod(strides))
    assert str(info.value) == (
        'model.head.in_channels = 256 but the last output of the backbone '
        f'(ResNet) has 512 channels: shape (1, 512, {side}, {side}) as '
        '(B, D, H, W) (from a dry forward of one 64x64 image). Set '
        'model.head.in_channels=512.')
    assert iterations['train'] == 0


def test_neck_in_channels_differs_from_the_backbone(tmp_path, iterations):
    with pytest.raises(
            ConfigError,
            match=r'^model\.neck\.in_channels = 256 but the last '
            r'output of the backbone \(ResNet\) has 512 channels'):
        train_main(GRAPH_DEMO, tmp_path, 'model.neck.in_channels=256')
    assert iterations['train'] == 0


VIT_CONFIG = """
_base_ = ['{demo}']
model = dict(
    backbone=dict(
        _delete_=True, type='VisionTransformer',
        arch=dict(embed_dims=32, num_layers=1, num_heads=2,
                  feedforward_channels=64),
        img_size=96, patch_size=16, out_type='raw'),
    head=dict(in_channels={in_channels}, num_extra_tokens=1))
"""


def test_head_in_channels_differs_from_vit_tokens(tmp_path, iterations):
    config = tmp_path / 'vit.py'
    config.write_text(VIT_CONFIG.format(demo=DEMO, in_channels=48))
    with pytest.raises(ConfigError) as info:
        train_main(config, tmp_path)
    # 64 px / patch 16 = 4 x 4 patches + the class token: 17 tokens of 32
    assert ('model.head.in_channels = 48 but the last output of the '
            'backbone (VisionTransformer) has 32 channels: shape '
            '(1, 17, 32) as (B, N, D) tokens') in str(info.value)
    assert iterations['train'] == 0


@pytest.mark.parametrize(
    'out_type, in_channels, fits',
    [
        ('raw', 32, True),  # tokens (B, N, D): D is dim 2
        ('featmap', 32, True),  # (B, D, h, w): D is dim 1
        ('raw', 17, False),  # the token count is not the channel count
    ])
def test_channel_dim_of_tokens_and_maps(out_type, in_channels, fits):
    init_default_scope('mmpretrain')
    cfg = Config.fromstring(
        VIT_CONFIG.format(demo=DEMO, in_channels=in_channels), '.py')
    cfg.model.backbone.out_type = out_type
    if out_type == 'featmap':
        cfg.model.head.num_extra_tokens = 0
    model = MODELS.build(cfg.model)
    if fits:
        assert check_feature_channels(model) is True
    else:
        with pytest.raises(ConfigError, match='has 32 channels'):
            check_feature_channels(model)


@pytest.mark.parametrize(
    'in_channels, fits',
    [
        ((128, 256, 512), True),  # ResNet-18 stages 2, 3, 4
        ((64, 128, 256), False),
    ])
def test_neck_fed_by_three_stages(in_channels, fits):
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(
        osp.join(CONFIGS, 'cat', 'resnet18_cat_multidigits.py'))
    cfg.model.neck.in_channels = in_channels
    model = MODELS.build(cfg.model)
    if fits:
        assert check_feature_channels(model) is True
    else:
        with pytest.raises(ConfigError) as info:
            check_feature_channels(model)
        assert str(info.value).startswith(
            'model.neck.in_channels = [64, 128, 256] but the backbone '
            '(ResNet) gives 3 output(s) with [128, 256, 512] channels')


def test_dry_forward_changes_nothing():
    init_default_scope('mmpretrain')
    model = MODELS.build(Config.fromfile(DEMO).model)
    model.train()
    model.backbone.layer1.eval()  # a mixed state must come back as it was
    modes = {name: m.training for name, m in model.named_modules()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    assert check_feature_channels(model) is True
    assert {name: m.training for name, m in model.named_modules()} == modes
    for key, value in model.state_dict().items():  # BN statistics too
        assert torch.equal(value, state[key]), key
    assert torch.equal(torch.get_rng_state(), rng)


def test_dry_forward_failure_skips_with_a_warning():
    # a 1-channel backbone behind a 3-channel preprocessor fails at every
    # size: the check says so instead of guessing
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(DEMO)
    cfg.model.backbone.in_channels = 1
    cfg.model.data_preprocessor = cfg.data_preprocessor
    model = MODELS.build(cfg.model)
    with captured_logs(levels=True) as logs:
        assert check_feature_channels(model) is False
    warnings = [m for level, m in logs if level == logging.WARNING]
    assert len(warnings) == 1
    assert 'the in_channels check was skipped' in warnings[0]
    assert 'backbone at 64 px' in warnings[0]
    assert 'backbone at 224 px' in warnings[0]


# ============================================ arguments of the CSRA head
@pytest.mark.parametrize('option, error, message', [
    ('model.head.lam=-0.5', ValueError,
     'lam must be a finite number >= 0, got -0.5'),
    ('model.head.temperatures=hot', TypeError,
     "temperatures must be a list of numbers, got 'hot'"),
    ('model.head.temperatures=[-1.0]', ValueError,
     'every temperature must be a number > 0'),
    ('model.head.temperatures=[0]', ValueError,
     'every temperature must be a number > 0'),
    ('model.head.temperatures=[1,abc]', ValueError, "got 'abc' in [1, 'abc']"),
    ('model.head.num_heads=3', ValueError,
     'num_heads=3 has no default temperatures'),
])
def test_csra_arguments_refused_when_the_model_is_built(
        tmp_path, iterations, option, error, message):
    with pytest.raises(error) as info:
        train_main(DEMO, tmp_path, option)
    assert message in str(info.value)
    assert iterations['train'] == 0
    # refused while building the model: before any log or checkpoint
    assert glob.glob(str(tmp_path / '*.pth')) == []


# ============================================================ checkpoints
SEVEN = ('cat', 'dog', 'car', 'bus', 'sun', 'sea', 'sky')
SEVEN_CLASS_CONFIG = """
_base_ = ['{demo}']
model = dict(head=dict(num_classes=7))
data_preprocessor = dict(num_classes=7)
_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 32)),
    dict(type='PackInputs', algorithm_keys=['gt_ignore']),
]
_dataset = dict(type='MultiLabelFolder', data_root='{root}',
                ann_file='ann.csv', data_prefix='images',
                classes={classes}, pipeline=_pipeline)
train_dataloader = dict(batch_size=4, dataset=dict(_delete_=True, **_dataset))
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = dict(
    _delete_=True, batch_size=4, num_workers=0,
    dataset=dict(_dataset, test_mode=True),
    sampler=dict(type='DefaultSampler', shuffle=False))
test_evaluator = [dict(type='MultiLabelMAP')]
train_cfg = dict(_delete_=True, by_epoch=False, max_iters=1)
param_scheduler = []
optim_wrapper = dict(optimizer=dict(lr=0.0))  # weights stay as loaded
default_hooks = dict(
    checkpoint=dict(_delete_=True, type='CheckpointHook', by_epoch=False,
                    interval=1),
    logger=dict(interval=1))
custom_hooks = []
"""


@pytest.fixture(scope='module')
def ten_class_checkpoint(tmp_path_factory):
    """The demo CSRA model (10 classes) after 2 tiny training iterations."""
    work_dir = str(tmp_path_factory.mktemp('ten'))
    train_few_iters(
        DEMO,
        work_dir,
        max_iters=2,
        num_samples=16,
        cfg_options={
            'train_dataloader.dataset.canvas_size': 32,
            'train_dataloader.dataset.digit_size': (8, 16)
        })
    path = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(path)
    return path


@pytest.fixture(scope='module')
def seven_class_config(tmp_path_factory):
    """The demo model at 7 classes, on 8 images of a 7-class CSV dataset."""
    root = tmp_path_factory.mktemp('seven')
    rows = ['path,labels']
    for i in range(8):
        write_image(
            str(root / 'images' / f'{i}.png'),
            size=(32, 32),
            color=(30 * i, 100, 200))
        rows.append(f'{i}.png,{SEVEN[i % 7]};{SEVEN[(i + 3) % 7]}')
    (root / 'ann.csv').write_text('\n'.join(rows) + '\n')
    config = root / 'seven.py'
    config.write_text(
        SEVEN_CLASS_CONFIG.format(demo=DEMO, root=root, classes=list(SEVEN)))
    return str(config)


def _head_message_ok(message: str, checkpoint: str):
    assert f"checkpoint '{checkpoint}' was trained for a different number " \
        'of classes' in message
    assert "class-dependent module(s) ['head']" in message
    assert 'head.csra.classifier.weight: checkpoint (10, 512), model ' \
        '(7, 512)' in message


def test_checkpoint_of_other_classes_is_refused_by_train(
        tmp_path, iterations, ten_class_checkpoint, seven_class_config):
    with pytest.raises(CheckpointShapeError) as info:
        train_tool.main([
            seven_class_config, '--work-dir',
            str(tmp_path), '--cfg-options', f'load_from={ten_class_checkpoint}'
        ])
    message = str(info.value)
    _head_message_ok(message, ten_class_checkpoint)
    assert '--reinit-head' in message and 'load_from_reinit_head=True' in \
        message
    # only the classifier differs: nothing else is listed
    assert message.count(': checkpoint (') == 1
    assert iterations['train'] == 0
    assert glob.glob(str(tmp_path / '*.pth')) == []


def test_checkpoint_of_other_classes_is_refused_by_test(
        tmp_path, iterations, ten_class_checkpoint, seven_class_config):
    with pytest.raises(CheckpointShapeError) as info:
        test_tool.main([
            seven_class_config, ten_class_checkpoint, '--work-dir',
            str(tmp_path)
        ])
    _head_message_ok(str(info.value), ten_class_checkpoint)
    assert 'use the config it was trained with' in str(info.value)
    assert iterations['test'] == 0


def test_resume_with_other_classes_is_refused(tmp_path, iterations,
                                              ten_class_checkpoint,
                                              seven_class_config):
    with pytest.raises(
            CheckpointShapeError, match='can only be resumed with the model'):
        train_tool.main([
            seven_class_config, '--work-dir',
            str(tmp_path), '--resume', ten_class_checkpoint
        ])
    with pytest.raises(
            ConfigError, match='can not be combined with '
            'resuming'):
        train_tool.main([
            seven_class_config, '--work-dir',
            str(tmp_path), '--resume', ten_class_checkpoint, '--reinit-head'
        ])
    assert iterations['train'] == 0


def _state(path) -> dict:
    return safe_torch_load(str(path), map_location='cpu')['state_dict']


def _is_statistic(key: str) -> bool:  # BN buffers move in a train step
    return key.endswith(('running_mean', 'running_var', 'num_batches_tracked'))


def test_reinit_head_loads_everything_else(tmp_path, iterations,
                                           ten_class_checkpoint,
                                           seven_class_config):
    reinit_dir, fresh_dir = tmp_path / 'reinit', tmp_path / 'fresh'
    # a name of its own: mmengine reuses the logger (and its log file) of a
    # run with the same name started in the same second
    train_tool.main([
        seven_class_config, '--work-dir',
        str(reinit_dir), '--reinit-head', '--cfg-options',
        f'load_from={ten_class_checkpoint}', 'experiment_name=reinit_head_test'
    ])
    assert iterations['train'] == 1
    # the same 7-class run without a checkpoint: the head's initialisation
    train_tool.main([seven_class_config, '--work-dir', str(fresh_dir)])
    source = _state(ten_class_checkpoint)
    reinit = _state(reinit_dir / 'iter_1.pth')
    fresh = _state(fresh_dir / 'iter_1.pth')

    key = 'head.csra.classifier.weight'
    assert reinit[key].shape == (7, 512)
    torch.testing.assert_close(reinit[key], fresh[key], rtol=0, atol=0)
    for name, value in reinit.items():  # lr = 0: as loaded
        if name.startswith('backbone.') and not _is_statistic(name):
            torch.testing.assert_close(value, source[name], rtol=0, atol=0)
    assert not torch.equal(reinit['backbone.conv1.weight'],
                           fresh['backbone.conv1.weight'])
    # the log says which tensors were dropped, with both shapes
    log = open(glob.glob(str(reinit_dir / '*' / '*.log'))[0]).read()
    assert 'load_from_reinit_head' in log and 'dropped 1 tensor(s)' in log
    assert f'{key}: checkpoint (10, 512), model (7, 512)' in log


# ------------------------------------------ check_checkpoint_shapes alone
def _graph_decoder_model(num_classes: int, base_channels: int = 64):
    init_default_scope('mmpretrain')
    eye = [[float(i == j) for j in range(num_classes)]
           for i in range(num_classes)]
    return MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='ResNet',
                depth=18,
                base_channels=base_channels,
                out_indices=(3, )),
            neck=dict(
                type='LabelGraphReweightNeck',
                num_classes=num_classes,
                in_channels=base_channels * 8,
                adjacency=eye,
                embed_dims=8,
                hidden_channels=16),
            head=dict(
                type='MLDecoderHead',
                num_classes=num_classes,
                in_channels=base_channels * 8,
                embed_dims=16,
                num_heads=2,
                feedforward_channels=32)))


# ML-Decoder with K = min(100, C) queries and G = 1 class per query, and a
# label-graph neck: (C, C) graph and (C, 8) embeddings; nothing else depends
# on C
CLASS_TENSORS = {
    'neck.embeddings': ((10, 8), (7, 8)),
    'neck.adjacency': ((10, 10), (7, 7)),
    'head.queries': ((10, 16), (7, 16)),
    'head.group_fc.weight': ((10, 16, 1), (7, 16, 1)),
    'head.group_fc.bias': ((10, ), (7, )),
}


@pytest.mark.parametrize('prefix', ['', 'module.'])
def test_reinit_drops_exactly_the_class_dependent_tensors(prefix):
    ten, seven = _graph_decoder_model(10), _graph_decoder_model(7)
    state = {prefix + k: v for k, v in ten.state_dict().items()}
    with pytest.raises(CheckpointShapeError) as info:
        check_checkpoint_shapes(seven, {'state_dict': dict(state)}, 'a.pth')
    for name, (theirs, mine) in CLASS_TENSORS.items():
        assert f'{name}: checkpoint {theirs}, model {mine}' in str(info.value)
    assert "['neck', 'head']" in str(info.value)

    checkpoint = {'state_dict': dict(state), 'ema_state_dict': dict(state)}
    dropped = check_checkpoint_shapes(
        seven, checkpoint, 'a.pth', reinit_head=True)
    assert sorted(dropped) == sorted(CLASS_TENSORS)
    for key in ('state_dict', 'ema_state_dict'):
        kept = set(checkpoint[key])
        assert kept == set(state) - {prefix + k for k in CLASS_TENSORS}
    # what is left loads without any size mismatch
    missing, unexpected = seven.load_state_dict(
        {
            k[len(prefix):]: v
            for k, v in checkpoint['state_dict'].items()
        },
        strict=False)
    assert sorted(missing) == sorted(CLASS_TENSORS) and unexpected == []


def test_other_architecture_is_refused_even_with_reinit():
    narrow, wide = _graph_decoder_model(7, 32), _graph_decoder_model(7, 64)
    with pytest.raises(CheckpointShapeError) as info:
        check_checkpoint_shapes(
            wide, narrow.state_dict(), 'n.pth', reinit_head=True)
    message = str(info.value)
    assert 'outside the class-dependent modules' in message
    # the stem keeps 64 channels; the first stage has base_channels
    assert 'backbone.layer1.0.conv1.weight: checkpoint (32, 64, 3, 3), ' \
        'model (64, 64, 3, 3)' in message
    assert 'can not fix this' in message


def test_matching_checkpoint_is_untouched():
    model = _graph_decoder_model(7)
    state = model.state_dict()
    checkpoint = {'state_dict': dict(state)}
    assert check_checkpoint_shapes(model, checkpoint, reinit_head=True) == []
    assert checkpoint['state_dict'].keys() == state.keys()
