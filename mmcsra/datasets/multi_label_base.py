"""The logic every mmcsra multi-label dataset shares.

A sample (a *data info*) is a dict with

* ``img_path`` (str): the image file;
* ``gt_label`` (list[int]): the indices of the classes present (positives);
* ``gt_ignore`` (list[int]): the indices of the classes whose presence is
  unknown or deliberately not scored (VOC "difficult", WIDER "unspecified",
  ...); never overlapping ``gt_label``;

plus dataset-specific keys. Pipelines pack the labels with
``dict(type='PackInputs', algorithm_keys=['gt_ignore'])``.

:class:`MultiLabelBaseDataset` owns what the datasets have in common, so no
dataset repeats it: the class list and its validation, class name -> index
with an error naming the file and entry, turning "uncertain" annotations into
positives / ignored / negatives, the check that the images exist (raise, or
drop and log how many), confining image paths to the image folder, refusing
duplicate images with conflicting labels, and a clear error when a test-time
pipeline can not load an image.
"""
import json
import logging
import os
import os.path as osp
import posixpath
from typing import (Any, Callable, Dict, Hashable, Iterable, List, Optional,
                    Sequence, Tuple)

from mmengine import fileio
from mmengine.logging import print_log
from mmpretrain.datasets import BaseDataset

from .errors import AnnotationError, ImageLoadError

__all__ = [
    'MultiLabelBaseDataset', 'UNCERTAIN_POLICIES', 'check_choice',
    'resolve_uncertain_policy', 'resolve_labels'
]

#: What to do with an annotation that is neither clearly present nor clearly
#: absent (VOC difficult objects, COCO crowd regions, WIDER unspecified
#: attributes, a user's explicit "ignore"): count the class as a positive,
#: put it in ``gt_ignore`` (no loss, not scored), or leave it negative.
UNCERTAIN_POLICIES = ('ignore', 'positive', 'negative')
MISSING_IMAGE_POLICIES = ('raise', 'drop')


def check_choice(arg_name: str, value, choices: Sequence):
    """Return ``value`` if it is one of ``choices``, else raise naming it."""
    if value not in choices:
        raise ValueError(f'{arg_name} must be one of {tuple(choices)}, '
                         f'got {value!r}')
    return value


def resolve_uncertain_policy(arg_name: str, value: Optional[str],
                             test_mode: bool) -> str:
    """The policy for uncertain labels; ``None`` follows the CSRA recipe.

    ``None`` means ``'ignore'`` when ``test_mode`` (uncertain entries are not
    scored) and ``'negative'`` otherwise (they are trained as absent).
    """
    if value is None:
        return 'ignore' if test_mode else 'negative'
    return check_choice(arg_name, value, UNCERTAIN_POLICIES)


def resolve_labels(positive: Iterable[int], uncertain: Iterable[int],
                   policy: str) -> Tuple[List[int], List[int]]:
    """``(gt_label, gt_ignore)`` from positive and uncertain class indices.

    A class that is both positive and uncertain (e.g. a VOC image with one
    clear and one difficult dog) is positive. The remaining uncertain classes
    become positives (``policy='positive'``), ignored entries (``'ignore'``)
    or negatives (``'negative'``). Both lists are sorted.
    """
    check_choice('policy', policy, UNCERTAIN_POLICIES)
    pos = set(positive)
    unsure = set(uncertain) - pos
    if policy == 'positive':
        return sorted(pos | unsure), []
    if policy == 'ignore':
        return sorted(pos), sorted(unsure)
    return sorted(pos), []


