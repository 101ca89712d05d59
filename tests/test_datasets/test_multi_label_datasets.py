"""mmcsra's multi-label datasets, loading transforms and base dataset configs.

Every fixture is written in the dataset's official format (devkit XML, COCO
instances JSON, WIDER Attribute JSON, NUS-WIDE text files) with real image
files; every expected label list below is derived by hand from the fixture
written next to it.
"""
import copy
import json
import os
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import DATASETS, MODELS, TRANSFORMS

import mmcsra  # noqa: F401  (registers the datasets and transforms)
from mmcsra.datasets import AnnotationError, ImageLoadError
from mmcsra.structures import stack_multi_label_targets

from fixtures.multi_label_data import (COCO_CATEGORIES_80, NUS_CONCEPTS,
                                       VOC_CLASSES, WIDER_ATTRIBUTE_MAP,
                                       build_coco, build_nuswide, build_voc,
                                       build_wider, coco_instances,
                                       nus_label_file, read_lines, voc_xml,
                                       wider_json, write_image, write_text)

from utils import REPO, captured_logs

LOAD_AND_PACK = [
    dict(type='LoadImageFromFileChecked'),
    dict(type='PackInputs', algorithm_keys=['gt_ignore']),
]


def build(cfg):
    """Build a dataset; ``serialize_data`` defaults to False here.

    mmengine's serialisation runs ``gc.collect()`` (about 0.5 s with torch
    loaded) on every build; the base config tests keep the default (True)
    and so cover that path.
    """
    cfg = dict(cfg)
    cfg.setdefault('serialize_data', False)
    return DATASETS.build(cfg)


def labels_of(dataset):
    """[(gt_label, gt_ignore)] of every sample."""
    return [(info['gt_label'], info['gt_ignore'])
            for info in (dataset.get_data_info(i)
                         for i in range(len(dataset)))]


def voc(name):
    return VOC_CLASSES.index(name)


# ====================================================================== VOC
VOC_ANNOTATIONS = {
    # dog; person twice, once difficult -> person positive
    '000001': [('dog', 0), ('person', 1), ('person', 0)],
    # cat only difficult -> uncertain; chair clear + difficult -> positive
    '000002': [('cat', 1), ('chair', 0), ('chair', 1)],
    # bottle without a <difficult> tag -> not difficult; sheep all difficult
    '000003': [('bottle', None), ('sheep', 1), ('sheep', 1)],
}
VOC_SPLITS = {
    'trainval': ['000001', '000002'],
    'train': ['000001'],
    'val': ['000002'],
    'test': ['000002', '000003'],
}


@pytest.fixture(scope='module')
def voc_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('VOC2007'))
    build_voc(root, VOC_ANNOTATIONS, VOC_SPLITS)
    return root


@pytest.mark.parametrize('difficult_as, expected', [
    ('ignore', [([voc('chair')], [voc('cat')]),
                ([voc('bottle')], [voc('sheep')])]),
    ('positive', [(sorted([voc('cat'), voc('chair')]), []),
                  (sorted([voc('bottle'), voc('sheep')]), [])]),
    ('negative', [([voc('chair')], []), ([voc('bottle')], [])]),
])
def test_voc_difficult_as(voc_root, difficult_as, expected):
    ds = build(
        dict(
            type='VOCMultiLabel',
            data_root=voc_root,
            split='test',
            difficult_as=difficult_as))
    assert labels_of(ds) == expected
    assert ds.get_data_info(0)['img_path'] == osp.join(voc_root, 'JPEGImages',
                                                       '000002.jpg')
    assert ds.CLASSES == VOC_CLASSES


@pytest.mark.parametrize('test_mode, expected_ignore', [(True, [[voc('cat')]]),
                                                        (False, [[]])])
def test_voc_default_difficult_follows_test_mode(voc_root, test_mode,
                                                 expected_ignore):
    ds = build(
        dict(
            type='VOCMultiLabel',
            data_root=voc_root,
            split='val',
            test_mode=test_mode))
    assert ds.difficult_as == ('ignore' if test_mode else 'negative')
    assert [ign for _, ign in labels_of(ds)] == expected_ignore


@pytest.mark.parametrize('split, ids',
                         [(s, ids) for s, ids in VOC_SPLITS.items()])
def test_voc_splits_and_cat_ids(voc_root, split, ids):
    ds = build(
        dict(
            type='VOCMultiLabel',
            data_root=voc_root,
            split=split,
            difficult_as='negative'))
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == ids
    positives = {
        '000001': [voc('dog'), voc('person')],
        '000002': [voc('chair')],
        '000003': [voc('bottle')],
    }
    for i, img_id in enumerate(ids):
        assert ds.get_cat_ids(i) == positives[img_id]


def test_voc_pipeline_packs_labels_and_ignore(voc_root):
    ds = build(
        dict(
            type='VOCMultiLabel',
            data_root=voc_root,
            split='test',
            difficult_as='ignore',
            test_mode=True,
            pipeline=LOAD_AND_PACK))
    samples = [ds[0]['data_samples'], ds[1]['data_samples']]
    assert ds[0]['inputs'].shape == (3, 8, 12)  # the 12 x 8 JPEG
    target, valid = stack_multi_label_targets(samples, 20)
    expected_target = torch.zeros(2, 20)
    expected_target[0, voc('chair')] = 1
    expected_target[1, voc('bottle')] = 1
    expected_valid = torch.ones(2, 20)
    expected_valid[0, voc('cat')] = 0
    expected_valid[1, voc('sheep')] = 0
    assert torch.equal(target, expected_target)
    assert torch.equal(valid, expected_valid)


def _broken_voc(tmp_path, annotations=None, splits=None):
    root = str(tmp_path / 'VOC2007')
    build_voc(root, annotations or {'000001': [('dog', 0)]}, splits
              or {'trainval': ['000001']})
    return root


def _write_xml(root, img_id, text):
    with open(osp.join(root, 'Annotations', f'{img_id}.xml'), 'w') as f:
        f.write(text)


@pytest.mark.parametrize('case, xml_text, message, entry', [
    ('malformed', '<annotation><object><name>dog</name></annotation>',
     'malformed XML', None),
    ('unknown class', voc_xml(
        '000001', [('dog', 0),
                   ('dragon', 0)]), "unknown class name 'dragon'", 'object 1'),
    ('bad difficult', voc_xml('000001', [('dog', 0)]).replace(
        '<difficult>0</difficult>',
        '<difficult>yes</difficult>'), "<difficult> is 'yes'", 'object 0'),
    ('no name', voc_xml('000001', [('dog', 0)]).replace(
        '<name>dog</name>', ''), 'has no <name>', 'object 0'),
    ('wrong root', '<root></root>', 'expected <annotation>', None),
])
def test_voc_bad_xml_names_file_and_object(tmp_path, case, xml_text, message,
                                           entry):
    root = _broken_voc(tmp_path)
    _write_xml(root, '000001', xml_text)
    with pytest.raises(AnnotationError, match=message) as info:
        build(dict(type='VOCMultiLabel', data_root=root))
    assert info.value.file == osp.join(root, 'Annotations', '000001.xml')
    assert info.value.entry == entry
    assert osp.join(root, 'Annotations', '000001.xml') in str(info.value)


