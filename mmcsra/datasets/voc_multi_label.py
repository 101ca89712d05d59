import os.path as osp
import xml.etree.ElementTree as ET
from typing import List, Optional, Set, Tuple, Union

from mmpretrain.datasets.categories import VOC2007_CATEGORIES
from mmpretrain.registry import DATASETS

from .errors import AnnotationError
from .multi_label_base import (MultiLabelBaseDataset, check_choice,
                               resolve_labels, resolve_uncertain_policy)


@DATASETS.register_module()
class VOCMultiLabel(MultiLabelBaseDataset):
    """PASCAL VOC 2007 / 2012 as multi-label classification.

    Reads the devkit layout as distributed (no conversion step)::

        VOC2007/                      (data_root)
        ├── JPEGImages/<id>.jpg
        ├── Annotations/<id>.xml      one <object> per box, each with <name>
        │                             and <difficult> (0 or 1)
        └── ImageSets/Main/<split>.txt   one image id per line

    An image is positive for a class if it has at least one non-difficult
    object of that class. A class whose objects in the image are all
    ``<difficult>1</difficult>`` is *uncertain*; ``difficult_as`` decides what
    it becomes. The CSRA recipe (Zhu & Wu, "Residual Attention: A Simple but
    Effective Method for Multi-Label Recognition", ICCV 2021, and its released
    ``prepare_voc.py``) trains with them as negatives and ignores them at
    test time, as the VOC mAP protocol does. An ``<object>`` without a
    ``<difficult>`` tag (some VOC2012 files) counts as not difficult.

    The 20 classes are in the standard VOC order (``aeroplane`` ...
    ``tvmonitor``). Passing ``classes`` selects a different list; every
    object name must then be in it (an unknown name raises, nothing is
    skipped).

    Args:
        data_root (str): the ``VOC2007`` / ``VOC2012`` folder.
        split (str): ``'train'``, ``'val'``, ``'trainval'`` (default) or
            ``'test'`` (VOC2007 only: VOC2012's test annotations are not
            public).
        difficult_as (str, optional): ``'ignore'`` (into ``gt_ignore``),
            ``'positive'`` or ``'negative'``. ``None`` (default):
            ``'ignore'`` if ``test_mode`` else ``'negative'``.
        image_set_path (str, optional): the image-id list, relative to
            ``data_root`` unless absolute. Defaults to
            ``ImageSets/Main/{split}.txt``.
        data_prefix (dict): ``img_path`` and ``ann_path`` folders relative to
            ``data_root``. Defaults to
            ``dict(img_path='JPEGImages', ann_path='Annotations')``.
        test_mode (bool): evaluation mode. Defaults to False.
        **kwargs: see :class:`MultiLabelBaseDataset` (``missing_images``,
            ``pipeline``, ``classes``, ...).

    Raises:
        FileNotFoundError: the image set, an XML file or (with
            ``missing_images='raise'``) an image is missing; the message
            names it.
        AnnotationError: malformed XML, an object without a name, an unknown
            class name, a ``<difficult>`` value other than 0/1, or a bad line
            in the image set; the message names the file and the entry.
    """

    METAINFO = {'classes': VOC2007_CATEGORIES}
    SPLITS = ('train', 'val', 'trainval', 'test')

    def __init__(self,
                 data_root: str,
                 split: str = 'trainval',
                 difficult_as: Optional[str] = None,
                 image_set_path: Optional[str] = None,
                 data_prefix: Union[str, dict] = dict(
                     img_path='JPEGImages', ann_path='Annotations'),
                 test_mode: bool = False,
                 **kwargs):
        self.split = check_choice('split', split, self.SPLITS)
        self.difficult_as = resolve_uncertain_policy('difficult_as',
                                                     difficult_as, test_mode)
        if image_set_path is None:
            image_set_path = osp.join('ImageSets', 'Main', f'{split}.txt')
        if not isinstance(data_prefix, dict) or \
                set(data_prefix) != {'img_path', 'ann_path'}:
            raise ValueError('data_prefix must be a dict with exactly the '
                             "keys 'img_path' and 'ann_path', got "
                             f'{data_prefix!r}')
        super().__init__(
            ann_file=image_set_path,  # joined with data_root by mmengine
            data_root=data_root,
            data_prefix=dict(data_prefix),
            test_mode=test_mode,
            **kwargs)

    @property
    def image_set_path(self) -> str:
        return self.ann_file

    @property
    def ann_prefix(self) -> str:
        return self.data_prefix['ann_path']

    def _read_image_ids(self) -> List[Tuple[str, int]]:
        """``(image id, line number)`` of every line of the image set."""
        path = self._require_file(self.image_set_path,
                                  f'image set of split {self.split!r}')
        ids = []
        try:
            with open(path, encoding='utf-8') as f:
                lines = f.readlines()
        except UnicodeDecodeError as err:
            raise AnnotationError(path, f'not UTF-8 text: {err}') from None
        for line_no, line in enumerate(lines, 1):
            tokens = line.split()
            if not tokens:
                continue
            if len(tokens) != 1:
                raise AnnotationError(
                    path, f'expected one image id, got {line.strip()!r}',
                    f'line {line_no}')
            ids.append((tokens[0], line_no))
        if not ids:
            raise AnnotationError(path, 'lists no image ids')
        return ids

    def _parse_xml(self, img_id: str, entry: str) -> Tuple[Set[int], Set[int]]:
        """(positive, difficult-only-candidate) class indices of one image."""
        xml_path, _ = self._confined_path(
            f'{img_id}.xml',
            self.image_set_path,
            entry,
            folder=self.ann_prefix,
            what='annotation')
        if not osp.isfile(xml_path):
            raise FileNotFoundError(
                f'VOC annotation of image {img_id!r} (listed in '
                f'{self.image_set_path}) not found: {xml_path}')
        try:
            root = ET.parse(xml_path).getroot()
        except ET.ParseError as err:
            raise AnnotationError(xml_path, f'malformed XML: {err}') from err
        if root.tag != 'annotation':
            raise AnnotationError(
                xml_path,
                f'root element is <{root.tag}>, expected <annotation>')
        positive, difficult = set(), set()
        for i, obj in enumerate(root.findall('object')):
            entry = f'object {i}'
            name = obj.findtext('name')
            if name is None or not name.strip():
                raise AnnotationError(xml_path, 'has no <name>', entry)
            label = self._class_index(name.strip(), xml_path, entry)
            flag = obj.findtext('difficult')
            flag = '0' if flag is None else flag.strip()
            if flag not in ('0', '1'):
                raise AnnotationError(
                    xml_path, f'<difficult> is {flag!r}, expected 0 or 1',
                    entry)
            (difficult if flag == '1' else positive).add(label)
        return positive, difficult

    def load_data_list(self) -> List[dict]:
        self._set_classes(self._metainfo.get('classes'))
        records, infos = [], []
        for img_id, line_no in self._read_image_ids():
            entry = f'line {line_no}'
            img_path, key = self._confined_path(f'{img_id}.jpg',
                                                self.image_set_path, entry)
            positive, difficult = self._parse_xml(img_id, entry)
            labels = resolve_labels(positive, difficult, self.difficult_as)
            records.append((key, labels, entry))
            infos.append(
                self._make_data_info(img_path, *labels, img_id=img_id))
        return [
            infos[i]
            for i in self._drop_duplicates(records, self.image_set_path)
        ]

    def extra_repr(self) -> List[str]:
        return [
            f'Split: \t{self.split}',
            f'Path of image set: \t{self.image_set_path}',
            f'Prefix of images: \t{self.img_prefix}',
            f'Prefix of annotations: \t{self.ann_prefix}',
            f'Difficult objects as: \t{self.difficult_as}',
        ] + [
            line for line in super().extra_repr() if line.startswith('Dropped')
        ]
