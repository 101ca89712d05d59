"""VOCSubmission: the PASCAL VOC evaluation server's classification files.

A tiny VOC2012-layout test set (JPEGImages, Annotations without labels,
ImageSets/Main/test.txt) is built here; a small CSRA model is saved as a
checkpoint and run through ``tools/test.py CFG CKPT --cfg-options
test_evaluator.type=VOCSubmission ...``. The 20 written files must list the
test ids in order with exactly the scores the model gives each image when it
is run by hand (pipeline, preprocessor, backbone, head, sigmoid).
"""
import importlib.util
import os.path as osp
import tarfile
import zipfile

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpretrain.datasets.categories import VOC2007_CATEGORIES
from mmpretrain.registry import DATASETS, METRICS, MODELS
from PIL import Image

import mmcsra  # noqa: F401
from mmcsra.evaluation.metrics import VOCSubmission
from mmcsra.evaluation.metrics.voc_submission import format_score
from utils import REPO, TOOLS

IDS = [
    '2008_000001', '2008_000007', '2009_000123', '2010_004711', '2012_000999'
]
VOC12_TEST_XML = """<annotation>
  <folder>VOC2012</folder><filename>{id}.jpg</filename>
  <source><database>The VOC2012 Database</database></source>
  <size><width>40</width><height>36</height><depth>3</depth></size>
  <segmented>0</segmented>
</annotation>
"""


def _voc2012_test_set(root):
    rng = np.random.default_rng(3)
    for sub in ('JPEGImages', 'Annotations', 'ImageSets/Main'):
        (root / sub).mkdir(parents=True)
    for img_id in IDS:
        pixels = rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / 'JPEGImages' / f'{img_id}.jpg')
        (root / 'Annotations' / f'{img_id}.xml').write_text(
            VOC12_TEST_XML.format(id=img_id))
    (root / 'ImageSets' / 'Main' / 'test.txt').write_text('\n'.join(IDS) +
                                                          '\n')


def _config(root, work_dir):
    cfg = Config.fromfile(
        osp.join(REPO, 'tests', 'configs', 'csra_tiny_multidigits.py'))
    cfg.work_dir = str(work_dir)
    cfg.model.head.num_classes = 20
    cfg.data_preprocessor.num_classes = 20
    pipeline = [
        dict(type='LoadImageFromFileChecked'),
        dict(type='Resize', scale=(32, 32)),
        dict(type='PackInputs', algorithm_keys=['gt_ignore'])
    ]
    cfg.test_dataloader = dict(
        batch_size=2,  # 5 images: the last batch is partial
        num_workers=0,
        dataset=dict(
            type='VOCMultiLabel',
            data_root=str(root),
            split='test',
            test_mode=True,
            pipeline=pipeline),
        sampler=dict(type='DefaultSampler', shuffle=False))
    cfg.test_evaluator = [dict(type='MultiLabelMAP')]
    path = work_dir / 'voc12_tiny.py'
    cfg.dump(str(path))
    return cfg, path


def _load_test_tool():
    spec = importlib.util.spec_from_file_location('mmcsra_tools_test_voc',
                                                  osp.join(TOOLS, 'test.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scores_by_hand(cfg, checkpoint):
    """(N, 20) sigmoid scores, image by image, without the Runner."""
    # the Runner gives the model the config's top-level data_preprocessor
    model = MODELS.build(
        dict(cfg.model, data_preprocessor=cfg.data_preprocessor))
    model.load_state_dict(torch.load(checkpoint)['state_dict'])
    model.eval()
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    rows = []
    for i in range(len(dataset)):
        packed = dataset[i]
        assert osp.basename(packed['data_samples'].img_path) == \
            f'{IDS[i]}.jpg'
        data = model.data_preprocessor(
            dict(
                inputs=[packed['inputs']],
                data_samples=[packed['data_samples']]))
        with torch.no_grad():
            logits = model.head(model.extract_feat(data['inputs']))
        rows.append(torch.sigmoid(logits)[0])
    return torch.stack(rows).numpy()


def _read(path):
    with open(path) as f:
        lines = [line.split(' ') for line in f.read().splitlines()]
    assert all(len(parts) == 2 for parts in lines)
    return [p[0] for p in lines], [p[1] for p in lines]


def test_tools_test_writes_the_server_files(tmp_path):
    root = tmp_path / 'VOC2012'
    _voc2012_test_set(root)
    cfg, cfg_path = _config(root, tmp_path)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    checkpoint = str(tmp_path / 'tiny.pth')
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dict(classes=list(VOC2007_CATEGORIES)))),
        checkpoint)
    out = tmp_path / 'submission'
    _load_test_tool().main([
        str(cfg_path), checkpoint, '--work-dir',
        str(tmp_path / 'work'), '--cfg-options',
        'test_evaluator.0.type=VOCSubmission',
        f'test_evaluator.0.outfile_prefix={out}'
    ])
    expected = _scores_by_hand(cfg, checkpoint)
    main_dir = out / 'results' / 'VOC2012' / 'Main'
    files = sorted(p.name for p in main_dir.iterdir())
    assert files == sorted(f'comp2_cls_test_{name}.txt'
                           for name in VOC2007_CATEGORIES)
    for c, name in enumerate(VOC2007_CATEGORIES):
        ids, values = _read(main_dir / f'comp2_cls_test_{name}.txt')
        assert ids == IDS
        scores = np.array([float(v) for v in values])
        np.testing.assert_allclose(scores, expected[:, c], rtol=0, atol=1e-6)
        assert all('e' not in v for v in values)  # positional decimals
    # the archive to upload holds exactly these files under results/
    with tarfile.open(out / 'results.tar.gz') as tar:
        names = sorted(tar.getnames())
        member = tar.extractfile(
            'results/VOC2012/Main/comp2_cls_test_cat.txt').read().decode()
    assert names == sorted(f'results/VOC2012/Main/{f}' for f in files)
    assert member == (main_dir / 'comp2_cls_test_cat.txt').read_text()


