"""Model zoo: publishing (tools/publish_model.py), the index, get_model.

One tiny training run (3 iterations of the CSRA demo config with an
``EMAHook``) is shared by the module. A hook records the raw weights after
every iteration, so the EMA expected in the checkpoint is recomputed here
from mmengine's definition (``ExponentialMovingAverage``, update_buffers
False): ``e_0 = w_0``, ``e_t = (1 - m) e_{t-1} + m w_t`` for parameters;
buffers follow the raw model.
"""
import copy
import datetime
import functools
import glob
import hashlib
import importlib.metadata
import json
import os.path as osp
import pickle
import re
import runpy
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision
from mmengine.config import Config, ConfigDict
from mmengine.hooks import Hook
from mmengine.runner import Runner

import mmcsra  # noqa: F401
from mmcsra.apis import (get_model, get_model_info, list_models,
                         publish_checkpoint)
from mmcsra.apis import model_zoo
from mmcsra.apis.model_zoo import load_model_index, to_plain_python
from mmcsra.datasets.multi_digits import DIGIT_CLASSES
from mmcsra.engine.compat import safe_torch_load

from utils import CONFIGS, REPO, TOOLS, method_folders, tiny_cfg

DEMO_CFG = osp.join(CONFIGS, 'csra', 'resnet18_multidigits.py')
MOMENTUM = 0.25
ITERS = 3


