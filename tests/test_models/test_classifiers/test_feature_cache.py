"""FrozenBackboneClassifier + FeatureCacheHook in mmengine's Runner.

A tiny EfficientNetLite (random weights, non-trivial BN statistics) on eight
32-px PNGs in an ImageNet-style folder (mmpretrain ``CustomDataset``).
"""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.runner import Runner

import mmcsra  # noqa: F401
from mmcsra.engine.hooks import FeatureCacheHook
from mmcsra.engine.hooks.feature_cache_hook import (feature_cache_key,
                                                    random_transforms)
from mmcsra.models.classifiers import (FrozenBackboneClassifier,
                                       StaleFeatureCacheError)

from utils import TOOLS

N_IMAGES, BATCH, EPOCHS = 8, 4, 3
DET_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 32)),
    dict(type='PackInputs'),
]


@pytest.fixture(scope='module')
def image_folder(tmp_path_factory):
    from PIL import Image
    root = tmp_path_factory.mktemp('imgs')
    rng = np.random.default_rng(0)
    for i in range(N_IMAGES):
        cls_dir = root / f'class{i % 2}'
        cls_dir.mkdir(exist_ok=True)
        pixels = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(cls_dir / f'{i}.png')
    return root


@pytest.fixture(scope='module')
def backbone_ckpt(tmp_path_factory):
    """Random Lite0 weights with non-trivial BN statistics, saved so that
    the Runner's init_weights loads the same backbone in every run."""
    from mmcsra.models.backbones import EfficientNetLite
    torch.manual_seed(5)
    net = EfficientNetLite('lite0')
    net.init_weights()
    _seeded_bn_stats(net)
    path = tmp_path_factory.mktemp('ckpt') / 'lite0_random.pth'
    torch.save({'state_dict': net.state_dict()}, path)
    return str(path)


def _model_cfg(checkpoint=None):
    init = None if checkpoint is None else dict(
        type='Pretrained', checkpoint=checkpoint)
    return dict(
        type='FrozenBackboneClassifier',
        data_preprocessor=dict(mean=[127.0] * 3, std=[128.0] * 3, to_rgb=True),
        backbone=dict(type='EfficientNetLite', arch='lite0', init_cfg=init),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=2, in_channels=1280))


def _seeded_bn_stats(module):
    g = torch.Generator().manual_seed(3)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - .5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + .5)


def _runner(tmp_path,
            folder,
            name,
            ckpt,
            pipeline=DET_PIPELINE,
            hook=True,
            cache_dir=None):
    hook_cfg = dict(type='FeatureCacheHook', cache_dir=cache_dir)
    return Runner(
        model=_model_cfg(ckpt),
        work_dir=str(tmp_path / name),
        experiment_name=f'feature-cache-{tmp_path.name}-{name}',
        train_dataloader=dict(
            dataset=dict(
                type='CustomDataset',
                data_root=str(folder),
                pipeline=copy.deepcopy(pipeline)),
            sampler=dict(type='DefaultSampler', shuffle=True, seed=1),
            batch_size=BATCH,
            num_workers=0,
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=True, max_epochs=EPOCHS),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.5)),
        custom_hooks=[hook_cfg] if hook else [],
        default_hooks=dict(checkpoint=None),
        default_scope='mmpretrain',
        randomness=dict(seed=0),
        log_level='WARNING')


def _hook(runner):
    return next(h for h in runner.hooks if isinstance(h, FeatureCacheHook))


