"""Property-based tests of every annotation parser (hypothesis).

For each format (VOC devkit XML, COCO instances JSON, WIDER Attribute JSON,
NUS-WIDE text lists, the generic CSV / JSON of ``MultiLabelFolder``):

* **valid files** generated from random label sets parse to exactly the
  labels a reference written here derives from the same label sets, in the
  same order, with no sample dropped unless the format says so (COCO images
  without annotations, counted in ``num_dropped``);
* **corruptions** (truncation, non-UTF-8 bytes, empty files, wrong types,
  missing keys, unknown class names, out-of-range indices, repeated ids,
  ...) raise the dataset's documented error -- :class:`AnnotationError`
  naming the file (and the entry), or ``FileNotFoundError`` naming the
  missing file -- never a bare KeyError / IndexError / TypeError; a
  corruption that the format tolerates (a missing image with
  ``missing_images='drop'``, an invalid NUS-WIDE value with
  ``invalid_labels='ignore'``) keeps every other sample and counts the drop.

Examples are derandomized (the same on every run) and few per test, so the
file runs in well under a minute; ``deadline=None`` because building a
dataset touches the file system.
"""
import csv
import io
import json
import os
import os.path as osp
import string
import tempfile
from typing import List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mmcsra  # noqa: F401  (registers the datasets)
from mmcsra.datasets import (COCOMultiLabel, MultiLabelFolder, NUSWIDE,
                             VOCMultiLabel, WIDERAttribute)
from mmcsra.datasets.errors import AnnotationError

from fixtures.multi_label_data import (VOC_CLASSES, WIDER_ATTRIBUTE_MAP,
                                       build_coco, build_nuswide, build_voc,
                                       coco_instances, nus_label_file, voc_xml,
                                       wider_json)

PROPERTY = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# corruption tests run once per corruption kind (pytest parametrize), so
# every kind is exercised, each on a few random valid files
PER_KIND = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
POLICIES = ('ignore', 'positive', 'negative')
NAME_CHARS = string.ascii_letters + string.digits + '_-'
# JSON values that are not integers (ids, indices): wrong types
NOT_INT = st.one_of(
    st.text(max_size=4), st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(), st.none(), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))
BAD_BYTES = st.sampled_from(
    [b'\xff', b'\xfe\xff', b'\xc3\x28', b'\x80abc', b'\xed\xa0\x80'])


def resolve(positive, uncertain, policy) -> Tuple[List[int], List[int]]:
    """The reference of the uncertain-label policies (independent of
    ``mmcsra.datasets.multi_label_base.resolve_labels``)."""
    positive = set(positive)
    uncertain = set(uncertain) - positive
    if policy == 'positive':
        return sorted(positive | uncertain), []
    if policy == 'ignore':
        return sorted(positive), sorted(uncertain)
    return sorted(positive), []


def labels_of(dataset) -> List[Tuple[List[int], List[int]]]:
    return [(info['gt_label'], info['gt_ignore'])
            for info in (dataset.get_data_info(i)
                         for i in range(len(dataset)))]


def same_file(a: str, b: str) -> bool:
    return osp.normpath(str(a)) == osp.normpath(str(b))


def expect_annotation_error(build, file: str, entry: Optional[str] = None):
    """``build()`` raises AnnotationError naming ``file`` (and ``entry``)."""
    with pytest.raises(AnnotationError) as info:
        build()
    err = info.value
    assert same_file(err.file, file), (err.file, file, str(err))
    assert str(err).startswith(err.file)
    if entry is not None:
        assert err.entry == entry, (err.entry, entry, str(err))
    return err


def expect_missing_file(build, file: str):
    with pytest.raises(FileNotFoundError) as info:
        build()
    assert osp.normpath(file) in str(info.value), (file, str(info.value))


def read_bytes(path: str) -> bytes:
    with open(path, 'rb') as f:
        return f.read()


def write_bytes(path: str, data: bytes) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


def truncate(draw, path: str) -> None:
    """Cut the file before the last non-blank byte (content is lost)."""
    data = read_bytes(path)
    keep = draw(st.integers(0, len(data.rstrip()) - 1))
    write_bytes(path, data[:keep])


def inject_bytes(draw, path: str) -> None:
    """Insert bytes that are not UTF-8 at a random position."""
    data = read_bytes(path)
    at = draw(st.integers(0, len(data)))
    write_bytes(path, data[:at] + draw(BAD_BYTES) + data[at:])


def unique_ids(min_size: int, max_size: int):
    return st.lists(
        st.integers(1, 10**6),
        min_size=min_size,
        max_size=max_size,
        unique=True)


# ===================================================================== VOC
def voc_specs():
    """{image id: [(class name, difficult 0/1/None, padding)]} + id order."""
    obj = st.tuples(
        st.sampled_from(VOC_CLASSES), st.sampled_from([0, 1, None]),
        st.sampled_from(['', ' ', '\n\t', '  \n']))
    return unique_ids(1, 5).flatmap(lambda ids: st.tuples(
        st.just([f'{i:06d}' for i in ids]),
        st.lists(
            st.lists(obj, max_size=5), min_size=len(ids), max_size=len(ids))))


def write_voc(root: str, ids, objects) -> None:
    build_voc(
        root, {
            img_id: [(pad + name + pad, diff) for name, diff, pad in objs]
            for img_id, objs in zip(ids, objects)
        }, {'trainval': ids})


