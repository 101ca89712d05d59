"""custom_imports of a user's module that sits next to the config works in
tools/train.py and tools/test.py without touching PYTHONPATH."""
import subprocess
import sys

import pytest

from utils import CONFIGS, REPO, run_tool

HEAD_MODULE = '''
from mmpretrain.models.heads import MultiLabelLinearClsHead
from mmpretrain.registry import MODELS


@MODELS.register_module()
class BesideConfigTinyHead(MultiLabelLinearClsHead):
    """A linear head whose logits are halved (only to be recognisable)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        print('built BesideConfigTinyHead from', __file__)

    def forward(self, feats):
        return 0.5 * super().forward(feats)
'''

TINY = [
    'train_dataloader.dataset.num_samples=16',
    'train_dataloader.batch_size=8',
    'val_dataloader.dataset.num_samples=16',
    'test_dataloader.dataset.num_samples=16',
    'train_cfg.max_epochs=1',
]


@pytest.fixture
def user_config(tmp_path):
    folder = tmp_path / 'my_project'
    folder.mkdir()
    (folder / 'beside_config_head.py').write_text(HEAD_MODULE)
    config = folder / 'gap_custom_head.py'
    config.write_text(
        f"_base_ = [{CONFIGS + '/baseline/resnet18-gap_multidigits.py'!r}]\n"
        "custom_imports = dict(imports=['beside_config_head'],\n"
        "                      allow_failed_imports=False)\n"
        "model = dict(head=dict(type='BesideConfigTinyHead'))\n")
    return config


def test_module_beside_the_config_is_not_importable_by_default(user_config):
    """The control: mmengine alone does not find it (from the repo root)."""
    proc = subprocess.run([
        sys.executable, '-c', 'import mmcsra; from mmengine.config import '
        f'Config; Config.fromfile({str(user_config)!r})'
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True)
    assert proc.returncode != 0
    assert "No module named 'beside_config_head'" in proc.stderr


def test_train_and_test_import_the_module_beside_the_config(
        user_config, tmp_path):
    work_dir = tmp_path / 'work'
    proc = run_tool(
        ['train.py', user_config, '--work-dir', work_dir, '--cfg-options'] +
        TINY)
    where = str(user_config.parent / 'beside_config_head.py')
    assert f'built BesideConfigTinyHead from {where}' in proc.stdout
    proc = run_tool([
        'test.py', user_config, work_dir /
        'epoch_1.pth', '--work-dir', work_dir, '--cfg-options'
    ] + TINY)
    assert f'built BesideConfigTinyHead from {where}' in proc.stdout
    assert 'multi-label/mAP' in proc.stdout + proc.stderr
