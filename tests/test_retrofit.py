"""Training-free CSRA retrofit: y = y_avg + lam * y_max (Zhu & Wu 2021)."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import mmcsra  # noqa: F401
from mmcsra.apis import check_retrofit_supported, retrofit_csra
from mmcsra.models.heads import CSRARetrofitHead
from utils import CONFIGS, run_tool

TEST_SAMPLES = 64


def _cfg(config, work_dir):
    cfg = Config.fromfile(config)
    cfg.test_dataloader.dataset.num_samples = TEST_SAMPLES
    cfg.work_dir = str(work_dir)
    return cfg


def test_retrofit_head_math_by_hand():
    head = CSRARetrofitHead(
        head=dict(type='MultiLabelLinearClsHead', num_classes=2,
                  in_channels=2),
        lam=0.5)
    with torch.no_grad():
        head.head.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
        head.head.fc.bias.copy_(torch.tensor([0.5, 0.0]))
    # 2 channels on a 1 x 3 map: locations x = (1, 2), (3, 0), (-1, 4)
    feat = torch.tensor([[1.0, 3.0, -1.0], [2.0, 0.0, 4.0]]).view(1, 2, 1, 3)
    # class 0 scores x_1 + 0.5 = (1.5, 3.5, -0.5): avg 1.5, max 3.5
    # class 1 scores -x_2 = (-2, 0, -4): avg -2, max 0
    expected = torch.tensor([[1.5 + 0.5 * 3.5, -2.0 + 0.5 * 0.0]])
    torch.testing.assert_close(head((feat, )), expected)


def test_negative_lambda_and_non_linear_head_are_refused():
    with pytest.raises(ValueError, match='lam'):
        CSRARetrofitHead(head=dict(type='MultiLabelLinearClsHead',
                                   num_classes=2, in_channels=2), lam=-0.1)
    with pytest.raises(TypeError, match='fc'):
        CSRARetrofitHead(head=dict(type='CSRAHead', num_classes=2,
                                   in_channels=2), lam=0.1)


def test_unsupported_model_is_a_clear_error():
    csra = Config.fromfile(f'{CONFIGS}/csra/resnet18_multidigits.py')
    with pytest.raises(ValueError, match='GlobalAveragePooling'):
        check_retrofit_supported(csra.model)


def test_lambda_zero_reproduces_the_original_metrics(tiny_gap_run, tmp_path):
    config, work_dir = tiny_gap_run
    ckpt = str(work_dir / 'epoch_2.pth')

    cfg = _cfg(config, tmp_path / 'runner')
    cfg.load_from = ckpt
    original = Runner.from_cfg(copy.deepcopy(cfg)).test()

    result = retrofit_csra(_cfg(config, tmp_path), ckpt, [0, 0.5, 2])
    lam0 = dict(result['results'])[0.0]
    assert lam0 == original  # exactly, every metric
    # a real sweep: some metric moves once the max term is added
    assert any(dict(result['results'])[2.0][k] != original[k]
               for k in original)


def test_written_retrofit_reproduces_the_sweep(tiny_gap_run, tmp_path):
    config, work_dir = tiny_gap_run
    ckpt = str(work_dir / 'epoch_2.pth')
    out_dir = tmp_path / 'retrofit'
    proc = run_tool([
        'retrofit_csra.py', config, ckpt, '--lams', '0', '0.3', '1',
        '--out-dir', out_dir, '--cfg-options',
        f'test_dataloader.dataset.num_samples={TEST_SAMPLES}'
    ])
    assert '| λ |' in proc.stdout and 'best λ' in proc.stdout

    result = retrofit_csra(_cfg(config, tmp_path), ckpt, [0, 0.3, 1],
                           out_dir=str(out_dir))
    best = dict(result['results'])[result['best_lam']]

    cfg = Config.fromfile(result['config'])
    assert cfg.model.head.type == 'CSRARetrofitHead'
    assert cfg.model.head.lam == result['best_lam']
    cfg.load_from = result['checkpoint']
    cfg.work_dir = str(tmp_path / 'check')
    cfg.test_dataloader.dataset.num_samples = TEST_SAMPLES
    reproduced = Runner.from_cfg(cfg).test()
    for key, value in best.items():
        assert reproduced[key] == pytest.approx(value, abs=1e-4), key