@PROPERTY
@given(spec=voc_specs(), policy=st.sampled_from(POLICIES))
def test_voc_valid_files_parse_exactly(spec, policy):
    ids, objects = spec
    with tempfile.TemporaryDirectory() as root:
        write_voc(root, ids, objects)
        ds = VOCMultiLabel(
            data_root=root, difficult_as=policy, serialize_data=False)
        expected = []
        for objs in objects:
            clear = {VOC_CLASSES.index(n) for n, d, _ in objs if d != 1}
            hard = {VOC_CLASSES.index(n) for n, d, _ in objs if d == 1}
            expected.append(resolve(clear, hard, policy))
        assert len(ds) == len(ids)  # nothing dropped
        assert labels_of(ds) == expected
        assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == ids


VOC_CORRUPTIONS = ('truncate_xml', 'bytes_xml', 'empty_xml', 'unknown_class',
                   'blank_name', 'bad_difficult', 'wrong_root',
                   'two_ids_on_a_line', 'repeated_id', 'bytes_image_set',
                   'empty_image_set', 'id_without_xml', 'missing_image',
                   'missing_image_drop')


@pytest.mark.parametrize('corruption', VOC_CORRUPTIONS)
@PER_KIND
@given(spec=voc_specs(), data=st.data())
def test_voc_corruptions_raise_naming_the_file(spec, corruption, data):
    ids, objects = spec
    draw = data.draw
    k = draw(st.integers(0, len(ids) - 1), label='image')
    img_id = ids[k]
    with tempfile.TemporaryDirectory() as root:
        write_voc(root, ids, objects)
        xml = osp.join(root, 'Annotations', f'{img_id}.xml')
        image_set = osp.join(root, 'ImageSets', 'Main', 'trainval.txt')
        objs = [(n, d) for n, d, _ in objects[k]]

        def build(**kwargs):
            return VOCMultiLabel(
                data_root=root, serialize_data=False, **kwargs)

        def with_object(name: str, difficult: str) -> None:
            # an extra last object with raw <name> / <difficult> text
            text = voc_xml(img_id, objs)
            extra = (f'<object><name>{name}</name>'
                     f'<difficult>{difficult}</difficult></object>')
            write_bytes(
                xml,
                text.replace('</annotation>',
                             extra + '</annotation>').encode())

        entry = f'object {len(objs)}'
        if corruption == 'truncate_xml':
            truncate(draw, xml)
            expect_annotation_error(build, xml)
        elif corruption == 'bytes_xml':
            inject_bytes(draw, xml)
            expect_annotation_error(build, xml)
        elif corruption == 'empty_xml':
            write_bytes(xml, b'')
            expect_annotation_error(build, xml)
        elif corruption == 'unknown_class':
            name = draw(
                st.text(NAME_CHARS, min_size=1,
                        max_size=8).filter(lambda s: s not in VOC_CLASSES))
            with_object(name, '0')
            err = expect_annotation_error(build, xml, entry)
            assert repr(name) in str(err)
        elif corruption == 'blank_name':
            with_object(draw(st.sampled_from(['', ' ', '\n'])), '0')
            expect_annotation_error(build, xml, entry)
        elif corruption == 'bad_difficult':
            flag = draw(
                st.text(NAME_CHARS, min_size=1,
                        max_size=3).filter(lambda s: s not in ('0', '1')))
            with_object('dog', flag)
            expect_annotation_error(build, xml, entry)
        elif corruption == 'wrong_root':
            text = voc_xml(img_id, objs).replace('annotation>', 'notation>')
            write_bytes(xml, text.encode())
            expect_annotation_error(build, xml)
        elif corruption == 'two_ids_on_a_line':
            lines = list(ids)
            lines[k] = f'{img_id} {img_id}x'
            write_bytes(image_set, '\n'.join(lines).encode())
            expect_annotation_error(build, image_set, f'line {k + 1}')
        elif corruption == 'repeated_id':
            # the same XML: identical labels, dropped once and counted
            lines = list(ids) + [
                draw(st.sampled_from([img_id, f'./{img_id}']))
            ]
            write_bytes(image_set, '\n'.join(lines).encode())
            ds = build()
            assert {
                k: n
                for k, n in ds.num_dropped.items() if n
            } == {
                'duplicate': 1
            }
            assert [ds.get_data_info(i)['img_id']
                    for i in range(len(ds))] == list(ids)
        elif corruption == 'bytes_image_set':
            inject_bytes(draw, image_set)
            expect_annotation_error(build, image_set)
        elif corruption == 'empty_image_set':
            write_bytes(image_set, draw(st.sampled_from([b'', b'\n\n'])))
            expect_annotation_error(build, image_set)
        elif corruption == 'id_without_xml':
            os.remove(xml)
            expect_missing_file(build, xml)
        else:
            image = osp.join(root, 'JPEGImages', f'{img_id}.jpg')
            os.remove(image)
            if corruption == 'missing_image':
                expect_missing_file(build, image)
            else:  # dropped, counted, every other sample kept
                ds = build(missing_images='drop')
                assert len(ds) == len(ids) - 1
                assert ds.num_dropped == {'missing_image': 1}
                kept = [ds.get_data_info(i)['img_id'] for i in range(len(ds))]
                assert kept == [i for i in ids if i != img_id]


