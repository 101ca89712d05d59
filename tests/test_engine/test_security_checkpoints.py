"""Hostile checkpoints and prediction dumps (issue 14, items 1-4 and 10).

Every crafted file is built here, in ``tmp_path``. Each attack also has a
control showing that the file really is hostile for the stock code path
(the config text runs under ``Config.fromstring``, the dump under plain
``pickle``, the dtype kills an interpreter under torch's allow-list alone),
so a refusal is not a test of a harmless file.
"""
import json
import os
import os.path as osp
import pickle
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest
import torch

import mmcsra  # noqa: F401
from mmcsra.engine import (CorruptCheckpointError, UnsafeCheckpointError,
                           safe_pickle_load, safe_torch_load)
from mmcsra.engine.runner import SafeRunner, literal_assignments
from mmcsra.engine.safe_loading import scan_pickle_file
from mmcsra.evaluation.multi_label_results import \
    load_multi_label_predictions
from utils import REPO, run_tool


def _tool(args, env=None):
    """Run ``python tools/<args>``; return the completed process (any rc)."""
    full_env = dict(os.environ, OMP_NUM_THREADS='1', **(env or {}))
    return subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', args[0])] +
        [str(a) for a in args[1:]],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600)


# ------------------------------------------- 1. config text in checkpoints
def _evil_config(markers) -> str:
    """Config text that creates each marker when executed, in the forms
    mmengine's lazy-import parser does not stop: a call in an expression,
    a lambda, an f-string, and inside the one value mmengine reads."""
    a, b, c, d = (str(m) for m in markers)
    return textwrap.dedent(f"""\
        x = __import__('os').system('touch {a}')
        y = (lambda: __import__('os').system('touch {b}'))()
        z = f"{{__import__('os').system('touch {c}')}}"
        gpu_ids = [__import__('os').system('touch {d}')]
    """)


def _plant_config(src: str, dst: str, text: str) -> None:
    checkpoint = safe_torch_load(src)
    checkpoint['meta']['config'] = text
    torch.save(checkpoint, dst)


def test_stored_config_text_would_run_under_config_fromstring(tmp_path):
    """Control: the crafted text runs code under mmengine's resume parser."""
    from mmengine.config import Config
    markers = [tmp_path / f'm{i}' for i in range(4)]
    Config.fromstring(_evil_config(markers), file_format='.py')
    assert [m.exists() for m in markers] == [True] * 4


def test_literal_assignments_reads_without_running(tmp_path):
    markers = [tmp_path / f'm{i}' for i in range(4)]
    text = _evil_config(markers) + "gpu_ids = [0, 1]\nlr = 0.1\nname = 'a'\n"
    assert literal_assignments(text) == dict(gpu_ids=[0, 1], lr=0.1, name='a')
    assert not any(m.exists() for m in markers)
    assert literal_assignments('x = (') is None
    assert literal_assignments(b'x = 1') is None


def test_stored_gpu_ids_are_compared_as_data():
    """mmengine's only use of the stored config, kept: 8 GPUs in the
    checkpoint vs 1 process here is an error without auto_scale_lr."""
    logs = []
    runner = types.SimpleNamespace(
        _world_size=1,
        auto_scale_lr=None,
        logger=types.SimpleNamespace(info=logs.append, warning=logs.append))
    check = SafeRunner._check_stored_config
    with pytest.raises(RuntimeError, match='trained with 8 GPUs'):
        check(runner, f'gpu_ids = {list(range(8))}', 'ckpt.pth')
    check(runner, 'gpu_ids = [0]', 'ckpt.pth')  # same count: fine
    runner.auto_scale_lr = dict(enable=True, base_batch_size=16)
    check(runner, f'gpu_ids = {list(range(8))}', 'ckpt.pth')
    assert 'scaled by auto_scale_lr' in logs[-1]
    check(runner, 'x = (', 'ckpt.pth')
    assert 'never executed' in logs[-1]


RESUME_OPTIONS = [
    '--cfg-options', 'train_dataloader.dataset.num_samples=16',
    'train_dataloader.batch_size=16', 'train_cfg.max_epochs=2',
    'val_dataloader.dataset.num_samples=16',
    'test_dataloader.dataset.num_samples=16'
]


