"""COCOMultiLabel's typed (msgspec) decoder against pycocotools' ``COCO()``.

* **Labels**: on random files in the official ``instances_*.json`` format
  (https://cocodataset.org/#format-data: polygons, RLE crowd regions, boxes,
  ``info`` / ``licenses``; ids up to 2**62 and negative, non-ASCII names,
  images without annotations, a category repeated on an image, ``iscrowd``
  written ``0`` / ``1`` / ``true`` / ``1.0``, ``NaN`` in ``area``), the data
  list equals what pycocotools' ``COCO(annotation_file)`` index gives:
  ``getAnnIds(imgIds=i, iscrowd=True / False)`` per image, in image-id
  order, for every ``crowd_as`` / ``class_order`` / ``keep_empty``.
* **Errors**: a file the typed decode refuses raises exactly the error of the
  ``json.load`` validation (same message, same entry), with the msgspec
  error as its cause.
* ``MultiLabelBaseDataset._confined_paths`` equals ``_confined_path`` name
  by name, links and ``..`` included.
"""
import contextlib
import gc
import io
import json
import math
import os
import os.path as osp
import tempfile

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO

import mmcsra  # noqa: F401  (registers the datasets)
from mmcsra.datasets import COCOMultiLabel
from mmcsra.datasets.errors import AnnotationError
from mmcsra.datasets.typed_json import gc_paused

PROPERTY = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
IDS = st.one_of(st.integers(1, 100), st.integers(-2**40, 2**62))
# file and category names: ASCII, Latin-1, CJK, spaces; no '/' or NUL
NAME = st.text(
    st.sampled_from('abcXYZ019_- .éüß中文'), min_size=1,
    max_size=8).filter(lambda s: s.strip() and s not in ('.', '..'))


@st.composite
def instances_files(draw):
    """(instances dict, write NaN areas): a random official-format file."""
    cat_ids = draw(st.lists(IDS, min_size=1, max_size=6, unique=True))
    cat_names = draw(
        st.lists(
            NAME, min_size=len(cat_ids), max_size=len(cat_ids), unique=True))
    img_ids = draw(st.lists(IDS, min_size=1, max_size=8, unique=True))
    files = draw(
        st.lists(
            NAME, min_size=len(img_ids), max_size=len(img_ids), unique=True))
    crowd_values = st.sampled_from([0, 0, 0, 1, 1, True, False, 1.0, 0.0])
    anns = draw(
        st.lists(
            st.tuples(
                st.sampled_from(img_ids), st.sampled_from(cat_ids),
                crowd_values, st.integers(1, 12)),
            max_size=20))
    ann_ids = draw(
        st.lists(IDS, min_size=len(anns), max_size=len(anns), unique=True))
    annotations = []
    for ann_id, (img_id, cat_id, crowd, points) in zip(ann_ids, anns):
        segmentation = {'counts': list(range(points)), 'size': [8, 12]} \
            if crowd else [[float(v) for v in range(2 * points)]]
        annotations.append({
            'segmentation': segmentation,
            'area': 8.5,
            'iscrowd': crowd,
            'image_id': img_id,
            'bbox': [1.0, 2.0, 3.0, 4.0],
            'category_id': cat_id,
            'id': ann_id
        })
    instances = {
        'info': {
            'description': 'COCO 2014 Dataset (random)',
            'year': 2014
        },
        'licenses': [{
            'url': 'http://creativecommons.org/licenses/by-nc-sa/'
            '2.0/',
            'id': 1,
            'name': 'Attribution-NonCommercial'
        }],
        'images': [{
            'license': 1,
            'file_name': f'{name}.jpg',
            'coco_url': '',
            'height': 8,
            'width': 12,
            'id': img_id
        } for img_id, name in zip(img_ids, files)],
        'annotations':
        annotations,
        'categories': [{
            'supercategory': 'thing',
            'id': cat_id,
            'name': name
        } for cat_id, name in zip(cat_ids, cat_names)],
    }
    return instances, draw(st.booleans())


def write(path: str, instances: dict, nan_area: bool = False) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    if nan_area:  # Python's json reads NaN, RFC 8259 (and msgspec) do not
        for ann in instances['annotations']:
            ann['area'] = math.nan
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(instances, f, ensure_ascii=False)


def dataset(root: str, **kwargs) -> COCOMultiLabel:
    return COCOMultiLabel(
        ann_file='annotations/instances_train2014.json',
        data_root=root,
        data_prefix='train2014',
        lazy_init=True,
        serialize_data=False,
        **kwargs)


