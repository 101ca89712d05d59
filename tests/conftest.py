import os.path as osp

import pytest

from utils import CONFIGS, run_tool

# a tiny demo schedule: 64 training canvases, batch 16, 2 epochs, evaluate
# every epoch on 64 test canvases
TINY_DEMO_OPTIONS = [
    'train_dataloader.dataset.num_samples=64',
    'train_dataloader.batch_size=16',
    'val_dataloader.dataset.num_samples=64',
    'test_dataloader.dataset.num_samples=64',
    'train_cfg.max_epochs=2',
    'train_cfg.val_interval=1',
]


@pytest.fixture(scope='session')
def tiny_gap_run(tmp_path_factory):
    """A GAP + linear demo model trained for 2 tiny epochs by tools/train.py.

    Returns ``(config, work_dir)``; checkpoints are ``epoch_{1,2}.pth``.
    """
    work_dir = tmp_path_factory.mktemp('tiny_gap')
    config = osp.join(CONFIGS, 'baseline', 'resnet18-gap_multidigits.py')
    run_tool(['train.py', config, '--work-dir', work_dir, '--cfg-options'] +
             TINY_DEMO_OPTIONS)
    assert osp.isfile(work_dir / 'epoch_2.pth')
    return config, work_dir