@pytest.mark.parametrize('how', ['file', 'auto'])
def test_resume_never_runs_the_stored_config(tmp_path, tiny_gap_run, how):
    """``tools/train.py CFG --resume crafted.pth`` and ``--resume`` (auto)
    from a work dir whose last_checkpoint names a planted file: no marker,
    and the resume itself works (epoch 1 -> 2)."""
    config, work_dir = tiny_gap_run
    markers = [tmp_path / f'pwned{i}' for i in range(4)]
    resumed = tmp_path / 'resumed'
    resumed.mkdir()
    crafted = resumed / 'epoch_1.pth'
    _plant_config(
        str(work_dir / 'epoch_1.pth'), str(crafted), _evil_config(markers))
    if how == 'file':
        args = ['--resume', crafted]
    else:
        (resumed / 'last_checkpoint').write_text(str(crafted))
        args = ['--resume']
    proc = run_tool(['train.py', config, '--work-dir', resumed] + args +
                    RESUME_OPTIONS)
    assert not any(m.exists() for m in markers)
    out = proc.stdout + proc.stderr
    assert 'resumed epoch: 1, iter: 4' in out  # 64 samples, batch 16
    assert safe_torch_load(str(resumed / 'epoch_2.pth'))['meta']['epoch'] == 2


# ----------------------------------------------------- 2. prediction dumps
class _RunsCode:

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def _records():
    """Two samples, 3 classes, as mmengine's DumpResults writes them
    (DataSample.to_dict(): tensors, ints, strings)."""
    return [
        dict(
            img_path='a.png',
            num_classes=3,
            pred_score=torch.tensor([0.9, 0.2, 0.6]),
            gt_label=torch.tensor([0, 2])),
        dict(
            img_path='b.png',
            num_classes=3,
            pred_score=torch.tensor([0.1, 0.8, 0.3]),
            gt_label=torch.tensor([1]),
            gt_ignore=torch.tensor([2])),
    ]


def test_plain_pickle_dump_would_run_code(tmp_path):
    """Control: the crafted dump runs its command under plain pickle."""
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pkl'
    evil.write_bytes(pickle.dumps([{'pred_score': _RunsCode(marker)}]))
    with open(evil, 'rb') as f:
        pickle.load(f)
    assert marker.exists()


def test_calibrate_refuses_code_executing_dump(tmp_path):
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pkl'
    evil.write_bytes(pickle.dumps([{'pred_score': _RunsCode(marker)}]))
    with pytest.raises(UnsafeCheckpointError, match='posix.system'):
        safe_pickle_load(str(evil))
    proc = _tool(
        ['calibrate_thresholds.py', evil, '--out', tmp_path / 't.json'])
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert 'UnsafeCheckpointError' in proc.stderr
    assert 'evil.pkl' in proc.stderr
    assert not marker.exists()
    assert not (tmp_path / 't.json').exists()


@pytest.mark.parametrize('fmt', ['pkl', 'json'])
def test_legit_dump_loads(tmp_path, fmt):
    import mmengine
    path = str(tmp_path / f'preds.{fmt}')
    records = _records()
    if fmt == 'json':
        records = [{
            k: v.tolist() if isinstance(v, torch.Tensor) else v
            for k, v in r.items()
        } for r in records]
    mmengine.dump(records, path)
    scores, gt, valid = load_multi_label_predictions(path)
    assert torch.allclose(scores,
                          torch.tensor([[0.9, 0.2, 0.6], [0.1, 0.8, 0.3]]))
    assert gt.tolist() == [[True, False, True], [False, True, False]]
    assert valid.tolist() == [[True, True, True], [True, True, False]]


def test_dump_with_numpy_arrays_and_tensors_round_trips(tmp_path):
    path = tmp_path / 'mixed.pkl'
    value = {
        'a': np.arange(4, dtype=np.int32),
        'b': np.float64(2.5),
        't': torch.arange(3.),
        's': {1, 2},
        'c': 1 + 2j
    }
    path.write_bytes(pickle.dumps(value, protocol=2))
    loaded = safe_pickle_load(str(path))
    assert loaded['a'].tolist() == [0, 1, 2, 3]
    assert loaded['a'].dtype == np.int32
    assert loaded['b'] == 2.5 and type(loaded['b']) is np.float64
    assert torch.equal(loaded['t'], torch.arange(3.))
    assert loaded['s'] == {1, 2} and loaded['c'] == 1 + 2j


