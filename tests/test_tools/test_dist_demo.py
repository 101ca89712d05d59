"""tools/dist_train.sh on a CPU-only machine: 2 gloo ranks, then metrics."""
import re
import socket

import pytest
import torch

from conftest import TINY_DEMO_OPTIONS
from utils import CONFIGS, run_tool

METRIC_LINE = re.compile(r'Epoch\((val|test)\)[^\n]*')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _metrics(text: str, kind: str) -> dict:
    lines = [
        m.group(0) for m in METRIC_LINE.finditer(text) if m.group(1) == kind
    ]
    assert lines, f'no Epoch({kind}) line in the output'
    return {
        k: float(v)
        for k, v in re.findall(r'(multi-label/[\w@/-]+): ([-\d.]+)', lines[-1])
    }


@pytest.mark.skipif(
    torch.cuda.is_available(),
    reason='checks the CPU (gloo) path of the launcher')
def test_dist_train_on_two_cpu_ranks(tmp_path):
    config = f'{CONFIGS}/csra/resnet18_multidigits.py'
    # 63 test canvases: uneven across the 2 ranks
    options = TINY_DEMO_OPTIONS[:-1] + [
        'train_cfg.val_interval=2', 'val_dataloader.dataset.num_samples=63',
        'test_dataloader.dataset.num_samples=63'
    ]
    proc = run_tool(
        ['dist_train.sh', config, 2, '--work-dir', tmp_path, '--cfg-options'] +
        options,
        env=dict(PORT=str(_free_port())))
    out = proc.stdout + proc.stderr
    assert 'Distributed launcher: pytorch' in out
    assert 'GPU number: 2' in out  # mmengine's name for the world size
    dist_metrics = _metrics(out, 'val')
    for key in ('multi-label/mAP', 'multi-label/CF1', 'multi-label/OF1'):
        assert key in dist_metrics

    # the 2-rank evaluation equals a 1-process evaluation of the checkpoint
    single = run_tool([
        'test.py', config, tmp_path / 'epoch_2.pth', '--work-dir',
        tmp_path / 'single', '--cfg-options',
        'test_dataloader.dataset.num_samples=63'
    ])
    single_metrics = _metrics(single.stdout + single.stderr, 'test')
    for key, value in dist_metrics.items():
        assert single_metrics[key] == pytest.approx(value, abs=1e-3), key
