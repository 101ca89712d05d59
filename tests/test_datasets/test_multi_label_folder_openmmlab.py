"""MultiLabelFolder reads OpenMMLab 2.0 annotation files; the
``multi_label_folder.py`` dataset base needs only data_root / ann_file /
classes; MultiLabelScoreDump writes what the metrics saw."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import DATASETS, METRICS
from mmpretrain.structures import DataSample

import mmcsra  # noqa: F401  (registers the datasets and metrics)
from mmcsra.datasets import AnnotationError

from fixtures.multi_label_data import write_image

from utils import REPO

CLASSES = ['cat', 'dog', 'person']


def labels_of(dataset):
    return [(list(dataset.get_data_info(i)['gt_label']),
             list(dataset.get_data_info(i)['gt_ignore']))
            for i in range(len(dataset))]


@pytest.fixture
def root(tmp_path):
    root = str(tmp_path / 'own')
    for name in ('dogs/001.jpg', 'cats/002.png', 'empty/003.jpg'):
        write_image(osp.join(root, name))
    return root


def write_ann(root, data, name='train.json'):
    path = osp.join(root, name)
    with open(path, 'w') as f:
        json.dump(data, f)
    return path


OPENMMLAB = dict(
    metainfo=dict(classes=CLASSES),
    data_list=[
        dict(img_path='dogs/001.jpg', gt_label=[1, 2]),
        dict(img_path='cats/002.png', gt_label=0, gt_ignore=[2]),
        dict(img_path='empty/003.jpg', gt_label=[])
    ])


def build(root, ann='train.json', **kwargs):
    return DATASETS.build(
        dict(type='MultiLabelFolder', data_root=root, ann_file=ann, **kwargs))


def test_openmmlab_json_labels_and_classes(root):
    write_ann(root, OPENMMLAB)
    ds = build(root)
    assert ds.CLASSES == tuple(CLASSES)  # from the file's metainfo
    # hand-derived from OPENMMLAB: an int label is a one-element list
    assert labels_of(ds) == [([1, 2], []), ([0], [2]), ([], [])]
    assert ds.get_data_info(1)['img_path'] == osp.join(root, 'cats/002.png')
    # the same list given explicitly is accepted
    assert labels_of(build(root, classes=CLASSES)) == labels_of(ds)


def test_openmmlab_json_without_metainfo_classes(root):
    data = dict(data_list=[dict(img_path='dogs/001.jpg', gt_label=[1])])
    write_ann(root, data)
    assert labels_of(build(root, classes=['a', 'b'])) == [([1], [])]
    with pytest.raises(AnnotationError, match='integer labels need'):
        build(root)


@pytest.mark.parametrize('data, kwargs, message, entry', [
    (OPENMMLAB, dict(classes=['dog', 'cat', 'person']),
     r'differ from the `classes` argument', None),
    (dict(OPENMMLAB, extra=1), {}, r"top-level keys \['extra'\]", None),
    (dict(
        metainfo=dict(classes=CLASSES),
        data_list=[dict(img_path='dogs/001.jpg', gt_label=[3])]), {},
     'label index 3 is out of range for 3 classes', 'data_list[0]'),
    (dict(
        metainfo=dict(classes=CLASSES),
        data_list=[dict(img_path='dogs/001.jpg', gt_label=[0], height=4)
                   ]), {}, 'nothing else', 'data_list[0]'),
    (dict(metainfo=dict(classes=CLASSES), data_list=[dict(gt_label=[0])]), {},
     'needs "img_path"', 'data_list[0]'),
    (dict(
        metainfo=dict(classes=CLASSES),
        data_list=[dict(img_path='dogs/001.jpg', gt_label='dog')
                   ]), {}, 'must be a list of class indices', 'data_list[0]'),
    (dict(metainfo=dict(classes='cat'),
          data_list=[]), {}, 'must be a list of names', None),
    (dict(metainfo=dict(classes=CLASSES),
          data_list={}), {}, '"data_list" must be a list', None),
])
def test_openmmlab_json_errors(root, data, kwargs, message, entry):
    path = write_ann(root, data)
    with pytest.raises(AnnotationError, match=message) as info:
        build(root, **kwargs)
    assert (info.value.file, info.value.entry) == (path, entry)


def test_dataset_base_needs_only_root_ann_and_classes(root):
    """A 5-line child of the dataset base: the three loaders read the
    user's files, keep the base's pipeline, and no `_delete_` is needed."""
    for split in ('train', 'val', 'test'):
        write_ann(root, OPENMMLAB, f'{split}.json')
    child = osp.join(root, 'my_data.py')
    base = osp.join(REPO, 'configs/_base_/datasets/multi_label_folder.py')
    with open(child, 'w') as f:
        f.write(
            f"_base_ = [{base!r}]\n"
            f"d = dict(data_root={root!r}, classes={CLASSES!r})\n"
            "train_dataloader = dict(dataset=dict(d, ann_file='train.json'))\n"
            "val_dataloader = dict(dataset=dict(d, ann_file='val.json'))\n"
            "test_dataloader = dict(dataset=dict(d, ann_file='test.json'))\n")
    cfg = Config.fromfile(child)
    for split in ('train', 'val', 'test'):
        ds_cfg = cfg[f'{split}_dataloader'].dataset
        assert ds_cfg.type == 'MultiLabelFolder'
        assert [t['type'] for t in ds_cfg.pipeline
                ] == ['LoadImageFromFileChecked', 'Resize', 'PackInputs']
        ds = DATASETS.build(ds_cfg)
        assert labels_of(ds) == [([1, 2], []), ([0], [2]), ([], [])]
        assert ds.test_mode == (split != 'train')
    # the test split is its own dict: overriding val leaves test alone
    cfg.merge_from_dict({'val_dataloader.dataset.ann_file': 'other.json'})
    assert cfg.test_dataloader.dataset.ann_file == 'test.json'


def test_score_dump_writes_what_the_metrics_saw(tmp_path):
    out = str(tmp_path / 'sub' / 'scores.npz')
    dump = METRICS.build(dict(type='MultiLabelScoreDump', out_file=out))
    dump.dataset_meta = dict(classes=CLASSES)
    scores = torch.tensor([[0.9, 0.2, 0.4], [0.1, 0.8, 0.3]])
    samples = []
    for i, (label, ignore) in enumerate([([0], [2]), ([1, 2], [])]):
        s = DataSample().set_gt_label(label).set_pred_score(scores[i])
        s.set_field(torch.tensor(ignore, dtype=torch.long), 'gt_ignore')
        samples.append(s.to_dict())
    dump.process(None, samples)
    assert dump.evaluate(2) == {}
    data = np.load(out)  # numeric arrays: no pickle needed
    np.testing.assert_array_equal(data['scores'], scores.numpy())
    np.testing.assert_array_equal(data['gt'], [[1, 0, 0], [0, 1, 1]])
    np.testing.assert_array_equal(data['valid'], [[1, 1, 0], [1, 1, 1]])
    with pytest.raises(ValueError, match='ending in .npz'):
        METRICS.build(dict(type='MultiLabelScoreDump', out_file='x.pkl'))