# -------------------------------------------------- 4. crafted numpy dtypes
CRAFT = textwrap.dedent("""
    import sys
    import numpy as np
    import torch
    try:
        from numpy._core.multiarray import scalar
    except ImportError:
        from numpy.core.multiarray import scalar

    class Dtype:  # a void dtype whose one field lies 1 TiB past its 8 bytes
        def __reduce__(self):
            return (np.dtype, ('V8', False, True),
                    (3, '|', None, ('f', ), {'f': (np.dtype('f8'), 2**40)},
                     8, 1, 16))

    class Scalar:
        def __reduce__(self):
            return (scalar, (Dtype(), bytes(8)))

    torch.save({'state_dict': {}, 'meta': {'x': Scalar()}}, sys.argv[1])
""")

READ_WITH_TORCH_ALLOW_LIST = textwrap.dedent("""
    import sys
    import numpy as np
    import torch
    try:
        from numpy._core.multiarray import scalar
    except ImportError:
        from numpy.core.multiarray import scalar
    allowed = [np.dtype, scalar, type(np.dtype('V8')), type(np.dtype('f8'))]
    with torch.serialization.safe_globals(allowed):
        ckpt = torch.load(sys.argv[1], weights_only=True)
    print(ckpt['meta']['x']['f'])
""")


@pytest.fixture
def crafted_dtype_checkpoint(tmp_path):
    path = tmp_path / 'crafted_dtype.pth'
    subprocess.run(
        [sys.executable, '-c', CRAFT, str(path)], check=True, timeout=120)
    return path


def test_crafted_dtype_kills_an_interpreter_without_the_checks(
        crafted_dtype_checkpoint):
    """Control: torch's weights_only with the dtype classes allowed (the
    old allow-list) builds the scalar; reading its field is a signal."""
    proc = subprocess.run([
        sys.executable, '-c', READ_WITH_TORCH_ALLOW_LIST,
        str(crafted_dtype_checkpoint)
    ],
                          capture_output=True,
                          timeout=120)
    assert proc.returncode < 0, proc


def test_test_tool_refuses_crafted_dtype(crafted_dtype_checkpoint,
                                         tiny_gap_run, tmp_path):
    config, _ = tiny_gap_run
    proc = _tool([
        'test.py', config, crafted_dtype_checkpoint, '--work-dir',
        tmp_path / 'wd', '--cfg-options',
        'test_dataloader.dataset.num_samples=8'
    ])
    assert proc.returncode > 0, (proc.returncode, proc.stderr[-3000:])
    assert 'UnsafeCheckpointError' in proc.stderr
    assert "numpy dtype 'V8'" in proc.stderr
    assert 'crafted_dtype.pth' in proc.stderr


def _dtype(args, state):

    class Dtype:

        def __reduce__(self):
            return (np.dtype, args, state)

    return Dtype()


def _scalar(dtype, data):
    from numpy._core.multiarray import scalar

    class Scalar:

        def __reduce__(self):
            return (scalar, (dtype, data))

    return Scalar()


def _call(func, args):

    class Call:

        def __reduce__(self):
            return (func, args)

    return Call()


PLAIN_STATE = (3, '<', None, None, None, -1, -1, 0)


@pytest.mark.parametrize(
    'payload,message',
    [
        # structured dtype of a numeric kind: fields with offsets
        (_dtype(('f8', False, True), (3, '<', None, ('f', ), {
            'f': (np.dtype('f8'), 2**40)
        }, 8, 1, 16)), 'fields'),
        # item size that disagrees with the type
        (_dtype(('f8', False, True),
                (3, '<', None, None, None, 2**40, -1, 0)), 'item size'),
        # object dtype (its items are pointers)
        (_dtype(('O8', False, True),
                (3, '|', None, None, None, -1, -1, 63)), "'O8'"),
        # flags of object / structured dtypes on a float
        (_dtype(('f8', False, True),
                (3, '<', None, None, None, -1, -1, 63)), 'flags'),
        # a scalar with fewer bytes than its type
        (_scalar(_dtype(
            ('f8', False, True), PLAIN_STATE), b'\0' * 2), 'exactly 8 bytes'),
        # an object array: its data is a list, not bytes
        (np.array([1, 'a'], dtype=object), "'O8'"),
        # calls of numpy functions other than the array / scalar / dtype
        # builders, and of numpy types
        (_call(np.frombuffer, (bytes(8), )), 'not an allowed numpy function'),
        (_call(np.float64, (1.0, )), 'may only appear as values'),
    ])
