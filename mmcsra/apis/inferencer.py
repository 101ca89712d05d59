"""Multi-label inference on images: every class that passes the decision.

MMPretrain's ``ImageClassificationInferencer`` reports one arg-max label per
image; :class:`MultiLabelInferencer` reports the whole label set, decided
from the sigmoid scores the model's head predicts (``pred_score``) by one
rule:

* ``thr``: every class with ``score >= thr``;
* ``topk``: the ``k`` best classes;
* ``thr_file``: every class with ``score >= thr_c``, per-class thresholds
  written by ``tools/calibrate_thresholds.py`` (read with
  :func:`mmcsra.evaluation.threshold_file.load_thresholds`);
* none of them: the head's own rule (``thr``, else ``topk``, as
  MMPretrain's ``MultiLabelClsHead``, whose default is ``thr=0.5``).

Images are prepared with the config's test pipeline:

* its loading transform (``LoadImageFromFile`` / ``LoadImageFromFileChecked``)
  reads image files; arrays (BGR, as ``cv2.imread`` returns them) skip it;
* transforms that need a dataset annotation are removed
  (:attr:`MultiLabelInferencer.ANNOTATION_TRANSFORMS`, e.g. ``CropByBBox``
  of WIDER Attribute: give the person crop itself);
* a pipeline without a loading step belongs to an in-memory dataset (the
  ``MultiDigits`` demo): ``LoadImageFromFileChecked`` and
  ``Resize(scale=(S, S))`` are prepended, with ``S`` from the argument
  ``image_size``, else the dataset's ``canvas_size`` (its config value, or
  the dataset class's default, 96 for ``MultiDigits``).
"""
import copy
import json
import math
import os
import os.path as osp
import sys
from numbers import Integral, Real
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.model import BaseModel
from mmengine.utils import ProgressBar

from mmcsra.evaluation.threshold_file import load_thresholds
from .init_model import (ANNOTATION_TRANSFORMS, LOADING_TRANSFORMS,
                         build_test_pipeline, load_checked_checkpoint)
from .model_zoo import get_model

__all__ = ['MultiLabelInferencer', 'IMG_EXTENSIONS', 'PREDICTIONS_FORMAT']

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                  '.tiff', '.webp')
#: ``format`` entry of the JSON written by :meth:`MultiLabelInferencer.dump`
PREDICTIONS_FORMAT = 'mmcsra-multi-label-predictions'

InputType = Union[str, os.PathLike, np.ndarray]


