import csv
import logging
import os.path as osp
from typing import List, NamedTuple, Optional, Sequence, Union

from mmengine.logging import print_log
from mmpretrain.registry import DATASETS

from .errors import AnnotationError
from .multi_label_base import MultiLabelBaseDataset, check_choice


class _RawEntry(NamedTuple):
    path: str
    labels: list  # class names (str) or indices (int)
    ignore: list
    entry: str  # where it is in the file, for error messages


@DATASETS.register_module()
class MultiLabelFolder(MultiLabelBaseDataset):
    """A user's own multi-label data: images plus one CSV or JSON file.

    **CSV** (``.csv``): a header row, then one row per image::

        path,labels,ignore
        dogs/001.jpg,dog;person,
        cats/002.jpg,cat,person
        empty/003.jpg,,

    ``path`` is relative to the image folder (``data_prefix``); ``labels``
    holds the positive class names separated by ``label_sep`` (default
    ``';'``; spaces around names are stripped); the optional ``ignore``
    column holds classes whose presence is unknown (they go to
    ``gt_ignore``). An empty ``labels`` cell means no positive class. Quote a
    cell (standard CSV) if it contains a comma. No other columns are allowed.

    **JSON** (``.json``): a list with one object per image::

        [{"img": "dogs/001.jpg", "labels": ["dog", "person"]},
         {"img": "cats/002.jpg", "labels": ["cat"], "ignore": ["person"]}]

    ``labels`` / ``ignore`` hold class names, or integer indices into
    ``classes`` (which must then be given). ``ignore`` is optional; no other
    keys are allowed.

    **OpenMMLab 2.0 JSON** (``.json`` whose top level is an object, the
    `mmengine BaseDataset annotation format
    <https://mmengine.readthedocs.io/en/latest/advanced_tutorials/basedataset.html>`_)::

        {"metainfo": {"classes": ["cat", "dog", "person"]},
         "data_list": [{"img_path": "dogs/001.jpg", "gt_label": [1, 2]},
                       {"img_path": "cats/002.png", "gt_label": [0],
                        "gt_ignore": [2]}]}

    ``gt_label`` (a list, or one int) and the optional ``gt_ignore`` hold
    class indices into ``metainfo.classes`` (or class names); no other keys
    are allowed in an entry. ``metainfo.classes`` is the class list; a
    ``classes`` argument must then be the same list (indices would
    otherwise silently point at other classes). Without
    ``metainfo.classes``, integer labels need ``classes``.

    **Classes.** ``classes`` (a list, or a text file with one name a line)
    fixes the class list and its order; every label must then be in it. If
    not given, the classes are the sorted union of all names in ``labels``
    and ``ignore``, and the inferred list is logged.

    Args:
        ann_file (str): the CSV or JSON file, relative to ``data_root``
            unless absolute.
        data_root (str): the dataset root. Defaults to ''.
        data_prefix (str | dict): the folder image paths are relative to.
            Defaults to '' (``data_root``).
        classes (str | Sequence[str], optional): the class list, see above.
        ann_format (str, optional): ``'csv'`` or ``'json'``. Defaults to
            ``None``: taken from the file extension.
        label_sep (str): separator of class names inside a CSV cell.
            Defaults to ``';'``.
        **kwargs: see :class:`MultiLabelBaseDataset` (``missing_images``,
            ``pipeline``, ``test_mode``, ...).

    Raises:
        FileNotFoundError: the annotation file or (with
            ``missing_images='raise'``) an image is missing.
        AnnotationError: malformed CSV / JSON, a missing or extra column /
            key, an empty path, an unknown class name, an integer label out
            of range (or without ``classes``), a class both in ``labels`` and
            ``ignore``, or an empty class list; the message names the file
            and the entry (line of the CSV, index of the JSON entry).
    """

    FORMATS = ('csv', 'json')
    CSV_COLUMNS = ('path', 'labels', 'ignore')
    JSON_KEYS = ('img', 'labels', 'ignore')
    #: keys of an OpenMMLab 2.0 ``data_list`` entry
    OPENMMLAB_KEYS = ('img_path', 'gt_label', 'gt_ignore')

    def __init__(self,
                 ann_file: str,
                 data_root: str = '',
                 data_prefix: Union[str, dict] = '',
                 classes: Union[str, Sequence[str], None] = None,
                 ann_format: Optional[str] = None,
                 label_sep: str = ';',
                 **kwargs):
        if ann_format is None:
            ext = osp.splitext(ann_file)[1].lower().lstrip('.')
            if ext not in self.FORMATS:
                raise ValueError(
                    f'can not tell the format of {ann_file!r} from its '
                    f"extension; pass ann_format='csv' or 'json'")
            ann_format = ext
        self.ann_format = check_choice('ann_format', ann_format, self.FORMATS)
        if not label_sep or label_sep == ',':
            raise ValueError('label_sep must be a non-empty string other '
                             f'than the CSV delimiter ",", got {label_sep!r}')
        self.label_sep = label_sep
        self._file_classes: Optional[List[str]] = None  # 2.0 metainfo
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=data_prefix,
            classes=classes,
            **kwargs)

    # ------------------------------------------------------------ parsing
    def _split_names(self, cell: str) -> List[str]:
        names = [name.strip() for name in cell.split(self.label_sep)]
        return [name for name in names if name]

    def _parse_csv(self) -> List[_RawEntry]:
        path = self.ann_file
        entries = []
        with open(path, newline='', encoding='utf-8-sig') as f:  # Excel BOM
            reader = csv.DictReader(f, strict=True)
            try:
                header = reader.fieldnames
                if header is None:
                    raise AnnotationError(path, 'is empty (no header row)')
                header = [name.strip() for name in header]
                reader.fieldnames = header
                missing = [c for c in ('path', 'labels') if c not in header]
                extra = [c for c in header if c not in self.CSV_COLUMNS]
                if missing or extra or len(set(header)) != len(header):
                    raise AnnotationError(
                        path, f'header {header} must be "path,labels" or '
                        '"path,labels,ignore"', 'line 1')
                for row in reader:
                    entry = f'line {reader.line_num}'
                    if None in row or any(row[c] is None for c in header):
                        raise AnnotationError(
                            path, f'expected {len(header)} fields '
                            f'({",".join(header)})', entry)
                    img = row['path'].strip()
                    if not img:
                        raise AnnotationError(path, 'empty path', entry)
                    entries.append(
                        _RawEntry(img, self._split_names(row['labels']),
                                  self._split_names(row.get('ignore') or ''),
                                  entry))
            except csv.Error as err:
                raise AnnotationError(path, f'malformed CSV: {err}',
                                      f'after line {reader.line_num}') from err
            except UnicodeDecodeError as err:  # the byte offset says where
                raise AnnotationError(path, f'not UTF-8 text: {err}') from None
        return entries

    def _parse_json(self) -> List[_RawEntry]:
        path = self.ann_file
        data = self._read_json(path, 'annotation file')
        if isinstance(data, dict) and 'data_list' in data:
            return self._parse_openmmlab(data)
        if not isinstance(data, list):
            raise AnnotationError(
                path, f'top level is a {type(data).__name__}, expected a '
                'list of {"img": ..., "labels": [...]} objects or an '
                'OpenMMLab 2.0 object {"metainfo": {"classes": [...]}, '
                '"data_list": [...]}')
        return self._json_entries(
            data, self.JSON_KEYS, 'entry #{}', list_what='a list')

    def _parse_openmmlab(self, data: dict) -> List[_RawEntry]:
        """Entries of an OpenMMLab 2.0 file; its ``metainfo.classes`` (if
        any) go to ``self._file_classes``."""
        path = self.ann_file
        extra = sorted(set(data) - {'metainfo', 'data_list'})
        if extra:
            raise AnnotationError(
                path, f'top-level keys {extra}: an OpenMMLab 2.0 file has '
                '"metainfo" and "data_list" only')
        metainfo = data.get('metainfo', {})
        if not isinstance(metainfo, dict):
            raise AnnotationError(
                path, '"metainfo" must be an object, got '
                f'{type(metainfo).__name__}')
        classes = metainfo.get('classes')
        if classes is not None:
            if not isinstance(classes, list):
                raise AnnotationError(
                    path, '"metainfo.classes" must be a list of names, got '
                    f'{classes!r}')
            self._file_classes = classes
        items = data['data_list']
        if not isinstance(items, list):
            raise AnnotationError(
                path, '"data_list" must be a list, got '
                f'{type(items).__name__}')
        return self._json_entries(
            items,
            self.OPENMMLAB_KEYS,
            'data_list[{}]',
            list_what='a list of class indices',
            single_label=True)

    def _json_entries(self,
                      items: list,
                      keys: Sequence[str],
                      where: str,
                      list_what: str,
                      single_label: bool = False) -> List[_RawEntry]:
        """Entries of a JSON list whose objects hold ``keys`` = (image,
        labels, ignore); the last is optional. ``where`` formats an
        entry's index for the messages; ``single_label`` also accepts one
        int as a label list."""
        path = self.ann_file
        img_key, label_key, ignore_key = keys
        entries = []
        for i, item in enumerate(items):
            entry = where.format(i)
            if not isinstance(item, dict):
                raise AnnotationError(path, 'is not an object', entry)
            extra = sorted(set(item) - set(keys))
            if extra or img_key not in item or label_key not in item:
                raise AnnotationError(
                    path, f'keys {sorted(item)}: needs "{img_key}" and '
                    f'"{label_key}", may have "{ignore_key}", nothing else',
                    entry)
            img = item[img_key]
            if not isinstance(img, str) or not img.strip():
                raise AnnotationError(path, f'bad "{img_key}" {img!r}', entry)
            lists = []
            for key in (label_key, ignore_key):
                value = item.get(key, [])
                if single_label and isinstance(
                        value, int) and not isinstance(value, bool):
                    value = [value]  # single-label style entry
                if not isinstance(value, list):
                    raise AnnotationError(
                        path, f'"{key}" must be {list_what}, got {value!r}',
                        entry)
                lists.append(value)
            entries.append(_RawEntry(img.strip(), lists[0], lists[1], entry))
        return entries

    def _infer_classes(self, entries: List[_RawEntry]) -> List[str]:
        names = set()
        for raw in entries:
            for label in raw.labels + raw.ignore:
                if not isinstance(label, str):
                    raise AnnotationError(
                        self.ann_file, f'label {label!r} is not a class '
                        'name; integer labels need `classes`', raw.entry)
                names.add(label)
        classes = sorted(names)
        print_log(
            f'MultiLabelFolder ({self.ann_file}): no `classes` given; '
            f'inferred {len(classes)} classes (sorted): {classes}',
            logger='current',
            level=logging.INFO)
        return classes

    def _to_index(self, label, raw: _RawEntry) -> int:
        if isinstance(label, str):
            return self._class_index(label, self.ann_file, raw.entry)
        return self._check_class_index(label, self.ann_file, raw.entry)

    def load_data_list(self) -> List[dict]:
        self._require_file(self.ann_file, 'annotation file')
        entries = self._parse_csv() if self.ann_format == 'csv' \
            else self._parse_json()
        given = self._metainfo.get('classes')
        if self._file_classes is not None:
            if given is not None and tuple(given) != tuple(self._file_classes):
                raise AnnotationError(
                    self.ann_file, f'its metainfo.classes '
                    f'{list(self._file_classes)} differ from the `classes` '
                    f'argument {list(given)}; the gt_label indices refer to '
                    "the file's list: drop `classes` or make them equal")
            self._set_classes(self._file_classes, self.ann_file)
        elif given is not None:
            self._set_classes(given)
        else:
            self._set_classes(self._infer_classes(entries), self.ann_file)

        records, infos = [], []
        for raw in entries:
            positive = {self._to_index(label, raw) for label in raw.labels}
            ignore = {self._to_index(label, raw) for label in raw.ignore}
            both = positive & ignore
            if both:
                raise AnnotationError(
                    self.ann_file, 'classes '
                    f'{[self.CLASSES[i] for i in sorted(both)]} are both in '
                    'labels and ignore', raw.entry)
            img_path, key = self._confined_path(raw.path, self.ann_file,
                                                raw.entry)
            labels = (sorted(positive), sorted(ignore))
            records.append((key, labels, raw.entry))
            infos.append(self._make_data_info(img_path, *labels))
        return [
            infos[i] for i in self._drop_duplicates(records, self.ann_file)
        ]

    def extra_repr(self) -> List[str]:
        return super().extra_repr() + [
            f'Annotation format: \t{self.ann_format}',
        ]
