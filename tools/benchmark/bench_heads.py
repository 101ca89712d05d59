"""Cost of each multi-label head over GAP + linear, as % of a ResNet-50 step.

    python tools/benchmark/bench_heads.py [--quick] [--repeats 10]
        [--backbone-repeats 3] [--batch 8] [--threads 1] [--seed 0]

Two settings, CPU, batch 8: **224 px with 20 classes** (VOC-like, features
``(B, 2048, 7, 7)``) and **448 px with 80 classes** (COCO-like,
``(B, 2048, 14, 14)``).

Each head runs alone on a fixed random feature map of ResNet-50's last
stage (D = 2048):

* *train*: forward, a binary cross-entropy on random 0/1 targets, backward
  to the head's weights **and** to the feature map (as in a real step, where
  the gradient goes on into the backbone);
* *inference*: forward in eval mode without gradients.

Heads: GAP + linear (the baseline: MMPretrain's ``GlobalAveragePooling`` +
``MultiLabelLinearClsHead``); mmcsra's ``CSRAHead`` with H = 1, 2, 4, 6, 8
(the paper's temperatures, lambda = 0.1); MMPretrain's ``CSRAClsHead`` with
the same H (it supports these five) and the same weights, copied into ours;
ML-Decoder (``MLDecoderHead``, its defaults: 768 wide, K = min(100, C)
queries);
the label-graph re-weighting neck (``LabelGraphReweightNeck``, GAT, 300-d
embeddings, 1024 hidden) followed by GAP + linear.

All heads are timed ``--repeats`` times, interleaved (one run of every head,
then the next round), after one untimed warm-up run each; the table shows
medians. The full ResNet-50 + GAP + linear model (MMPretrain's components)
is timed the same way on images of the setting's size with
``--backbone-repeats`` runs. A head's **cost** is its median time minus the
baseline head's, as a percentage of the ResNet-50 GAP step (train: forward +
loss + backward; inference: forward).

**FLOP bound** (CSRA rows): the classifier of H heads scores every class at
every location, ``H * C * D * HW`` multiply-accumulates per image, against
ResNet-50's 4.1 G multiply-accumulates per image at 224 px (x 4 at 448 px;
the "4.1 GFLOPs" usually quoted for ResNet-50 count multiply-accumulates, so
like is compared with like). A train step costs about 3 forwards for the
head and for the backbone alike, so the same ratio holds for train and
inference. It is a lower bound: a head that ran at the backbone's
arithmetic efficiency would cost exactly this; ``cost / bound`` says how far
from it the head is.

The last column compares each MMPretrain ``CSRAClsHead`` with mmcsra's
``CSRAHead`` holding the same weights: the largest absolute difference of
their logits (their T = 99 is max pooling, ours ``inf``).

``--quick`` (for the test suite): 224 px / 20 classes only, batch 2, 3
repeats, 1 backbone run.
"""
import argparse
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F

RESNET50_MACS_224 = 4.1e9  # multiply-accumulates per image at 224 px
CHANNELS = 2048
HEADS = (1, 2, 4, 6, 8)
FULL_SETTINGS = ((224, 20), (448, 80))
QUICK_SETTINGS = ((224, 20), )


def _build(cfg: dict):
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import mmcsra  # noqa: F401  (registers mmcsra's components)
    init_default_scope('mmpretrain')
    return MODELS.build(cfg)


class GapHead(torch.nn.Module):
    """A neck (or none), then a head; ``forward(x)`` -> (B, C) logits."""

    def __init__(self,
                 head: torch.nn.Module,
                 neck: Optional[torch.nn.Module] = None):
        super().__init__()
        self.neck = neck
        self.gap = _build(dict(type='GlobalAveragePooling'))
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = (x, )  # [B, D, H, W]
        if self.neck is not None:
            feats = self.neck(feats)
        return self.head(self.gap(feats))  # [B, C]


class FeatHead(torch.nn.Module):
    """A head fed the feature map directly."""

    def __init__(self, head: torch.nn.Module):
        super().__init__()
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head((x, ))  # [B, C]


def gap_linear(num_classes: int) -> torch.nn.Module:
    return GapHead(
        _build(
            dict(
                type='MultiLabelLinearClsHead',
                num_classes=num_classes,
                in_channels=CHANNELS)))


def csra_pair(num_classes: int, num_heads: int):
    """MMPretrain's CSRAClsHead and mmcsra's CSRAHead with the same weights."""
    theirs = _build(
        dict(
            type='CSRAClsHead',
            num_classes=num_classes,
            in_channels=CHANNELS,
            num_heads=num_heads,
            lam=0.1))
    ours = _build(
        dict(
            type='CSRAHead',
            num_classes=num_classes,
            in_channels=CHANNELS,
            num_heads=num_heads,
            lam=0.1))
    # their head h is a (C, D, 1, 1) conv; ours rows h*C .. (h+1)*C - 1
    stacked = torch.cat([m.head.weight[:, :, 0, 0] for m in theirs.csra_heads])
    with torch.no_grad():
        ours.csra.classifier.weight.copy_(stacked)
    return FeatHead(ours), FeatHead(theirs)