def test_crafted_numpy_states_are_refused(tmp_path, payload, message):
    path = tmp_path / 'crafted.pth'
    torch.save({'x': payload}, path)
    # the scan never builds a numpy object: safe to run in this process
    with pytest.raises(UnsafeCheckpointError, match=message):
        scan_pickle_file(str(path))


def test_plain_numpy_content_round_trips(tmp_path):
    """What mmengine writes: HistoryBuffer arrays and numeric scalars."""
    from mmengine.logging import HistoryBuffer
    buffer = HistoryBuffer()
    buffer.update(1.5)
    buffer.update(3, count=2)
    value = {
        'h': buffer,
        'f': np.float32(0.25),
        'i': np.int64(-3),
        'b': np.bool_(True),
        'c': np.complex128(1 - 1j),
        'a': np.arange(6, dtype='>i4').reshape(2, 3),
        'u': np.array([1, 2], dtype=np.uint8)
    }
    path = tmp_path / 'plain.pth'
    torch.save(value, path)
    loaded = safe_torch_load(str(path))
    # HistoryBuffer.mean: sum of values / sum of counts
    assert loaded['h'].mean() == pytest.approx((1.5 + 3) / (1 + 2))
    assert loaded['h'].data[1].tolist() == [1, 2]
    for key in ('f', 'i', 'b', 'c'):
        assert loaded[key] == value[key]
        assert loaded[key].dtype == value[key].dtype
    # a big-endian array keeps its values and its type (int32); torch's
    # weights-only reader rebuilds it in the native byte order
    assert loaded['a'].dtype == np.dtype('int32')
    assert loaded['a'].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert loaded['u'].tolist() == [1, 2]