# ==================================================================== COCO
@st.composite
def coco_specs(draw):
    """Categories (id, name), images (id, file), annotations
    (image index, category index, iscrowd), in file order."""
    cat_ids = draw(unique_ids(1, 6))
    names = draw(
        st.lists(
            st.text(NAME_CHARS + ' ', min_size=1,
                    max_size=8).filter(str.strip),
            min_size=len(cat_ids),
            max_size=len(cat_ids),
            unique=True))
    img_ids = draw(unique_ids(1, 6))
    anns = draw(
        st.lists(
            st.tuples(
                st.integers(0,
                            len(img_ids) - 1),
                st.integers(0,
                            len(cat_ids) - 1), st.sampled_from([0, 0, 1])),
            max_size=12))
    return (list(zip(cat_ids, names)), [(i, f'COCO_train2014_{i:012d}.jpg')
                                        for i in img_ids], anns)


def coco_json(spec) -> dict:
    cats, images, anns = spec
    return coco_instances(images, [(images[i][0], cats[c][0], crowd)
                                   for i, c, crowd in anns],
                          [(cat_id, name, 'thing') for cat_id, name in cats])


def write_coco(root: str, instances: dict, write_images=True) -> str:
    build_coco(root, 'train2014', instances, write_images)
    return osp.join(root, 'annotations', 'instances_train2014.json')


def build_coco_dataset(root, **kwargs):
    return COCOMultiLabel(
        ann_file='annotations/instances_train2014.json',
        data_root=root,
        data_prefix='train2014',
        serialize_data=False,
        **kwargs)


@PROPERTY
@given(
    spec=coco_specs(),
    class_order=st.sampled_from(['category_id', 'name']),
    keep_empty=st.booleans(),
    crowd_as=st.sampled_from(POLICIES))
def test_coco_valid_files_parse_exactly(spec, class_order, keep_empty,
                                        crowd_as):
    cats, images, anns = spec
    with tempfile.TemporaryDirectory() as root:
        write_coco(root, coco_json(spec))
        ds = build_coco_dataset(
            root,
            class_order=class_order,
            keep_empty=keep_empty,
            crowd_as=crowd_as)
        key = 0 if class_order == 'category_id' else 1
        ordered = sorted(cats, key=lambda cat: cat[key])
        assert ds.CLASSES == tuple(name for _, name in ordered)
        label_of = {
            cat_id: ordered.index((cat_id, name))
            for cat_id, name in cats
        }
        expected, empty = [], 0
        for img_id, _ in sorted(images):
            mine = [(cats[c][0], crowd) for i, c, crowd in anns
                    if images[i][0] == img_id]
            if not mine:
                empty += 1
                if not keep_empty:
                    continue
            clear = {label_of[cat] for cat, crowd in mine if not crowd}
            crowded = {label_of[cat] for cat, crowd in mine if crowd}
            expected.append((img_id, resolve(clear, crowded, crowd_as)))
        # only images without any annotation may be dropped, and counted
        assert len(ds) == len(images) - (0 if keep_empty else empty)
        assert ds.num_dropped.get('no_annotation', 0) == \
            (0 if keep_empty else empty)
        assert ds.num_without_annotations == empty
        got = [(ds.get_data_info(i)['coco_img_id'], labels)
               for i, labels in enumerate(labels_of(ds))]
        assert got == expected


COCO_CORRUPTIONS = ('truncate', 'bytes', 'empty', 'top_level_list',
                    'section_missing', 'section_not_list', 'entry_not_object',
                    'key_missing', 'id_wrong_type', 'name_wrong_type',
                    'unknown_category', 'unknown_image', 'repeated_id',
                    'repeated_name', 'bad_iscrowd', 'missing_image',
                    'missing_image_drop')
SECTIONS = {  # section -> required keys
    'categories': ('id', 'name'),
    'images': ('id', 'file_name'),
    'annotations': ('id', 'image_id', 'category_id'),
}