def test_voc_missing_files(tmp_path):
    root = _broken_voc(tmp_path, splits={'trainval': ['000001', '000009']})
    with pytest.raises(FileNotFoundError, match=r"'000009'.*000009\.xml"):
        build(dict(type='VOCMultiLabel', data_root=root))
    with pytest.raises(FileNotFoundError, match=r'ImageSets/Main/test\.txt'):
        build(dict(type='VOCMultiLabel', data_root=root, split='test'))


@pytest.mark.parametrize('lines, message, entry', [
    (['000001', '000001 -1'], 'expected one image id', 'line 2'),
    ([], 'lists no image ids', None),
])
def test_voc_bad_image_set(tmp_path, lines, message, entry):
    root = _broken_voc(tmp_path)
    path = osp.join(root, 'ImageSets', 'Main', 'trainval.txt')
    write_text(path, lines)
    with pytest.raises(AnnotationError, match=message) as info:
        build(dict(type='VOCMultiLabel', data_root=root))
    assert (info.value.file, info.value.entry) == (path, entry)


def test_voc_missing_image_raise_or_drop(tmp_path):
    root = _broken_voc(
        tmp_path,
        annotations={
            '000001': [('dog', 0)],
            '000002': [('cat', 0)]
        },
        splits={'trainval': ['000001', '000002']})
    missing = osp.join(root, 'JPEGImages', '000001.jpg')
    os.remove(missing)
    with pytest.raises(FileNotFoundError, match='000001.jpg'):
        build(dict(type='VOCMultiLabel', data_root=root))
    with captured_logs() as logs:
        ds = build(
            dict(type='VOCMultiLabel', data_root=root, missing_images='drop'))
    assert labels_of(ds) == [([voc('cat')], [])]
    assert ds.num_dropped['missing_image'] == 1
    assert "Dropped samples: \t{'missing_image': 1}" in repr(ds)
    assert any(
        'dropped 1 sample(s), reason: missing_image' in m and missing in m
        for m in logs)


def test_voc_classes_argument(tmp_path):
    root = _broken_voc(
        tmp_path,
        annotations={'000001': [('person', 0), ('dog', 1)]},
        splits={'trainval': ['000001']})
    ds = build(
        dict(
            type='VOCMultiLabel',
            data_root=root,
            classes=['dog', 'person'],
            difficult_as='ignore'))
    assert ds.CLASSES == ('dog', 'person')
    assert labels_of(ds) == [([1], [0])]
    with pytest.raises(AnnotationError, match="unknown class name 'dog'"):
        build(dict(type='VOCMultiLabel', data_root=root, classes=['person']))
    with pytest.raises(ValueError, match='class list .* is empty'):
        build(dict(type='VOCMultiLabel', data_root=root, classes=[]))
    with pytest.raises(ValueError, match=r"repeats the class names \['dog'\]"):
        build(
            dict(
                type='VOCMultiLabel',
                data_root=root,
                classes=['dog', 'person', 'dog']))


@pytest.mark.parametrize('kwargs, message', [
    (dict(split='testval'), 'split must be one of'),
    (dict(difficult_as='drop'), 'difficult_as must be one of'),
    (dict(missing_images='skip'), 'missing_images must be one of'),
    (dict(data_prefix='JPEGImages'), 'data_prefix must be a dict'),
])
def test_voc_bad_arguments(voc_root, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build(dict(type='VOCMultiLabel', data_root=voc_root, **kwargs))


# ===================================================================== COCO
# category ids deliberately out of order in the file, names not alphabetical
COCO_CATEGORIES = [(18, 'dog', 'animal'), (1, 'person', 'person'),
                   (3, 'car', 'vehicle'), (62, 'chair', 'furniture')]
COCO_IMAGES = [(30, 'COCO_train2014_000000000030.jpg'),
               (9, 'COCO_train2014_000000000009.jpg'),
               (42, 'COCO_train2014_000000000042.jpg'),
               (25, 'COCO_train2014_000000000025.jpg')]
COCO_ANNOTATIONS = [  # (image_id, category_id, iscrowd)
    (9, 1, 0),
    (9, 18, 0),
    (9, 18, 0),  # person, dog
    (25, 3, 0),
    (25, 1, 1),  # car; person only as a crowd
    (30, 62, 1),
    (30, 62, 0),
    (30, 18, 1),  # chair both ways; dog crowd
]  # image 42 has no annotation
# category-id order: person 0 (id 1), car 1 (id 3), dog 2 (18), chair 3 (62)
# name order: car 0, chair 1, dog 2, person 3


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('coco'))
    instances = coco_instances(COCO_IMAGES, COCO_ANNOTATIONS, COCO_CATEGORIES)
    build_coco(root, 'train2014', instances)
    return root


def coco_cfg(root, **kwargs):
    return dict(
        type='COCOMultiLabel',
        data_root=root,
        ann_file='annotations/instances_train2014.json',
        data_prefix='train2014',
        **kwargs)


@pytest.mark.parametrize(
    'crowd_as, expected',
    [
        # samples in image-id order 9, 25, 30 (42 dropped: no annotations)
        ('positive', [([0, 2], []), ([0, 1], []), ([2, 3], [])]),
        ('ignore', [([0, 2], []), ([1], [0]), ([3], [2])]),
        ('negative', [([0, 2], []), ([1], []), ([3], [])]),
    ])
def test_coco_crowd_as(coco_root, crowd_as, expected):
    ds = build(coco_cfg(coco_root, crowd_as=crowd_as))
    assert ds.CLASSES == ('person', 'car', 'dog', 'chair')
    assert ds.metainfo['coco_category_ids'] == (1, 3, 18, 62)
    assert labels_of(ds) == expected
    assert [ds.get_data_info(i)['coco_img_id'] for i in range(3)] == \
        [9, 25, 30]
    assert ds.get_data_info(0)['img_path'] == osp.join(
        coco_root, 'train2014', 'COCO_train2014_000000000009.jpg')


def test_coco_default_is_crowd_positive_and_drop_empty(coco_root):
    with captured_logs() as logs:
        ds = build(coco_cfg(coco_root))
    assert ds.crowd_as == 'positive' and ds.keep_empty is False
    assert labels_of(ds) == [([0, 2], []), ([0, 1], []), ([2, 3], [])]
    assert ds.num_dropped['no_annotation'] == 1
    assert ds.num_without_annotations == 1
    assert any('dropped 1 sample(s), reason: no_annotation' in m
               and 'COCO_train2014_000000000042.jpg' in m for m in logs)


def test_coco_keep_empty(coco_root):
    ds = build(coco_cfg(coco_root, keep_empty=True))
    assert labels_of(ds) == [([0, 2], []), ([0, 1], []), ([2, 3], []),
                             ([], [])]
    assert ds.get_data_info(3)['coco_img_id'] == 42
    assert 'no_annotation' not in ds.num_dropped


def test_coco_class_order_by_name(coco_root):
    ds = build(coco_cfg(coco_root, class_order='name'))
    assert ds.CLASSES == ('car', 'chair', 'dog', 'person')
    assert ds.metainfo['coco_category_ids'] == (3, 62, 18, 1)
    assert labels_of(ds) == [([2, 3], []), ([0, 3], []), ([1, 2], [])]


