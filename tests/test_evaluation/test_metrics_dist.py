"""Distributed evaluation of the multi-label metrics equals one process.

Two CPU ranks (gloo) are spawned here. Each takes the shard that mmengine's
``DefaultSampler`` gives it on an uneven dataset (37 samples: with
``round_up=True`` rank 1 gets a repeated sample to pad its last batch),
processes it batch by batch and calls ``metric.evaluate(37)``, i.e.
mmengine's ``collect_results`` path (both the 'cpu' file-based and the
'gpu' all_gather_object collection). Rank 0's numbers must equal, exactly,
the numbers of one process evaluating the 37 samples in order.
"""
import math
import os
import os.path as osp
import pickle
import socket
import time
from datetime import timedelta

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

NUM_SAMPLES = 37
BATCH_SIZE = 4
WORLD_SIZE = 2
TIMEOUT_S = 300

METRIC_CFGS = [
    dict(type='MultiLabelMAP', interpolation='none'),
    dict(type='MultiLabelMAP', interpolation='voc07_11point', prefix='voc07'),
    dict(type='MultiLabelPRF', thr=0.5, topk=(None, 3)),
]


def _dataset():
    """37 samples x 5 classes with ties, ignores and class names."""
    from mmpretrain.structures import DataSample
    rng = np.random.default_rng(11)
    scores = np.round(rng.random((NUM_SAMPLES, 5)), 1).astype(np.float32)
    target = rng.random((NUM_SAMPLES, 5)) < 0.35
    ignore = rng.random((NUM_SAMPLES, 5)) < 0.1
    samples = []
    for i in range(NUM_SAMPLES):
        sample = DataSample().set_pred_score(torch.from_numpy(scores[i]))
        sample.set_gt_label(np.flatnonzero(target[i]).tolist())
        sample.set_field(np.flatnonzero(ignore[i]).tolist(), 'gt_ignore')
        samples.append(sample.to_dict())
    return samples


def _evaluate(metric_cfg,
              samples,
              collect_device='cpu',
              collect_dir=None,
              size=NUM_SAMPLES):
    from mmpretrain.registry import METRICS
    cfg = dict(metric_cfg, collect_device=collect_device)
    if collect_dir is not None:
        cfg['collect_dir'] = collect_dir
    metric = METRICS.build(cfg)
    metric.dataset_meta = dict(classes=['a', 'b', 'c', 'd', 'e'])
    for start in range(0, len(samples), BATCH_SIZE):
        metric.process(None, samples[start:start + BATCH_SIZE])
    return metric.evaluate(size)


def _worker(rank: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    import torch.distributed as dist
    dist.init_process_group(
        'gloo',
        init_method=f'tcp://127.0.0.1:{port}',
        rank=rank,
        world_size=WORLD_SIZE,
        timeout=timedelta(seconds=120))
    import mmcsra  # noqa: F401  (registers the metrics)
    from mmengine.dataset import DefaultSampler

    samples = _dataset()
    outputs = []
    for round_up in (True, False):
        sampler = DefaultSampler(
            list(range(NUM_SAMPLES)), shuffle=False, round_up=round_up)
        shard = [samples[i] for i in sampler]
        for device in ('cpu', 'gpu'):
            collect_dir = osp.join(out_dir, f'collect_{round_up}_{device}') \
                if device == 'cpu' else None
            for cfg in METRIC_CFGS:
                outputs.append(
                    dict(
                        round_up=round_up,
                        device=device,
                        cfg=cfg,
                        shard_size=len(shard),
                        result=_evaluate(cfg, shard, device, collect_dir)))
    with open(osp.join(out_dir, f'rank{rank}.pkl'), 'wb') as f:
        pickle.dump(outputs, f)
    dist.barrier()
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _same(a: dict, b: dict) -> bool:
    """Exact equality of two metric dicts (nan equals nan)."""
    return a.keys() == b.keys() and all(
        (math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a)


def test_two_ranks_equal_one_process(tmp_path):
    import mmcsra  # noqa: F401
    context = mp.start_processes(
        _worker,
        args=(_free_port(), str(tmp_path)),
        nprocs=WORLD_SIZE,
        join=False,
        start_method='spawn')
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not context.join(timeout=1):
            if time.monotonic() > deadline:
                pytest.fail(f'distributed evaluation did not finish in '
                            f'{TIMEOUT_S} s')
    finally:
        for proc in context.processes:
            if proc.is_alive():
                proc.terminate()
                proc.join(10)

    with open(tmp_path / 'rank0.pkl', 'rb') as f:
        rank0 = pickle.load(f)
    with open(tmp_path / 'rank1.pkl', 'rb') as f:
        rank1 = pickle.load(f)
    samples = _dataset()
    single = [_evaluate(cfg, samples) for cfg in METRIC_CFGS]
    # the test is sensitive to the padding: keeping the repeated sample 0
    # (the 38 samples the ranks process with round_up) changes every metric
    padded = [
        _evaluate(cfg, samples + samples[:1], size=NUM_SAMPLES + 1)
        for cfg in METRIC_CFGS
    ]
    assert not any(_same(s, p) for s, p in zip(single, padded))

    assert len(rank0) == 2 * 2 * len(METRIC_CFGS)
    for out0, out1 in zip(rank0, rank1):
        expected = single[METRIC_CFGS.index(out0['cfg'])]
        assert _same(out0['result'], expected), out0
        # every rank gets the broadcast result
        assert _same(out1['result'], expected), out1
        total = out0['shard_size'] + out1['shard_size']
        assert total == (NUM_SAMPLES + 1 if out0['round_up'] else NUM_SAMPLES)
    # the 'cpu' collection removed its temporary files
    assert not any(
        name.startswith('collect_') and os.listdir(tmp_path / name)
        for name in os.listdir(tmp_path))
