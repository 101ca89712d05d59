import logging
from typing import Annotated, List, NamedTuple, Sequence, Tuple, Union

import msgspec
import numpy as np
from mmengine.logging import print_log
from mmpretrain.registry import DATASETS

from .errors import AnnotationError
from .multi_label_base import (UNCERTAIN_POLICIES, MultiLabelBaseDataset,
                               check_choice, resolve_labels)
from .typed_json import DECODE_ERRORS, decode_json_file, gc_paused


# The fields of an instances_*.json that labels need
# (https://cocodataset.org/#format-data, "Object Detection"); msgspec skips
# the others (segmentation, bbox, area, info, licenses, ...) unread.
# ``gc=False``: the structs hold no containers, the collector need not track
# ~600k of them.
class _Image(msgspec.Struct, gc=False):
    id: int
    file_name: str


class _Annotation(msgspec.Struct, gc=False):
    id: int
    image_id: int
    category_id: int
    # 0 or 1 as the official files write it; anything else (true, 1.0, "1")
    # fails the decode and is judged by COCOMultiLabel._check_entries
    iscrowd: Annotated[int, msgspec.Meta(ge=0, le=1)] = 0


class _Category(msgspec.Struct, gc=False):
    id: int
    name: str


class _Instances(msgspec.Struct):
    images: List[_Image]
    annotations: List[_Annotation]
    categories: List[_Category]


class _Columns(NamedTuple):
    """The fields labels need, one list per field, in file order."""
    cat_ids: List[int]
    cat_names: List[str]
    img_ids: List[int]
    file_names: List[str]
    ann_ids: List[int]
    ann_img: List[int]
    ann_cat: List[int]
    ann_crowd: List[int]  # truthy: a crowd region