def test_coco_explicit_classes(coco_root):
    ds = build(coco_cfg(coco_root, classes=['dog', 'car', 'chair', 'person']))
    assert ds.metainfo['coco_category_ids'] == (18, 3, 62, 1)
    assert labels_of(ds) == [([0, 3], []), ([1, 3], []), ([0, 2], [])]
    with pytest.raises(
            AnnotationError,
            match=r"not in the file: \['cat'\].*not in `classes`: "
            r"\['car', 'chair', 'person'\]"):
        build(coco_cfg(coco_root, classes=['dog', 'cat']))


def test_coco_80_class_orders(tmp_path):
    # the official 80 categories; image 9 has person (id 1) and dog (id 18)
    root = _coco_with(
        tmp_path,
        coco_instances([(9, 'COCO_train2014_000000000009.jpg')], [(9, 1, 0),
                                                                  (9, 18, 0)],
                       [(cat_id, name, 'thing')
                        for cat_id, name in COCO_CATEGORIES_80]))
    by_id = build(coco_cfg(root))
    assert by_id.CLASSES == tuple(name for _, name in COCO_CATEGORIES_80)
    assert labels_of(by_id) == [([0, 16], [])]
    by_name = build(coco_cfg(root, class_order='name'))
    assert labels_of(by_name) == [
        ([by_name.CLASSES.index('dog'),
          by_name.CLASSES.index('person')], [])
    ]
    # before 'dog': airplane apple backpack banana baseball-bat
    # baseball-glove bear bed bench bicycle bird boat book bottle bowl
    # broccoli bus cake car carrot cat cell-phone chair clock couch cow cup
    # dining-table: 28 names
    assert by_name.CLASSES.index('dog') == 28
    ml_gcn = osp.join(REPO, '..', 'shared', 'label_graph', 'coco_classes.txt')
    if not osp.isfile(ml_gcn):
        pytest.skip('shared/label_graph/coco_classes.txt (ML-GCN order) is '
                    'not beside the repository')
    with open(ml_gcn) as f:
        assert by_name.CLASSES == tuple(line.strip() for line in f
                                        if line.strip())


def _coco_with(tmp_path, instances, write_images=True):
    root = str(tmp_path)
    build_coco(root, 'train2014', instances, write_images)
    return root


def _good_instances():
    return coco_instances(COCO_IMAGES, COCO_ANNOTATIONS, COCO_CATEGORIES)


def _mutate(fn):
    data = _good_instances()
    fn(data)
    return data


@pytest.mark.parametrize('instances, message, entry', [
    (_mutate(lambda d: d.pop('categories')),
     r"\['categories'\] missing or not lists", None),
    (_mutate(lambda d: d['annotations'][3].update(category_id=99)),
     'unknown category_id 99', 'annotation id=1003'),
    (_mutate(lambda d: d['annotations'][0].update(image_id=7)),
     'unknown image_id 7', 'annotation id=1000'),
    (_mutate(lambda d: d['categories'].append({
        'id': 3,
        'name': 'bus',
        'supercategory': 'vehicle'
    })), 'repeats an id', 'category id 3'),
    (_mutate(lambda d: d['categories'].append({
        'id': 6,
        'name': 'car',
        'supercategory': 'vehicle'
    })), r"repeats the class names \['car'\]", None),
    (_mutate(lambda d: d['images'][1].pop('file_name')),
     r"has no \['file_name'\]", 'image #1 (id=9)'),
    (_mutate(lambda d: d['annotations'][2].pop('category_id')),
     r"has no \['category_id'\]", 'annotation #2 (id=1002)'),
    (_mutate(lambda d: d.update(categories=[])), 'the class list is empty',
     None),
])
def test_coco_bad_annotations(tmp_path, instances, message, entry):
    # the file is refused before any image is looked at
    root = _coco_with(tmp_path, instances, write_images=False)
    with pytest.raises(AnnotationError, match=message) as info:
        build(coco_cfg(root))
    assert info.value.file == osp.join(root, 'annotations',
                                       'instances_train2014.json')
    assert info.value.entry == entry


def test_coco_not_json_and_missing_files(tmp_path):
    root = _coco_with(tmp_path, _good_instances())
    ann = osp.join(root, 'annotations', 'instances_train2014.json')
    os.remove(osp.join(root, 'train2014', 'COCO_train2014_000000000025.jpg'))
    with pytest.raises(
            FileNotFoundError, match='COCO_train2014_000000000025.jpg'):
        build(coco_cfg(root))
    ds = build(coco_cfg(root, missing_images='drop'))
    assert labels_of(ds) == [([0, 2], []), ([2, 3], [])]
    assert ds.num_dropped == {'no_annotation': 1, 'missing_image': 1}

    with open(ann, 'w') as f:
        f.write('{"images": [')
    with pytest.raises(AnnotationError, match='not valid JSON') as info:
        build(coco_cfg(root))
    assert info.value.file == ann
    os.remove(ann)
    with pytest.raises(FileNotFoundError, match='instances_train2014.json'):
        build(coco_cfg(root))


@pytest.mark.parametrize('kwargs',
                         [dict(class_order='alphabet'),
                          dict(crowd_as='drop')])
def test_coco_bad_arguments(coco_root, kwargs):
    with pytest.raises(ValueError, match='must be one of'):
        build(coco_cfg(coco_root, **kwargs))


# ==================================================================== WIDER
def _attr(positive=(), unspecified=()):
    """14 WIDER values: 1 at ``positive``, 0 at ``unspecified``, else -1."""
    values = [-1] * 14
    for i in positive:
        values[i] = 1
    for i in unspecified:
        values[i] = 0
    return values


WIDER_TRAINVAL = [
    {
        'file_name':
        'train/0--Parade/0_Parade_marchingband_1_5.jpg',
        'scene_id':
        0,
        'targets': [
            # the right (blue) half of the 20 x 10 image
            {
                'bbox': [10, 0, 10, 10],
                'attribute': _attr(positive=(0, 3, 13), unspecified=(2, 12))
            },
            # corners (0.4, 1.6)-(9.7, 8.8) round to (0, 2)-(10, 9): red
            {
                'bbox': [0.4, 1.6, 9.3, 7.2],
                'attribute': _attr(positive=(1, ))
            },
        ],
    },
    {
        'file_name': 'val/1--Handshaking/1_Handshaking_Handshaking_1_35.jpg',
        'scene_id': 1,
        # partly outside the image: (15, 2)-(35, 22) clips to (15, 2)-(20, 10)
        'targets': [{
            'bbox': [15, 2, 20, 20],
            'attribute': [0] * 14
        }],
    },
]
WIDER_TEST = [{
    'file_name':
    'test/2--Students/2_Students_Students_2_100.jpg',
    'scene_id':
    2,
    'targets': [{
        'bbox': [2, 2, 4, 4],
        'attribute': _attr(positive=(13, ))
    }],
}]


@pytest.fixture(scope='module')
def wider_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('wider_attribute'))
    build_wider(root, {
        'trainval': wider_json(WIDER_TRAINVAL),
        'test': wider_json(WIDER_TEST)
    })
    return root