@pytest.mark.parametrize('corruption', COCO_CORRUPTIONS)
@PER_KIND
@given(spec=coco_specs(), data=st.data())
def test_coco_corruptions_raise_naming_the_file(spec, corruption, data):
    draw = data.draw
    instances = coco_json(spec)
    # the corruptions of annotations need one
    if not instances['annotations']:
        instances['annotations'] = coco_json(
            (spec[0], spec[1], [(0, 0, 0)]))['annotations']
    section = draw(st.sampled_from(sorted(SECTIONS)), label='section')
    entries = instances[section]
    k = draw(st.integers(0, len(entries) - 1), label='entry')
    with tempfile.TemporaryDirectory() as root:
        ann_file = osp.join(root, 'annotations', 'instances_train2014.json')

        def build(**kwargs):
            return build_coco_dataset(root, **kwargs)

        if corruption in ('truncate', 'bytes', 'empty'):
            write_coco(root, instances, write_images=False)
            if corruption == 'truncate':
                truncate(draw, ann_file)
            elif corruption == 'bytes':
                inject_bytes(draw, ann_file)
            else:
                write_bytes(ann_file, b'')
            expect_annotation_error(build, ann_file)
            return
        if corruption in ('missing_image', 'missing_image_drop'):
            write_coco(root, instances)
            kept = sorted({
                img['id']
                for img in instances['images']
                if any(a['image_id'] == img['id']
                       for a in instances['annotations'])
            })
            victim = draw(st.sampled_from(kept))
            image = osp.join(root, 'train2014',
                             f'COCO_train2014_{victim:012d}.jpg')
            os.remove(image)
            if corruption == 'missing_image':
                expect_missing_file(build, image)
            else:
                ds = build(missing_images='drop')
                assert len(ds) == len(kept) - 1
                assert ds.num_dropped['missing_image'] == 1
                assert [
                    ds.get_data_info(i)['coco_img_id'] for i in range(len(ds))
                ] == [i for i in kept if i != victim]
            return

        entry = None
        if corruption == 'top_level_list':
            instances = [instances]
        elif corruption == 'section_missing':
            del instances[section]
        elif corruption == 'section_not_list':
            instances[section] = draw(st.sampled_from([{}, 'x', 3, None]))
        elif corruption == 'entry_not_object':
            entries[k] = draw(
                st.one_of(st.integers(), st.text(max_size=3),
                          st.lists(st.integers(), max_size=2)))
            entry = f'{section[:-1]} #{k}'.replace('categorie', 'category')
        elif corruption == 'key_missing':
            del entries[k][draw(st.sampled_from(SECTIONS[section]))]
        elif corruption == 'id_wrong_type':
            key = draw(
                st.sampled_from(
                    [key for key in SECTIONS[section] if 'id' in key]))
            entries[k][key] = draw(NOT_INT)
        elif corruption == 'name_wrong_type':
            key = 'name' if section != 'images' else 'file_name'
            entries = instances['categories' if key == 'name' else 'images']
            k = min(k, len(entries) - 1)
            entries[k][key] = draw(
                st.one_of(
                    NOT_INT.filter(lambda v: not isinstance(v, str)),
                    st.sampled_from(['', ' '])))
        elif corruption == 'unknown_category':
            ann = instances['annotations'][0]
            known = {c['id'] for c in instances['categories']}
            ann['category_id'] = draw(
                st.integers(-5, 10**7).filter(lambda i: i not in known))
            entry = f'annotation id={ann["id"]!r}'
        elif corruption == 'unknown_image':
            ann = instances['annotations'][0]
            known = {img['id'] for img in instances['images']}
            ann['image_id'] = draw(
                st.integers(-5, 10**7).filter(lambda i: i not in known))
            entry = f'annotation id={ann["id"]!r}'
        elif corruption == 'repeated_id':
            twin = dict(entries[k])
            entries.append(twin)
            if section == 'categories':
                twin['name'] = twin['name'] + '_twin'
            entry = f'{section[:-1]} id {twin["id"]!r}'.replace(
                'categorie', 'category')
        elif corruption == 'repeated_name':
            twin = dict(instances['categories'][0])
            twin['id'] = max(c['id'] for c in instances['categories']) + 1
            instances['categories'].append(twin)
        elif corruption == 'bad_iscrowd':
            instances['annotations'][0]['iscrowd'] = draw(
                st.one_of(st.integers().filter(lambda i: i not in (0, 1)),
                          st.sampled_from(['0', '1', 'yes', None, [0], 0.5])))
        write_coco(root, instances, write_images=False)
        expect_annotation_error(build, ann_file, entry)


# =================================================================== WIDER
ATTRIBUTE = st.lists(st.sampled_from([1, -1, 0]), min_size=14, max_size=14)
BBOX = st.tuples(
    st.integers(0, 50), st.integers(0, 50), st.integers(1, 30),
    st.integers(1, 30)).map(list)


@st.composite
def wider_specs(draw):
    """Images [(file_name, [(bbox, attribute)])] in file order."""
    count = draw(st.integers(1, 4))
    images = []
    for i in range(count):
        part = draw(st.sampled_from(['train', 'val']))
        targets = draw(st.lists(st.tuples(BBOX, ATTRIBUTE), max_size=3))
        images.append((f'{part}/{i}--Parade/{i}_{len(targets)}.jpg', targets))
    return images


def wider_file(images) -> dict:
    return wider_json([
        dict(
            file_name=name,
            scene_id=0,
            targets=[
                dict(bbox=bbox, attribute=attr) for bbox, attr in targets
            ]) for name, targets in images
    ])


def write_wider(root: str, data, images=True) -> str:
    path = osp.join(root, 'Annotations', 'wider_attribute_trainval.json')
    write_bytes(path, json.dumps(data).encode())
    if images:
        for image in data['images']:
            write_bytes(osp.join(root, 'Image', image['file_name']), b'')
    return path


@PROPERTY
@given(
    images=wider_specs(),
    split=st.sampled_from(['trainval', 'train', 'val']),
    policy=st.sampled_from(POLICIES))
def test_wider_valid_files_parse_exactly(images, split, policy):
    expected = []
    for name, targets in images:
        if split != 'trainval' and not name.startswith(split + '/'):
            continue
        for j, (bbox, attr) in enumerate(targets):
            pos = [i for i, v in enumerate(attr) if v == 1]
            unknown = [i for i, v in enumerate(attr) if v == 0]
            expected.append((name, j, bbox, resolve(pos, unknown, policy)))
    with tempfile.TemporaryDirectory() as root:
        ann_file = write_wider(root, wider_file(images))

        def build():
            return WIDERAttribute(
                data_root=root,
                split=split,
                unspecified_as=policy,
                serialize_data=False)

        if not expected:  # documented: a split without any person raises
            expect_annotation_error(build, ann_file)
            return
        ds = build()
        got = []
        for i, labels in enumerate(labels_of(ds)):
            info = ds.get_data_info(i)
            got.append((osp.relpath(info['img_path'], osp.join(root, 'Image')),
                        info['person_idx'], info['crop_bbox'], labels))
        assert got == expected


