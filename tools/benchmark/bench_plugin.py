"""The same model from MMPretrain's components and from mmcsra's: step time.

    python tools/benchmark/bench_plugin.py [--quick] [--repeats 10]
        [--size 224] [--batch 8] [--classes 20] [--threads 1] [--seed 0]

Two ``ImageClassifier`` models, trained by their own ``train_step`` (data
preprocessor, forward, loss, backward, SGD step) on the same batch:

* **MMPretrain**: ResNet-50 + ``CSRAClsHead`` (H = 1, lambda = 0.1) with its
  default loss, ``CrossEntropyLoss(use_sigmoid=True)`` (sum over classes,
  mean over the batch);
* **mmcsra**: the same ResNet-50 + ``CSRAHead`` (H = 1, lambda = 0.1) with
  ``MultiLabelBCELoss(loss_weight=C)`` (mean over the B x C entries, times
  C: the same loss).

The mmcsra model starts from the MMPretrain model's weights (the backbone's
state dict, the head's conv weight copied into the stacked classifier), so
both compute the same function: the output reports the largest difference
of their logits before training and the difference of their first losses
(later steps drift apart by rounding only).

Steps alternate between the two models (the order flips every round, after
one untimed warm-up step each); the ratio is ``median(mmcsra) /
median(MMPretrain)``, also given as the median of the per-round ratios.
Target: <= 1.02. ``--quick`` (for the test suite): 64 px, batch 2,
2 rounds.
"""
import argparse
import statistics
import time
from typing import List, Optional, Sequence

import torch

QUICK = dict(size=64, batch=2, repeats=2)
FULL = dict(size=224, batch=8, repeats=10)