def test_cached_training_equals_uncached(tmp_path, image_folder,
                                         backbone_ckpt):
    cached = _runner(tmp_path, image_folder, 'cached', backbone_ckpt)
    before = torch.load(backbone_ckpt, weights_only=True)['state_dict']
    cached.train()
    plain = _runner(tmp_path, image_folder, 'plain', backbone_ckpt, hook=False)
    plain.train()

    model = cached.model
    assert _hook(cached).enabled and _hook(cached).reason is None
    # every sample computed once, read in the later epochs
    assert model.feature_cache_size == N_IMAGES
    assert model.cache_misses == N_IMAGES
    assert model.cache_hits == N_IMAGES * (EPOCHS - 1)
    assert plain.model.feature_cache_size == 0

    # frozen: weights and BN running statistics untouched, eval mode kept
    after = model.backbone.state_dict()
    for key, value in before.items():
        assert torch.equal(value, after[key]), key
    assert not model.backbone.training
    assert not any(p.requires_grad for p in model.backbone.parameters())
    # the head trained, the same way with and without the cache
    w_cached = model.head.fc.weight.detach()
    w_plain = plain.model.head.fc.weight.detach()
    torch.manual_seed(0)
    init = torch.nn.Linear(1280, 2).weight  # not the trained weights
    assert (w_cached - w_plain).abs().max().item() <= 1e-5
    assert (w_cached - init).abs().max().item() > 1e-3
    assert (model.head.fc.bias - plain.model.head.fc.bias).abs().max() \
        <= 1e-5


def test_random_pipeline_is_not_cached(tmp_path, image_folder, backbone_ckpt):
    pipeline = DET_PIPELINE[:2] + [
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        DET_PIPELINE[2]
    ]
    runner = _runner(
        tmp_path, image_folder, 'random', backbone_ckpt, pipeline=pipeline)
    runner.train()
    hook = _hook(runner)
    assert not hook.enabled
    assert 'RandomFlip' in hook.reason
    assert runner.model.feature_cache_size == 0
    assert runner.model.cache_hits == runner.model.cache_misses == 0


def test_transform_classification():
    assert random_transforms(DET_PIPELINE) == []
    cfg = [
        dict(type='LoadImageFromFile'),
        dict(type='RandomResizedCrop', scale=32),
        dict(
            type='RandAugment',
            policies='timm_increasing',
            num_policies=2,
            total_level=10,
            magnitude_level=9),
        dict(type='MyOwnResize'),  # unknown: random until declared
        dict(type='mmpretrain.PackInputs')
    ]
    assert random_transforms(cfg) == [
        'RandomResizedCrop', 'RandAugment', 'MyOwnResize'
    ]
    assert random_transforms(
        cfg, ['MyOwnResize']) == ['RandomResizedCrop', 'RandAugment']
    nested = [dict(type='RandomApply', transforms=[dict(type='Resize')])]
    assert random_transforms(nested) == ['RandomApply']


def test_key_changes_with_pipeline_data_and_weights():
    from mmpretrain.registry import MODELS
    model = MODELS.build(_model_cfg())
    ds = dict(type='CustomDataset', data_root='a', pipeline=DET_PIPELINE)
    base = feature_cache_key(ds, model.frozen_state_hash())
    other_pipe = copy.deepcopy(ds)
    other_pipe['pipeline'][1]['scale'] = (48, 48)
    assert feature_cache_key(other_pipe, model.frozen_state_hash()) != base
    assert feature_cache_key(
        dict(ds, data_root='b'), model.frozen_state_hash()) != base
    same = feature_cache_key(copy.deepcopy(ds), model.frozen_state_hash())
    assert same == base
    with torch.no_grad():
        model.backbone.layers[8].bn.running_var[0] += 1e-3  # a BN buffer
    assert feature_cache_key(ds, model.frozen_state_hash()) != base
    # a new key empties the cache
    model.enable_feature_cache('k1')
    model._cache[(0, 'x')] = (torch.zeros(1), )
    model.enable_feature_cache('k1')
    assert model.feature_cache_size == 1
    model.enable_feature_cache('k2')
    assert model.feature_cache_size == 0


def test_weights_changed_mid_run_drop_the_cache(tmp_path, image_folder,
                                                backbone_ckpt):
    runner = _runner(tmp_path, image_folder, 'reload', backbone_ckpt)
    runner.train_loop  # build the loop and dataloader
    hook = _hook(runner)
    runner.call_hook('before_train')
    model = runner.model
    data = next(iter(runner.train_dataloader))
    model.train()
    model.loss(**model.data_preprocessor(data, True))
    assert model.feature_cache_size == BATCH
    with torch.no_grad():
        model.backbone.layers[0].conv.weight.mul_(1.5)
    runner.call_hook('before_train_epoch')
    assert model.feature_cache_size == 0
    assert hook.key == model.cache_key