WIDER_CORRUPTIONS = ('truncate', 'bytes', 'empty', 'no_attribute_map',
                     'attribute_map_order', 'attribute_map_key',
                     'images_not_list', 'image_not_object', 'bad_file_name',
                     'targets_not_list', 'target_key_missing', 'bbox_length',
                     'bbox_type', 'bbox_size', 'attribute_length',
                     'attribute_value')


@pytest.mark.parametrize('corruption', WIDER_CORRUPTIONS)
@PER_KIND
@given(
    images=wider_specs().filter(lambda im: any(t for _, t in im)),
    data=st.data())
def test_wider_corruptions_raise_naming_the_file(images, corruption, data):
    draw = data.draw
    content = wider_file(images)
    with_targets = [i for i, (_, t) in enumerate(images) if t]
    k = draw(st.sampled_from(with_targets), label='image')
    image = content['images'][k]
    j = draw(st.integers(0, len(image['targets']) - 1), label='target')
    target = image['targets'][j]
    entry = f'image {image["file_name"]!r}, target {j}'
    with tempfile.TemporaryDirectory() as root:
        ann_file = osp.join(root, 'Annotations',
                            'wider_attribute_trainval.json')
        if corruption in ('truncate', 'bytes', 'empty'):
            write_wider(root, content)
            if corruption == 'truncate':
                truncate(draw, ann_file)
            elif corruption == 'bytes':
                inject_bytes(draw, ann_file)
            else:
                write_bytes(ann_file, b'')
            entry = None
        elif corruption == 'no_attribute_map':
            del content['attribute_id_map']
            entry = None
        elif corruption == 'attribute_map_order':
            names = list(WIDER_ATTRIBUTE_MAP.values())
            a, b = draw(
                st.lists(
                    st.integers(0, 13), min_size=2, max_size=2, unique=True))
            names[a], names[b] = names[b], names[a]
            content['attribute_id_map'] = {
                str(i): n
                for i, n in enumerate(names)
            }
            entry = None
        elif corruption == 'attribute_map_key':
            id_map = dict(WIDER_ATTRIBUTE_MAP)
            id_map[draw(st.sampled_from(['x', '1.5', '']))] = id_map.pop('13')
            content['attribute_id_map'] = id_map
            entry = None
        elif corruption == 'images_not_list':
            content['images'] = draw(st.sampled_from([{}, 'x', None, 1]))
            entry = None
        elif corruption == 'image_not_object':
            content['images'][k] = draw(st.sampled_from([[], 'x', None, 1]))
            entry = f'image #{k}'
        elif corruption == 'bad_file_name':
            image['file_name'] = draw(
                NOT_INT.filter(lambda v: not isinstance(v, str)))
            entry = f'image #{k}'
        elif corruption == 'targets_not_list':
            image['targets'] = draw(st.sampled_from([{}, 'x', None, 1]))
            entry = f'image #{k}'
        elif corruption == 'target_key_missing':
            del target[draw(st.sampled_from(['bbox', 'attribute']))]
        elif corruption == 'bbox_length':
            n = draw(st.sampled_from([0, 1, 3, 5]))
            target['bbox'] = (target['bbox'] * 2)[:n]
        elif corruption == 'bbox_type':
            target['bbox'][draw(st.integers(0, 3))] = draw(
                st.one_of(
                    st.text(max_size=3), st.booleans(), st.none(),
                    st.sampled_from([float('nan'),
                                     float('inf'), [1]])))
        elif corruption == 'bbox_size':
            target['bbox'][draw(st.sampled_from([2, 3]))] = draw(
                st.integers(-20, 0))
        elif corruption == 'attribute_length':
            n = draw(st.integers(0, 20).filter(lambda n: n != 14))
            target['attribute'] = (target['attribute'] * 2)[:n]
        elif corruption == 'attribute_value':
            target['attribute'][draw(st.integers(0, 13))] = draw(
                st.one_of(st.integers().filter(lambda v: v not in (-1, 0, 1)),
                          st.sampled_from(['1', True, False, None, 0.5, [1]])))
        if corruption not in ('truncate', 'bytes', 'empty'):
            write_wider(root, content, images=False)
        expect_annotation_error(
            lambda: WIDERAttribute(data_root=root, serialize_data=False),
            ann_file, entry)


# ================================================================ NUS-WIDE
@st.composite
def nus_specs(draw):
    """Concepts, images [(windows path, 0/1 per concept)], line ending."""
    concepts = draw(
        st.lists(
            st.text(string.ascii_lowercase, min_size=1, max_size=8),
            min_size=1,
            max_size=5,
            unique=True))
    count = draw(st.integers(1, 6))
    images = [(f'folder{i % 2}\\{i:04d}_{draw(st.integers(1, 10**9))}.jpg',
               draw(
                   st.lists(
                       st.sampled_from([0, 1]),
                       min_size=len(concepts),
                       max_size=len(concepts)))) for i in range(count)]
    newline = draw(st.sampled_from(['\r\n', '\n']))
    return concepts, images, newline


def write_nus(root: str, spec) -> None:
    concepts, images, newline = spec
    build_nuswide(
        root, {
            'Train': [(path, [c for c, v in zip(concepts, row) if v])
                      for path, row in images]
        },
        concepts=concepts,
        newline=newline,
        write_images=False)
    for path, _ in images:
        write_bytes(osp.join(root, 'Flickr', *path.split('\\')), b'')


def build_nus(root: str, **kwargs):
    return NUSWIDE(data_root=root, serialize_data=False, **kwargs)