def build_models(num_classes: int, seed: int):
    """(MMPretrain model, mmcsra model) with the same weights."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import mmcsra  # noqa: F401
    init_default_scope('mmpretrain')
    torch.manual_seed(seed)
    common = dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=50, out_indices=(3, )),
        data_preprocessor=dict(
            type='ClsDataPreprocessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            to_rgb=True))
    theirs = MODELS.build(
        dict(
            common,
            head=dict(
                type='CSRAClsHead',
                num_classes=num_classes,
                in_channels=2048,
                num_heads=1,
                lam=0.1)))
    ours = MODELS.build(
        dict(
            common,
            head=dict(
                type='CSRAHead',
                num_classes=num_classes,
                in_channels=2048,
                num_heads=1,
                lam=0.1,
                loss=dict(
                    type='MultiLabelBCELoss',
                    loss_weight=float(num_classes)))))
    ours.backbone.load_state_dict(theirs.backbone.state_dict())
    with torch.no_grad():
        ours.head.csra.classifier.weight.copy_(
            theirs.head.csra_heads[0].head.weight[:, :, 0, 0])
    return theirs, ours


def make_batch(size: int, batch: int, num_classes: int, seed: int) -> dict:
    """uint8 images and multi-label samples, as a data loader gives them."""
    from mmpretrain.structures import DataSample

    gen = torch.Generator().manual_seed(seed)
    images = [
        torch.randint(
            0, 256, (3, size, size), generator=gen, dtype=torch.uint8)
        for _ in range(batch)
    ]
    samples = []
    for _ in range(batch):
        labels = torch.nonzero(
            torch.rand(num_classes, generator=gen) < 0.15).flatten()
        if labels.numel() == 0:
            labels = torch.tensor([0])
        samples.append(DataSample().set_gt_label(labels))
    return dict(inputs=images, data_samples=samples)


def optim_wrapper(model):
    from mmengine.optim import OptimWrapper
    return OptimWrapper(
        torch.optim.SGD(
            model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4))


def benchmark(size: int, batch: int, num_classes: int, repeats: int,
              seed: int) -> dict:
    theirs, ours = build_models(num_classes, seed)
    data = make_batch(size, batch, num_classes, seed)
    with torch.no_grad():  # the same function before any step
        theirs.eval()
        ours.eval()
        x = theirs.data_preprocessor(data, False)['inputs']
        logit_diff = (theirs.head(theirs.extract_feat(x)) -
                      ours.head(ours.extract_feat(x))).abs().max().item()
    theirs.train()
    ours.train()
    wrappers = {
        'MMPretrain': optim_wrapper(theirs),
        'mmcsra': optim_wrapper(ours)
    }
    models = {'MMPretrain': theirs, 'mmcsra': ours}
    times = {name: [] for name in models}
    losses = {name: [] for name in models}

    def step(name: str) -> float:
        start = time.perf_counter()
        out = models[name].train_step(data, wrappers[name])
        elapsed = time.perf_counter() - start
        losses[name].append(out['loss'].item())
        return elapsed

    for name in models:  # warm-up (also the first compared step)
        step(name)
    for r in range(repeats):
        order = ('MMPretrain', 'mmcsra') if r % 2 == 0 else ('mmcsra',
                                                             'MMPretrain')
        for name in order:
            times[name].append(step(name))
    diffs = [
        abs(a - b) for a, b in zip(losses['mmcsra'], losses['MMPretrain'])
    ]
    return dict(
        size=size,
        batch=batch,
        num_classes=num_classes,
        repeats=repeats,
        times=times,
        losses=losses,
        first_loss_diff=diffs[0],
        loss_diff=max(diffs),
        logit_diff=logit_diff)


def format_result(result: dict) -> str:
    times = result['times']
    med = {name: statistics.median(t) for name, t in times.items()}
    pair_ratios: List[float] = [
        a / b for a, b in zip(times['mmcsra'], times['MMPretrain'])
    ]
    ratio = med['mmcsra'] / med['MMPretrain']
    lines = [
        f"### ResNet-50 + CSRA (H=1), {result['size']} px, batch "
        f"{result['batch']}, {result['num_classes']} classes: full train "
        f"step ({result['repeats']} rounds, alternating)", '',
        '| model | median (ms) | min (ms) | max (ms) | first loss | '
        'last loss |', '|---|---|---|---|---|---|'
    ]
    for name in ('MMPretrain', 'mmcsra'):
        t, loss = times[name], result['losses'][name]
        lines.append(f'| {name} | {1e3 * med[name]:.1f} | '
                     f'{1e3 * min(t):.1f} | {1e3 * max(t):.1f} | '
                     f'{loss[0]:.6f} | {loss[-1]:.6f} |')
    lines += [
        '',
        f'ratio mmcsra / MMPretrain = {ratio:.3f} (median of per-round '
        f'ratios {statistics.median(pair_ratios):.3f}); target <= 1.02: '
        f"{'met' if ratio <= 1.02 else 'NOT met'}",
        f"same function: max |logit difference| before training = "
        f"{result['logit_diff']:.2e}, |loss difference| at the first step = "
        f"{result['first_loss_diff']:.2e} (over all "
        f"{len(result['losses']['mmcsra'])} steps, where rounding "
        f"differences grow: {result['loss_diff']:.2e})",
    ]
    return '\n'.join(lines)


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--quick',
        action='store_true',
        help='64 px, batch 2, 2 rounds (for the test suite)')
    parser.add_argument(
        '--repeats', type=int, default=None, help='timed rounds (default 10)')
    parser.add_argument(
        '--size', type=int, default=None, help='image side (default 224)')
    parser.add_argument(
        '--batch', type=int, default=None, help='batch size (default 8)')
    parser.add_argument('--classes', type=int, default=20)
    parser.add_argument(
        '--threads',
        type=int,
        default=1,
        help='torch intra-op threads (default 1)')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    preset = QUICK if args.quick else FULL
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        result = benchmark(args.size or preset['size'], args.batch
                           or preset['batch'], args.classes, args.repeats
                           or preset['repeats'], args.seed)
    finally:  # the caller's setting (e.g. the test process)
        torch.set_num_threads(threads)
    text = (f'torch {torch.__version__}, threads {args.threads}, seed '
            f'{args.seed}, CPU\n\n' + format_result(result))
    print(text)
    return text


if __name__ == '__main__':
    main()