class MultiLabelBaseDataset(BaseDataset):
    """Base of mmcsra's multi-label datasets (not registered itself).

    Subclasses implement ``load_data_list``: call :meth:`_set_classes` once
    with the class list, map names with :meth:`_class_index` (or check
    integer labels with :meth:`_check_class_index`), turn uncertain labels
    into ``gt_label`` / ``gt_ignore`` with :func:`resolve_labels`, and build
    each sample with :meth:`_make_data_info`. Drops made on purpose are
    recorded with :meth:`_record_dropped`, which logs how many.

    **Image paths are confined** to the image folder (``data_root`` joined
    with ``data_prefix``; the current directory when both are empty): every
    path an annotation file gives is resolved (``os.path.realpath``: ``..``,
    symbolic links of folders and of the file itself) and must lie inside the
    resolved folder, else :class:`AnnotationError` names the annotation file,
    the entry and the resolved path. Annotation files come from other people
    (see ``docs/security.md``); ``allow_outside_root=True`` accepts paths
    anywhere (absolute paths, ``../``, links to a shared image pool).

    **Duplicates.** The same image file listed twice (also spelled
    differently: ``a/b.jpg``, ``a//b.jpg``, ``./a/b.jpg``, a link to it) with
    different labels raises :class:`AnnotationError` naming both entries;
    identical duplicates are dropped, keeping the first, and their count is
    logged once and kept in ``num_dropped['duplicate']``.

    Args:
        ann_file (str): the annotation file, relative to ``data_root`` unless
            absolute.
        allow_outside_root (bool): accept image paths outside the image
            folder. Defaults to False.
        missing_images (str): ``'raise'`` (default): an image file listed by
            the annotation but absent on disk raises ``FileNotFoundError``
            naming it, when the dataset is built. ``'drop'``: such samples are
            dropped; the count and the first few paths are logged and the
            count is kept in ``num_dropped['missing_image']``.
        **kwargs: the other arguments of
            :class:`mmpretrain.datasets.BaseDataset` (``metainfo``,
            ``data_root``, ``data_prefix``, ``pipeline``, ``test_mode``,
            ``classes``, ``indices``, ``serialize_data``, ...).

    Attributes:
        num_dropped (dict[str, int]): how many samples were dropped, by
            reason (``'missing_image'``, and dataset-specific reasons).
    """

    def __init__(self,
                 ann_file: str = '',
                 missing_images: str = 'raise',
                 allow_outside_root: bool = False,
                 **kwargs):
        if not isinstance(allow_outside_root, bool):
            raise TypeError('allow_outside_root must be True or False, got '
                            f'{allow_outside_root!r}')
        self.allow_outside_root = allow_outside_root
        self._real_dirs: Dict[str, str] = {}  # folder -> realpath
        self._real_roots: Dict[str, str] = {}
        self.missing_images = check_choice('missing_images', missing_images,
                                           MISSING_IMAGE_POLICIES)
        self.num_dropped: Dict[str, int] = {}
        self._name_to_idx: Dict[str, int] = {}
        super().__init__(ann_file=ann_file, **kwargs)

    # ------------------------------------------------------------ classes
    def _set_classes(self,
                     names: Optional[Sequence[str]],
                     source_file: Optional[str] = None) -> Tuple[str, ...]:
        """Validate and store the class list (order = label index).

        Args:
            names: the class names.
            source_file: the file the names were read from, for the error
                message; ``None`` when they came from the ``classes`` /
                ``metainfo`` arguments.

        Raises:
            AnnotationError: (``source_file`` given) or ValueError (names from
                arguments) if the list is missing or empty, has a non-string
                or blank name, or repeats a name.
        """

        def fail(message: str):
            if source_file is not None:
                raise AnnotationError(source_file, f'the class list {message}')
            raise ValueError(f'{type(self).__name__}: the class list given '
                             f'by `classes` / `metainfo` {message}')

        if names is None:
            fail('is missing')
        if isinstance(names, str):
            fail(f'is a string {names!r}, expected a sequence of names')
        names = tuple(names)
        if len(names) == 0:
            fail('is empty')
        for i, name in enumerate(names):
            if not isinstance(name, str) or not name.strip():
                fail(f'has an invalid class name {name!r} at position {i}')
        seen, repeated = set(), []
        for name in names:
            if name in seen:
                repeated.append(name)
            seen.add(name)
        if repeated:
            fail(f'repeats the class names {sorted(set(repeated))}')
        self._metainfo['classes'] = names
        self._name_to_idx = {name: i for i, name in enumerate(names)}
        return names

    def _class_index(self, name: str, file: str, entry: str) -> int:
        """The index of class ``name``.

        Raises:
            AnnotationError: naming ``file`` and ``entry`` if ``name`` is not
                one of the dataset's classes.
        """
        try:
            return self._name_to_idx[name]
        except (KeyError, TypeError):
            known = list(self._name_to_idx)
            shown = ', '.join(map(repr, known[:25]))
            if len(known) > 25:
                shown += f', ... ({len(known)} in all)'
            raise AnnotationError(
                file, f'unknown class name {name!r}; the classes are: '
                f'{shown}', entry) from None

    def _check_class_index(self, index, file: str, entry: str) -> int:
        """Check an integer label against the class list.

        Raises:
            AnnotationError: naming ``file`` and ``entry`` if ``index`` is not
                an int in ``[0, num_classes)``.
        """
        num_classes = len(self._name_to_idx)
        if isinstance(index, bool) or not isinstance(index, int):
            raise AnnotationError(
                file, f'label {index!r} is neither a class name nor an '
                f'integer index', entry)
        if not 0 <= index < num_classes:
            raise AnnotationError(
                file, f'label index {index} is out of range for '
                f'{num_classes} classes', entry)
        return index

    # -------------------------------------------------------------- files
    def _require_file(self, path: str, what: str) -> str:
        """``path`` if it is a file, else FileNotFoundError naming it."""
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{type(self).__name__}: {what} not found: {path}')
        return path

    def _read_json(self, path: str, what: str) -> Any:
        """Parse a JSON file; AnnotationError naming it if it is not JSON."""
        self._require_file(path, what)
        try:
            with open(path, encoding='utf-8') as f:
                return json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise AnnotationError(path, f'not valid JSON: {err}') from err

    # ------------------------------------------------------- image paths
    def _real(self, path: str) -> str:
        """``os.path.realpath(path)``, with the folder part cached.

        Only the folder is resolved once per distinct folder (COCO keeps
        ~10^5 images in one); the file itself costs one ``lstat`` (is it a
        link?). ``..`` is resolved by the OS rules (after the links before
        it), never lexically first.
        """
        folder, name = osp.split(path)
        if name in ('', '.', '..'):
            return osp.realpath(path)
        real_folder = self._real_dirs.get(folder)
        if real_folder is None:
            real_folder = osp.realpath(folder or os.curdir)
            self._real_dirs[folder] = real_folder
        real = osp.join(real_folder, name)
        return osp.realpath(real) if osp.islink(real) else real

    @staticmethod
    def _is_inside(path: str, root: str, sep: str = os.sep) -> bool:
        return path == root or path.startswith(root.rstrip(sep) + sep)

    def _confined_path(self,
                       name: str,
                       file: str,
                       entry: str,
                       folder: Optional[str] = None,
                       what: str = 'image') -> Tuple[str, str]:
        """The path of ``name`` (relative to ``folder`` unless absolute).

        Args:
            name: the path as the annotation file gives it.
            file, entry: where it was read, for the error message.
            folder: the folder it is relative to and confined to. Defaults
                to the image folder (``img_prefix``; ``data_root`` / the
                current directory when that is empty).
            what: what the file is, for the error message.

        Returns:
            ``(path, key)``: ``path`` is ``folder`` joined with ``name`` (the
            ``img_path`` of the sample, as given); ``key`` is the resolved
            path, the same for every spelling of one file (for
            :meth:`_drop_duplicates`).

        Raises:
            AnnotationError: the resolved path is outside the resolved
                ``folder`` and not ``allow_outside_root``.
        """
        if folder is None:
            folder = self.img_prefix or self.data_root or ''
        path = osp.join(folder, name)
        if '://' in path:  # a URI of an mmengine file backend: no links
            scheme, _, rest = path.partition('://')
            key = f'{scheme}://{posixpath.normpath(rest)}'
            root_scheme, _, root_rest = folder.partition('://')
            root = f'{root_scheme}://{posixpath.normpath(root_rest)}'
            inside = '://' in folder and self._is_inside(key, root, '/')
        else:
            key = self._real(path)
            root = self._real_roots.get(folder)
            if root is None:
                root = osp.realpath(folder or os.curdir)
                self._real_roots[folder] = root
            inside = self._is_inside(key, root)
        if not inside and not self.allow_outside_root:
            raise AnnotationError(
                file, f'{what} path {name!r} resolves to {key}, outside the '
                f'folder {root} that {what} paths are confined to '
                '(data_root / data_prefix). If the files really live '
                'elsewhere, pass allow_outside_root=True', entry)
        return path, key

    def _confined_paths(self, names: Sequence[str], file: str,
                        entries: Sequence[str]) -> List[Tuple[str, str]]:
        """:meth:`_confined_path` of many names in the image folder.

        The same results, for annotation files of 10^5 images: a plain file
        name (no ``/``, not ``.`` / ``..``) in a local folder costs one
        string join and one ``lstat`` (is it a link?); its folder is the
        image folder, resolved once. Other names go through
        :meth:`_confined_path`.

        Args:
            names: the paths as the annotation file gives them.
            file: the annotation file, for the error message.
            entries: where each name was read, for the error message.

        Returns:
            ``(path, key)`` per name, as :meth:`_confined_path`.
        """
        folder = self.img_prefix or self.data_root or ''
        if '://' in folder:
            return [
                self._confined_path(name, file, entry)
                for name, entry in zip(names, entries)
            ]
        prefix = osp.join(folder, '')  # osp.join(folder, name) = prefix+name
        real_root = self._real_roots.get(folder)
        if real_root is None:
            real_root = osp.realpath(folder or os.curdir)
            self._real_roots[folder] = real_root
        real_prefix = osp.join(real_root, '')
        sep, islink = os.sep, osp.islink
        out = []
        for name, entry in zip(names, entries):
            if sep in name or (os.altsep and os.altsep in name) or \
                    name in ('', '.', '..') or '://' in name:
                out.append(self._confined_path(name, file, entry))
                continue
            real = real_prefix + name
            if islink(real):  # the target decides, as in _confined_path
                out.append(self._confined_path(name, file, entry))
                continue
            out.append((prefix + name, real))
        return out

    def _drop_duplicates(
            self,
            records: Sequence[Tuple[Hashable, Any, str]],
            file: str,
            describe: Optional[Callable[[Any], str]] = None) -> List[int]:
        """Indices of ``records`` to keep, dropping identical duplicates.

        Args:
            records: ``(key, value, entry)`` per image: ``key`` the resolved
                path (from :meth:`_confined_path`), ``value`` everything
                the file says about the image (comparable with ``==``),
                ``entry`` where it is in ``file``.
            file: the annotation file, for messages.
            describe: ``value`` -> text for the error message. Defaults to
                :meth:`_describe_labels` of a ``(gt_label, gt_ignore)`` pair.

        Raises:
            AnnotationError: naming both entries, if one key comes with two
                different values.
        """
        if len({record[0] for record in records}) == len(records):
            return list(range(len(records)))  # no image listed twice
        describe = describe or self._describe_labels
        first: Dict[Hashable, int] = {}
        keep, dropped = [], []
        for i, (key, value, entry) in enumerate(records):
            j = first.setdefault(key, i)
            if j == i:
                keep.append(i)
                continue
            other_value, other_entry = records[j][1], records[j][2]
            if value != other_value:
                raise AnnotationError(
                    file, f'image {key} is listed twice with different '
                    f'labels: {describe(other_value)} at {other_entry}, '
                    f'{describe(value)} at {entry}',
                    f'{other_entry} and {entry}')
            dropped.append(f'{key} ({entry} repeats {other_entry})')
        if dropped:
            self._record_dropped('duplicate', dropped)
        return keep

    def _describe_labels(self, value) -> str:
        gt_label, gt_ignore = value
        names = self.CLASSES or ()

        def name(i):
            return names[i] if 0 <= i < len(names) else str(i)

        text = f'labels {[name(i) for i in gt_label]}'
        if gt_ignore:
            text += f' ignore {[name(i) for i in gt_ignore]}'
        return text

    # ------------------------------------------------------------ samples
    @staticmethod
    def _make_data_info(img_path: str, gt_label: Sequence[int],
                        gt_ignore: Sequence[int], **extra) -> dict:
        """One sample in the format every mmcsra dataset produces."""
        return dict(
            img_path=img_path,
            gt_label=[int(i) for i in gt_label],
            gt_ignore=[int(i) for i in gt_ignore],
            **extra)

    def _record_dropped(self,
                        reason: str,
                        dropped_paths: Sequence[str],
                        level: int = logging.WARNING) -> None:
        """Keep and log the number of samples dropped for ``reason``."""
        count = len(dropped_paths)
        self.num_dropped[reason] = self.num_dropped.get(reason, 0) + count
        if count:
            examples = ', '.join(dropped_paths[:5])
            more = ', ...' if count > 5 else ''
            print_log(
                f'{type(self).__name__} ({self.ann_file}): dropped {count} '
                f'sample(s), reason: {reason}; e.g. {examples}{more}',
                logger='current',
                level=level)

    def get_cat_ids(self, idx: int) -> List[int]:
        """The positive class indices of sample ``idx``."""
        return list(self.get_data_info(idx)['gt_label'])

    def filter_data(self) -> List[dict]:
        """Check that every image exists (raise, or drop when configured)."""
        exists: Dict[str, bool] = {}  # several samples may share an image
        kept, missing = [], []
        for info in self.data_list:
            path = info['img_path']
            if path not in exists:
                # local paths directly (fast for 10^5 images), URIs through
                # mmengine's file backends
                exists[path] = fileio.exists(path) if '://' in path \
                    else osp.isfile(path)
            if exists[path]:
                kept.append(info)
                continue
            if self.missing_images == 'raise':
                raise FileNotFoundError(
                    f'{type(self).__name__}: image {path!r} listed in '
                    f'{self.ann_file} does not exist. Set '
                    f"missing_images='drop' to drop such samples (the count "
                    f'is logged).')
            missing.append(path)
        self._record_dropped('missing_image', missing)
        return kept

    def __getitem__(self, idx: int) -> dict:
        if not self.test_mode:
            # training: mmengine re-draws another sample when the pipeline
            # returns None (e.g. a skipped unreadable image)
            return super().__getitem__(idx)
        if not self._fully_initialized:
            self.full_init()
        data = self.prepare_data(idx)
        if data is None:
            # dropping a test sample would change the evaluated set
            raise ImageLoadError(
                self.get_data_info(idx)['img_path'],
                'the test-time pipeline returned no data for this sample '
                '(a transform skipped it); test samples can not be skipped')
        return data

    def extra_repr(self) -> List[str]:
        body = super().extra_repr()
        if self.num_dropped:
            body.append(f'Dropped samples: \t{self.num_dropped}')
        return body