@PROPERTY
@given(spec=nus_specs(), trailing=st.sampled_from(['', '\n', '\r\n\r\n']))
def test_nuswide_valid_files_parse_exactly(spec, trailing):
    concepts, images, newline = spec
    with tempfile.TemporaryDirectory() as root:
        write_nus(root, spec)
        # trailing blank lines (some copies of the release have them)
        for concept in concepts:
            path = nus_label_file(root, concept, 'Train')
            write_bytes(path, read_bytes(path) + trailing.encode())
        ds = build_nus(root)
        assert ds.CLASSES == tuple(concepts)
        assert len(ds) == len(images)
        assert labels_of(ds) == [([c for c, v in enumerate(row) if v], [])
                                 for _, row in images]
        assert [ds.get_data_info(i)['img_path'] for i in range(len(ds))] == [
            osp.join(root, 'Flickr', *path.split('\\')) for path, _ in images
        ]


NUS_CORRUPTIONS = ('truncate_labels', 'truncate_image_list', 'bytes',
                   'invalid_value', 'invalid_value_ignored', 'blank_line',
                   'empty_concepts', 'repeated_concept', 'missing_label_file',
                   'missing_image', 'missing_image_drop')


@pytest.mark.parametrize('corruption', NUS_CORRUPTIONS)
@PER_KIND
@given(spec=nus_specs(), data=st.data())
def test_nuswide_corruptions_raise_naming_the_file(spec, corruption, data):
    draw = data.draw
    concepts, images, newline = spec
    concept = draw(st.sampled_from(concepts), label='concept')
    k = draw(st.integers(0, len(images) - 1), label='image')
    with tempfile.TemporaryDirectory() as root:
        write_nus(root, spec)
        labels = nus_label_file(root, concept, 'Train')
        image_list = osp.join(root, 'ImageList', 'TrainImagelist.txt')
        concepts_file = osp.join(root, 'Concepts81.txt')

        def build(**kwargs):
            return build_nus(root, **kwargs)

        def set_line(path, index, value):
            lines = read_bytes(path).decode().split(newline)
            lines[index] = value
            write_bytes(path, newline.join(lines).encode())

        if corruption == 'truncate_labels':
            truncate(draw, labels)
            expect_annotation_error(build, labels)
        elif corruption == 'truncate_image_list':
            truncate(draw, image_list)
            lines = [
                line for line in read_bytes(image_list).decode().split(newline)
                if line.strip()
            ]
            if not lines:
                expect_annotation_error(build, image_list)  # lists no images
            elif len(lines) != len(images):  # the label files are longer
                err = expect_annotation_error(
                    build, nus_label_file(root, concepts[0], 'Train'))
                assert image_list in str(err)
            else:  # the last path was cut: that image does not exist
                expect_missing_file(
                    build, osp.join(root, 'Flickr', *lines[-1].split('\\')))
        elif corruption == 'bytes':
            path = draw(st.sampled_from([labels, image_list, concepts_file]))
            inject_bytes(draw, path)
            expect_annotation_error(build, path)
        elif corruption in ('invalid_value', 'invalid_value_ignored'):
            value = draw(
                st.text(
                    string.ascii_letters + string.digits + '-',
                    min_size=1,
                    max_size=8).filter(lambda v: v not in ('0', '1')))
            set_line(labels, k, value)
            if corruption == 'invalid_value':
                err = expect_annotation_error(build, labels, f'line {k + 1}')
                assert repr(value) in str(err)
            else:  # kept, with that class ignored: nothing dropped
                ds = build(invalid_labels='ignore')
                c = concepts.index(concept)
                assert len(ds) == len(images)
                assert ds.num_invalid_labels == 1
                expected = [([i for i, v in enumerate(row) if v], [])
                            for _, row in images]
                expected[k] = ([i for i in expected[k][0] if i != c], [c])
                assert labels_of(ds) == expected
        elif corruption == 'blank_line':
            path = draw(st.sampled_from([labels, image_list]))
            lines = read_bytes(path).decode().split(newline)
            lines.insert(draw(st.integers(0, len(images) - 1)), '  ')
            write_bytes(path, newline.join(lines).encode())
            expect_annotation_error(build, path)
        elif corruption == 'empty_concepts':
            write_bytes(concepts_file, draw(st.sampled_from([b'', b'\r\n'])))
            expect_annotation_error(build, concepts_file)
        elif corruption == 'repeated_concept':
            write_bytes(concepts_file,
                        newline.join(concepts + [concept]).encode())
            expect_annotation_error(build, concepts_file)
        elif corruption == 'missing_label_file':
            os.remove(labels)
            expect_missing_file(build, labels)
        else:
            image = osp.join(root, 'Flickr', *images[k][0].split('\\'))
            os.remove(image)
            if corruption == 'missing_image':
                expect_missing_file(build, image)
            else:
                ds = build(missing_images='drop')
                assert len(ds) == len(images) - 1
                assert ds.num_dropped == {'missing_image': 1}
                assert labels_of(ds) == [([i for i, v in enumerate(row)
                                           if v], [])
                                         for n, (_, row) in enumerate(images)
                                         if n != k]


# ============================================================ CSV and JSON
# class names with spaces, commas and quotes inside (CSV quoting), never at
# the ends (the parser strips names) and never the separator
FOLDER_NAME = st.text(
    NAME_CHARS + ' ,"\'', min_size=1,
    max_size=8).filter(lambda s: s == s.strip() and s != '')


