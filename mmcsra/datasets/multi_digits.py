from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

DIGIT_CLASSES = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven',
                 'eight', 'nine')


@DATASETS.register_module()
class MultiDigits(BaseDataset):
    """Offline multi-label demo: canvases of real handwritten digits.

    Every canvas holds 1 to ``max_digits`` digits from scikit-learn's
    ``load_digits`` (1,797 real 8×8 scans, UCI "Optical Recognition of
    Handwritten Digits"), each resized to a random side in
    ``digit_size`` pixels and pasted at a random position. The label set of a
    canvas is the set of digit classes on it (10 classes).

    The 1,797 digit instances are split once, by ``split_seed``, into a train
    pool and a test pool: a test canvas never shows a digit scan seen in
    training. Canvases are generated deterministically from ``seed`` (default:
    a different stream per split), in memory, in about a second.

    Args:
        split (str): ``'train'`` or ``'test'``.
        num_samples (int, optional): canvases to generate. Defaults to 4,000
            for train and 1,000 for test.
        canvas_size (int): side of the square canvas in pixels. Default 64.
        digit_size (tuple[int, int]): inclusive range of a digit's side in
            pixels. Default (16, 32).
        max_digits (int): at most this many digits per canvas (at least 1).
            Default 3.
        test_fraction (float): share of the digit scans held out for the
            test pool. Default 0.3.
        split_seed (int): seed of the train/test split of the scans.
        seed (int, optional): seed of the canvas generator. Defaults to
            ``0`` for train and ``1`` for test.
        max_overlap (float): largest allowed intersection-over-union between
            two digits' boxes on one canvas (placement retries up to 50
            times, then accepts the last draw). Default 0.1.
        **kwargs: passed to :class:`mmpretrain.datasets.BaseDataset`
            (``pipeline``, ``test_mode``, ...).
    """

    METAINFO = {'classes': DIGIT_CLASSES}

    def __init__(self,
                 split: str = 'train',
                 num_samples: Optional[int] = None,
                 canvas_size: int = 64,
                 digit_size: Tuple[int, int] = (16, 32),
                 max_digits: int = 3,
                 test_fraction: float = 0.3,
                 split_seed: int = 0,
                 seed: Optional[int] = None,
                 max_overlap: float = 0.1,
                 **kwargs):
        if split not in ('train', 'test'):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        lo, hi = digit_size
        if not 1 <= lo <= hi <= canvas_size:
            raise ValueError(f'digit_size {digit_size} must satisfy '
                             f'1 <= min <= max <= canvas_size={canvas_size}')
        if max_digits < 1:
            raise ValueError(f'max_digits must be >= 1, got {max_digits}')
        if not 0 < test_fraction < 1:
            raise ValueError('test_fraction must be in (0, 1), got '
                             f'{test_fraction}')
        self.split = split
        self.num_samples = num_samples if num_samples is not None else (
            4000 if split == 'train' else 1000)
        self.canvas_size = canvas_size
        self.digit_size = (lo, hi)
        self.max_digits = max_digits
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        self.seed = seed if seed is not None else (
            0 if split == 'train' else 1)
        self.max_overlap = max_overlap
        kwargs.setdefault('test_mode', split == 'test')
        super().__init__(ann_file='', **kwargs)

    def _digit_pool(self) -> Tuple[np.ndarray, np.ndarray]:
        """The scans (N, 8, 8) in [0, 1] and labels of this split's pool."""
        from sklearn.datasets import load_digits
        digits = load_digits()
        order = np.random.default_rng(self.split_seed).permutation(
            len(digits.target))
        n_test = int(round(len(order) * self.test_fraction))
        pool = order[:n_test] if self.split == 'test' else order[n_test:]
        images = digits.images[pool].astype(np.float32) / 16.0
        return images, digits.target[pool]

    def _place(self, rng: np.random.Generator,
               boxes: List[Tuple[int, int, int]]) -> Tuple[int, int, int]:
        """Draw (x, y, side) for a new digit with little overlap."""
        for _ in range(50):
            side = int(
                rng.integers(self.digit_size[0], self.digit_size[1] + 1))
            x = int(rng.integers(0, self.canvas_size - side + 1))
            y = int(rng.integers(0, self.canvas_size - side + 1))
            if all(
                    _iou((x, y, side), box) <= self.max_overlap
                    for box in boxes):
                break
        return x, y, side

    def load_data_list(self) -> List[dict]:
        images, labels = self._digit_pool()
        rng = np.random.default_rng(self.seed)
        data_list = []
        for _ in range(self.num_samples):
            canvas = np.zeros((self.canvas_size, self.canvas_size),
                              dtype=np.float32)
            count = int(rng.integers(1, self.max_digits + 1))
            boxes: List[Tuple[int, int, int]] = []
            present = set()
            for index in rng.integers(0, len(images), size=count):
                x, y, side = self._place(rng, boxes)
                boxes.append((x, y, side))
                digit = cv2.resize(
                    images[index], (side, side),
                    interpolation=cv2.INTER_LINEAR)
                region = canvas[y:y + side, x:x + side]
                np.maximum(region, digit, out=region)
                present.add(int(labels[index]))
            img = (np.clip(canvas, 0, 1) * 255).astype(np.uint8)
            data_list.append(
                dict(
                    img=np.repeat(img[:, :, None], 3, axis=2),
                    gt_label=sorted(present),
                    gt_ignore=[],
                    boxes=np.array(boxes, dtype=np.int64)))
        return data_list

    def get_cat_ids(self, idx: int) -> List[int]:
        return list(self.get_data_info(idx)['gt_label'])

    def extra_repr(self) -> List[str]:
        return [
            f'Split: \t{self.split}',
            f'Canvas: \t{self.canvas_size} px, digits '
            f'{self.digit_size[0]}-{self.digit_size[1]} px, '
            f'1-{self.max_digits} per canvas',
            f'Seed: \t{self.seed} (scan split seed {self.split_seed})',
        ]


def _iou(a: Sequence[int], b: Sequence[int]) -> float:
    """IoU of two square boxes given as (x, y, side)."""
    ax, ay, aside = a
    bx, by, bside = b
    iw = max(0, min(ax + aside, bx + bside) - max(ax, bx))
    ih = max(0, min(ay + aside, by + bside) - max(ay, by))
    inter = iw * ih
    return inter / float(aside * aside + bside * bside - inter)
