"""The offline MultiDigits demo dataset."""
import numpy as np
import pytest
from sklearn.datasets import load_digits

import mmcsra  # noqa: F401
from mmcsra.datasets import MultiDigits


def _pool_indices(dataset):
    digits = load_digits()
    images, _ = dataset._digit_pool()
    flat = digits.images.reshape(len(digits.images), -1) / 16.0
    return {
        int(np.argmin(np.abs(flat - img.reshape(1, -1)).sum(1)))
        for img in images
    }


def test_deterministic_for_a_seed():
    a = MultiDigits(split='train', num_samples=20, seed=3)
    b = MultiDigits(split='train', num_samples=20, seed=3)
    c = MultiDigits(split='train', num_samples=20, seed=4)
    for i in range(20):
        assert np.array_equal(
            a.get_data_info(i)['img'],
            b.get_data_info(i)['img'])
        assert a.get_data_info(i)['gt_label'] == b.get_data_info(i)['gt_label']
    assert any(not np.array_equal(
        a.get_data_info(i)['img'],
        c.get_data_info(i)['img']) for i in range(20))


def test_train_and_test_use_disjoint_digit_scans():
    train = MultiDigits(split='train', num_samples=1)
    test = MultiDigits(split='test', num_samples=1)
    train_idx, test_idx = _pool_indices(train), _pool_indices(test)
    assert not train_idx & test_idx
    assert len(train_idx) + len(test_idx) == 1797  # every real scan is used
    assert len(test_idx) == round(1797 * 0.3)


def test_single_digit_canvases_are_labelled_by_their_digit():
    """With one digit per canvas, the pixels lie in its box and the label is
    the class whose real scans match the pasted digit best."""
    ds = MultiDigits(
        split='test',
        num_samples=60,
        max_digits=1,
        canvas_size=48,
        digit_size=(16, 16),
        seed=7)
    images, labels = ds._digit_pool()
    import cv2
    correct = 0
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        assert len(info['gt_label']) == 1 and info['gt_ignore'] == []
        (x, y, side), = info['boxes']
        img = info['img'][:, :, 0].astype(np.float32) / 255
        outside = img.copy()
        outside[y:y + side, x:x + side] = 0
        assert outside.max() == 0  # nothing outside the digit's box
        crop = cv2.resize(
            img[y:y + side, x:x + side], (8, 8), interpolation=cv2.INTER_AREA)
        nearest = np.abs(images - crop[None]).sum((1, 2)).argmin()
        correct += int(labels[nearest] == info['gt_label'][0])
    assert correct >= 55  # the label is the digit drawn (up to resampling)


def test_label_sets_and_sizes():
    ds = MultiDigits(split='train', num_samples=300, seed=1)
    counts = [len(ds.get_data_info(i)['gt_label']) for i in range(len(ds))]
    boxes = [len(ds.get_data_info(i)['boxes']) for i in range(len(ds))]
    assert min(counts) == 1 and max(counts) == 3
    assert all(c <= b for c, b in zip(counts, boxes))  # repeats merge
    assert set(boxes) == {1, 2, 3}
    sides = np.concatenate(
        [ds.get_data_info(i)['boxes'][:, 2] for i in range(len(ds))])
    assert sides.min() >= 16 and sides.max() <= 32
    present = set().union(*[ds.get_cat_ids(i) for i in range(len(ds))])
    assert present == set(range(10))
    assert ds.metainfo['classes'][0] == 'zero'
    assert ds.get_data_info(0)['img'].shape == (64, 64, 3)


@pytest.mark.parametrize('kwargs, match', [
    (dict(split='val'), 'split'),
    (dict(digit_size=(30, 20)), 'digit_size'),
    (dict(canvas_size=16, digit_size=(12, 24)), 'digit_size'),
    (dict(max_digits=0), 'max_digits'),
    (dict(test_fraction=1.0), 'test_fraction'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiDigits(num_samples=1, **kwargs)