@st.composite
def folder_specs(draw):
    """Classes, label separator, rows [(path, positives, ignored)]."""
    sep = draw(st.sampled_from([';', '|']))
    classes = draw(
        st.lists(
            FOLDER_NAME.filter(lambda s: sep not in s),
            min_size=1,
            max_size=5,
            unique=True))
    rows = []
    for i in range(draw(st.integers(1, 6))):
        labels = draw(
            st.lists(
                st.integers(0,
                            len(classes) - 1),
                max_size=len(classes),
                unique=True))
        ignore = draw(
            st.lists(
                st.integers(0,
                            len(classes) -
                            1).filter(lambda c: c not in labels),
                max_size=2,
                unique=True))
        rows.append((f'dir{i % 2}/{i:03d}.jpg', labels, ignore))
    return classes, sep, rows


def write_folder_images(root: str, rows) -> None:
    for path, _, _ in rows:
        write_bytes(osp.join(root, 'images', path), b'')


def write_csv(path: str, classes, sep, rows, with_ignore=True) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(
        ['path', 'labels', 'ignore'] if with_ignore else ['path', 'labels'])
    for img, labels, ignore in rows:
        cells = [img, sep.join(classes[c] for c in labels)]
        if with_ignore:
            cells.append(sep.join(classes[c] for c in ignore))
        writer.writerow(cells)
    write_bytes(path, buf.getvalue().encode())


def expected_folder(classes, rows, given_classes: bool):
    """(class list, [(gt_label, gt_ignore)]) the dataset must produce."""
    if given_classes:
        order = list(classes)
    else:  # inferred: the sorted union of the names used
        order = sorted({
            classes[c]
            for _, labels, ignore in rows
            for c in labels + ignore
        })
    index = {name: order.index(name) for name in order}
    return order, [(sorted(index[classes[c]] for c in labels),
                    sorted(index[classes[c]] for c in ignore))
                   for _, labels, ignore in rows]


def build_folder(root, ann, **kwargs):
    return MultiLabelFolder(
        ann_file=ann,
        data_root=root,
        data_prefix='images',
        serialize_data=False,
        **kwargs)


@PROPERTY
@given(
    spec=folder_specs(),
    given_classes=st.booleans(),
    with_ignore=st.booleans())
def test_folder_csv_valid_files_parse_exactly(spec, given_classes,
                                              with_ignore):
    classes, sep, rows = spec
    if not with_ignore:
        rows = [(path, labels, []) for path, labels, _ in rows]
    used = {c for _, labels, ignore in rows for c in labels + ignore}
    with tempfile.TemporaryDirectory() as root:
        write_folder_images(root, rows)
        write_csv(osp.join(root, 'ann.csv'), classes, sep, rows, with_ignore)

        def build():
            return build_folder(
                root,
                'ann.csv',
                label_sep=sep,
                classes=classes if given_classes else None)

        if not given_classes and not used:  # nothing to infer classes from
            expect_annotation_error(build, osp.join(root, 'ann.csv'))
            return
        ds = build()
        order, expected = expected_folder(classes, rows, given_classes)
        assert ds.CLASSES == tuple(order)
        assert len(ds) == len(rows)  # rows without labels are kept
        assert labels_of(ds) == expected


@PROPERTY
@given(spec=folder_specs(), as_indices=st.booleans())
def test_folder_json_valid_files_parse_exactly(spec, as_indices):
    classes, _, rows = spec
    items = []
    for img, labels, ignore in rows:
        item = {
            'img': img,
            'labels': labels if as_indices else [classes[c] for c in labels]
        }
        if ignore:
            item['ignore'] = ignore if as_indices else \
                [classes[c] for c in ignore]
        items.append(item)
    with tempfile.TemporaryDirectory() as root:
        write_folder_images(root, rows)
        write_bytes(osp.join(root, 'ann.json'), json.dumps(items).encode())
        ds = build_folder(root, 'ann.json', classes=classes)
        _, expected = expected_folder(classes, rows, True)
        assert len(ds) == len(rows)
        assert labels_of(ds) == expected


CSV_CORRUPTIONS = ('bytes', 'empty', 'header_missing_column',
                   'header_extra_column', 'too_many_fields', 'too_few_fields',
                   'empty_path', 'unknown_class', 'label_and_ignore',
                   'open_quote', 'missing_image', 'missing_image_drop')


