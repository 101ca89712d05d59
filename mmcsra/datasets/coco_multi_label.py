import contextlib
import io
import logging
import os.path as osp
from typing import List, Sequence, Tuple, Union

from mmengine.logging import print_log
from mmpretrain.registry import DATASETS

from .errors import AnnotationError
from .multi_label_base import (UNCERTAIN_POLICIES, MultiLabelBaseDataset,
                               check_choice, resolve_labels)


@DATASETS.register_module()
class COCOMultiLabel(MultiLabelBaseDataset):
    """MS-COCO (2014 or 2017) as multi-label classification.

    Reads the official ``instances_{train,val}{2014,2017}.json`` directly,
    through pycocotools. An image is positive for every category that has an
    annotation on it::

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
        missing = [k for k in ('images', 'annotations', 'categories')
                   if not isinstance(data.get(k), list)]
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
                raise AnnotationError(
                    self.ann_file, f'has no {absent}',
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

    def _check_unique_ids(self, data: dict, coco) -> None:
        """Ids must be unique: pycocotools indexes entries by id, so a
        repeated annotation id would give one image another's labels."""
        for kind, section, index in (('category', 'categories', coco.cats),
                                     ('image', 'images', coco.imgs),
                                     ('annotation', 'annotations',
                                      coco.anns)):
            if len(index) == len(data[section]):
                continue  # the index has one entry per id: all unique
            seen = set()
            for entry in data[section]:
                if entry['id'] in seen:
                    raise AnnotationError(self.ann_file, 'repeats an id',
                                          f'{kind} id {entry["id"]!r}')
                seen.add(entry['id'])

    def _class_list(self, coco) -> Tuple[List[str], List[int]]:
        """Class names and their category ids, in label-index order."""
        # getCatIds keeps the file's order; the official files list the
        # categories by increasing id, but do not rely on it
        cats = coco.loadCats(coco.getCatIds())
        key = 'id' if self.class_order == 'category_id' else 'name'
        cats = sorted(cats, key=lambda cat: cat[key])
        names = [cat['name'] for cat in cats]
        user_names = self._metainfo.get('classes')
        if user_names is not None:
            unknown = sorted(set(user_names) - set(names))
            absent = sorted(set(names) - set(user_names))
            if unknown or absent:
                raise AnnotationError(
                    self.ann_file,
                    f'`classes` must name exactly the file\'s categories; '
                    f'not in the file: {unknown}, not in `classes`: {absent}')
            by_name = {cat['name']: cat['id'] for cat in cats}
            names = list(user_names)
            return names, [by_name[name] for name in names]
        return names, [cat['id'] for cat in cats]

    def load_data_list(self) -> List[dict]:
        from pycocotools.coco import COCO

        data = self._load_json()
        coco = COCO()
        coco.dataset = data
        with contextlib.redirect_stdout(io.StringIO()):  # its progress prints
            coco.createIndex()
        self._check_unique_ids(data, coco)

        names, cat_ids = self._class_list(coco)
        self._set_classes(names, self.ann_file)
        self._metainfo['coco_category_ids'] = tuple(cat_ids)
        cat_to_label = {cat_id: i for i, cat_id in enumerate(cat_ids)}

        img_ids = set(coco.getImgIds())
        for ann in data['annotations']:
            where = f'annotation id={ann.get("id")!r}'
            if ann['category_id'] not in cat_to_label:
                raise AnnotationError(
                    self.ann_file,
                    f'unknown category_id {ann["category_id"]!r}', where)
            if ann['image_id'] not in img_ids:
                raise AnnotationError(
                    self.ann_file, f'unknown image_id {ann["image_id"]!r}',
                    where)

        position = {img['id']: i for i, img in enumerate(data['images'])}
        records, infos, empty = [], [], []
        for img_id in sorted(img_ids):
            img = coco.loadImgs(img_id)[0]
            entry = f'image #{position[img_id]} (id={img_id})'
            img_path, key = self._confined_path(img['file_name'],
                                                self.ann_file, entry)
            anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id, iscrowd=None))
            crowd = {cat_to_label[a['category_id']] for a in anns
                     if a.get('iscrowd', 0)}
            positive = {cat_to_label[a['category_id']] for a in anns
                        if not a.get('iscrowd', 0)}
            # duplicates compare what the file says (crowd kept apart), so
            # an empty image and an annotated one under one file conflict
            records.append((key, (bool(anns), sorted(positive),
                                  sorted(crowd)), entry))
            infos.append(
                self._make_data_info(
                    img_path, *resolve_labels(positive, crowd,
                                              self.crowd_as),
                    coco_img_id=img_id))
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
        return self._describe_labels((positive, [])) + (
            f' crowd {[self.CLASSES[i] for i in crowd]}' if crowd else '')

    def extra_repr(self) -> List[str]:
        return super().extra_repr() + [
            f'Class order: \t{self.class_order}',
            f'Crowd annotations as: \t{self.crowd_as}',
            f'Keep images without annotations: \t{self.keep_empty}',
        ]