def ml_decoder(num_classes: int) -> torch.nn.Module:
    return FeatHead(
        _build(
            dict(
                type='MLDecoderHead',
                num_classes=num_classes,
                in_channels=CHANNELS)))


def graph_neck_gap(num_classes: int, seed: int) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    # a row-normalised random graph: the values do not change the cost
    adj = torch.rand(num_classes, num_classes, generator=gen)
    adj = (adj / adj.sum(1, keepdim=True)).tolist()
    neck = _build(
        dict(
            type='LabelGraphReweightNeck',
            num_classes=num_classes,
            in_channels=CHANNELS,
            adjacency=adj))
    head = _build(
        dict(
            type='MultiLabelLinearClsHead',
            num_classes=num_classes,
            in_channels=CHANNELS))
    return GapHead(head, neck)


def flop_bound(num_heads: int, num_classes: int, hw: int, size: int) -> float:
    """H*C*D*HW MACs of the classifier / ResNet-50's MACs, per image."""
    backbone = RESNET50_MACS_224 * (size / 224)**2
    return num_heads * num_classes * CHANNELS * hw / backbone


# ------------------------------------------------------------------ timing
def _train_step(module: torch.nn.Module, x: torch.Tensor,
                target: torch.Tensor) -> Callable[[], None]:

    def run():
        module.train()
        module.zero_grad(set_to_none=True)
        x.grad = None
        logits = module(x)  # [B, C]
        F.binary_cross_entropy_with_logits(logits, target).backward()

    return run


def _inference(module: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:

    def run():
        module.eval()
        with torch.no_grad():
            module(x)

    return run


def time_interleaved(runs: Dict[str, Callable[[], None]],
                     repeats: int) -> Dict[str, List[float]]:
    """Seconds of each run: one warm-up, then ``repeats`` rounds."""
    for run in runs.values():
        run()
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


def time_resnet50(size: int, num_classes: int, batch: int, repeats: int,
                  seed: int) -> Dict[str, float]:
    """Median seconds of ResNet-50 + GAP + linear: train step and forward."""
    model = _build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='ResNet', depth=50),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='MultiLabelLinearClsHead',
                num_classes=num_classes,
                in_channels=CHANNELS)))
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(batch, 3, size, size, generator=gen)
    target = (torch.rand(batch, num_classes, generator=gen) < 0.1).float()

    def train():
        model.train()
        model.zero_grad(set_to_none=True)
        logits = model.head(model.extract_feat(images))
        F.binary_cross_entropy_with_logits(logits, target).backward()

    def forward():
        model.eval()
        with torch.no_grad():
            model.head(model.extract_feat(images))

    times = time_interleaved({'train': train, 'inference': forward}, repeats)
    return {k: statistics.median(v) for k, v in times.items()}


def benchmark_setting(size: int, num_classes: int, batch: int, repeats: int,
                      backbone_repeats: int, seed: int) -> dict:
    """Rows of one setting plus the ResNet-50 reference times."""
    torch.manual_seed(seed)
    side = size // 32  # ResNet-50's stride
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, CHANNELS, side, side, generator=gen)
    x.requires_grad_(True)
    target = (torch.rand(batch, num_classes, generator=gen) < 0.1).float()

    heads = {'GAP + linear (baseline)': (gap_linear(num_classes), None)}
    pairs = {}
    for h in HEADS:
        ours, theirs = csra_pair(num_classes, h)
        heads[f'mmcsra CSRAHead H={h}'] = (ours, h)
        heads[f'MMPretrain CSRAClsHead H={h}'] = (theirs, h)
        pairs[h] = (ours, theirs)
    heads['mmcsra MLDecoderHead'] = (ml_decoder(num_classes), None)
    heads['LabelGraphReweightNeck + GAP + linear'] = (graph_neck_gap(
        num_classes, seed), None)

    runs = {}
    for name, (module, _) in heads.items():
        runs[f'{name}|train'] = _train_step(module, x, target)
        runs[f'{name}|inference'] = _inference(module, x)
    times = time_interleaved(runs, repeats)
    resnet = time_resnet50(size, num_classes, batch, backbone_repeats, seed)

    diffs = {}
    with torch.no_grad():
        for h, (ours, theirs) in pairs.items():
            ours.eval()
            theirs.eval()
            diffs[h] = (ours(x) - theirs(x)).abs().max().item()

    base = {
        mode: statistics.median(times[f'GAP + linear (baseline)|{mode}'])
        for mode in ('train', 'inference')
    }
    rows = []
    for name, (_, h) in heads.items():
        row = dict(head=name)
        for mode in ('train', 'inference'):
            t = statistics.median(times[f'{name}|{mode}'])
            row[f'{mode}_ms'] = 1e3 * t
            row[f'{mode}_cost'] = 100 * (t - base[mode]) / resnet[mode]
        if h is not None:
            row['bound'] = 100 * flop_bound(h, num_classes, side * side, size)
        if name.startswith('MMPretrain'):
            row['logit_diff'] = diffs[h]
        rows.append(row)
    return dict(
        size=size,
        num_classes=num_classes,
        batch=batch,
        side=side,
        rows=rows,
        resnet=resnet,
        repeats=repeats,
        backbone_repeats=backbone_repeats)