def pycocotools_labels(path: str, class_order: str, crowd_as: str,
                       keep_empty: bool):
    """(class names, [(image id, file name, gt_label, gt_ignore)])."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(path)
    cats = coco.loadCats(coco.getCatIds())
    cats = sorted(
        cats,
        key=lambda c: c['id' if class_order == 'category_id' else 'name'])
    label = {cat['id']: i for i, cat in enumerate(cats)}
    samples = []
    for img_id in sorted(coco.getImgIds()):
        if not coco.getAnnIds(imgIds=img_id, iscrowd=None) and \
                not keep_empty:
            continue
        clear = {
            label[a['category_id']]
            for a in coco.loadAnns(
                coco.getAnnIds(imgIds=img_id, iscrowd=False))
        }
        crowd = {
            label[a['category_id']]
            for a in coco.loadAnns(
                coco.getAnnIds(imgIds=img_id, iscrowd=True))
        }
        if crowd_as == 'positive':
            gt = (sorted(clear | crowd), [])
        elif crowd_as == 'ignore':
            gt = (sorted(clear), sorted(crowd - clear))
        else:
            gt = (sorted(clear), [])
        samples.append((img_id, coco.loadImgs(img_id)[0]['file_name'], *gt))
    return tuple(cat['name'] for cat in cats), samples


@PROPERTY
@given(
    spec=instances_files(),
    class_order=st.sampled_from(['category_id', 'name']),
    crowd_as=st.sampled_from(['positive', 'ignore', 'negative']),
    keep_empty=st.booleans())
def test_labels_equal_pycocotools(spec, class_order, crowd_as, keep_empty):
    instances, nan_area = spec
    with tempfile.TemporaryDirectory() as root:
        path = osp.join(root, 'annotations', 'instances_train2014.json')
        write(path, instances, nan_area)
        classes, expected = pycocotools_labels(path, class_order, crowd_as,
                                               keep_empty)
        ds = dataset(
            root,
            class_order=class_order,
            crowd_as=crowd_as,
            keep_empty=keep_empty)
        data_list = ds.load_data_list()
        assert ds.CLASSES == classes
        got = [(info['coco_img_id'], osp.basename(info['img_path']),
                info['gt_label'], info['gt_ignore']) for info in data_list]
        assert got == expected
        assert all(info['img_path'] == osp.join(root, 'train2014', name)
                   for info, (_, name, _, _) in zip(data_list, expected))


def test_missing_iscrowd_is_not_a_crowd(tmp_path):
    # pycocotools' getAnnIds(iscrowd=...) needs the key; COCOMultiLabel
    # reads a missing one as 0, the same labels as writing 0
    instances = {
        'images': [{
            'id': 5,
            'file_name': 'a.jpg'
        }, {
            'id': 2,
            'file_name': 'b.jpg'
        }],
        'annotations': [{
            'id': 1,
            'image_id': 5,
            'category_id': 7
        }, {
            'id': 2,
            'image_id': 2,
            'category_id': 3,
            'iscrowd': 1
        }],
        'categories': [{
            'id': 7,
            'name': 'x'
        }, {
            'id': 3,
            'name': 'y'
        }]
    }
    root = str(tmp_path)
    write(osp.join(root, 'annotations', 'instances_train2014.json'), instances)
    ds = dataset(root, crowd_as='ignore')
    assert [(i['coco_img_id'], i['gt_label'], i['gt_ignore'])
            for i in ds.load_data_list()] == [(2, [], [0]), (5, [1], [])]


def good():
    return {
        'info': {
            'description': 'd'
        },
        'images': [{
            'id': 9,
            'file_name': 'a.jpg'
        }, {
            'id': 4,
            'file_name': 'b.jpg'
        }],
        'annotations': [{
            'id': 1,
            'image_id': 9,
            'category_id': 2,
            'iscrowd': 0,
            'segmentation': [[1.0, 2.0]]
        }, {
            'id': 2,
            'image_id': 4,
            'category_id': 2,
            'iscrowd': 1,
            'segmentation': {
                'counts': [1]
            }
        }],
        'categories': [{
            'id': 2,
            'name': 'cat'
        }]
    }


def mutated(fn):
    data = good()
    fn(data)
    return json.dumps(data).encode()


# (file bytes, message, entry): refused by the typed decode, reported by
# the json.load validation
REFUSED = [
    (mutated(lambda d: d['images'][1].update(id='4')),
     '"id" is \'4\', expected an integer', 'image #1'),
    (mutated(lambda d: d['annotations'][0].pop('image_id')),
     r"has no ['image_id']", 'annotation #0 (id=1)'),
    (mutated(lambda d: d['annotations'][1].update(iscrowd=2)),
     '"iscrowd" is 2, expected 0 or 1', 'annotation #1'),
    (mutated(lambda d: d['annotations'][1].update(iscrowd='1')),
     '"iscrowd" is \'1\', expected 0 or 1', 'annotation #1'),
    (mutated(lambda d: d['categories'][0].update(name=None)),
     '"name" is None, expected a non-empty string', 'category #0'),
    (mutated(lambda d: d['images'][0].update(file_name=3)),
     '"file_name" is 3, expected a non-empty string', 'image #0'),
    (mutated(lambda d: d['categories'][0].update(id=2.0)),
     '"id" is 2.0, expected an integer', 'category #0'),
    (mutated(lambda d: d['annotations'][0].update(category_id=True)),
     '"category_id" is True, expected an integer', 'annotation #0'),
    (mutated(lambda d: d.update(images={})), "['images'] missing or not lists",
     None),
    (mutated(lambda d: d['annotations'].append(7)), 'is not an object',
     'annotation #2'),
    (b'[]', 'top level is a list', None),
    (b'{"images": [', 'not valid JSON', None),
    (b'\xef\xbb\xbf' + mutated(lambda d: None), 'not valid JSON', None),
    # invalid UTF-8 in a field the typed decode skips
    (mutated(lambda d: None).replace(b'"d"',
                                     b'"\xff"'), 'not valid JSON', None),
]


@pytest.mark.parametrize('content, message, entry', REFUSED)
def test_refused_files_raise_the_reference_error(tmp_path, content, message,
                                                 entry):
    root = str(tmp_path)
    path = osp.join(root, 'annotations', 'instances_train2014.json')
    os.makedirs(osp.dirname(path))
    with open(path, 'wb') as f:
        f.write(content)
    ds = dataset(root)
    with pytest.raises(AnnotationError) as info:
        ds.load_data_list()
    assert message in info.value.message
    assert (info.value.file, info.value.entry) == (path, entry)
    assert isinstance(info.value.__cause__,
                      (msgspec.DecodeError, UnicodeDecodeError, ValueError))
    with pytest.raises(AnnotationError) as reference:
        ds._load_json()  # the json.load validation on its own
    assert str(reference.value) == str(info.value)


@pytest.mark.parametrize('name, value', [('name', ' '), ('file_name', '')])
def test_blank_strings_checked_after_the_typed_decode(tmp_path, name, value):
    data = good()
    entry = data['categories'][0] if name == 'name' else data['images'][1]
    entry[name] = value
    root = str(tmp_path)
    path = osp.join(root, 'annotations', 'instances_train2014.json')
    write(path, data)
    with pytest.raises(AnnotationError) as info:
        dataset(root).load_data_list()
    with pytest.raises(AnnotationError) as reference:
        dataset(root)._load_json()
    assert str(info.value) == str(reference.value)
    assert info.value.entry == ('category #0'
                                if name == 'name' else 'image #1')


def test_confined_paths_equal_confined_path(tmp_path):
    images = tmp_path / 'train2014'
    outside = tmp_path / 'elsewhere'
    images.mkdir()
    outside.mkdir()
    (outside / 'x.jpg').write_bytes(b'')
    (images / 'real.jpg').write_bytes(b'')
    os.symlink(outside / 'x.jpg', images / 'out_link.jpg')
    os.symlink(images / 'real.jpg', images / 'in_link.jpg')
    os.symlink(outside, images / 'sub')
    names = [
        'real.jpg', 'absent.jpg', 'in_link.jpg', 'out_link.jpg', 'sub/x.jpg',
        '../elsewhere/x.jpg', './real.jpg', 'a//b.jpg',
        str(images / 'real.jpg'), 'é 中.jpg', '..', '.', ''
    ]
    for allow in (False, True):
        ds = COCOMultiLabel(
            ann_file='a.json',
            data_root=str(tmp_path),
            data_prefix='train2014',
            lazy_init=True,
            allow_outside_root=allow)

        def one(name):
            try:
                return ds._confined_path(name, 'a.json', f'entry {name}')
            except AnnotationError as err:
                return str(err)

        def batch(name):
            try:
                return ds._confined_paths([name], 'a.json',
                                          [f'entry {name}'])[0]
            except AnnotationError as err:
                return str(err)

        expected = [one(name) for name in names]
        assert [batch(name) for name in names] == expected
        refused = [
            name for name, got in zip(names, expected) if isinstance(got, str)
        ]
        assert refused == ([] if allow else [
            'out_link.jpg', 'sub/x.jpg', '../elsewhere/x.jpg', '..'
        ])
        plain = [n for n in names if n not in refused]
        assert ds._confined_paths(plain, 'a.json', plain) == \
            [one(n) for n in plain]


def test_gc_paused_restores_the_collector():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()
    with pytest.raises(KeyError), gc_paused():
        raise KeyError
    assert gc.isenabled()