def _metric(tmp_path, **kwargs):
    metric = METRICS.build(
        dict(
            type='VOCSubmission',
            outfile_prefix=str(tmp_path / 'out'),
            **kwargs))
    metric.dataset_meta = dict(classes=list(VOC2007_CATEGORIES))
    return metric


def test_scores_keep_their_ranks_and_ties(tmp_path):
    """Scores that differ in the last float32 bit, tiny scores and ties
    are written so that they read back exactly (ranks and ties kept)."""
    base = np.float32(0.7)
    close = np.nextafter(base, np.float32(1))
    values = np.array([base, close, 1e-30, 1e-30, 0.0], np.float32)
    scores = np.tile(values[:, None], (1, 20))
    metric = _metric(tmp_path, archive='zip', competition='comp1')
    metric.process(None, [
        dict(
            pred_score=torch.from_numpy(scores[i]),
            img_path=f'/data/JPEGImages/im{i}.jpg') for i in range(5)
    ])
    assert metric.evaluate(5) == {}
    path = tmp_path / 'out/results/VOC2012/Main/comp1_cls_test_dog.txt'
    ids, text = _read(path)
    assert ids == [f'im{i}' for i in range(5)]
    back = np.array([np.float32(v) for v in text])
    assert np.array_equal(back, values)
    assert back[1] > back[0] and back[2] == back[3] > back[4]
    with zipfile.ZipFile(tmp_path / 'out' / 'results.zip') as zf:
        assert len(zf.namelist()) == 20
    assert format_score(np.float32(1e-30)).startswith('0.000')


def test_refusals(tmp_path):
    with pytest.raises(ValueError, match='outfile_prefix'):
        VOCSubmission(outfile_prefix='')
    with pytest.raises(ValueError, match='competition'):
        VOCSubmission(outfile_prefix='x', competition='comp3')
    with pytest.raises(ValueError, match='plain name'):
        VOCSubmission(outfile_prefix='x', year='../VOC2012')
    # the dataset must be the 20 VOC classes (file names), known at build
    with pytest.raises(ValueError, match='20 PASCAL VOC classes'):
        VOCSubmission(outfile_prefix='x').dataset_meta = dict(
            classes=['cat', 'dog'])
    metric = _metric(tmp_path)
    sample = dict(pred_score=torch.full((20, ), 0.5), img_id='a')
    metric.process(None, [sample, dict(sample)])
    with pytest.raises(ValueError, match="'a' occurs twice"):
        metric.evaluate(2)
    metric = _metric(tmp_path)
    metric.process(
        None,
        [sample, dict(pred_score=torch.full((19, ), 0.5), img_id='b')])
    with pytest.raises(ValueError, match='has 20 classes'):
        metric.evaluate(2)
    with pytest.raises(KeyError, match='img_id or img_path'):
        _metric(tmp_path).process(None, [dict(pred_score=torch.zeros(20))])
    metric = _metric(tmp_path)
    metric.process(
        None, [dict(pred_score=torch.full((20, ), float('nan')), img_id='c')])
    with pytest.raises(ValueError, match='NaN or inf'):
        metric.evaluate(1)
    # nothing was written by the refused evaluations
    assert not (tmp_path / 'out').exists()
