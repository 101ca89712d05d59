"""Per-class decision thresholds on disk (JSON).

Written by ``tools/calibrate_thresholds.py`` and read by
:class:`~mmcsra.evaluation.metrics.MultiLabelPRF` (``thr='<file>.json'``)::

    {
      "format": "mmcsra-thresholds",
      "classes": ["aeroplane", ...] or null,
      "thresholds": [0.41, ...],          # one per class, score >= thr
      ...                                  # free-form extra entries
    }

Thresholds are stored as JSON numbers (float64 decimal repr, which reads
back to the identical value).
"""
import json
import math
import os.path as osp
from typing import List, Optional, Sequence, Tuple

__all__ = ['THRESHOLD_FORMAT', 'save_thresholds', 'load_thresholds']

THRESHOLD_FORMAT = 'mmcsra-thresholds'


def save_thresholds(path: str,
                    thresholds: Sequence[float],
                    classes: Optional[Sequence[str]] = None,
                    **extra) -> None:
    """Write ``thresholds`` (and class names, extra JSON entries) to
    ``path``."""
    thresholds = [float(t) for t in thresholds]
    if classes is not None and len(classes) != len(thresholds):
        raise ValueError(f'{len(classes)} class names for '
                         f'{len(thresholds)} thresholds')
    content = dict(
        format=THRESHOLD_FORMAT,
        classes=None if classes is None else [str(c) for c in classes],
        thresholds=thresholds,
        **extra)
    with open(path, 'w') as f:
        json.dump(content, f, indent=2, allow_nan=False)


def load_thresholds(path: str) -> Tuple[List[float], Optional[List[str]]]:
    """Read a threshold file.

    Returns:
        tuple: the thresholds (list of float) and the class names (or None
        if the file has none).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is not a threshold file, a threshold is not
            a finite number or the class names do not match in number.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'threshold file {path!r} does not exist')
    if not path.endswith('.json'):
        raise ValueError(f'threshold file {path!r} must be a .json written '
                         'by tools/calibrate_thresholds.py')
    with open(path) as f:
        try:
            content = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f'{path} is not valid JSON: {err}') from err
    if not isinstance(content, dict) or \
            content.get('format') != THRESHOLD_FORMAT:
        raise ValueError(f'{path} is not a threshold file (needs '
                         f'"format": "{THRESHOLD_FORMAT}")')
    thresholds = content.get('thresholds')
    if not isinstance(thresholds, list) or not thresholds:
        raise ValueError(f'{path}: "thresholds" must be a non-empty list')
    for i, value in enumerate(thresholds):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise ValueError(f'{path}: thresholds[{i}] = {value!r} is not '
                             f'a finite number')
    classes = content.get('classes')
    if classes is not None:
        if not isinstance(classes, list) or len(classes) != len(thresholds):
            raise ValueError(f'{path}: "classes" must list one name per '
                             f'threshold ({len(thresholds)})')
        classes = [str(c) for c in classes]
    return [float(t) for t in thresholds], classes