@pytest.mark.parametrize('unspecified_as, expected', [
    ('negative', [([0, 3, 13], []), ([1], []), ([], [])]),
    ('ignore', [([0, 3, 13], [2, 12]), ([1], []), ([], list(range(14)))]),
    ('positive', [([0, 2, 3, 12, 13], []), ([1], []), (list(range(14)), [])]),
])
def test_wider_unspecified_as(wider_root, unspecified_as, expected):
    ds = build(
        dict(
            type='WIDERAttribute',
            data_root=wider_root,
            split='trainval',
            unspecified_as=unspecified_as))
    assert labels_of(ds) == expected
    assert ds.CLASSES == tuple(WIDER_ATTRIBUTE_MAP[str(i)] for i in range(14))
    infos = [ds.get_data_info(i) for i in range(3)]
    assert [info['crop_bbox'] for info in infos] == [[10.0, 0.0, 10.0, 10.0],
                                                     [0.4, 1.6, 9.3, 7.2],
                                                     [15.0, 2.0, 20.0, 20.0]]
    assert [(info['scene_id'], info['person_idx']) for info in infos] == \
        [(0, 0), (0, 1), (1, 0)]
    assert infos[2]['img_path'] == osp.join(
        wider_root, 'Image',
        'val/1--Handshaking/1_Handshaking_Handshaking_1_35.jpg')


@pytest.mark.parametrize(
    'split, test_mode, expected',
    [
        ('train', False, [([0, 3, 13], []), ([1], [])]),
        ('val', True, [([], list(range(14)))]),  # default: ignore at test time
        ('val', False, [([], [])]),  # default: negative in training
        ('test', True, [([13], [])]),
    ])
def test_wider_splits(wider_root, split, test_mode, expected):
    ds = build(
        dict(
            type='WIDERAttribute',
            data_root=wider_root,
            split=split,
            test_mode=test_mode))
    assert labels_of(ds) == expected


def test_wider_crop_pipeline(wider_root):
    ds = build(
        dict(
            type='WIDERAttribute',
            data_root=wider_root,
            split='trainval',
            pipeline=[
                dict(type='LoadImageFromFileChecked'),
                dict(type='CropByBBox'),
                dict(type='PackInputs', algorithm_keys=['gt_ignore']),
            ]))
    blue_bgr, red_bgr = torch.tensor([255, 0, 0]), torch.tensor([0, 0, 255])
    # (expected C x H x W shape, expected BGR colour of every pixel)
    expected = [((3, 10, 10), blue_bgr), ((3, 7, 10), red_bgr),
                ((3, 8, 5), blue_bgr)]
    for i, (shape, colour) in enumerate(expected):
        out = ds[i]
        assert tuple(out['inputs'].shape) == shape
        assert torch.equal(out['inputs'],
                           colour.view(3, 1, 1).expand(shape).to(torch.uint8))
        assert out['data_samples'].ori_shape == (10, 20)
        assert out['data_samples'].img_shape == shape[1:]


def _wider_with(tmp_path, images, attribute_map=None):
    root = str(tmp_path)
    data = wider_json(images)
    if attribute_map is not None:
        data['attribute_id_map'] = attribute_map
    build_wider(root, {'trainval': data})
    return root


def _one_target(**target):
    base = {'bbox': [1, 1, 4, 4], 'attribute': _attr()}
    base.update(target)
    return [{
        'file_name': 'train/0--Parade/a.jpg',
        'scene_id': 0,
        'targets': [{
            'bbox': [1, 1, 2, 2],
            'attribute': _attr()
        }, base]
    }]


@pytest.mark.parametrize('images, message', [
    (_one_target(attribute=_attr()[:13]), 'must be a list of 14 values'),
    (_one_target(attribute=_attr()[:13] + [2]),
     r'attribute 13 \(stripe\) is 2, expected 1, -1 or 0'),
    (_one_target(bbox=[1, 1, 0, 4]), 'non-positive width or height'),
    (_one_target(bbox=[1, 1, 4]), 'is not 4 finite numbers'),
    (_one_target(bbox=[1, 1, float('nan'), 4]), 'is not 4 finite numbers'),
])
def test_wider_bad_target_names_image_and_target(tmp_path, images, message):
    root = _wider_with(tmp_path, images)
    with pytest.raises(AnnotationError, match=message) as info:
        build(dict(type='WIDERAttribute', data_root=root))
    assert info.value.file == osp.join(root, 'Annotations',
                                       'wider_attribute_trainval.json')
    assert info.value.entry == "image 'train/0--Parade/a.jpg', target 1"


def test_wider_bad_files(tmp_path):
    swapped = dict(WIDER_ATTRIBUTE_MAP, **{'0': 'longHair', '1': 'Male'})
    root = _wider_with(tmp_path / 'swapped', WIDER_TRAINVAL, swapped)
    with pytest.raises(AnnotationError, match='attribute_id_map is'):
        build(dict(type='WIDERAttribute', data_root=root))

    # the same names in another case are accepted, spelled as in the file
    lower = {k: v.lower() for k, v in WIDER_ATTRIBUTE_MAP.items()}
    root = _wider_with(tmp_path / 'lower', WIDER_TRAINVAL, lower)
    ds = build(dict(type='WIDERAttribute', data_root=root))
    assert ds.CLASSES[0] == 'male' and len(ds) == 3

    root = _wider_with(tmp_path / 'json', WIDER_TRAINVAL)
    ann = osp.join(root, 'Annotations', 'wider_attribute_trainval.json')
    with open(ann, 'w') as f:
        json.dump({'attribute_id_map': WIDER_ATTRIBUTE_MAP}, f)
    with pytest.raises(AnnotationError, match='"images" is missing'):
        build(dict(type='WIDERAttribute', data_root=root))
    with open(ann, 'w') as f:
        f.write('not json')
    with pytest.raises(AnnotationError, match='not valid JSON'):
        build(dict(type='WIDERAttribute', data_root=root))
    with pytest.raises(FileNotFoundError, match='wider_attribute_test.json'):
        build(dict(type='WIDERAttribute', data_root=root, split='test'))


# ================================================================= NUS-WIDE
NUS_TRAIN = [('actor\\0001_2124494179.jpg', ('person', 'dancing')),
             ('airport\\0002_2185227474.jpg', ('airport', 'plane', 'sky')),
             ('animal\\0003_1287587632.jpg', ())]
NUS_TEST = [('beach\\0004_2221390281.jpg', ('beach', 'water', 'sand', 'sky'))]


def nus(*names):
    return sorted(NUS_CONCEPTS.index(n) for n in names)


@pytest.fixture
def nus_root(tmp_path):
    root = str(tmp_path / 'nus_wide')
    build_nuswide(root, {'Train': NUS_TRAIN, 'Test': NUS_TEST})
    return root


def test_nuswide_official_layout(nus_root):
    assert len(NUS_CONCEPTS) == 81
    ds = build(dict(type='NUSWIDE', data_root=nus_root))
    assert ds.CLASSES == NUS_CONCEPTS
    assert labels_of(ds) == [(nus('person', 'dancing'), []),
                             (nus('airport', 'plane', 'sky'), []), ([], [])]
    assert ds.get_data_info(0)['img_path'] == osp.join(nus_root, 'Flickr',
                                                       'actor',
                                                       '0001_2124494179.jpg')
    test = build(
        dict(type='NUSWIDE', data_root=nus_root, split='test', test_mode=True))
    assert labels_of(test) == [(nus('beach', 'water', 'sand', 'sky'), [])]