# --------------------------------------------- 10. empty / truncated files
def test_empty_and_truncated_checkpoints_name_the_file(tmp_path, tiny_gap_run):
    from mmengine.runner import CheckpointLoader
    _, work_dir = tiny_gap_run
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    data = (work_dir / 'epoch_1.pth').read_bytes()
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(data[:len(data) // 2])
    text = tmp_path / 'notes.pth'
    text.write_text('not a checkpoint')
    legacy = tmp_path / 'legacy.pth'
    torch.save({'w': torch.ones(3)},
               legacy,
               _use_new_zipfile_serialization=False)
    short_legacy = tmp_path / 'short_legacy.pth'
    short_legacy.write_bytes(legacy.read_bytes()[:20])
    cases = [(empty, r'empty\.pth.* is empty \(0 bytes\)'),
             (truncated, r'truncated\.pth.* is truncated or damaged'),
             (text, r'notes\.pth.* neither a PyTorch checkpoint nor'),
             (short_legacy, r'short_legacy\.pth.* truncated')]
    for path, message in cases:
        with pytest.raises(CorruptCheckpointError, match=message):
            safe_torch_load(str(path))
        # the path load_from / --resume / tools/test.py take
        with pytest.raises(CorruptCheckpointError, match=message):
            CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert torch.equal(safe_torch_load(str(legacy))['w'], torch.ones(3))


def test_empty_dump_is_a_clear_error(tmp_path):
    empty = tmp_path / 'preds.pkl'
    empty.write_bytes(b'')
    with pytest.raises(CorruptCheckpointError, match=r'preds\.pkl.* empty'):
        load_multi_label_predictions(str(empty))
    cut = tmp_path / 'cut.pkl'
    cut.write_bytes(pickle.dumps(_records())[:50])
    with pytest.raises(CorruptCheckpointError, match=r'cut\.pkl.* trunc'):
        load_multi_label_predictions(str(cut))
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps({'not': 'a list'}))
    with pytest.raises(ValueError, match='non-empty list'):
        load_multi_label_predictions(str(bad))


# --------------------------------- 6-7. wrong weights, wrong class order
def _edit_checkpoint(src, dst, edit):
    checkpoint = safe_torch_load(src)
    edit(checkpoint)
    torch.save(checkpoint, dst)
    return str(dst)


def _test_tool(config, checkpoint, tmp_path, *extra):
    return _tool([
        'test.py', config, checkpoint, '--work-dir', tmp_path / 'wd', *extra,
        '--cfg-options', 'test_dataloader.dataset.num_samples=32'
    ])


def test_test_tool_refuses_checkpoint_keys_of_another_model(
        tiny_gap_run, tmp_path):
    """Keys that match none of the model's: an error with the counts and
    the first names, not the mAP of random weights; --allow-partial loads
    a checkpoint that lacks only part of the model."""
    config, work_dir = tiny_gap_run

    def rename_all(ckpt):
        ckpt['state_dict'] = {
            f'other.{k}': v
            for k, v in ckpt['state_dict'].items()
        }

    foreign = _edit_checkpoint(work_dir / 'epoch_2.pth',
                               tmp_path / 'foreign.pth', rename_all)
    proc = _test_tool(config, foreign, tmp_path)
    assert proc.returncode > 0, proc.stderr[-3000:]
    state = safe_torch_load(str(work_dir / 'epoch_2.pth'))['state_dict']
    n = len([k for k in state if not k.startswith('data_preprocessor')])
    assert 'CheckpointKeyError' in proc.stderr
    assert f'{n} of the model\'s {n} keys are not in it' in proc.stderr
    assert f'{n} key(s) of it are not in the model: other.' in proc.stderr

    def drop_head(ckpt):
        ckpt['state_dict'] = {
            k: v
            for k, v in ckpt['state_dict'].items() if not k.startswith('head.')
        }

    headless = _edit_checkpoint(work_dir / 'epoch_2.pth',
                                tmp_path / 'headless.pth', drop_head)
    proc = _test_tool(config, headless, tmp_path)
    assert proc.returncode > 0 and 'head.fc.weight' in proc.stderr
    proc = _test_tool(config, headless, tmp_path, '--allow-partial')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'loading it anyway (allow_partial)' in proc.stdout + proc.stderr


def test_test_tool_refuses_checkpoint_of_another_class_order(
        tiny_gap_run, tmp_path):
    config, work_dir = tiny_gap_run
    classes = list(
        safe_torch_load(str(work_dir /
                            'epoch_2.pth'))['meta']['dataset_meta']['classes'])

    def set_classes(names):

        def edit(ckpt):
            ckpt['meta']['dataset_meta']['classes'] = tuple(names)

        return edit

    swapped = [classes[1], classes[0]] + classes[2:]
    ckpt = _edit_checkpoint(work_dir / 'epoch_2.pth', tmp_path / 'swap.pth',
                            set_classes(swapped))
    proc = _test_tool(config, ckpt, tmp_path)
    assert proc.returncode > 0
    assert 'ClassOrderError' in proc.stderr
    assert (f'first difference at position 0: {classes[1]!r} in'
            in proc.stderr)
    assert f'same classes, other order (2 of {len(classes)} positions' \
        in proc.stderr

    renamed = classes[:3] + ['zebra'] + classes[4:]
    ckpt = _edit_checkpoint(work_dir / 'epoch_2.pth', tmp_path / 'zeb.pth',
                            set_classes(renamed))
    proc = _test_tool(config, ckpt, tmp_path)
    assert proc.returncode > 0 and 'ClassOrderError' in proc.stderr
    assert "position 3: 'zebra'" in proc.stderr
    assert "only in" in proc.stderr and "['zebra']" in proc.stderr


def test_test_tool_writes_json_predictions_that_recompute_its_map(
        tiny_gap_run, tmp_path):
    """``--out x.json`` is data only (no pickle); the mAP recomputed from
    it with scikit-learn is the one the tool reported."""
    from sklearn.metrics import average_precision_score
    config, work_dir = tiny_gap_run
    out = tmp_path / 'preds.json'
    proc = _test_tool(config, str(work_dir / 'epoch_2.pth'), tmp_path, '--out',
                      out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores, gt, valid = load_multi_label_predictions(str(out))
    assert scores.shape[0] == 32
    aps = [
        average_precision_score(gt[valid[:, c], c].numpy(), scores[valid[:, c],
                                                                   c].numpy())
        for c in range(scores.shape[1]) if gt[valid[:, c], c].any()
    ]
    with open(next((tmp_path / 'wd').rglob('*.json'))) as f:
        reported = json.load(f)
    key = next(k for k in reported if k.endswith('mAP'))
    assert abs(reported[key] - 100 * float(np.mean(aps))) <= 1e-4
    bad = _test_tool(config, str(work_dir / 'epoch_2.pth'), tmp_path, '--out',
                     tmp_path / 'preds.txt')
    assert bad.returncode > 0 and '--out must end with one of' in bad.stderr