def test_stale_entry_fails_loudly():
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg()).train()
    _seeded_bn_stats(model.backbone)
    inputs = torch.randn(2, 3, 32, 32)
    samples = [
        DataSample(
            metainfo=dict(sample_idx=i, img_path=f'{i}.png')).set_gt_label(i)
        for i in range(2)
    ]
    model.enable_feature_cache('k')
    first = model.loss(inputs, samples)['loss']
    again = model.loss(inputs, samples)['loss']  # from the cache
    assert again.item() == pytest.approx(first.item(), abs=1e-6)
    model.verify_feature_cache_next()
    model.loss(inputs, samples)  # fresh == cached: passes
    model._cache[(1, '1.png')] = tuple(t + 1
                                       for t in model._cache[(1, '1.png')])
    model._cache[(0, '0.png')] = tuple(t + 1
                                       for t in model._cache[(0, '0.png')])
    model.verify_feature_cache_next()
    with pytest.raises(StaleFeatureCacheError, match='not deterministic'):
        model.loss(inputs, samples)


def test_generic_backbone_frozen_across_train_calls():
    """Any MMPretrain backbone: eval mode and no grad survive train()."""
    model = FrozenBackboneClassifier(
        backbone=dict(type='ResNet_CIFAR', depth=18),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=2, in_channels=512),
        freeze_neck=True)
    model.train()
    assert not model.backbone.training and not model.neck.training
    assert model.head.training
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    with pytest.raises(ValueError, match='needs a neck'):
        FrozenBackboneClassifier(
            backbone=dict(type='ResNet_CIFAR', depth=18), freeze_neck=True)


def test_disk_cache_is_shared_by_runs_with_the_same_key(
        tmp_path, image_folder, backbone_ckpt):
    shared = str(tmp_path / 'shared_cache')
    first = _runner(
        tmp_path, image_folder, 'disk1', backbone_ckpt, cache_dir=shared)
    first.train()
    files = list((tmp_path / 'shared_cache').glob('*/rank0.pth'))
    assert len(files) == 1 and files[0].parent.name == first.model.cache_key
    second = _runner(
        tmp_path, image_folder, 'disk2', backbone_ckpt, cache_dir=shared)
    second.train()
    assert second.model.cache_misses == 0  # nothing recomputed
    assert second.model.cache_hits == N_IMAGES * EPOCHS
    assert (second.model.head.fc.weight -
            first.model.head.fc.weight).abs().max().item() <= 1e-5
    # another pipeline: another key, another file, nothing read
    third = _runner(
        tmp_path,
        image_folder,
        'disk3',
        backbone_ckpt,
        cache_dir=shared,
        pipeline=[
            DET_PIPELINE[0],
            dict(type='Resize', scale=(24, 24)), DET_PIPELINE[2]
        ])
    third.train()
    assert third.model.cache_misses == N_IMAGES
    assert len(list((tmp_path / 'shared_cache').glob('*/rank0.pth'))) == 2


def test_disk_cache_of_another_key_or_hostile_file_is_refused(
        tmp_path, image_folder, backbone_ckpt):
    import os
    import pickle

    from mmcsra.engine import UnsafeCheckpointError
    shared = tmp_path / 'c'
    run = _runner(
        tmp_path, image_folder, 'bad1', backbone_ckpt, cache_dir=str(shared))
    run.train()
    (path, ) = shared.glob('*/rank0.pth')
    data = torch.load(path, weights_only=True)
    data['key'] = 'f' * 64  # a file moved under the wrong key
    torch.save(data, path)
    again = _runner(
        tmp_path, image_folder, 'bad2', backbone_ckpt, cache_dir=str(shared))
    with pytest.raises(ValueError, match='another key'):
        again.train()

    class Boom:

        def __reduce__(self):
            return (os.system, ('echo pwned > ' + str(tmp_path / 'x'), ))

    with open(path, 'wb') as f:
        pickle.dump({'key': Boom()}, f)
    hostile = _runner(
        tmp_path, image_folder, 'bad3', backbone_ckpt, cache_dir=str(shared))
    with pytest.raises(UnsafeCheckpointError) as err:
        hostile.train()
    assert not (tmp_path / 'x').exists()
    assert 'pwned' not in str(err.value)


