import logging
import os
import os.path as osp
import tarfile
import zipfile
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmpretrain.datasets.categories import VOC2007_CATEGORIES
from mmpretrain.registry import METRICS

COMPETITIONS = ('comp1', 'comp2')
ARCHIVES = ('tar', 'zip', None)


def image_id_of(sample) -> str:
    """The VOC image id of a data sample: its ``img_id`` if it has one,
    else the file name of ``img_path`` without extension
    (``JPEGImages/2008_000001.jpg`` -> ``2008_000001``)."""
    img_id = sample.get('img_id', None)
    if img_id is not None:
        return str(img_id)
    img_path = sample.get('img_path', None)
    if not img_path:
        raise KeyError('VOCSubmission needs img_id or img_path in every data '
                       'sample to name the image in the result files')
    return osp.splitext(osp.basename(str(img_path)))[0]


def format_score(value: np.floating) -> str:
    """The shortest positional decimal that reads back as exactly ``value``
    in its own precision: distinct scores stay distinct and keep their
    order (no rounding to a fixed number of digits, no exponent)."""
    return np.format_float_positional(value, unique=True, trim='0')


@METRICS.register_module()
class VOCSubmission(BaseMetric):
    """Write the PASCAL VOC classification results for the evaluation server.

    The VOC2012 test labels are not public: results are scored by the
    server (http://host.robots.ox.ac.uk:8080/), which reads, for each of
    the 20 classes, a file ``<comp>_cls_test_<class>.txt`` with one line
    ``<image id> <confidence>`` per test image, inside
    ``results/VOC2012/Main/`` of an archive (the layout of the VOC devkit's
    ``VOCwritexml``/``VOCevalcls``: ``%s_cls_%s_%s.txt`` with competition,
    image set and class; ``comp1``: trained on VOC data only, ``comp2``:
    any other training data, e.g. ImageNet or MS-COCO pre-training, the
    case of the CSRA paper's Table 3). A higher confidence ranks higher;
    the server computes AP per class from the ranking.

    Writes ``{outfile_prefix}/results/<year>/Main/<comp>_cls_<image
    set>_<class>.txt`` for every class of ``dataset_meta['classes']``
    (which must be the 20 VOC classes, in the order of the model's
    scores), lines in dataset order, scores printed with
    :func:`format_score` (round-trip exact, so ties and ranks are those of
    the model), then ``{outfile_prefix}/results.tar.gz`` (or ``.zip``) with
    the ``results/`` folder, ready to upload. Use it with::

        python tools/test.py CFG CKPT --cfg-options \\
            test_evaluator.type=VOCSubmission \\
            test_evaluator.outfile_prefix=work_dirs/voc12_test

    (or set ``test_evaluator = dict(type='VOCSubmission', ...)``). It
    computes no number: ``compute_metrics`` returns an empty dict and logs
    where the files are.

    Args:
        outfile_prefix (str): output folder (created).
        competition (str): ``'comp1'`` or ``'comp2'`` (default).
        year (str): devkit folder name. Defaults to ``'VOC2012'``.
        image_set (str): image set in the file names. Defaults to
            ``'test'``.
        archive (str | None): ``'tar'`` (``results.tar.gz``, default),
            ``'zip'`` or None (files only).
        collect_device (str): as in mmengine's :class:`BaseMetric`.
        prefix (str, optional): key prefix. Defaults to ``'voc'``.
        collect_dir (str, optional): as in mmengine's :class:`BaseMetric`.
    """
    default_prefix: Optional[str] = 'voc'

    def __init__(self,
                 outfile_prefix: str,
                 competition: str = 'comp2',
                 year: str = 'VOC2012',
                 image_set: str = 'test',
                 archive: Optional[str] = 'tar',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)
        if not outfile_prefix or not isinstance(outfile_prefix, str):
            raise ValueError('VOCSubmission needs outfile_prefix, the folder '
                             'to write the result files to')
        if competition not in COMPETITIONS:
            raise ValueError(f'competition must be one of {COMPETITIONS}, '
                             f'got {competition!r}')
        if archive not in ARCHIVES:
            raise ValueError(f'archive must be one of {ARCHIVES}, got '
                             f'{archive!r}')
        for name, value in (('year', year), ('image_set', image_set)):
            if not value or osp.basename(value) != value:
                raise ValueError(f'{name} must be a plain name, got '
                                 f'{value!r}')
        self.outfile_prefix = outfile_prefix
        self.competition = competition
        self.year = year
        self.image_set = image_set
        self.archive = archive

    @property
    def dataset_meta(self) -> Optional[dict]:
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: Optional[dict]) -> None:
        if dataset_meta is not None:
            self._check_classes(dataset_meta.get('classes', None))
        self._dataset_meta = dataset_meta

    @staticmethod
    def _check_classes(classes) -> List[str]:
        if classes is None:
            raise ValueError("VOCSubmission needs dataset_meta['classes'] "
                             '(the 20 VOC class names, in the order of the '
                             "model's scores) to name the result files")
        classes = [str(name) for name in classes]
        if sorted(classes) != sorted(VOC2007_CATEGORIES):
            raise ValueError('VOCSubmission writes the 20 PASCAL VOC '
                             f'classes {list(VOC2007_CATEGORIES)}; the '
                             f'dataset has {classes}')
        return classes

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep ``(image id, scores)`` per sample (mmengine's collection
        then drops the samples the distributed sampler repeated)."""
        for sample in data_samples:
            if 'pred_score' not in sample:
                raise KeyError('data sample has no pred_score; VOCSubmission '
                               'writes the sigmoid scores')
            scores = torch.as_tensor(sample.get('pred_score')).detach()
            self.results.append(
                (image_id_of(sample), scores.cpu().clone().numpy()))

    def compute_metrics(self, results: list) -> dict:
        classes = self._check_classes((self.dataset_meta
                                       or {}).get('classes', None))
        if not results:
            raise ValueError('VOCSubmission got no results (0 samples)')
        ids = [img_id for img_id, _ in results]
        shapes = {score.shape for _, score in results}
        if shapes != {(len(classes), )}:
            raise ValueError(f'pred_score shapes {sorted(shapes)}, but the '
                             f'dataset has {len(classes)} classes')
        scores = np.stack([score for _, score in results])  # [N, C]
        if not np.isfinite(scores).all():
            raise ValueError('pred_score holds NaN or inf; the server would '
                             'rank them arbitrarily')
        if len(set(ids)) != len(ids):
            seen, dup = set(), None
            for img_id in ids:
                if img_id in seen:
                    dup = img_id
                    break
                seen.add(img_id)
            raise ValueError(f'image id {dup!r} occurs twice; every test '
                             'image must have one line per class')
        bad = [i for i in ids if not i or any(c.isspace() for c in i)]
        if bad:
            raise ValueError(f'image ids must be non-empty without spaces, '
                             f'got {bad[:3]}')
        main_dir = osp.join(self.outfile_prefix, 'results', self.year, 'Main')
        os.makedirs(main_dir, exist_ok=True)
        written = []
        for c, name in enumerate(classes):
            path = osp.join(
                main_dir,
                f'{self.competition}_cls_{self.image_set}_{name}.txt')
            with open(path, 'w') as f:
                f.writelines(f'{img_id} {format_score(value)}\n'
                             for img_id, value in zip(ids, scores[:, c]))
            written.append(path)
        archive = self._write_archive(written)
        print_log(
            f'VOCSubmission: wrote {len(written)} files with {len(ids)} '
            f'images each to {main_dir}' +
            (f'; upload {archive}' if archive else ''),
            logger='current',
            level=logging.INFO)
        return {}

    def _write_archive(self, paths: Sequence[str]) -> Optional[str]:
        if self.archive is None:
            return None
        names = [osp.relpath(p, self.outfile_prefix) for p in paths]
        if self.archive == 'tar':
            out = osp.join(self.outfile_prefix, 'results.tar.gz')
            with tarfile.open(out, 'w:gz') as tar:
                for path, name in zip(paths, names):
                    tar.add(path, arcname=name)
        else:
            out = osp.join(self.outfile_prefix, 'results.zip')
            with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as zf:
                for path, name in zip(paths, names):
                    zf.write(path, arcname=name)
        return out