def test_nuswide_classes_subset(nus_root):
    ds = build(
        dict(type='NUSWIDE', data_root=nus_root, classes=['sky', 'person']))
    assert labels_of(ds) == [([1], []), ([0], []), ([], [])]


def _corrupt_line(path, index, value):
    lines = read_lines(path)
    lines[index] = value
    write_text(path, lines, '\r\n')


def test_nuswide_invalid_label_raise_or_ignore(nus_root):
    lake = nus_label_file(nus_root, 'lake', 'Train')
    _corrupt_line(lake, 1, '-1130179')  # the official file's anomaly
    with pytest.raises(AnnotationError, match="'-1130179' is not 0 or 1") \
            as info:
        build(dict(type='NUSWIDE', data_root=nus_root))
    assert (info.value.file, info.value.entry) == (lake, 'line 2')
    with captured_logs() as logs:
        ds = build(
            dict(type='NUSWIDE', data_root=nus_root, invalid_labels='ignore'))
    assert labels_of(ds) == [(nus('person', 'dancing'), []),
                             (nus('airport', 'plane', 'sky'), nus('lake')),
                             ([], [])]
    assert ds.num_invalid_labels == 1
    assert any(f'{lake}, line 2' in m and "'lake' is ignored" in m
               for m in logs)


def test_nuswide_label_count_mismatch(nus_root):
    dog = nus_label_file(nus_root, 'dog', 'Train')
    write_text(dog, read_lines(dog)[:2], '\r\n')
    with pytest.raises(AnnotationError, match='has 2 lines but .* lists 3') \
            as info:
        build(dict(type='NUSWIDE', data_root=nus_root))
    assert info.value.file == dog
    lines = read_lines(dog)
    write_text(dog, [lines[0], '', lines[1], lines[1]], '\r\n')
    with pytest.raises(AnnotationError, match='is blank') as info:
        build(dict(type='NUSWIDE', data_root=nus_root))
    assert info.value.entry == 'line 2'


def test_nuswide_missing_images_not_dropped_silently(nus_root):
    missing = osp.join(nus_root, 'Flickr', 'airport', '0002_2185227474.jpg')
    os.remove(missing)
    with pytest.raises(FileNotFoundError, match='0002_2185227474.jpg'):
        build(dict(type='NUSWIDE', data_root=nus_root))
    with captured_logs() as logs:
        ds = build(
            dict(type='NUSWIDE', data_root=nus_root, missing_images='drop'))
    assert labels_of(ds) == [(nus('person', 'dancing'), []), ([], [])]
    assert ds.num_dropped == {'missing_image': 1}
    assert any('dropped 1 sample(s)' in m and missing in m for m in logs)


def test_nuswide_missing_or_empty_metadata(nus_root):
    os.remove(nus_label_file(nus_root, 'zebra', 'Test'))
    with pytest.raises(FileNotFoundError, match='Labels_zebra_Test.txt'):
        build(dict(type='NUSWIDE', data_root=nus_root, split='test'))
    concepts = osp.join(nus_root, 'Concepts81.txt')
    write_text(concepts, [])
    with pytest.raises(AnnotationError, match='the class list is empty') \
            as info:
        build(dict(type='NUSWIDE', data_root=nus_root))
    assert info.value.file == concepts
    os.remove(concepts)
    with pytest.raises(FileNotFoundError, match='Concepts81.txt'):
        build(dict(type='NUSWIDE', data_root=nus_root))
    with pytest.raises(ValueError, match='invalid_labels must be one of'):
        build(dict(type='NUSWIDE', data_root=nus_root, invalid_labels='zero'))


# ====================================================== MultiLabelFolder
@pytest.fixture
def folder_root(tmp_path):
    root = str(tmp_path / 'own')
    for name in ('dogs/001.jpg', 'cats/002.png', 'odd, name/003.jpg'):
        write_image(osp.join(root, 'images', name))
    return root


def folder_cfg(root, ann, **kwargs):
    return dict(
        type='MultiLabelFolder',
        data_root=root,
        ann_file=ann,
        data_prefix='images',
        **kwargs)


CSV_ROWS = [
    'path,labels,ignore', 'dogs/001.jpg,dog;person,',
    'cats/002.png, cat ,person', '"odd, name/003.jpg",,'
]


def test_folder_csv_inferred_classes(folder_root):
    write_text(osp.join(folder_root, 'ann.csv'), CSV_ROWS)
    with captured_logs() as logs:
        ds = build(folder_cfg(folder_root, 'ann.csv'))
    assert ds.CLASSES == ('cat', 'dog', 'person')  # sorted union
    assert labels_of(ds) == [([1, 2], []), ([0], [2]), ([], [])]
    assert ds.get_data_info(2)['img_path'] == osp.join(folder_root, 'images',
                                                       'odd, name/003.jpg')
    assert any("inferred 3 classes (sorted): ['cat', 'dog', 'person']" in m
               for m in logs)


def test_folder_csv_given_classes_and_separator(folder_root):
    rows = [r.replace(';', '|') for r in CSV_ROWS]
    write_text(osp.join(folder_root, 'ann.csv'), rows)
    ds = build(
        folder_cfg(
            folder_root,
            'ann.csv',
            label_sep='|',
            classes=['person', 'dog', 'cat', 'bird']))
    assert labels_of(ds) == [([0, 1], []), ([2], [0]), ([], [])]
    classes_file = osp.join(folder_root, 'classes.txt')
    write_text(classes_file, ['person', 'dog', 'cat'])
    ds = build(
        folder_cfg(
            folder_root, 'ann.csv', label_sep='|', classes=classes_file))
    assert ds.CLASSES == ('person', 'dog', 'cat')
    assert labels_of(ds) == [([0, 1], []), ([2], [0]), ([], [])]


def test_folder_csv_without_ignore_column(folder_root):
    write_text(
        osp.join(folder_root, 'ann.csv'),
        ['path,labels', 'dogs/001.jpg,dog', 'cats/002.png,cat;dog'])
    ds = build(folder_cfg(folder_root, 'ann.csv'))
    assert labels_of(ds) == [([1], []), ([0, 1], [])]


def test_folder_json(folder_root):
    entries = [{
        'img': 'dogs/001.jpg',
        'labels': ['dog', 'person']
    }, {
        'img': 'cats/002.png',
        'labels': [2],
        'ignore': ['person']
    }, {
        'img': 'odd, name/003.jpg',
        'labels': []
    }]
    with open(osp.join(folder_root, 'ann.json'), 'w') as f:
        json.dump(entries, f)
    ds = build(
        folder_cfg(folder_root, 'ann.json', classes=['person', 'dog', 'cat']))
    assert labels_of(ds) == [([0, 1], []), ([2], [0]), ([], [])]
    with pytest.raises(AnnotationError, match='integer labels need') as info:
        build(folder_cfg(folder_root, 'ann.json'))
    assert info.value.entry == 'entry #1'