@pytest.mark.parametrize('corruption', CSV_CORRUPTIONS)
@PER_KIND
@given(spec=folder_specs(), data=st.data())
def test_folder_csv_corruptions_raise_naming_the_file(spec, corruption, data):
    draw = data.draw
    classes, sep, rows = spec
    k = draw(st.integers(0, len(rows) - 1), label='row')
    entry = f'line {k + 2}'  # line 1 is the header
    with tempfile.TemporaryDirectory() as root:
        write_folder_images(root, rows)
        ann = osp.join(root, 'ann.csv')
        write_csv(ann, classes, sep, rows)

        def build(**kwargs):
            return build_folder(
                root, 'ann.csv', label_sep=sep, classes=classes, **kwargs)

        def rewrite_row(cells):
            lines = read_bytes(ann).decode().splitlines()
            buf = io.StringIO()
            csv.writer(buf).writerow(cells)
            lines[k + 1] = buf.getvalue().rstrip('\r\n')
            write_bytes(ann, '\n'.join(lines).encode() + b'\n')

        img, labels, ignore = rows[k]
        row = [
            img,
            sep.join(classes[c] for c in labels),
            sep.join(classes[c] for c in ignore)
        ]
        if corruption == 'bytes':
            inject_bytes(draw, ann)
            entry = None
        elif corruption == 'empty':
            write_bytes(ann, b'')
            entry = None
        elif corruption in ('header_missing_column', 'header_extra_column'):
            header = (['path', 'ignore']
                      if corruption == 'header_missing_column' else
                      ['path', 'labels', 'ignore', 'extra'])
            lines = read_bytes(ann).decode().splitlines()
            lines[0] = ','.join(header)
            write_bytes(ann, '\n'.join(lines).encode())
            entry = 'line 1'
        elif corruption == 'too_many_fields':
            rewrite_row(row + ['x'] * draw(st.integers(1, 3)))
        elif corruption == 'too_few_fields':
            rewrite_row(row[:draw(st.integers(1, 2))])
        elif corruption == 'empty_path':
            rewrite_row([draw(st.sampled_from(['', ' ']))] + row[1:])
        elif corruption == 'unknown_class':
            name = draw(
                FOLDER_NAME.filter(
                    lambda s: s not in classes and sep not in s))
            rewrite_row(
                [img,
                 sep.join([classes[c] for c in labels] + [name]), row[2]])
        elif corruption == 'label_and_ignore':
            c = draw(st.integers(0, len(classes) - 1))
            rewrite_row([img, classes[c], classes[c]])
        elif corruption == 'open_quote':
            # a quote opened on the last row and never closed (a stray quote
            # earlier could pair with a later one: CSV can not tell)
            lines = read_bytes(ann).decode().splitlines()
            lines[-1] = '"' + lines[-1].lstrip('"')
            write_bytes(ann, '\n'.join(lines).encode())
            entry = None  # csv reports where it gave up, at the end
        else:
            image = osp.join(root, 'images', img)
            os.remove(image)
            if corruption == 'missing_image':
                expect_missing_file(build, image)
            else:
                ds = build(missing_images='drop')
                assert len(ds) == len(rows) - 1
                assert ds.num_dropped == {'missing_image': 1}
                _, expected = expected_folder(classes, rows, True)
                assert labels_of(ds) == expected[:k] + expected[k + 1:]
            return
        expect_annotation_error(build, ann, entry)


JSON_CORRUPTIONS = ('truncate', 'bytes', 'empty', 'top_level_object',
                    'entry_not_object', 'key_missing', 'extra_key', 'bad_img',
                    'labels_not_list', 'label_wrong_type',
                    'index_out_of_range', 'unknown_class', 'label_and_ignore')


@pytest.mark.parametrize('corruption', JSON_CORRUPTIONS)
@PER_KIND
@given(spec=folder_specs(), given_classes=st.booleans(), data=st.data())
def test_folder_json_corruptions_raise_naming_the_file(spec, corruption,
                                                       given_classes, data):
    draw = data.draw
    classes, _, rows = spec
    items = [{
        'img': img,
        'labels': [classes[c] for c in labels],
        'ignore': [classes[c] for c in ignore]
    } for img, labels, ignore in rows]
    k = draw(st.integers(0, len(rows) - 1), label='entry')
    entry = f'entry #{k}'
    item = items[k]
    content = items
    if corruption == 'top_level_object':
        content, entry = {'images': items}, None
    elif corruption == 'entry_not_object':
        items[k] = draw(
            st.one_of(
                st.text(max_size=3), st.integers(),
                st.lists(st.integers(), max_size=2)))
    elif corruption == 'key_missing':
        del item[draw(st.sampled_from(['img', 'labels']))]
    elif corruption == 'extra_key':
        item[draw(st.sampled_from(['image', 'label', 'path', 'x']))] = 1
    elif corruption == 'bad_img':
        item['img'] = draw(
            st.one_of(
                NOT_INT.filter(lambda v: not isinstance(v, str)),
                st.sampled_from(['', ' '])))
    elif corruption == 'labels_not_list':
        key = draw(st.sampled_from(['labels', 'ignore']))
        item[key] = draw(
            st.one_of(
                st.text(max_size=3), st.integers(), st.none(), st.just({})))
    elif corruption == 'label_wrong_type':
        # neither a name nor an int; with classes given ints are indices
        bad = st.one_of(st.floats(), st.booleans(), st.none(),
                        st.lists(st.integers(), max_size=2), st.just({'a': 1}))
        if not given_classes:
            bad = st.one_of(bad, st.integers(0, len(classes) - 1))
        item['labels'].append(draw(bad))
    elif corruption == 'index_out_of_range':
        given_classes = True
        item['labels'].append(
            draw(
                st.one_of(
                    st.integers(max_value=-1),
                    st.integers(min_value=len(classes)))))
    elif corruption == 'unknown_class':
        given_classes = True
        item['labels'].append(
            draw(FOLDER_NAME.filter(lambda s: s not in classes)))
    elif corruption == 'label_and_ignore':
        name = draw(st.sampled_from(classes))
        item['labels'] = [name]
        item['ignore'] = [name]
    with tempfile.TemporaryDirectory() as root:
        write_folder_images(root, rows)
        ann = osp.join(root, 'ann.json')
        write_bytes(ann, json.dumps(content).encode())
        if corruption in ('truncate', 'bytes', 'empty'):
            entry = None
            if corruption == 'truncate':
                truncate(draw, ann)
            elif corruption == 'bytes':
                inject_bytes(draw, ann)
            else:
                write_bytes(ann, b'')
        expect_annotation_error(
            lambda: build_folder(
                root, 'ann.json', classes=classes
                if given_classes else None), ann, entry)
