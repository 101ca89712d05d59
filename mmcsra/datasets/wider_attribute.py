import math
import os.path as osp
import posixpath
from typing import List, Optional

from mmpretrain.registry import DATASETS

from .errors import AnnotationError
from .multi_label_base import (MultiLabelBaseDataset, check_choice,
                               resolve_labels, resolve_uncertain_policy)

#: The 14 attributes in the order of ``attribute_id_map`` ("0" ... "13").
WIDER_ATTRIBUTES = ('Male', 'longHair', 'sunglass', 'Hat', 'Tshirt',
                    'longSleeve', 'formal', 'shorts', 'Jeans', 'longPants',
                    'skirt', 'faceMask', 'logo', 'stripe')


@DATASETS.register_module()
class WIDERAttribute(MultiLabelBaseDataset):
    """WIDER Attribute: 14 binary attributes per annotated person.

    Li et al., "Human Attribute Recognition by Deep Hierarchical Contexts",
    ECCV 2016. Reads the official JSON files directly::

        wider_attribute/                               (data_root)
        ├── Annotations/wider_attribute_trainval.json
        ├── Annotations/wider_attribute_test.json
        └── Image/{train,val,test}/<scene>/<name>.jpg

    Each file is ``{"attribute_id_map": {"0": "Male", ...},
    "scene_id_map": {"0": "Parade", ...}, "images": [{"file_name":
    "train/0--Parade/....jpg", "scene_id": 0, "targets": [{"bbox": [x, y, w,
    h], "attribute": [14 values]}, ...]}, ...]}``; ``file_name`` is relative
    to ``Image/``. Every target (person) is one sample: the data info holds
    ``crop_bbox`` = ``[x, y, w, h]`` in pixels, cut out by the
    ``CropByBBox`` transform after loading the image, plus ``scene_id`` and
    ``person_idx`` (the target's index in its image).

    Attribute values: ``1`` positive, ``-1`` negative, ``0`` unspecified.
    Unspecified attributes are *uncertain*, resolved by ``unspecified_as``;
    CSRA's released ``prepare_wider.py`` trains with them as negatives and
    ignores them at test time, following earlier work.

    The file's ``attribute_id_map`` must list the 14 attributes of
    :data:`WIDER_ATTRIBUTES` in that order (compared case-insensitively; the
    class names are taken from the file).

    Args:
        data_root (str): the dataset root.
        split (str): ``'trainval'`` (default) or ``'test'``: the whole
            annotation file; ``'train'`` or ``'val'``: the images of
            ``wider_attribute_trainval.json`` whose ``file_name`` starts with
            ``train/`` / ``val/``.
        ann_file (str, optional): the annotation JSON, relative to
            ``data_root`` unless absolute. Defaults to
            ``Annotations/wider_attribute_{trainval|test}.json``.
        data_prefix (str | dict): the image folder. Defaults to ``'Image'``.
        unspecified_as (str, optional): ``'ignore'``, ``'positive'`` or
            ``'negative'``. ``None`` (default): ``'ignore'`` if ``test_mode``
            else ``'negative'``.
        test_mode (bool): evaluation mode. Defaults to False.
        **kwargs: see :class:`MultiLabelBaseDataset`.

    Raises:
        FileNotFoundError: the JSON or (with ``missing_images='raise'``) an
            image is missing.
        AnnotationError: the file is not JSON or lacks a key, the attribute
            map differs, a target has a bad ``bbox`` (not 4 finite numbers,
            or width/height <= 0) or an ``attribute`` list that is not 14
            values in {1, -1, 0}; the message names the file and the entry.
    """

    METAINFO = {'classes': WIDER_ATTRIBUTES}
    SPLITS = ('trainval', 'train', 'val', 'test')
    VALUE_POSITIVE, VALUE_NEGATIVE, VALUE_UNSPECIFIED = 1, -1, 0

    def __init__(self,
                 data_root: str,
                 split: str = 'trainval',
                 ann_file: Optional[str] = None,
                 data_prefix: str = 'Image',
                 unspecified_as: Optional[str] = None,
                 test_mode: bool = False,
                 **kwargs):
        self.split = check_choice('split', split, self.SPLITS)
        self.unspecified_as = resolve_uncertain_policy('unspecified_as',
                                                       unspecified_as,
                                                       test_mode)
        if ann_file is None:
            file_split = 'test' if split == 'test' else 'trainval'
            ann_file = osp.join('Annotations',
                                f'wider_attribute_{file_split}.json')
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=data_prefix,
            test_mode=test_mode,
            **kwargs)

    def _load_json(self) -> dict:
        path = self.ann_file
        data = self._read_json(path, 'WIDER Attribute annotation file')
        if not isinstance(data, dict):
            raise AnnotationError(path, 'top level is not a JSON object')
        for key, kind in (('attribute_id_map', dict), ('images', list)):
            if not isinstance(data.get(key), kind):
                raise AnnotationError(
                    path, f'"{key}" is missing or not a {kind.__name__}')
        return data

    def _attribute_names(self, id_map: dict) -> List[str]:
        expected = list(self._metainfo['classes'])
        try:
            keys = sorted(id_map, key=int)
        except ValueError:
            raise AnnotationError(
                self.ann_file, f'attribute_id_map keys {list(id_map)} are '
                'not integers') from None
        names = [id_map[k] for k in keys]
        if [int(k) for k in keys] != list(range(len(expected))) or \
                [str(n).lower() for n in names] != \
                [n.lower() for n in expected]:
            raise AnnotationError(
                self.ann_file,
                f'attribute_id_map is {dict(zip(keys, names))}, expected the '
                f'{len(expected)} attributes {expected} with ids 0..'
                f'{len(expected) - 1}')
        return names

    def _target_labels(self, target, entry: str):
        if not isinstance(target, dict) or 'bbox' not in target or \
                'attribute' not in target:
            raise AnnotationError(self.ann_file,
                                  'target needs "bbox" and "attribute"', entry)
        bbox = target['bbox']
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool)
                and math.isfinite(v) for v in bbox):
            raise AnnotationError(
                self.ann_file, f'bbox {bbox!r} is not 4 finite numbers '
                '[x, y, w, h]', entry)
        if bbox[2] <= 0 or bbox[3] <= 0:
            raise AnnotationError(
                self.ann_file,
                f'bbox {bbox!r} has a non-positive width or height', entry)
        values = target['attribute']
        num_classes = len(self._name_to_idx)
        if not isinstance(values, list) or len(values) != num_classes:
            raise AnnotationError(
                self.ann_file, f'attribute must be a list of {num_classes} '
                f'values, got {values!r}', entry)
        allowed = (self.VALUE_POSITIVE, self.VALUE_NEGATIVE,
                   self.VALUE_UNSPECIFIED)
        positive, unspecified = [], []
        for i, value in enumerate(values):
            if isinstance(value, bool) or value not in allowed:
                raise AnnotationError(
                    self.ann_file, f'attribute {i} ({self.CLASSES[i]}) is '
                    f'{value!r}, expected 1, -1 or 0', entry)
            if value == self.VALUE_POSITIVE:
                positive.append(i)
            elif value == self.VALUE_UNSPECIFIED:
                unspecified.append(i)
        gt_label, gt_ignore = resolve_labels(positive, unspecified,
                                             self.unspecified_as)
        return [float(v) for v in bbox], gt_label, gt_ignore

    def load_data_list(self) -> List[dict]:
        data = self._load_json()
        self._set_classes(
            self._attribute_names(data['attribute_id_map']), self.ann_file)
        prefix = None if self.split in ('trainval', 'test') \
            else f'{self.split}/'
        records, samples = [], []
        for i, image in enumerate(data['images']):
            if not isinstance(image, dict) or \
                    not isinstance(image.get('file_name'), str) or \
                    not isinstance(image.get('targets'), list):
                raise AnnotationError(
                    self.ann_file,
                    'needs "file_name" (str) and "targets" (list)',
                    f'image #{i}')
            file_name = image['file_name']
            # 'train/x.jpg', './train/x.jpg' and 'train//x.jpg' are one file
            if prefix is not None and not posixpath.normpath(
                    file_name).startswith(prefix):
                continue
            entry = f'image #{i} ({file_name!r})'
            img_path, key = self._confined_path(file_name, self.ann_file,
                                                entry)
            targets = []
            for j, target in enumerate(image['targets']):
                bbox, gt_label, gt_ignore = self._target_labels(
                    target, f'image {file_name!r}, target {j}')
                targets.append(
                    (tuple(bbox), tuple(gt_label), tuple(gt_ignore)))
            records.append(
                (key, (image.get('scene_id'), tuple(targets)), entry))
            samples.append([
                self._make_data_info(
                    img_path,
                    gt_label,
                    gt_ignore,
                    crop_bbox=list(bbox),
                    scene_id=image.get('scene_id'),
                    person_idx=j)
                for j, (bbox, gt_label, gt_ignore) in enumerate(targets)
            ])
        data_list = [
            info for i in self._drop_duplicates(records, self.ann_file,
                                                self._describe_image)
            for info in samples[i]
        ]
        if not data_list:
            raise AnnotationError(
                self.ann_file, f'has no annotated person for split '
                f'{self.split!r}')
        return data_list

    def _describe_image(self, value) -> str:
        scene_id, targets = value
        people = '; '.join(f'bbox {list(bbox)} ' +
                           self._describe_labels((label, ignore))
                           for bbox, label, ignore in targets)
        return f'scene_id {scene_id}, {len(targets)} target(s) [{people}]'

    def extra_repr(self) -> List[str]:
        return super().extra_repr() + [
            f'Split: \t{self.split}',
            f'Unspecified attributes as: \t{self.unspecified_as}',
        ]