@pytest.mark.parametrize('rows, message, entry', [
    (['path,labels', 'dogs/001.jpg,dragon'
      ], "unknown class name 'dragon'", 'line 2'),
    (['path,labels,ignore', 'dogs/001.jpg,dog;cat,cat'
      ], r"classes \['cat'\] are both in labels and ignore", 'line 2'),
    (['path,label', 'dogs/001.jpg,dog'], 'header', 'line 1'),
    (['path,labels,extra', 'dogs/001.jpg,dog,x'], 'header', 'line 1'),
    (['path,labels', 'dogs/001.jpg,dog,cat'], 'expected 2 fields', 'line 2'),
    (['path,labels,ignore', 'dogs/001.jpg'], 'expected 3 fields', 'line 2'),
    (['path,labels', ',dog'], 'empty path', 'line 2'),
    (['path,labels', '"dogs/001.jpg,dog'], 'malformed CSV', 'after line 1'),
    ([], r'is empty \(no header row\)', None),
])
def test_folder_bad_csv(folder_root, rows, message, entry):
    ann = osp.join(folder_root, 'ann.csv')
    write_text(ann, rows)
    with pytest.raises(AnnotationError, match=message) as info:
        build(folder_cfg(folder_root, 'ann.csv', classes=['cat', 'dog']))
    assert (info.value.file, info.value.entry) == (ann, entry)