def _ddp_worker(rank, world, port, folder, ckpt, work_dir, out):
    """One rank: a cached and an uncached DDP run of the same config."""
    import os
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(port),
        OMP_NUM_THREADS='1')
    torch.set_num_threads(1)
    from mmcsra.engine import setup_distributed_env
    results = {}
    for cached in (True, False):
        cfg = dict(
            model=_model_cfg(ckpt),
            work_dir=f'{work_dir}/{int(cached)}',
            experiment_name=f'feature-cache-ddp-{int(cached)}',
            train_dataloader=dict(
                dataset=dict(
                    type='CustomDataset',
                    data_root=folder,
                    pipeline=copy.deepcopy(DET_PIPELINE)),
                sampler=dict(type='DefaultSampler', shuffle=True, seed=1),
                batch_size=BATCH // world,
                num_workers=0,
                collate_fn=dict(type='default_collate')),
            train_cfg=dict(by_epoch=True, max_epochs=EPOCHS),
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.5)),
            custom_hooks=[dict(type='FeatureCacheHook')] if cached else [],
            default_hooks=dict(checkpoint=None),
            default_scope='mmpretrain',
            randomness=dict(seed=0),
            log_level='WARNING',
            launcher='pytorch')
        setup_distributed_env(cfg, 'pytorch')
        cfg['cfg'] = dict(model_wrapper_cfg=cfg.pop('model_wrapper_cfg'))
        runner = Runner(**cfg)
        runner.train()
        model = runner.model.module
        results[cached] = dict(
            size=model.feature_cache_size,
            misses=model.cache_misses,
            hits=model.cache_hits,
            weight=model.head.fc.weight.detach().clone())
    torch.save(results, f'{out}/rank{rank}.pth')
    # Without the barrier a rank that finishes first tears down its gloo
    # pairs while the other is still in its last collective, and that rank
    # dies with SIGABRT ("terminate called without an active exception").
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


def test_ddp_each_rank_caches_its_own_samples(tmp_path, image_folder,
                                              backbone_ckpt):
    import socket

    import torch.multiprocessing as mp
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    world = 2
    mp.spawn(
        _ddp_worker,
        nprocs=world,
        join=True,
        args=(world, port, str(image_folder), backbone_ckpt,
              str(tmp_path / 'w'), str(tmp_path)))
    ranks = [
        torch.load(tmp_path / f'rank{r}.pth', weights_only=True)
        for r in range(world)
    ]
    per_rank = N_IMAGES // world * EPOCHS  # samples a rank sees in the run
    for res in ranks:
        cached, plain = res[True], res[False]
        assert cached['misses'] == cached['size'] <= N_IMAGES
        assert cached['size'] >= N_IMAGES // world  # epoch 1's share
        assert cached['hits'] + cached['misses'] == per_rank
        assert cached['hits'] > 0
        assert plain['size'] == plain['hits'] == 0
        # DDP keeps the ranks' heads equal; the cache does not change them
        assert (cached['weight'] - plain['weight']).abs().max() <= 1e-5
    assert (ranks[0][True]['weight'] -
            ranks[1][True]['weight']).abs().max() <= 1e-6


def test_bench_feature_cache_quick():
    """The benchmark's --quick output is complete (numbers, not timings)."""
    import importlib.util
    path = osp.join(TOOLS, 'benchmark', 'bench_feature_cache.py')
    spec = importlib.util.spec_from_file_location('bench_feature_cache', path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    text = bench.main(['--quick'])
    # 16 images, 3 epochs: 16 computed once, read in epochs 2 and 3
    assert 'cache: 16 samples, 16 computed, 32 read' in text
    assert 'cached vs uncached: 0.00e+00' in text
    assert text.count('| cached (FeatureCacheHook) |') == 1
    assert 'speed-up of a cached epoch over an uncached epoch' in text