class WeightRecorder(Hook):
    """Copies the raw model's state after every training iteration."""

    priority = 'LOWEST'

    def __init__(self):
        self.states = []

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self.states.append({
            k: v.detach().clone()
            for k, v in runner.model.state_dict().items()
        })


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Checkpoint of a 3-iteration EMA run + the expected EMA / raw weights.
    """
    work_dir = str(tmp_path_factory.mktemp('train'))
    cfg = tiny_cfg(
        DEMO_CFG,
        work_dir,
        max_iters=ITERS,
        num_samples=16,
        batch_size=4,
        cfg_options=dict(
            custom_hooks=[dict(type='EMAHook', momentum=MOMENTUM)]))
    runner = Runner.from_cfg(cfg)
    recorder = WeightRecorder()
    runner.register_hook(recorder)
    runner.train()
    param_names = {n for n, _ in runner.model.named_parameters()}

    raw = recorder.states[-1]
    ema = {}
    for key in raw:
        if key in param_names:
            value = recorder.states[0][key].clone()
            for state in recorder.states[1:]:
                value = (1 - MOMENTUM) * value + MOMENTUM * state[key]
            ema[key] = value
        else:  # buffers are copied from the raw model
            ema[key] = raw[key]
    ckpt = osp.join(work_dir, f'iter_{ITERS}.pth')
    assert osp.isfile(ckpt)
    return dict(
        ckpt=ckpt, raw=raw, ema=ema, params=param_names, work_dir=work_dir)


def _check_name_and_hash(path: str, stem: str) -> None:
    match = re.fullmatch(
        re.escape(stem) + r'_(\d{8})-([0-9a-f]{8})\.pth', path)
    assert match, path
    today = datetime.date.today()
    allowed = {(today - datetime.timedelta(days=d)).strftime('%Y%m%d')
               for d in (0, 1)}  # a run may cross midnight
    assert match.group(1) in allowed
    with open(path, 'rb') as f:
        assert hashlib.sha256(f.read()).hexdigest()[:8] == match.group(2)


def _plain_load(path: str) -> dict:
    """torch.load(weights_only=True) with an empty allow-list (whatever
    this process registered is removed for the call, then restored)."""
    registered = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    finally:
        torch.serialization.add_safe_globals(registered)


def _assert_weights(state: dict, expected: dict) -> None:
    assert list(state) == list(expected)
    for key, value in expected.items():
        torch.testing.assert_close(state[key], value, msg=key)


# ------------------------------------------------------------ publishing
def test_publish_tool_ema(trained, tmp_path):
    """tools/publish_model.py --ema: EMA weights, plain file, name + hash."""
    out = str(tmp_path / 'csra_demo.pth')
    tool = runpy.run_path(osp.join(TOOLS, 'publish_model.py'))
    final = tool['main']([trained['ckpt'], out, '--ema'])
    files = glob.glob(str(tmp_path / 'csra_demo_*.pth'))
    assert files == [final]
    _check_name_and_hash(files[0], str(tmp_path / 'csra_demo'))
    # a fresh interpreter that imports nothing but torch loads it
    fresh = subprocess.run([
        sys.executable, '-c', 'import sys, torch; ck = torch.load('
        'sys.argv[1], weights_only=True); print(sorted(ck))', files[0]
    ],
                           capture_output=True,
                           text=True,
                           timeout=300)
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.strip() == "['meta', 'state_dict']"
    # while the training checkpoint needs mmcsra's allow-list (the check
    # above can fail)
    with pytest.raises(pickle.UnpicklingError):
        _plain_load(trained['ckpt'])

    published = _plain_load(files[0])
    assert set(published) == {'meta', 'state_dict'}
    meta = published['meta']
    assert tuple(meta['dataset_meta']['classes']) == DIGIT_CLASSES
    assert meta['published_weights'] == 'ema'
    assert meta['iter'] == ITERS
    _assert_weights(published['state_dict'], trained['ema'])
    # the EMA really differs from the raw weights (the test can fail)
    head = 'head.csra.classifier.weight'
    assert not torch.allclose(trained['ema'][head], trained['raw'][head])


def test_publish_no_ema_gives_raw_weights(trained, tmp_path):
    path = publish_checkpoint(
        trained['ckpt'], str(tmp_path / 'raw.pth'), ema=False)
    _check_name_and_hash(path, str(tmp_path / 'raw'))
    published = _plain_load(path)
    assert published['meta']['published_weights'] == 'raw'
    _assert_weights(published['state_dict'], trained['raw'])


def test_publish_with_config_checks_the_release_file(trained, tmp_path):
    """--config loads the written file through init_model: a fitting config
    gives the model with the published weights; a config with other class
    order or another head size raises and leaves no file behind."""
    from mmcsra.engine.checkpoint_checks import (CheckpointShapeError,
                                                 ClassOrderError)
    from mmcsra.apis import init_model
    tool = runpy.run_path(osp.join(TOOLS, 'publish_model.py'))
    final = tool['main']([
        trained['ckpt'],
        str(tmp_path / 'ok.pth'), '--no-ema', '--config', DEMO_CFG
    ])
    model = init_model(DEMO_CFG, final)
    _assert_weights(model.state_dict(), trained['raw'])

    swapped = Config.fromfile(DEMO_CFG)
    classes = list(DIGIT_CLASSES)
    classes[0], classes[1] = classes[1], classes[0]
    swapped.test_dataloader.dataset.metainfo = dict(classes=classes)
    with pytest.raises(ClassOrderError, match='position 0'):
        publish_checkpoint(
            trained['ckpt'],
            str(tmp_path / 'swapped.pth'),
            ema=False,
            config=swapped)
    assert glob.glob(str(tmp_path / 'swapped*')) == []

    wider = Config.fromfile(DEMO_CFG)
    wider.model.head.num_classes = len(DIGIT_CLASSES) + 1
    with pytest.raises(CheckpointShapeError):
        publish_checkpoint(
            trained['ckpt'],
            str(tmp_path / 'wider.pth'),
            ema=False,
            config=wider)
    assert glob.glob(str(tmp_path / 'wider*')) == []
    assert osp.isfile(trained['ckpt'])  # the input is never touched


def test_publish_requires_an_explicit_choice(trained, tmp_path):
    with pytest.raises(ValueError, match='--ema .* or --no-ema'):
        publish_checkpoint(trained['ckpt'], str(tmp_path / 'x.pth'))
    # a checkpoint without EMA weights refuses --ema, publishes otherwise
    checkpoint = safe_torch_load(trained['ckpt'])
    del checkpoint['ema_state_dict']
    plain = str(tmp_path / 'plain.pth')
    torch.save(checkpoint, plain)
    with pytest.raises(ValueError, match='no ema_state_dict'):
        publish_checkpoint(plain, str(tmp_path / 'y.pth'), ema=True)
    path = publish_checkpoint(plain, str(tmp_path / 'y.pth'))
    published = _plain_load(path)
    assert published['meta']['published_weights'] == 'model'
    _assert_weights(published['state_dict'], trained['ema'])  # as saved


def test_publish_meta_becomes_plain_python(tmp_path):
    """numpy scalars, ConfigDict and tuples in meta load without globals;
    a checkpoint without class names needs --dataset-type."""
    state = {'w': torch.arange(3.)}
    meta = dict(
        best=np.float32(0.25),
        steps=np.int64(7),
        hist=np.arange(2),
        cfg=ConfigDict(a=1, b=(1, 2)))
    src = str(tmp_path / 'in.pth')
    torch.save(dict(state_dict=state, meta=meta, optimizer={'lr': 1}), src)
    with pytest.raises(ValueError, match='--dataset-type'):
        publish_checkpoint(src, str(tmp_path / 'out.pth'))
    path = publish_checkpoint(
        src,
        str(tmp_path / 'out.pth'),
        dataset_type='MultiDigits',
        date='20240101')
    match = re.fullmatch(
        re.escape(str(tmp_path / 'out')) + r'_20240101-([0-9a-f]{8})\.pth',
        path)
    with open(path, 'rb') as f:
        assert hashlib.sha256(f.read()).hexdigest()[:8] == match.group(1)
    published = _plain_load(path)
    got = published['meta']
    assert type(got['best']) is float and got['best'] == 0.25
    assert type(got['steps']) is int and got['steps'] == 7
    assert got['hist'] == [0, 1]
    assert type(got['cfg']) is dict and got['cfg'] == {'a': 1, 'b': (1, 2)}
    assert tuple(got['dataset_meta']['classes']) == DIGIT_CLASSES
    assert set(published) == {'meta', 'state_dict'}
    assert torch.equal(published['state_dict']['w'], state['w'])


@pytest.mark.parametrize('value, expected', [
    (np.float64(1.5), 1.5),
    (np.bool_(True), True),
    ((np.int32(2), 'a'), (2, 'a')),
    ({
        'k': [np.float32(0.5)]
    }, {
        'k': [0.5]
    }),
    (torch.tensor([1, 2]), [1, 2]),
])
def test_to_plain_python(value, expected):
    got = to_plain_python(value)
    assert got == expected and type(got) is type(expected)


def test_to_plain_python_names_the_bad_entry():
    with pytest.raises(TypeError, match=r"meta\['x'\]\[1\] is a set"):
        to_plain_python({'x': [1, {2}]})


# ----------------------------------------------------------------- index
def test_index_lists_every_config_once():
    """Every method folder has a metafile imported by model-index.yml, and
    every config of a method folder is one indexed model."""
    with open(osp.join(REPO, 'model-index.yml')) as f:
        imports = re.findall(r'^\s*-\s*(\S+metafile\.yml)\s*$', f.read(), re.M)
    folders = [osp.join(CONFIGS, d) for d in method_folders()]
    assert sorted(imports) == sorted(
        osp.relpath(osp.join(d, 'metafile.yml'), REPO) for d in folders)
    configs = sorted(
        p for d in folders for p in glob.glob(osp.join(d, '*.py')))
    indexed = sorted(get_model_info(n).config for n in list_models())
    assert indexed == configs


def test_index_metrics_are_sourced():
    """Every result has a stated source; only configs with a published
    number of their own setting carry one (the authors' READMEs, or the
    papers' tables for the issue 16 recipes)."""
    index = load_model_index()
    for info in index.values():
        if info.results:
            assert 'Results Source' in info.extra, info.name
            assert not info.weights  # no mmcsra weights published yet
    expected = {  # model -> (dataset, mAP) from the authors' README tables
        'resnet101_voc': ('PASCAL VOC 2007', 94.7),
        'resnet101_coco': ('MS-COCO 2014', 83.3),
        'vit-l16_coco': ('MS-COCO 2014', 86.5),
        'vit-b16_wider': ('WIDER Attribute', 89.0),
        # deep-object-reid README: EfficientNetV2-S + ML-Decoder + AAM
        'efficientnetv2-s_mld-aam_voc': ('PASCAL VOC 2007', 95.86),
        'efficientnetv2-s_mld-aam_coco': ('MS-COCO 2014', 88.75),
        # issue 16 recipes: the papers' table rows of their settings
        'resnet101_voc12': ('PASCAL VOC 2012 test (evaluation server)', 94.1),
        'resnet101-cut_voc12': ('PASCAL VOC 2012 test (evaluation server)',
                                94.6),
        'vit-l16_wider': ('WIDER Attribute test', 90.1),
        'vit-l16-randaug_coco': ('MS-COCO 2014', 86.9),
        'efficientnetv2-s_mld-aam_nuswide': ('NUS-WIDE', 67.60),
        'efficientnetv2-s_mld-aam-paper_voc': ('PASCAL VOC 2007', 95.86),
        'efficientnetv2-s_mld-aam-paper_coco': ('MS-COCO 2014', 88.75),
        'efficientnetv2-s_gat-aam_nuswide': ('NUS-WIDE', 66.85),
        'efficientnetv2-s_gat-aam-paper_voc': ('PASCAL VOC 2007', 96.00),
        'efficientnetv2-s_gat-aam-paper_coco': ('MS-COCO 2014', 87.70),
    }
    assert {n for n, i in index.items() if i.results} == set(expected)
    for name, (dataset, value) in expected.items():
        [result] = index[name].results
        assert result['Dataset'] == dataset
        assert result['Metrics'] == {'mAP': value}
    assert index['resnet101_voc'].paper['URL'] == \
        'https://arxiv.org/abs/2108.02456'


def test_index_epochs_match_the_configs():
    """A model's ``Metadata.Epochs`` is its config's ``max_epochs``."""
    checked = 0
    for info in load_model_index().values():
        if 'Epochs' not in info.metadata:
            continue
        cfg = Config.fromfile(info.config)
        assert info.metadata['Epochs'] == cfg.train_cfg.max_epochs, info.name
        checked += 1
    assert checked >= 20  # the demo and paper configs state their epochs


def test_list_models_patterns():
    names = list_models()
    assert names == sorted(names) and len(set(names)) == len(names)
    assert list_models('resnet101') == [
        n for n in names if n.startswith('resnet101')
    ]
    assert {'resnet101_coco', 'resnet101_voc'} <= set(list_models('resnet101'))
    assert list_models('RESNET*voc') == [
        n for n in names if n.startswith('resnet') and 'voc' in n
    ]
    assert set(list_models('vit', exclude_patterns=['vit-b16'])) == {
        n
        for n in names if n.startswith('vit') and not n.startswith('vit-b16')
    }
    with_results = list_models(task='Multi-Label Classification')
    assert with_results == [n for n in names if get_model_info(n).results]


@functools.lru_cache()
def _torchvision_resnet101_params() -> int:
    """Parameters of ResNet-101 without its 1000-way fc (torchvision)."""
    net = torchvision.models.resnet101(weights=None)
    return sum(p.numel() for n, p in net.named_parameters()
               if not n.startswith('fc.'))


@pytest.mark.parametrize('name', list_models())
def test_get_model_builds_every_indexed_model(name):
    """Construction only (pretrained=None: no weights, no download).

    Checks the class count against the dataset's METAINFO, the parameter
    count of the ResNet-101 CSRA models against torchvision's ResNet-101
    plus H*C*2048 classifier weights, and runs a 64 px forward (ResNets are
    size-agnostic, MMPretrain's ViT resizes its position embedding)."""
    cfg = Config.fromfile(get_model_info(name).config)
    neck = cfg.model.get('neck') or {}
    for key in ('cooccurrence', 'label_embeddings'):
        path = neck.get(key) if isinstance(neck, dict) else None
        if isinstance(path, str) and not osp.isfile(path):  # as the neck
            pytest.skip(f'{name} reads {path} (the ML-GCN label-graph data in '
                        "shared/, beside the repository; not shipped with "
                        'mmcsra) and it is not there')
    model = get_model(name)
    num_classes = cfg.model.head.num_classes
    assert not model.training
    classes = model._dataset_meta.get('classes')
    if classes:  # COCO reads its class names from the annotation file
        assert len(classes) == num_classes
    if cfg.model.backbone.type == 'ResNet' and \
            cfg.model.backbone.depth == 101 and \
            cfg.model.head.type == 'CSRAHead':
        heads = model.head.csra.num_heads
        assert sum(p.numel() for p in model.parameters()) == \
            _torchvision_resnet101_params() + heads * num_classes * 2048
    with torch.no_grad():
        logits = model(torch.rand(1, 3, 64, 64), mode='tensor')
    assert logits.shape == (1, num_classes)
    assert torch.isfinite(logits).all()


def test_get_model_errors(tmp_path):
    with pytest.raises(ValueError, match='no published weights'):
        get_model('resnet18_multidigits', pretrained=True)
    with pytest.raises(ValueError, match='needs a model name'):
        get_model(DEMO_CFG, pretrained=True)
    with pytest.raises(ValueError, match='no model named'):
        get_model('resnet999_voc')
    with pytest.raises(FileNotFoundError):
        get_model(
            'resnet18_multidigits', pretrained=str(tmp_path / 'missing.pth'))


def test_get_model_local_round_trip(trained, tmp_path):
    """get_model(name, pretrained=<published file>) == the trained model."""
    path = publish_checkpoint(
        trained['ckpt'], str(tmp_path / 'demo.pth'), ema=True)
    loaded = get_model('resnet18_multidigits', pretrained=path)
    assert tuple(loaded._dataset_meta['classes']) == DIGIT_CLASSES

    reference = get_model(DEMO_CFG)  # same config, random weights
    reference.load_state_dict(safe_torch_load(trained['ckpt'])['state_dict'])
    torch.manual_seed(0)
    images = torch.rand(2, 3, 96, 96) * 255
    with torch.no_grad():
        expected = reference(
            reference.data_preprocessor({'inputs': images})['inputs'],
            mode='tensor')
        got = loaded(
            loaded.data_preprocessor({'inputs':
                                      copy.deepcopy(images)})['inputs'],
            mode='tensor')
    assert torch.equal(got, expected)
    # and the weights are the EMA ones, not the raw ones
    _assert_weights(loaded.state_dict(), trained['ema'])


@pytest.mark.parametrize('models, message', [
    ('  - {Name: m, In Collection: B, Config: c.py}\n',
     'Invalid collection name `B`'),
    ('  - {Name: m, In Collection: A, Config: missing.py}\n',
     "names config 'missing.py', which does not exist"),
    ('  - {Name: m, In Collection: A, Config: c.py}\n'
     '  - {Name: M, In Collection: A, Config: c.py}\n', "'M' appears twice"),
])
def test_bad_index_is_refused(tmp_path, models, message):
    (tmp_path / 'c.py').write_text('x = 1\n')
    (tmp_path /
     'metafile.yml').write_text('Collections:\n  - Name: A\nModels:\n' +
                                models)
    (tmp_path / 'model-index.yml').write_text('Import:\n  - metafile.yml\n')
    with pytest.raises(ValueError, match=re.escape(message)):
        load_model_index(str(tmp_path / 'model-index.yml'))


def test_registered_in_mmpretrain_model_hub():
    """MMPretrain's ModelHub finds every mmcsra model (issue 6)."""
    import mmpretrain
    from mmcsra.apis import register_to_mmpretrain
    register_to_mmpretrain()
    register_to_mmpretrain()  # idempotent
    assert set(mmpretrain.list_models('resnet18')) >= {
        n.lower()
        for n in list_models('resnet18')
    }
    model = mmpretrain.get_model('resnet18_multidigits')
    assert type(model.head).__name__ == 'CSRAHead'
    assert model.head.num_classes == 10


def test_old_model_names_still_resolve_with_a_warning():
    """Names were ``{method folder}_{config stem}`` before the metafile
    ``Name`` became the config stem: the old name finds the same entry and
    warns; a name that never existed is still an error."""
    with pytest.warns(DeprecationWarning, match="now named 'resnet101_voc'"):
        info = get_model_info('csra_resnet101_voc')
    assert info.name == 'resnet101_voc'
    assert info.config.endswith(
        osp.join('configs', 'csra', 'resnet101_voc.py'))
    with pytest.warns(DeprecationWarning):
        assert get_model_info('ml_decoder_efficientnetv2-s_mld-aam_voc'
                              ).name == 'efficientnetv2-s_mld-aam_voc'
    with pytest.raises(ValueError, match='no model named'):
        get_model_info('cat_resnet101_voc')  # wrong folder for that stem


# ------------------------------------------------------ finding the index
def _fake_zoo(root, name):
    """``root/model-index.yml`` importing one metafile with one model
    ``name`` whose config is ``root/configs/fake/<name>.py``."""
    folder = root / 'configs' / 'fake'
    folder.mkdir(parents=True)
    (folder / f'{name}.py').write_text('x = 1\n')
    (folder / 'metafile.yml').write_text(
        'Collections:\n  - Name: Fake\nModels:\n'
        f'  - {{Name: {name}, In Collection: Fake, '
        f'Config: configs/fake/{name}.py}}\n')
    (root /
     'model-index.yml').write_text('Import:\n  - configs/fake/metafile.yml\n')
    return str(root)


def _distribution(site, url, editable):
    """An installed ``mmcsra`` distribution (``site/mmcsra-0.0.test.
    dist-info``) whose PEP 610 ``direct_url.json`` points at ``url``."""
    info = site / 'mmcsra-0.0.test.dist-info'
    info.mkdir(parents=True)
    (info / 'METADATA'
     ).write_text('Metadata-Version: 2.1\nName: mmcsra\nVersion: 0.0.test\n')
    dir_info = {'editable': True} if editable else {}
    (info / 'direct_url.json').write_text(
        json.dumps({
            'url': url,
            'dir_info': dir_info
        }))
    return importlib.metadata.PathDistribution(info)


def test_zoo_lookup_order(tmp_path):
    """Package data (a wheel's mmcsra/.mim) first, then the checkout of an
    editable install (direct_url.json), then the directory the package is
    in. A src layout tells the last two apart."""
    checkout = tmp_path / 'checkout'
    package = checkout / 'src' / 'mmcsra'
    package.mkdir(parents=True)
    wheel_root = _fake_zoo(package / '.mim', 'from_wheel')
    editable_root = _fake_zoo(checkout, 'from_checkout')
    parent_root = _fake_zoo(checkout / 'src', 'from_parent')
    editable = _distribution(tmp_path / 'site', checkout.as_uri(), True)

    root = model_zoo.model_zoo_root(str(package), [editable])
    assert root == wheel_root
    index = load_model_index(osp.join(root, 'model-index.yml'))
    assert list(index) == ['from_wheel']
    assert index['from_wheel'].config == osp.join(wheel_root, 'configs',
                                                  'fake', 'from_wheel.py')

    (package / '.mim' / 'model-index.yml').unlink()  # not a wheel
    assert model_zoo.model_zoo_root(str(package), [editable]) == \
        editable_root
    assert model_zoo.model_zoo_root(str(package), []) == parent_root
    # a non-editable install, or an editable install of another checkout
    # (one that does not contain the imported package), is not used
    for dist in (_distribution(tmp_path / 'site2', checkout.as_uri(), False),
                 _distribution(tmp_path / 'site3',
                               tmp_path.as_uri() + '/other', True)):
        assert model_zoo.model_zoo_root(str(package), [dist]) == parent_root
    # the first distribution that is an editable install of it counts
    assert model_zoo.model_zoo_root(
        str(package), [
            _distribution(tmp_path / 'site4', checkout.as_uri(), False),
            editable
        ]) == editable_root


def test_zoo_not_found_lists_the_places(tmp_path):
    package = tmp_path / 'site' / 'mmcsra'
    package.mkdir(parents=True)
    wheel = (tmp_path / 'mmcsra-0.0.test-py3-none-any.whl').as_uri()
    dist = _distribution(tmp_path / 'site', wheel, False)
    with pytest.raises(FileNotFoundError) as info:
        model_zoo.model_zoo_root(str(package), [dist])
    site = tmp_path / 'site'
    assert str(info.value).splitlines() == [
        "mmcsra's model zoo (model-index.yml and configs/) was not found; "
        'searched:',
        '  1. package data (mmcsra/.mim, as in a wheel): no '
        f'{package}/.mim/model-index.yml',
        '  2. editable install (direct_url.json): mmcsra 0.0.test in '
        f'{site}: not an editable install ({wheel}): not searched',
        f'  3. source checkout containing the package: no '
        f'{site}/model-index.yml',
        'Install a wheel built from the repository (it ships them in '
        'mmcsra/.mim) or install a checkout with `pip install -e .`.',
    ]
    with pytest.raises(
            FileNotFoundError,
            match=re.escape(
                '2. editable install (direct_url.json): no mmcsra distribution '
                'installed: not searched')):
        model_zoo.model_zoo_root(str(package), [])


@pytest.fixture
def fresh_zoo_lookup():
    """The default lookup is cached; start and end with an empty cache."""
    model_zoo._default_root.cache_clear()
    yield
    model_zoo._default_root.cache_clear()


def test_list_models_reads_package_data(tmp_path, monkeypatch,
                                        fresh_zoo_lookup):
    """An installed wheel (mmcsra/.mim, no checkout, no editable install):
    list_models / get_model_info read the index shipped in the package."""
    package = tmp_path / 'site' / 'mmcsra'
    package.mkdir(parents=True)
    root = _fake_zoo(package / '.mim', 'from_wheel')
    monkeypatch.setattr(model_zoo, '_package_dir', lambda: str(package))
    monkeypatch.setattr(model_zoo, '_installed_distributions', lambda: [])
    assert model_zoo.model_index_path() == osp.join(root, 'model-index.yml')
    assert list_models() == ['from_wheel']
    assert get_model_info('from_wheel').config == osp.join(
        root, 'configs', 'fake', 'from_wheel.py')


def test_this_checkout_is_found(fresh_zoo_lookup):
    """Here (an editable install or a checkout on sys.path, no .mim) the
    zoo is the repository's."""
    assert not osp.exists(osp.join(REPO, 'mmcsra', '.mim'))
    assert model_zoo.model_zoo_root() == REPO
    assert model_zoo.model_index_path() == osp.join(REPO, 'model-index.yml')