# ------------------------------------------------------------------ output
def _num(value: Optional[float], fmt: str) -> str:
    return '' if value is None else format(value, fmt)


def format_setting(result: dict) -> str:
    size, c, side = result['size'], result['num_classes'], result['side']
    resnet = result['resnet']
    lines = [
        f"### {size} px, {c} classes: features ({result['batch']}, "
        f'{CHANNELS}, {side}, {side})', '',
        f"ResNet-50 + GAP + linear, batch {result['batch']}: train step "
        f"{1e3 * resnet['train']:.1f} ms, forward "
        f"{1e3 * resnet['inference']:.1f} ms (median of "
        f"{result['backbone_repeats']}); heads: median of "
        f"{result['repeats']}", '',
        '| head | train (ms) | inference (ms) | train cost (% of R50 step) '
        '| inference cost (% of R50 forward) | FLOP bound (%) '
        '| cost / bound (train) | max abs logit diff vs mmcsra |',
        '|---|---|---|---|---|---|---|---|'
    ]
    for row in result['rows']:
        bound = row.get('bound')
        ratio = None if bound is None else row['train_cost'] / bound
        lines.append('| ' + ' | '.join([
            row['head'],
            _num(row['train_ms'], '.2f'),
            _num(row['inference_ms'], '.2f'),
            _num(row['train_cost'], '.3f'),
            _num(row['inference_cost'], '.3f'),
            _num(bound, '.3f'),
            _num(ratio, '.2f'),
            _num(row.get('logit_diff'), '.2e'),
        ]) + ' |')
    by_name = {row['head']: row for row in result['rows']}
    lines.append('')
    for h in HEADS:
        ours = by_name[f'mmcsra CSRAHead H={h}']
        theirs = by_name[f'MMPretrain CSRAClsHead H={h}']
        lines.append(f'H={h}: mmcsra / MMPretrain head time: train '
                     f"{ours['train_ms'] / theirs['train_ms']:.2f}, inference "
                     f"{ours['inference_ms'] / theirs['inference_ms']:.2f}")
    ours, theirs = by_name['mmcsra CSRAHead H=8'], by_name[
        'MMPretrain CSRAClsHead H=8']
    met = ours['train_ms'] <= theirs['train_ms'] and \
        ours['inference_ms'] <= theirs['inference_ms']
    lines.append(f"target 'CSRA H=8 no slower than MMPretrain's': "
                 f"{'met' if met else 'NOT met'}")
    return '\n'.join(lines)


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--quick',
        action='store_true',
        help='224 px / 20 classes, batch 2, 3 repeats, one '
        'backbone run (for the test suite)')
    parser.add_argument(
        '--repeats',
        type=int,
        default=None,
        help='timed runs per head (default 10, quick 3)')
    parser.add_argument(
        '--backbone-repeats',
        type=int,
        default=None,
        help='timed ResNet-50 runs (default 3, quick 1)')
    parser.add_argument(
        '--batch',
        type=int,
        default=None,
        help='batch size (default 8, quick 2)')
    parser.add_argument(
        '--threads',
        type=int,
        default=1,
        help='torch intra-op threads (default 1)')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def run(args) -> str:
    settings = QUICK_SETTINGS if args.quick else FULL_SETTINGS
    repeats = args.repeats or (3 if args.quick else 10)
    backbone_repeats = args.backbone_repeats or (1 if args.quick else 3)
    batch = args.batch or (2 if args.quick else 8)
    header = (f'torch {torch.__version__}, threads {args.threads}, batch '
              f'{batch}, seed {args.seed}, CPU')
    parts = [header]
    for size, num_classes in settings:
        result = benchmark_setting(size, num_classes, batch, repeats,
                                   backbone_repeats, args.seed)
        parts.append(format_setting(result))
    return '\n\n'.join(parts)


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        text = run(args)
    finally:  # the caller's setting (e.g. the test process)
        torch.set_num_threads(threads)
    print(text)
    return text


if __name__ == '__main__':
    main()