@DATASETS.register_module()
class COCOMultiLabel(MultiLabelBaseDataset):
    """MS-COCO (2014 or 2017) as multi-label classification.

    Reads the official ``instances_{train,val}{2014,2017}.json`` directly
    (the "Object Detection" format of https://cocodataset.org/#format-data).
    An image is positive for every category that has an annotation on it,
    the labels pycocotools' ``COCO`` index gives::

        coco/                                   (data_root)
        ├── annotations/instances_train2014.json
        └── train2014/COCO_train2014_000000000009.jpg ...

    **Class order.** ``class_order='category_id'`` (default) sorts the 80
    categories by their id, the order of CSRA's released ``prepare_coco.py``
    and of ASL. ``'name'`` sorts them alphabetically by name, the order of
    ML-GCN (its label embeddings and co-occurrence matrices use it). Passing
    ``classes`` sets the order explicitly; it must name exactly the file's
    categories. The category ids in class order are in
    ``metainfo['coco_category_ids']``.

    **Images without annotations** (about 1% of train2014) are dropped by
    default, as CSRA's ``prepare_coco.py`` does; the number dropped is logged
    and kept in ``num_dropped['no_annotation']``. ``keep_empty=True`` keeps
    them as all-negative samples. Either way their number is in
    ``num_without_annotations``.

    **Crowd annotations** (``iscrowd=1``, a region of many instances) are
    *uncertain* labels resolved by ``crowd_as``. The default is
    ``'positive'``: a crowd of people does show people, and CSRA's and ASL's
    data code collect crowd annotations like any other (pycocotools'
    ``getAnnIds`` with ``iscrowd=None``), so results stay comparable with the
    papers. ``'ignore'`` / ``'negative'`` are available. A class with both a
    crowd and a non-crowd annotation on the image is positive.

    **Parsing.** The file is decoded by ``msgspec`` into typed structs of the
    fields above only (:mod:`mmcsra.datasets.typed_json`); the polygons and
    masks, most of the bytes, are skipped unread. The index is built here,
    with pycocotools' semantics (entries by id, an image's annotations in
    file order, ``iscrowd`` missing = 0); ``tests/test_datasets/test_coco_typed_decoder.py``
    compares the labels with pycocotools' ``COCO()``. A file the typed
    decode refuses is checked entry by entry after ``json.load``, which
    raises the error documented below.

    Args:
        ann_file (str): the instances JSON, relative to ``data_root`` unless
            absolute.
        data_root (str): the dataset root. Defaults to ''.
        data_prefix (str | dict): the image folder (``'train2014'``), or
            ``dict(img_path=...)``. Defaults to ''.
        class_order (str): ``'category_id'`` (default) or ``'name'``.
        keep_empty (bool): keep images without annotations as all-negative
            samples. Defaults to False (drop them, logging how many).
        crowd_as (str): ``'positive'`` (default), ``'ignore'`` or
            ``'negative'``.
        **kwargs: see :class:`MultiLabelBaseDataset` (``missing_images``,
            ``pipeline``, ``test_mode``, ``classes``, ...).

    Raises:
        FileNotFoundError: the JSON or (with ``missing_images='raise'``) an
            image is missing.
        AnnotationError: the file is not JSON, lacks ``images`` /
            ``annotations`` / ``categories``, has an entry without a required
            key or with a value of the wrong type (ids must be integers,
            ``name`` / ``file_name`` non-empty strings, ``iscrowd`` 0 or 1),
            repeats an id or a category name, or an annotation names an
            unknown category or image; the message names the file and entry.
    """

    CLASS_ORDERS = ('category_id', 'name')
    #: keys whose values must be integers (ids), and keys that must be
    #: non-empty strings, as in the official files
    INT_KEYS = ('id', 'image_id', 'category_id')
    STR_KEYS = ('name', 'file_name')

    def __init__(self,
                 ann_file: str,
                 data_root: str = '',
                 data_prefix: Union[str, dict] = '',
                 class_order: str = 'category_id',
                 keep_empty: bool = False,
                 crowd_as: str = 'positive',
                 **kwargs):
        self.class_order = check_choice('class_order', class_order,
                                        self.CLASS_ORDERS)
        self.keep_empty = keep_empty
        self.crowd_as = check_choice('crowd_as', crowd_as, UNCERTAIN_POLICIES)
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=data_prefix,
            **kwargs)

    # ------------------------------------------------------------ parsing
    def _load_json(self) -> dict:
        path = self.ann_file
        data = self._read_json(path, 'COCO annotation file')
        if not isinstance(data, dict):
            raise AnnotationError(
                path, f'top level is a {type(data).__name__}, expected an '
                'object with images / annotations / categories')
        missing = [
            k for k in ('images', 'annotations', 'categories')
            if not isinstance(data.get(k), list)
        ]
        if missing:
            raise AnnotationError(
                path, f'{missing} missing or not lists: not an instances_* '
                'file')
        self._check_entries(data['categories'], 'category', ('id', 'name'))
        self._check_entries(data['images'], 'image', ('id', 'file_name'))
        self._check_entries(data['annotations'], 'annotation',
                            ('id', 'image_id', 'category_id'))
        return data

    def _check_entries(self, entries: list, kind: str,
                       keys: Sequence[str]) -> None:
        # a tight loop: ~600k annotations in COCO-2014 train
        required = frozenset(keys)
        int_keys = [k for k in keys if k in self.INT_KEYS]
        str_keys = [k for k in keys if k in self.STR_KEYS]
        crowd = kind == 'annotation'
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise AnnotationError(self.ann_file, 'is not an object',
                                      f'{kind} #{i}')
            if not required <= entry.keys():
                absent = [k for k in keys if k not in entry]
                raise AnnotationError(self.ann_file, f'has no {absent}',
                                      f'{kind} #{i} (id={entry.get("id")!r})')
            for key in int_keys:
                if type(entry[key]) is not int:  # bool is not an id either
                    raise AnnotationError(
                        self.ann_file, f'"{key}" is {entry[key]!r}, '
                        'expected an integer', f'{kind} #{i}')
            for key in str_keys:
                value = entry[key]
                if not isinstance(value, str) or not value.strip():
                    raise AnnotationError(
                        self.ann_file, f'"{key}" is {value!r}, expected a '
                        'non-empty string', f'{kind} #{i}')
            if crowd and entry.get('iscrowd', 0) not in (0, 1):
                raise AnnotationError(
                    self.ann_file, f'"iscrowd" is {entry["iscrowd"]!r}, '
                    'expected 0 or 1', f'{kind} #{i}')

    # ------------------------------------------------ the typed fast path
    def _read_columns(self) -> _Columns:
        """The fields labels need, validated as :meth:`_load_json` does.

        The typed decode (:class:`_Instances`) reads only those fields. When
        msgspec refuses the file, :meth:`_load_json` (``json.load`` and the
        checks of every entry) decides: it raises the dataset's error naming
        the file and the entry, or accepts a file that only RFC 8259 refuses
        (e.g. ``NaN`` in ``area``) or a value the types leave to it
        (``"iscrowd": true``); the columns then come from its dicts.
        """
        path = self._require_file(self.ann_file, 'COCO annotation file')
        try:
            typed = decode_json_file(path, _Instances)
        except DECODE_ERRORS as err:
            try:
                data = self._load_json()
            except AnnotationError as error:
                raise error from err
            return self._columns_from_dicts(data)
        cats, images, anns = typed.categories, typed.images, typed.annotations
        columns = _Columns(
            cat_ids=[c.id for c in cats],
            cat_names=[c.name for c in cats],
            img_ids=[i.id for i in images],
            file_names=[i.file_name for i in images],
            ann_ids=[a.id for a in anns],
            ann_img=[a.image_id for a in anns],
            ann_cat=[a.category_id for a in anns],
            ann_crowd=[a.iscrowd for a in anns])  # 0 or 1 (the type says)
        # the types checked everything else _check_entries checks, so the
        # first blank string is the error _check_entries would report
        for kind, key, values in (('category', 'name', columns.cat_names),
                                  ('image', 'file_name', columns.file_names)):
            if all(map(str.strip, values)):
                continue
            i = next(i for i, v in enumerate(values) if not v.strip())
            raise AnnotationError(
                self.ann_file, f'"{key}" is {values[i]!r}, expected a '
                'non-empty string', f'{kind} #{i}')
        return columns

    @staticmethod
    def _columns_from_dicts(data: dict) -> _Columns:
        """:class:`_Columns` of a file :meth:`_load_json` has validated."""
        anns = data['annotations']
        return _Columns(
            cat_ids=[c['id'] for c in data['categories']],
            cat_names=[c['name'] for c in data['categories']],
            img_ids=[i['id'] for i in data['images']],
            file_names=[i['file_name'] for i in data['images']],
            ann_ids=[a['id'] for a in anns],
            ann_img=[a['image_id'] for a in anns],
            ann_cat=[a['category_id'] for a in anns],
            # validated: 0 / 1 or a value equal to one (False, True, 0.0,
            # 1.0, as pycocotools' getAnnIds(iscrowd=...) compares with ==);
            # a missing key is 0 (not a crowd)
            ann_crowd=[bool(a.get('iscrowd', 0)) for a in anns])

    def _check_unique_ids(self, columns: _Columns) -> None:
        """Ids must be unique: pycocotools indexes entries by id, so a
        repeated annotation id would give one image another's labels. The
        first repeat in file order is reported, categories first."""
        for kind, ids in (('category', columns.cat_ids),
                          ('image', columns.img_ids), ('annotation',
                                                       columns.ann_ids)):
            if len(set(ids)) == len(ids):
                continue
            seen = set()
            for value in ids:
                if value in seen:
                    raise AnnotationError(self.ann_file, 'repeats an id',
                                          f'{kind} id {value!r}')
                seen.add(value)

    def _class_list(self, columns: _Columns) -> Tuple[List[str], List[int]]:
        """Class names and their category ids, in label-index order."""
        # the official files list the categories by increasing id, but do
        # not rely on it; sorted() is stable, as over pycocotools' getCatIds
        cats = list(zip(columns.cat_ids, columns.cat_names))
        key = 0 if self.class_order == 'category_id' else 1
        cats = sorted(cats, key=lambda cat: cat[key])
        names = [name for _, name in cats]
        user_names = self._metainfo.get('classes')
        if user_names is not None:
            unknown = sorted(set(user_names) - set(names))
            absent = sorted(set(names) - set(user_names))
            if unknown or absent:
                raise AnnotationError(
                    self.ann_file,
                    f'`classes` must name exactly the file\'s categories; '
                    f'not in the file: {unknown}, not in `classes`: {absent}')
            by_name = {name: cat_id for cat_id, name in cats}
            names = list(user_names)
            return names, [by_name[name] for name in names]
        return names, [cat_id for cat_id, _ in cats]

    def _check_references(self, columns: _Columns, cat_to_label: dict,
                          img_ids: set) -> None:
        """Every annotation names a known category and image; the first
        that does not is reported (its category checked first)."""
        if set(columns.ann_cat) <= cat_to_label.keys() and \
                set(columns.ann_img) <= img_ids:
            return
        for ann_id, img_id, cat_id in zip(columns.ann_ids, columns.ann_img,
                                          columns.ann_cat):
            where = f'annotation id={ann_id!r}'
            if cat_id not in cat_to_label:
                raise AnnotationError(self.ann_file,
                                      f'unknown category_id {cat_id!r}', where)
            if img_id not in img_ids:
                raise AnnotationError(self.ann_file,
                                      f'unknown image_id {img_id!r}', where)

    def _labels_by_image(
            self, columns: _Columns, cat_to_label: dict,
            sorted_ids: List[int]) -> Tuple[List[List[int]], List[List[int]]]:
        """The sorted label indices of every image, of its non-crowd and of
        its crowd annotations, one list per image of ``sorted_ids``.

        All annotations of an image count, crowd included, as pycocotools'
        ``getAnnIds(imgIds=img_id, iscrowd=None)`` returns them. The
        grouping is one ``np.unique`` of ``(image, label, crowd)`` keys
        (positions, not ids: ids may exceed int64).

        Raises:
            AnnotationError: an annotation names an unknown category or
                image (the first in file order, as
                :meth:`_check_references`).
        """
        index_of = {img_id: i for i, img_id in enumerate(sorted_ids)}
        try:
            ann_label = np.fromiter(
                map(cat_to_label.__getitem__, columns.ann_cat), np.int64,
                len(columns.ann_cat))
            ann_image = np.fromiter(
                map(index_of.__getitem__, columns.ann_img), np.int64,
                len(columns.ann_img))
        except KeyError:  # report the first bad entry
            self._check_references(columns, cat_to_label, set(index_of))
            raise
        num_classes = max(len(cat_to_label), 1)
        keys = np.unique((ann_image * num_classes + ann_label) * 2 +
                         np.asarray(columns.ann_crowd, dtype=bool))
        out = []
        for crowd in (False, True):
            image, label = np.divmod(keys[(keys & 1) == int(crowd)] >> 1,
                                     num_classes)
            bounds = np.searchsorted(image, np.arange(len(sorted_ids) + 1))
            label, bounds = label.tolist(), bounds.tolist()
            out.append(
                [label[start:end] for start, end in zip(bounds, bounds[1:])])
        return out[0], out[1]

    def load_data_list(self) -> List[dict]:
        # ~10^6 objects, none in a reference cycle: the cyclic collector
        # would only traverse them (and the rest of the heap) again and again
        with gc_paused():
            return self._load_data_list()

    def _load_data_list(self) -> List[dict]:
        columns = self._read_columns()
        self._check_unique_ids(columns)

        names, cat_ids = self._class_list(columns)
        self._set_classes(names, self.ann_file)
        self._metainfo['coco_category_ids'] = tuple(cat_ids)
        cat_to_label = {cat_id: i for i, cat_id in enumerate(cat_ids)}
        order = sorted(
            range(len(columns.img_ids)),
            key=columns.img_ids.__getitem__)  # by image id
        sorted_ids = [columns.img_ids[i] for i in order]
        positive, crowded = self._labels_by_image(columns, cat_to_label,
                                                  sorted_ids)
        entries = [
            f'image #{i} (id={img_id})'
            for i, img_id in zip(order, sorted_ids)
        ]
        paths = self._confined_paths([columns.file_names[i] for i in order],
                                     self.ann_file, entries)
        records, infos, empty = [], [], []
        for img_id, (img_path,
                     key), entry, pos, crowd in zip(sorted_ids, paths, entries,
                                                    positive, crowded):
            # 99% of COCO's images have no crowd region
            labels = resolve_labels(pos, crowd, self.crowd_as) if crowd \
                else (pos, [])
            # duplicates compare what the file says (crowd kept apart), so
            # an empty image and an annotated one under one file conflict
            records.append((key, (bool(pos or crowd), pos, crowd), entry))
            infos.append(
                self._make_data_info(img_path, *labels, coco_img_id=img_id))
        data_list = []
        for i in self._drop_duplicates(records, self.ann_file,
                                       self._describe_coco):
            if not records[i][1][0]:  # no annotation
                empty.append(infos[i]['img_path'])
                if not self.keep_empty:
                    continue
            data_list.append(infos[i])
        self.num_without_annotations = len(empty)
        if self.keep_empty:
            print_log(
                f'COCOMultiLabel ({self.ann_file}): kept {len(empty)} '
                'image(s) without annotations as all-negative samples',
                logger='current',
                level=logging.INFO)
        else:
            self._record_dropped('no_annotation', empty, level=logging.INFO)
        return data_list

    def _describe_coco(self, value) -> str:
        annotated, positive, crowd = value
        if not annotated:
            return 'no annotation'
        return self._describe_labels(
            (positive, [])) + (f' crowd {[self.CLASSES[i] for i in crowd]}'
                               if crowd else '')

    def extra_repr(self) -> List[str]:
        return super().extra_repr() + [
            f'Class order: \t{self.class_order}',
            f'Crowd annotations as: \t{self.crowd_as}',
            f'Keep images without annotations: \t{self.keep_empty}',
        ]
