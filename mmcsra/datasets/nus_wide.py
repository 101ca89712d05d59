import logging
import os.path as osp
from typing import List, Optional

import numpy as np
from mmengine.logging import print_log
from mmpretrain.registry import DATASETS

from .errors import AnnotationError
from .multi_label_base import MultiLabelBaseDataset, check_choice


@DATASETS.register_module()
class NUSWIDE(MultiLabelBaseDataset):
    """NUS-WIDE with the 81 ground-truth concepts (official train/test split).

    Chua et al., "NUS-WIDE: A Real-World Web Image Database from National
    University of Singapore", CIVR 2009. Reads the files of the official
    release as they unpack, with no conversion step. Expected layout (all
    paths relative to ``data_root``; each can be changed by an argument)::

        nus_wide/                                  (data_root)
        ├── Concepts81.txt                         81 concept names, one a
        │                                          line (ConceptsList.zip)
        ├── ImageList/TrainImagelist.txt           161,789 image paths
        ├── ImageList/TestImagelist.txt            107,859 image paths
        │       one a line, Windows separators: ``actor\\0001_2124494179.jpg``
        ├── Groundtruth/TrainTestLabels/Labels_<concept>_Train.txt
        ├── Groundtruth/TrainTestLabels/Labels_<concept>_Test.txt
        │       one ``0``/``1`` a line, line i = image i of the image list
        └── Flickr/<folder>/<id>_<flickr id>.jpg   the images

    **Missing images.** Many circulating copies of the images miss some
    files. They are never dropped silently: by default building the dataset
    raises naming the first missing file; ``missing_images='drop'`` drops
    them and logs how many (``num_dropped['missing_image']``).

    **Invalid label values.** A label file line that is not ``0`` or ``1``
    raises with ``invalid_labels='raise'`` (default). The official release
    has one such line: line 78,372 of ``Labels_lake_Train.txt`` reads
    ``-1130179``. ``invalid_labels='ignore'`` puts such entries into
    ``gt_ignore`` and logs each one (file, line, value); their number is kept
    in ``num_invalid_labels``. The base config uses ``'ignore'``.

    Args:
        data_root (str): the dataset root.
        split (str): ``'train'`` (default) or ``'test'``.
        data_prefix (str | dict): the image folder that the image list's
            paths are relative to. Defaults to ``'Flickr'``.
        concepts_file (str): the concept list. Defaults to
            ``'Concepts81.txt'``.
        image_list (str, optional): the image list. Defaults to
            ``ImageList/{Train|Test}Imagelist.txt``.
        label_dir (str): the folder of the per-concept label files
            ``Labels_<concept>_{Train|Test}.txt``. Defaults to
            ``'Groundtruth/TrainTestLabels'``.
        invalid_labels (str): ``'raise'`` (default) or ``'ignore'``.
        **kwargs: see :class:`MultiLabelBaseDataset` (``missing_images``,
            ``pipeline``, ``test_mode``, ``classes`` to use a subset of the
            concepts, ...).

    Raises:
        FileNotFoundError: the concept list, image list, a label file or
            (with ``missing_images='raise'``) an image is missing.
        AnnotationError: the concept list is empty or repeats a name, a label
            file's line count differs from the image list's, or (with
            ``invalid_labels='raise'``) a value is not 0/1; the message names
            the file and the line.
    """

    SPLITS = ('train', 'test')
    INVALID_LABEL_POLICIES = ('raise', 'ignore')

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 data_prefix: str = 'Flickr',
                 concepts_file: str = 'Concepts81.txt',
                 image_list: Optional[str] = None,
                 label_dir: str = osp.join('Groundtruth', 'TrainTestLabels'),
                 invalid_labels: str = 'raise',
                 **kwargs):
        self.split = check_choice('split', split, self.SPLITS)
        self.invalid_labels = check_choice('invalid_labels', invalid_labels,
                                           self.INVALID_LABEL_POLICIES)
        self.concepts_file = osp.join(data_root, concepts_file)
        self.label_dir = osp.join(data_root, label_dir)
        self.num_invalid_labels = 0
        if image_list is None:
            image_list = osp.join('ImageList',
                                  f'{split.capitalize()}Imagelist.txt')
        super().__init__(
            ann_file=image_list,  # joined with data_root by mmengine
            data_root=data_root,
            data_prefix=data_prefix,
            **kwargs)

    def _read_lines(self, path: str, what: str) -> List[str]:
        try:
            with open(self._require_file(path, what), encoding='utf-8') as f:
                lines = [line.strip() for line in f]
        except UnicodeDecodeError as err:
            raise AnnotationError(path, f'not UTF-8 text: {err}') from None
        while lines and not lines[-1]:  # trailing blank lines
            lines.pop()
        for i, line in enumerate(lines):
            if not line:
                raise AnnotationError(path, 'is blank', f'line {i + 1}')
        return lines

    def _label_file(self, concept: str) -> str:
        # concept names come from a file: their label file stays in label_dir
        path, _ = self._confined_path(
            f'Labels_{concept}_{self.split.capitalize()}.txt',
            self.concepts_file,
            f'concept {concept!r}',
            folder=self.label_dir,
            what='label file')
        return path

    def _read_label_column(self, concept: str, num_images: int) -> np.ndarray:
        """1 = positive, 0 = negative, -1 = invalid value (ignored)."""
        path = self._label_file(concept)
        values = np.array(self._read_lines(path, f'labels of {concept!r}'))
        if len(values) != num_images:
            raise AnnotationError(
                path, f'has {len(values)} lines but {self.ann_file} lists '
                f'{num_images} images')
        column = np.full(num_images, -1, dtype=np.int8)
        column[values == '1'] = 1
        column[values == '0'] = 0
        for i in np.flatnonzero(column < 0):
            value = str(values[i])
            if self.invalid_labels == 'raise':
                raise AnnotationError(
                    path, f'value {value!r} is not 0 or 1 (set '
                    "invalid_labels='ignore' to ignore such entries)",
                    f'line {i + 1}')
            print_log(
                f'NUSWIDE: {path}, line {i + 1}: value {value!r} is not '
                f'0 or 1; class {concept!r} is ignored for that image',
                logger='current',
                level=logging.WARNING)
        self.num_invalid_labels += int((column < 0).sum())
        return column

    def load_data_list(self) -> List[dict]:
        concepts = self._metainfo.get('classes')
        if concepts is None:
            self._set_classes(
                self._read_lines(self.concepts_file, 'concept list'),
                self.concepts_file)
        else:
            self._set_classes(concepts)
        image_paths = [
            path.replace('\\', '/')
            for path in self._read_lines(self.ann_file, 'image list')
        ]
        if not image_paths:
            raise AnnotationError(self.ann_file, 'lists no images')
        self.num_invalid_labels = 0
        labels = np.stack([
            self._read_label_column(concept, len(image_paths))
            for concept in self.CLASSES
        ],
                          axis=1)  # [N, C]
        records, infos = [], []
        for line_no, (path, row) in enumerate(zip(image_paths, labels), 1):
            entry = f'line {line_no}'
            img_path, key = self._confined_path(path, self.ann_file, entry)
            value = (np.flatnonzero(row == 1).tolist(),
                     np.flatnonzero(row < 0).tolist())
            records.append((key, value, entry))
            infos.append(self._make_data_info(img_path, *value))
        return [
            infos[i] for i in self._drop_duplicates(records, self.ann_file)
        ]

    def extra_repr(self) -> List[str]:
        return super().extra_repr() + [
            f'Split: \t{self.split}',
            f'Concept list: \t{self.concepts_file}',
            f'Label files: \t{self.label_dir}',
            f'Invalid label values ignored: \t{self.num_invalid_labels}',
        ]