@pytest.mark.parametrize('content, message, entry', [
    ([{
        'img': 'dogs/001.jpg',
        'labels': [0]
    }, {
        'img': 'cats/002.png',
        'labels': [2]
    }], 'label index 2 is out of range for 2 classes', 'entry #1'),
    ([{
        'img': 'dogs/001.jpg',
        'labels': [-1]
    }], 'label index -1 is out of', 'entry #0'),
    ([{
        'img': 'dogs/001.jpg',
        'labels': [True]
    }], 'neither a class name nor an integer', 'entry #0'),
    ([{
        'img': 'dogs/001.jpg',
        'labels': 'dog'
    }], '"labels" must be a list', 'entry #0'),
    ([{
        'img': 'dogs/001.jpg',
        'labels': [],
        'tags': []
    }], 'nothing else', 'entry #0'),
    ([{
        'labels': ['dog']
    }], 'needs "img"', 'entry #0'),
    ([{
        'img': '',
        'labels': ['dog']
    }], 'bad "img"', 'entry #0'),
    ({
        'img': 'dogs/001.jpg'
    }, 'top level is a dict', None),
    ('[{"img": ', 'not valid JSON', None),
])
def test_folder_bad_json(folder_root, content, message, entry):
    ann = osp.join(folder_root, 'ann.json')
    with open(ann, 'w') as f:
        f.write(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(AnnotationError, match=message) as info:
        build(folder_cfg(folder_root, 'ann.json', classes=['cat', 'dog']))
    assert (info.value.file, info.value.entry) == (ann, entry)


def test_folder_class_list_and_file_errors(folder_root):
    ann = osp.join(folder_root, 'ann.csv')
    write_text(ann, ['path,labels', 'dogs/001.jpg,'])
    with pytest.raises(AnnotationError, match='the class list is empty') \
            as info:
        build(folder_cfg(folder_root, 'ann.csv'))
    assert info.value.file == ann
    with pytest.raises(ValueError, match='class list .* is empty'):
        build(folder_cfg(folder_root, 'ann.csv', classes=[]))
    with pytest.raises(ValueError, match='invalid class name'):
        build(folder_cfg(folder_root, 'ann.csv', classes=['a', '']))
    with pytest.raises(FileNotFoundError, match='missing.csv'):
        build(folder_cfg(folder_root, 'missing.csv'))
    with pytest.raises(ValueError, match="ann_format='csv' or 'json'"):
        build(folder_cfg(folder_root, 'ann.txt'))
    write_text(ann, ['path,labels', 'dogs/404.jpg,dog'])
    with pytest.raises(FileNotFoundError, match='dogs/404.jpg'):
        build(folder_cfg(folder_root, 'ann.csv'))


# ============================================ non-default paths and formats
def test_path_arguments_of_every_dataset(tmp_path):
    # VOC: image set and folders elsewhere (absolute image_set_path)
    voc_root = str(tmp_path / 'voc')
    build_voc(voc_root, VOC_ANNOTATIONS, VOC_SPLITS)
    os.rename(osp.join(voc_root, 'JPEGImages'), osp.join(voc_root, 'imgs'))
    os.rename(osp.join(voc_root, 'Annotations'), osp.join(voc_root, 'xml'))
    ids = osp.join(str(tmp_path), 'my_ids.txt')
    write_text(ids, ['000003'])
    ds = build(
        dict(
            type='VOCMultiLabel',
            data_root=voc_root,
            image_set_path=ids,
            difficult_as='ignore',
            data_prefix=dict(img_path='imgs', ann_path='xml')))
    assert labels_of(ds) == [([voc('bottle')], [voc('sheep')])]
    assert ds.get_data_info(0)['img_path'] == osp.join(voc_root, 'imgs',
                                                       '000003.jpg')

    # WIDER: another annotation file and image folder
    wider_root = str(tmp_path / 'wider')
    build_wider(wider_root, {'test': wider_json(WIDER_TEST)})
    os.rename(osp.join(wider_root, 'Image'), osp.join(wider_root, 'images'))
    os.rename(
        osp.join(wider_root, 'Annotations'), osp.join(wider_root, 'anno'))
    ds = build(
        dict(
            type='WIDERAttribute',
            data_root=wider_root,
            split='test',
            ann_file='anno/wider_attribute_test.json',
            data_prefix='images',
            test_mode=True))
    assert labels_of(ds) == [([13], [])]

    # NUS-WIDE: ConceptsList/ sub-folder, renamed list, labels and images
    nus_root = str(tmp_path / 'nus')
    build_nuswide(nus_root, {'Train': NUS_TRAIN})
    os.makedirs(osp.join(nus_root, 'ConceptsList'))
    os.rename(
        osp.join(nus_root, 'Concepts81.txt'),
        osp.join(nus_root, 'ConceptsList', 'Concepts81.txt'))
    os.rename(
        osp.join(nus_root, 'ImageList', 'TrainImagelist.txt'),
        osp.join(nus_root, 'train_list.txt'))
    os.rename(
        osp.join(nus_root, 'Groundtruth', 'TrainTestLabels'),
        osp.join(nus_root, 'labels'))
    os.rename(osp.join(nus_root, 'Flickr'), osp.join(nus_root, 'images'))
    ds = build(
        dict(
            type='NUSWIDE',
            data_root=nus_root,
            concepts_file='ConceptsList/Concepts81.txt',
            image_list='train_list.txt',
            label_dir='labels',
            data_prefix='images'))
    assert labels_of(ds)[1] == (nus('airport', 'plane', 'sky'), [])
    assert ds.get_data_info(1)['img_path'] == osp.join(nus_root, 'images',
                                                       'airport',
                                                       '0002_2185227474.jpg')

    # MultiLabelFolder: JSON content under another extension
    own = str(tmp_path / 'own')
    write_image(osp.join(own, 'a.jpg'))
    with open(osp.join(own, 'labels.txt'), 'w') as f:
        json.dump([{'img': 'a.jpg', 'labels': ['b', 'a']}], f)
    ds = build(
        dict(
            type='MultiLabelFolder',
            data_root=own,
            ann_file='labels.txt',
            ann_format='json'))
    assert ds.CLASSES == ('a', 'b') and labels_of(ds) == [([0, 1], [])]


# ================================================= loading and cropping
@pytest.fixture
def image_files(tmp_path):
    good = str(tmp_path / 'good.png')
    write_image(good, (5, 4), (10, 20, 30))
    garbage = str(tmp_path / 'garbage.jpg')
    with open(garbage, 'wb') as f:
        f.write(b'this is not an image')
    truncated = str(tmp_path / 'truncated.png')
    with open(good, 'rb') as f:
        head = f.read(40)
    with open(truncated, 'wb') as f:
        f.write(head)
    return dict(
        good=good,
        garbage=garbage,
        truncated=truncated,
        missing=str(tmp_path / 'missing.jpg'))


def test_load_checked_reads_a_good_image(image_files):
    load = TRANSFORMS.build(dict(type='LoadImageFromFileChecked'))
    out = load(dict(img_path=image_files['good']))
    assert out['img'].shape == (4, 5, 3) and out['img'].dtype == np.uint8
    assert out['img_shape'] == out['ori_shape'] == (4, 5)
    assert out['img'][0, 0].tolist() == [30, 20, 10]  # BGR

    load = TRANSFORMS.build(
        dict(
            type='LoadImageFromFileChecked',
            to_float32=True,
            color_type='grayscale'))
    out = load(dict(img_path=image_files['good']))
    assert out['img'].shape == (4, 5) and out['img'].dtype == np.float32
    # ITU-R 601 luma of RGB (10, 20, 30): 0.299*10 + 0.587*20 + 0.114*30
    assert abs(out['img'][0, 0] - 18.16) <= 1


def _png_declaring(path, width, height):
    """A valid 1x1 PNG whose IHDR then claims ``width`` x ``height``.

    The header is all a decoder needs to allocate the image: this is the
    shape of a decompression bomb (PNG spec: IHDR = width, height as
    big-endian uint32 at bytes 16-24, CRC-32 of type + data after it).
    """
    import struct
    import zlib
    from PIL import Image
    Image.new('RGB', (1, 1), (10, 20, 30)).save(path)
    data = bytearray(open(path, 'rb').read())
    assert data[12:16] == b'IHDR'
    data[16:24] = struct.pack('>II', width, height)
    data[29:33] = struct.pack('>I', zlib.crc32(bytes(data[12:29])))
    with open(path, 'wb') as f:
        f.write(bytes(data))
    return str(path)


@pytest.mark.parametrize(
    'width, height, reason',
    [
        (12_000, 10_000, '12000 x 10000 = 120,000,000 pixels, more than '
         'max_pixels=100,000,000'),  # above ours, below PIL's own hard limit
        (50_000, 50_000, 'decompression bomb refused before decoding'),
    ])
@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_load_checked_refuses_decompression_bombs(tmp_path, width, height,
                                                  reason, backend):
    bomb = _png_declaring(tmp_path / 'bomb.png', width, height)
    assert os.path.getsize(bomb) < 100  # tiny file, huge declared image
    load = TRANSFORMS.build(
        dict(type='LoadImageFromFileChecked', imdecode_backend=backend))
    with pytest.raises(ImageLoadError, match=re.escape(reason)) as info:
        load(dict(img_path=bomb))
    assert info.value.file == bomb


def test_load_checked_pixel_limit_is_configurable(image_files):
    # the good image is 5 x 4 = 20 pixels
    strict = TRANSFORMS.build(
        dict(type='LoadImageFromFileChecked', max_pixels=19))
    with pytest.raises(ImageLoadError, match='5 x 4 = 20 pixels'):
        strict(dict(img_path=image_files['good']))
    exact = TRANSFORMS.build(
        dict(type='LoadImageFromFileChecked', max_pixels=20))
    assert exact(dict(img_path=image_files['good']))['img'].shape == (4, 5, 3)
    off = TRANSFORMS.build(
        dict(type='LoadImageFromFileChecked', max_pixels=None))
    assert off(dict(img_path=image_files['good']))['img'].shape == (4, 5, 3)
    for bad in (0, -5, 1.5, True, '100'):
        with pytest.raises(ValueError, match='max_pixels must be'):
            TRANSFORMS.build(
                dict(type='LoadImageFromFileChecked', max_pixels=bad))


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
@pytest.mark.parametrize('which, reason', [('garbage', 'can not decode'),
                                           ('truncated', 'can not decode'),
                                           ('missing', 'file not found')])
def test_load_checked_raises_naming_the_file(image_files, backend, which,
                                             reason):
    load = TRANSFORMS.build(
        dict(type='LoadImageFromFileChecked', imdecode_backend=backend))
    with pytest.raises(ImageLoadError, match=reason) as info:
        load(dict(img_path=image_files[which]))
    assert info.value.file == image_files[which]
    assert image_files[which] in str(info.value)


def test_load_checked_skip_counts_and_logs(image_files):
    load = TRANSFORMS.build(
        dict(type='LoadImageFromFileChecked', on_error='skip'))
    with captured_logs() as logs:
        assert load(dict(img_path=image_files['garbage'])) is None
        assert load(dict(img_path=image_files['garbage'])) is None
        assert load(dict(img_path=image_files['missing'])) is None
        assert load(dict(img_path=image_files['good'])) is not None
    assert load.num_skipped == 3
    assert load.skipped_files == {
        image_files['garbage'], image_files['missing']
    }
    skips = [m for m in logs if m.startswith('Skipped image')]
    assert len(skips) == 3
    assert image_files['garbage'] in skips[1]
    assert 'has skipped 2 load(s) of 1 distinct file(s)' in skips[1]
    assert 'has skipped 3 load(s) of 2 distinct file(s)' in skips[2]
    with pytest.raises(ValueError, match='on_error must be one of'):
        TRANSFORMS.build(
            dict(type='LoadImageFromFileChecked', on_error='ignore'))


def _corrupt_folder_dataset(root, on_error, test_mode):
    write_image(osp.join(root, 'good.png'), (5, 4))
    with open(osp.join(root, 'bad.jpg'), 'wb') as f:
        f.write(b'corrupt')
    write_text(
        osp.join(root, 'ann.csv'),
        ['path,labels', 'bad.jpg,cat', 'good.png,dog'])
    return build(
        dict(
            type='MultiLabelFolder',
            data_root=root,
            ann_file='ann.csv',
            test_mode=test_mode,
            pipeline=[
                dict(type='LoadImageFromFileChecked', on_error=on_error),
                dict(type='PackInputs', algorithm_keys=['gt_ignore']),
            ]))


def test_dataset_skips_corrupt_image_in_training(tmp_path):
    ds = _corrupt_folder_dataset(str(tmp_path), 'skip', test_mode=False)
    np.random.seed(0)
    out = ds[0]  # bad.jpg: mmengine re-draws until it gets good.png
    assert out['data_samples'].img_path == osp.join(str(tmp_path), 'good.png')
    assert out['data_samples'].gt_label.tolist() == [1]  # dog
    load = ds.pipeline.transforms[0]
    assert load.num_skipped >= 1
    assert load.skipped_files == {osp.join(str(tmp_path), 'bad.jpg')}


def test_dataset_never_skips_at_test_time(tmp_path):
    ds = _corrupt_folder_dataset(str(tmp_path), 'skip', test_mode=True)
    with pytest.raises(ImageLoadError, match='can not be skipped') as info:
        ds[0]
    assert info.value.file == osp.join(str(tmp_path), 'bad.jpg')
    assert ds[1]['data_samples'].gt_label.tolist() == [1]


def test_dataset_raises_on_corrupt_image_by_default(tmp_path):
    ds = _corrupt_folder_dataset(str(tmp_path), 'raise', test_mode=False)
    with pytest.raises(ImageLoadError, match='bad.jpg: can not decode'):
        ds[0]


@pytest.mark.parametrize(
    'bbox, fmt, rows, cols',
    [
        ([1, 2, 3, 4], 'xywh', (2, 6), (1, 4)),
        ([1, 2, 3, 4], 'xyxy', (2, 4), (1, 3)),
        ([1.5, 2.4, 2.0, 1.0], 'xywh', (2, 3), (2, 4)),  # round(3.5) == 4
        ([-3, -3, 5, 5], 'xywh', (0, 2), (0, 2)),  # clipped to the image
    ])
def test_crop_by_bbox(bbox, fmt, rows, cols):
    img = np.arange(8 * 10 * 3, dtype=np.uint8).reshape(8, 10, 3)
    crop = TRANSFORMS.build(dict(type='CropByBBox', bbox_format=fmt))
    out = crop(dict(img=img.copy(), crop_bbox=bbox, ori_shape=(8, 10)))
    assert np.array_equal(out['img'], img[rows[0]:rows[1], cols[0]:cols[1]])
    assert out['img_shape'] == (rows[1] - rows[0], cols[1] - cols[0])
    assert out['ori_shape'] == (8, 10)


def test_crop_by_bbox_other_key():
    img = np.arange(8 * 10 * 3, dtype=np.uint8).reshape(8, 10, 3)
    crop = TRANSFORMS.build(
        dict(type='CropByBBox', bbox_key='gt_bbox', bbox_format='xyxy'))
    out = crop(dict(img=img, gt_bbox=np.array([0, 0, 10, 1.0])))
    assert np.array_equal(out['img'], img[0:1, 0:10])


def test_crop_by_bbox_errors():
    crop = TRANSFORMS.build(dict(type='CropByBBox'))
    img = np.zeros((8, 10, 3), np.uint8)
    with pytest.raises(AnnotationError, match='no pixel inside the 10x8'):
        crop(dict(img=img, crop_bbox=[12, 0, 3, 3], img_path='a.jpg'))
    with pytest.raises(KeyError, match="'crop_bbox'"):
        crop(dict(img=img, img_path='a.jpg'))
    with pytest.raises(ValueError, match='bbox_format'):
        TRANSFORMS.build(dict(type='CropByBBox', bbox_format='cxcywh'))


def test_annotation_error_pickles():
    import pickle
    err = pickle.loads(pickle.dumps(AnnotationError('a.json', 'bad', 'x')))
    assert (err.file, err.message, err.entry, str(err)) == \
        ('a.json', 'bad', 'x', 'a.json, x: bad')
    err = pickle.loads(pickle.dumps(ImageLoadError('a.jpg', 'corrupt')))
    assert (err.file, str(err)) == ('a.jpg', 'a.jpg: corrupt')


# ============================================================ base configs
def _voc07_fixture(root):
    build_voc(root, VOC_ANNOTATIONS, VOC_SPLITS)


def _voc12_fixture(root):
    build_voc(root, VOC_ANNOTATIONS, VOC_SPLITS, folder='VOC2012')


COCO_80 = [(cat_id, name, 'thing') for cat_id, name in COCO_CATEGORIES_80]


def _coco_fixture(year):

    def build(root):
        for split in ('train', 'val'):
            images = [(i, f'COCO_{split}{year}_{i:012d}.jpg')
                      for i, _ in COCO_IMAGES]
            build_coco(root, f'{split}{year}',
                       coco_instances(images, COCO_ANNOTATIONS, COCO_80))

    return build


def _wider_fixture(root):
    build_wider(root, {
        'trainval': wider_json(WIDER_TRAINVAL),
        'test': wider_json(WIDER_TEST)
    })


def _nus_fixture(root):
    build_nuswide(root, {'Train': NUS_TRAIN, 'Test': NUS_TEST})
    # the official Labels_lake_Train.txt anomaly; the config ignores it
    _corrupt_line(nus_label_file(root, 'lake', 'Train'), 0, '-1130179')


# config -> (fixture, size, classes, train sample 0, test sample 0)
CONFIGS = {
    'voc07': (_voc07_fixture, 448, 20, ([voc('dog'), voc('person')], []),
              ([voc('chair')], [voc('cat')])),
    'voc12': (_voc12_fixture, 448, 20, ([voc('dog'), voc('person')], []),
              ([voc('chair')], [voc('cat')])),
    # image 9: person (id 1, index 0) and dog (id 18, index 16 of 80)
    'coco14': (_coco_fixture(2014), 448, 80, ([0, 16], []), ([0, 16], [])),
    'coco17': (_coco_fixture(2017), 448, 80, ([0, 16], []), ([0, 16], [])),
    'wider': (_wider_fixture, 224, 14, ([0, 3, 13], []), ([13], [])),
    'nuswide': (_nus_fixture, 448, 81, (nus('person', 'dancing'), nus('lake')),
                (nus('beach', 'water', 'sand', 'sky'), [])),
}


@pytest.mark.parametrize('name', list(CONFIGS))
def test_base_dataset_config_builds_against_fixture(tmp_path, name):
    build_fixture, size, num_classes, train0, test0 = CONFIGS[name]
    root = str(tmp_path / name)
    build_fixture(root)
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'datasets', f'{name}.py'))

    assert cfg.data_preprocessor.num_classes == num_classes
    assert cfg.data_preprocessor.mean == [123.675, 116.28, 103.53]
    assert cfg.data_preprocessor.std == [58.395, 57.12, 57.375]
    assert [e['type'] for e in cfg.val_evaluator] == \
        ['MultiLabelMAP', 'MultiLabelPRF']
    assert cfg.test_dataloader == cfg.val_dataloader
    assert cfg.data_root.startswith('data/')

    preprocessor = MODELS.build(
        dict(type='ClsDataPreprocessor', **cfg.data_preprocessor))
    for key, expected, test_mode in (('train_dataloader', train0, False),
                                     ('test_dataloader', test0, True)):
        loader = cfg[key]
        assert loader.dataset.get('test_mode', False) is test_mode
        dataset_cfg = copy.deepcopy(loader.dataset)
        dataset_cfg['data_root'] = root
        ds = DATASETS.build(dataset_cfg)  # default: serialize_data=True
        assert len(ds.CLASSES) == num_classes
        assert labels_of(ds)[0] == expected

        out = ds[0]
        assert tuple(out['inputs'].shape) == (3, size, size)
        sample = out['data_samples']
        assert sample.gt_label.tolist() == expected[0]
        assert list(sample.gt_ignore) == expected[1]
        # normalisation of the solid-colour fixture images: ImageNet mean/std
        batch = preprocessor(
            dict(inputs=[out['inputs']], data_samples=[sample]))
        pixel = batch['inputs'][0, :, size // 2, size // 2]
        bgr = out['inputs'][:, size // 2, size // 2].float()
        expected_pixel = (bgr.flip(0) - torch.tensor(
            [123.675, 116.28, 103.53])) / torch.tensor([58.395, 57.12, 57.375])
        assert torch.allclose(pixel, expected_pixel, atol=1e-5)