class MultiLabelInferencer:
    """Predict the label set of images with a multi-label model.

    Args:
        model (BaseModel | str | Config): a model built by
            :func:`mmcsra.apis.get_model` (it carries its config), a model
            name of the index, a config file or a config.
        pretrained (str, optional): checkpoint to load (path or URL).
        device (str | torch.device, optional): where to run. Defaults to
            the model's device (CPU for a new model).
        thr (float, optional): one threshold in [0, 1] for every class.
        topk (int, optional): predict the k best classes (1 <= k <= C).
        thr_file (str, optional): per-class thresholds (``.json`` of
            ``tools/calibrate_thresholds.py``); its class names, if any,
            must be the model's.
        image_size (int, optional): side of the square resize for configs
            whose test pipeline has no loading step (in-memory datasets).
        batch_size (int): images per forward pass. Defaults to 1.

    At most one of ``thr``, ``topk`` and ``thr_file`` may be given.

    Calling the inferencer returns one dict per image::

        {'img_path': 'a.jpg',        # None for an array input
         'labels': [14, 6],          # the predicted classes, best first
         'classes': ['person', 'car'],  # their names (None if unknown)
         'scores': [0.98, 0.71],     # their scores
         'pred_score': [...]}        # the scores of all C classes
    """

    LOADING_TRANSFORMS = LOADING_TRANSFORMS
    #: transforms that read a per-sample annotation; dropped at inference
    ANNOTATION_TRANSFORMS = ANNOTATION_TRANSFORMS

    def __init__(self,
                 model: Union[BaseModel, str, Config],
                 pretrained: Optional[str] = None,
                 device: Union[None, str, torch.device] = None,
                 thr: Optional[float] = None,
                 topk: Optional[int] = None,
                 thr_file: Optional[str] = None,
                 image_size: Optional[int] = None,
                 batch_size: int = 1):
        if isinstance(model, BaseModel):
            if getattr(model, '_config', None) is None:
                raise ValueError(
                    'the model has no config (_config): build it with '
                    'mmcsra.apis.get_model, or pass the config instead')
            if pretrained is not None:
                known = getattr(model, '_dataset_meta', None) or {}
                found = load_checked_checkpoint(
                    model,
                    pretrained,
                    expected_classes=known.get('classes'),
                    what_expected='the model\'s dataset_meta')
                if found:
                    model._dataset_meta = found
            if device is not None:
                model.to(device)
        else:
            model = get_model(model, pretrained=pretrained, device=device)
        model.eval()
        if isinstance(batch_size, bool) or not isinstance(
                batch_size, Integral) or batch_size < 1:
            raise ValueError(f'batch_size must be an int >= 1, got '
                             f'{batch_size!r}')
        self.model = model
        self.config: Config = model._config
        self.batch_size = int(batch_size)
        meta = getattr(model, '_dataset_meta', None) or {}
        self.classes: Optional[List[str]] = ([str(c) for c in meta['classes']]
                                             if meta.get('classes') else None)
        self.num_classes = self._num_classes()
        if self.classes is not None and len(self.classes) != self.num_classes:
            raise ValueError(
                f'the model predicts {self.num_classes} classes but its '
                f'dataset_meta names {len(self.classes)}')
        self.rule = self._resolve_rule(thr, topk, thr_file)
        self._load, self._transforms = self._init_pipeline(
            self.config, image_size)

    # ---------------------------------------------------------------- setup
    def _num_classes(self) -> int:
        head = getattr(self.model, 'head', None)
        num = getattr(head, 'num_classes', None)
        if not isinstance(num, Integral):
            raise ValueError('the model head has no num_classes; '
                             'MultiLabelInferencer needs a classifier head')
        return int(num)

    def _resolve_rule(self, thr, topk, thr_file) -> Dict[str, Any]:
        given = [
            n
            for n, v in (('thr', thr), ('topk', topk), ('thr_file', thr_file))
            if v is not None
        ]
        if len(given) > 1:
            raise ValueError(f'give at most one of thr, topk and thr_file, '
                             f'got {given}')
        if thr_file is not None:
            thresholds, names = load_thresholds(str(thr_file))
            if len(thresholds) != self.num_classes:
                raise ValueError(
                    f'{thr_file} has {len(thresholds)} thresholds but the '
                    f'model predicts {self.num_classes} classes')
            if names is not None and self.classes is not None \
                    and names != self.classes:
                first = next(i
                             for i, (a,
                                     b) in enumerate(zip(names, self.classes))
                             if a != b)
                raise ValueError(
                    f'{thr_file} is for other classes: class {first} is '
                    f'{names[first]!r} there but {self.classes[first]!r} '
                    'in the model')
            return dict(
                type='thr_file', path=str(thr_file), thresholds=thresholds)
        if thr is None and topk is None:  # the head's own rule
            head = self.model.head
            thr = getattr(head, 'thr', None)
            topk = getattr(head, 'topk', None) if thr is None else None
            if thr is None and topk is None:
                raise ValueError('the model head defines no thr / topk: '
                                 'pass thr, topk or thr_file')
        if thr is not None:
            if isinstance(thr, bool) or not isinstance(thr, Real) or \
                    not 0 <= thr <= 1:
                raise ValueError(f'thr must be a number in [0, 1] (scores '
                                 f'are probabilities), got {thr!r}')
            return dict(type='thr', thr=float(thr))
        if isinstance(topk, bool) or not isinstance(topk, Integral) or \
                not 1 <= topk <= self.num_classes:
            raise ValueError(f'topk must be an int in [1, '
                             f'{self.num_classes}], got {topk!r}')
        return dict(type='topk', topk=int(topk))

    def _init_pipeline(self, cfg: Config, image_size: Optional[int]):
        """(loading pipeline, remaining test pipeline): see
        :func:`mmcsra.apis.init_model.build_test_pipeline`."""
        return build_test_pipeline(cfg, image_size)

    # ------------------------------------------------------------ inference
    @staticmethod
    def list_inputs(
            inputs: Union[InputType, Sequence[InputType]]) -> List[InputType]:
        """A folder -> its image files (sorted, by extension); a path or
        array -> ``[it]``; a list stays a list."""
        if isinstance(inputs, (str, os.PathLike)):
            path = str(inputs)
            if osp.isdir(path):
                files = sorted(
                    osp.join(path, f) for f in os.listdir(path)
                    if f.lower().endswith(IMG_EXTENSIONS)
                    and osp.isfile(osp.join(path, f)))
                if not files:
                    raise FileNotFoundError(
                        f'no image ({", ".join(IMG_EXTENSIONS)}) in folder '
                        f'{path}')
                return files
            if not osp.isfile(path):
                raise FileNotFoundError(f'image {path} does not exist')
            return [path]
        if isinstance(inputs, np.ndarray):
            return [inputs]
        return list(inputs)

    def _prepare(self, item: InputType) -> dict:
        if isinstance(item, np.ndarray):
            if item.ndim not in (2, 3):
                raise ValueError('an array input must be an (H, W) or '
                                 f'(H, W, 3) image, got shape {item.shape}')
            results = dict(
                img=item, img_shape=item.shape[:2], ori_shape=item.shape[:2])
        elif isinstance(item, (str, os.PathLike)):
            results = self._load(dict(img_path=str(item)))
        else:
            raise TypeError('inputs must be image paths or arrays, got '
                            f'{type(item).__name__}')
        return self._transforms(results)

    def decide(self, scores: torch.Tensor) -> List[int]:
        """Class indices that pass the rule, best score first.

        Ties are broken by the lower class index.
        """
        scores = scores.detach().double().cpu().reshape(-1)
        order = torch.sort(scores, descending=True, stable=True).indices
        rule = self.rule
        if rule['type'] == 'topk':
            return order[:rule['topk']].tolist()
        if rule['type'] == 'thr':
            passed = scores >= rule['thr']
        else:
            passed = scores >= torch.tensor(
                rule['thresholds'], dtype=torch.float64)
        return [i for i in order.tolist() if passed[i]]

    def _result(self, item: InputType, scores: torch.Tensor) -> dict:
        labels = self.decide(scores)
        scores = scores.detach().float().cpu().reshape(-1)
        return {
            'img_path':
            None if isinstance(item, np.ndarray) else str(item),
            'labels':
            labels,
            'classes':
            None
            if self.classes is None else [self.classes[i] for i in labels],
            'scores': [float(scores[i]) for i in labels],
            'pred_score':
            scores.tolist(),
        }

    @torch.no_grad()
    def __call__(self,
                 inputs: Union[InputType, Sequence[InputType]],
                 progress: Optional[bool] = None) -> List[dict]:
        """Predict every input image.

        Args:
            inputs: an image path, a folder of images, an array (BGR) or a
                list of paths / arrays.
            progress (bool, optional): show a progress bar on stderr.
                Defaults to True when there is more than one image.
        """
        items = self.list_inputs(inputs)
        show = len(items) > 1 if progress is None else progress
        bar = ProgressBar(len(items), file=sys.stderr) if show else None
        results = []
        for start in range(0, len(items), self.batch_size):
            chunk = items[start:start + self.batch_size]
            batch = pseudo_collate([self._prepare(item) for item in chunk])
            samples = self.model.test_step(batch)
            for item, sample in zip(chunk, samples):
                results.append(self._result(item, sample.pred_score))
                if bar is not None:
                    bar.update()
        if bar is not None:
            sys.stderr.write('\n')
        return results

    # --------------------------------------------------------------- output
    def to_json(self, results: List[dict], **extra) -> dict:
        """The JSON document of ``results``::

            {"format": "mmcsra-multi-label-predictions",
             "rule": {"type": "thr", "thr": 0.5}
                     | {"type": "topk", "topk": 3}
                     | {"type": "thr_file", "path": ..., "thresholds": [...]},
             "classes": [all class names] or null,
             "results": [one dict per image, see the class docstring],
             ...extra entries (e.g. config, checkpoint)}
        """
        for result in results:
            for value in result['pred_score']:
                if not math.isfinite(value):
                    raise ValueError(f'{result["img_path"]}: non-finite '
                                     'score, not written')
        return dict(
            format=PREDICTIONS_FORMAT,
            rule=copy.deepcopy(self.rule),
            classes=self.classes,
            results=results,
            **extra)

    def dump(self, results: List[dict], path: str, **extra) -> None:
        """Write :meth:`to_json` to ``path``."""
        with open(path, 'w') as f:
            json.dump(
                self.to_json(results, **extra), f, indent=2, allow_nan=False)
