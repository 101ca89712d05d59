"""MultiLabelMAP, MultiLabelPRF and threshold calibration.

References: sklearn (per-class ``average_precision_score``, precision and
recall), MMPretrain where it is right (no ties, macro/micro precision and
recall), an exact rational-arithmetic AP written here from the
definitions, brute-force threshold search, and hand-derived examples.
"""
import importlib.util
import json
import os.path as osp
import re
from fractions import Fraction

import mmengine
import numpy as np
import pytest
import torch
from mmpretrain.evaluation import AveragePrecision, MultiLabelMetric
from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample
from sklearn.metrics import average_precision_score, precision_score, \
    recall_score

import mmcsra  # noqa: F401  (registers the metrics)
from mmcsra.evaluation.functional import (average_precision,
                                          calibrate_f1_thresholds,
                                          multi_label_decisions, prf_counts,
                                          prf_from_counts)
from mmcsra.evaluation.metrics import MultiLabelMAP, MultiLabelPRF
from mmcsra.evaluation.threshold_file import load_thresholds, \
    save_thresholds

from utils import REPO


# ------------------------------------------------------------------ helpers
def random_problem(num_samples,
                   num_classes,
                   seed,
                   decimals=None,
                   ignore_rate=0.0,
                   pos_rate=0.3):
    rng = np.random.default_rng(seed)
    scores = rng.random((num_samples, num_classes)).astype(np.float32)
    if decimals is not None:
        scores = np.round(scores, decimals).astype(np.float32)
    target = rng.random((num_samples, num_classes)) < pos_rate
    valid = rng.random((num_samples, num_classes)) >= ignore_rate
    return scores, target, valid


def make_samples(scores, target, valid=None, as_dict=True, use_gt_score=False):
    """Data samples as the model + PackInputs would give them."""
    samples = []
    for i in range(len(scores)):
        sample = DataSample().set_pred_score(torch.as_tensor(scores[i]))
        if use_gt_score:
            sample.set_gt_score(torch.as_tensor(target[i]).float())
        else:
            sample.set_gt_label(np.flatnonzero(target[i]).tolist())
        if valid is not None:
            sample.set_field(np.flatnonzero(~valid[i]).tolist(), 'gt_ignore')
        samples.append(sample.to_dict() if as_dict else sample)
    return samples


def run_metric(metric, samples, classes=None, batch_size=7):
    if classes is not None:
        metric.dataset_meta = dict(classes=classes)
    for start in range(0, len(samples), batch_size):
        metric.process(None, samples[start:start + batch_size])
    return metric.evaluate(len(samples))


def exact_ap(scores, labels, mode):
    """AP from the definitions, in exact fractions (one class)."""
    npos = int(sum(labels))
    points = []  # (recall, precision) at each distinct threshold
    for thr in sorted(set(scores.tolist()), reverse=True):
        accepted = scores >= thr
        tp = int(labels[accepted].sum())
        points.append((Fraction(tp, npos), Fraction(tp, int(accepted.sum()))))
    if mode == 'voc07_11point':
        levels = [Fraction(k, 10) for k in range(11)]
        return sum(
            max([p for r, p in points if r >= t], default=Fraction(0))
            for t in levels) / 11
    ap, prev_recall = Fraction(0), Fraction(0)
    for k, (recall, precision) in enumerate(points):
        if mode == 'all_point_envelope':
            precision = max(p for _, p in points[k:])
        ap += (recall - prev_recall) * precision
        prev_recall = recall
    return ap


def sklearn_ap(scores, target, valid):
    out = []
    for c in range(scores.shape[1]):
        keep = valid[:, c]
        if not target[keep, c].any():
            out.append(np.nan)
        else:
            out.append(
                average_precision_score(target[keep, c], scores[keep, c]))
    return np.array(out)


# --------------------------------------------------------------------- mAP
# ties: none; 'few' (a tenth of the scores copy another score of their
# class: the sparse tie path); 2 or 1 decimals (mostly ties: the dense path)
@pytest.mark.parametrize('ties', ['none', 'few', 2, 1])
@pytest.mark.parametrize('ignore_rate', [0.0, 0.2])
def test_ap_equals_sklearn(ties, ignore_rate):
    decimals = ties if isinstance(ties, int) else None
    scores, target, valid = random_problem(
        300, 7, seed=3, decimals=decimals, ignore_rate=ignore_rate)
    if ties == 'few':
        rng = np.random.default_rng(0)
        rows = rng.integers(0, 300, size=(30, 7))
        scores[rows[:15], np.arange(7)] = scores[rows[15:], np.arange(7)]
    sorted_scores = np.sort(scores, axis=0)
    num_tied = (sorted_scores[1:] == sorted_scores[:-1]).sum()
    assert (num_tied == 0) == (ties == 'none')
    assert (2 * num_tied > scores.size) == isinstance(ties, int)
    target[:, 6] = False  # a class without positives
    ours = average_precision(
        torch.from_numpy(scores), torch.from_numpy(target),
        torch.from_numpy(valid))
    ref = sklearn_ap(scores, target, valid)
    assert np.isnan(ours[6].item()) and np.isnan(ref[6])
    np.testing.assert_allclose(ours[:6].numpy(), ref[:6], rtol=0, atol=1e-12)

    metric = MultiLabelMAP(prefix='m')
    res = run_metric(
        metric,
        make_samples(scores, target, valid),
        classes=[f'c{i}' for i in range(7)])
    assert res['m/mAP'] == pytest.approx(100 * np.nanmean(ref), abs=1e-10)
    for c in range(6):
        assert res[f'm/AP/c{c}'] == pytest.approx(100 * ref[c], abs=1e-10)
    assert np.isnan(res['m/AP/c6'])


def test_ap_equals_mmpretrain_without_ties():
    scores, target, _ = random_problem(200, 5, seed=1)
    assert len(np.unique(scores)) == scores.size  # no ties
    mmp = AveragePrecision.calculate(
        torch.from_numpy(scores),
        torch.from_numpy(target).long(),
        average=None)
    ours = average_precision(
        torch.from_numpy(scores), torch.from_numpy(target))
    np.testing.assert_allclose(100 * ours.numpy(), mmp.numpy(), atol=1e-4)


def test_ap_ties_are_one_threshold():
    # ranks: neg(0.9) | pos, neg, neg tied at 0.8 | pos(0.1)
    # thresholds 0.9: P=0 R=0; 0.8: P=1/4 R=1/2; 0.1: P=2/5 R=1
    # AP = 1/2 * 1/4 + 1/2 * 2/5 = 13/40
    scores = torch.tensor([[0.9], [0.8], [0.8], [0.8], [0.1]])
    target = torch.tensor([[0], [1], [0], [0], [1]])
    assert average_precision(scores, target).item() == pytest.approx(
        13 / 40, abs=1e-15)
    assert average_precision_score(target.numpy().ravel(),
                                   scores.numpy().ravel()) == pytest.approx(
                                       13 / 40, abs=1e-15)
    # MMPretrain ranks the tied samples one by one: with the positive
    # first among them it gets P=1/2 there, (1/2 + 2/5) / 2 = 0.45
    mmp = AveragePrecision.calculate(scores, target, average=None).item()
    assert mmp / 100 != pytest.approx(13 / 40, abs=1e-3)


def test_ap_hand_example_all_interpolations():
    # ranking neg, pos, pos, neg, pos: precisions at the positives
    # 1/2, 2/3, 3/5 with recalls 1/3, 2/3, 1
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5])[:, None]
    target = torch.tensor([0, 1, 1, 0, 1])[:, None]
    expected = {
        # (1/2 + 2/3 + 3/5) / 3
        'none': 53 / 90,
        # envelope 2/3, 2/3, 3/5
        'all_point_envelope': 29 / 45,
        # t=0..0.6 -> 2/3 (7 levels), t=0.7..1 -> 3/5 (4 levels)
        'voc07_11point': (7 * 2 / 3 + 4 * 3 / 5) / 11,
    }
    for mode, value in expected.items():
        assert average_precision(scores, target, interpolation=mode).item() \
            == pytest.approx(value, abs=1e-15), mode


def test_voc07_recall_level_reached_exactly():
    # 10 positives; recall hits 0.3 exactly at the 3rd one. Ranking:
    # pos pos pos neg neg neg neg pos*7 -> P at 3 positives = 1, later 8/11..
    labels = [1, 1, 1, 0, 0, 0, 0] + [1] * 7
    scores = torch.linspace(1, 0, len(labels))[:, None]
    target = torch.tensor(labels)[:, None]
    ours = average_precision(scores, target, interpolation='voc07_11point')
    ref = exact_ap(scores[:, 0].numpy(), np.array(labels), 'voc07_11point')
    # t = 0, .1, .2, .3 -> 1 (recall 0.3 reaches 0.3), then 10/14 for the rest
    assert float(ref) == pytest.approx((4 + 7 * 10 / 14) / 11, abs=1e-15)
    assert ours.item() == pytest.approx(float(ref), abs=1e-15)


@pytest.mark.parametrize('mode',
                         ['none', 'all_point_envelope', 'voc07_11point'])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_ap_interpolations_equal_exact_definition(mode, seed):
    scores, target, valid = random_problem(
        40, 4, seed=seed, decimals=1, ignore_rate=0.15, pos_rate=0.35)
    ours = average_precision(
        torch.from_numpy(scores),
        torch.from_numpy(target),
        torch.from_numpy(valid),
        interpolation=mode)
    for c in range(4):
        keep = valid[:, c]
        ref = exact_ap(scores[keep, c], target[keep, c], mode)
        assert ours[c].item() == pytest.approx(float(ref), abs=1e-12)


def test_ap_ignored_entries_hand():
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])[:, None]
    target = torch.tensor([0, 1, 0, 1])[:, None]
    # no ignore: (1/2 + 2/4) / 2
    assert average_precision(scores, target).item() == pytest.approx(0.5)
    # sample 0 ignored: pos, neg, pos -> (1 + 2/3) / 2
    valid = torch.tensor([0, 1, 1, 1])[:, None]
    assert average_precision(scores, target, valid).item() == pytest.approx(
        5 / 6, abs=1e-15)
    # sample 3 (a positive) ignored: neg, pos -> 1/2
    valid = torch.tensor([1, 1, 1, 0])[:, None]
    assert average_precision(scores, target, valid).item() == pytest.approx(
        0.5, abs=1e-15)


@pytest.mark.parametrize('mode',
                         ['none', 'all_point_envelope', 'voc07_11point'])
def test_ap_without_any_positive_is_nan(mode):
    scores = torch.rand(6, 3)
    target = torch.tensor([[1, 0, 0]] * 6)
    valid = torch.tensor([[0, 1, 1]] * 6)  # the only positives are ignored
    for args in ((target, valid), (torch.zeros(6, 3), None)):
        ap = average_precision(scores, *args, interpolation=mode)
        assert ap.dtype == torch.float64 and ap.isnan().all()


@pytest.mark.parametrize('empty_class', ['exclude', 'zero'])
def test_map_empty_class(empty_class):
    scores = np.array([[0.9, 0.2, 0.5], [0.1, 0.8, 0.4], [0.6, 0.7, 0.3]],
                      dtype=np.float32)
    target = np.array([[1, 0, 1], [0, 1, 0], [0, 1, 0]], dtype=bool)
    valid = np.ones_like(target)
    valid[0, 2] = False  # class c's only positive is ignored -> empty
    # a: ranks pos(0.9), neg(0.6), neg(0.1) -> 1; b: ranks pos, pos -> 1
    res = run_metric(
        MultiLabelMAP(empty_class=empty_class),
        make_samples(scores, target, valid),
        classes=['a', 'b', 'c'])
    assert res['multi-label/AP/a'] == pytest.approx(100.0)
    assert res['multi-label/AP/b'] == pytest.approx(100.0)
    if empty_class == 'exclude':
        assert np.isnan(res['multi-label/AP/c'])
        assert res['multi-label/mAP'] == pytest.approx(100.0)
    else:
        assert res['multi-label/AP/c'] == 0.0
        assert res['multi-label/mAP'] == pytest.approx(200 / 3)


@pytest.mark.parametrize('as_dict', [True, False])
def test_map_metric_inputs_and_registry(as_dict):
    scores, target, valid = random_problem(50, 4, seed=5, decimals=1)
    ref = 100 * np.nanmean(sklearn_ap(scores, target, valid))
    metric = METRICS.build(dict(type='MultiLabelMAP', classwise=False))
    res = run_metric(
        metric,
        make_samples(scores, target, as_dict=as_dict, use_gt_score=True))
    assert list(res) == ['multi-label/mAP']
    assert res['multi-label/mAP'] == pytest.approx(ref, abs=1e-10)
    # class names default to the indices
    res = run_metric(MultiLabelMAP(), make_samples(scores, target))
    assert res['multi-label/AP/3'] == pytest.approx(
        100 * sklearn_ap(scores, target, valid)[3], abs=1e-10)


def test_map_bad_inputs():
    with pytest.raises(ValueError, match='finite'):
        average_precision(
            torch.tensor([[0.5], [float('nan')]]), torch.tensor([[1], [0]]))
    with pytest.raises(ValueError, match='finite'):
        average_precision(
            torch.tensor([[0.5], [float('-inf')]]), torch.tensor([[1], [0]]),
            torch.tensor([[1], [1]]))
    with pytest.raises(ValueError, match='only 0 and 1'):
        average_precision(torch.rand(3, 2), torch.full((3, 2), 0.5))
    with pytest.raises(ValueError, match='interpolation'):
        MultiLabelMAP(interpolation='11point')
    with pytest.raises(ValueError, match='gt_score must hold only 0 and 1'):
        MultiLabelMAP().process(
            None,
            [dict(pred_score=torch.rand(2), gt_score=torch.tensor([0.3, 1]))])
    metric = MultiLabelMAP()
    metric.dataset_meta = dict(classes=['a', 'b'])
    metric.process(None, [dict(pred_score=torch.rand(3), gt_label=[0])])
    with pytest.raises(ValueError, match='2 names'):
        metric.evaluate(1)


# --------------------------------------------------------------------- PRF
# 4 samples x 3 classes, derived by hand in the comments below
HAND_SCORES = np.array(
    [[0.9, 0.6, 0.2], [0.8, 0.7, 0.55], [0.3, 0.4, 0.6], [0.1, 0.95, 0.51]],
    dtype=np.float32)
HAND_TARGET = np.array([[1, 0, 0], [0, 1, 1], [1, 0, 1], [0, 0, 0]],
                       dtype=bool)


def test_prf_hand_example():
    # thr 0.5 -> predictions s0 {0,1}, s1 {0,1,2}, s2 {2}, s3 {1,2}
    # class 0: TP 1 / pred 2 / gt 2; class 1: 1/3/1; class 2: 2/3/2
    # top-2: s1 keeps {0,1}, s2 {2} (0.4 fails thr) -> class 2: 1/2/2
    expected = {
        'CP': 1 / 2,
        'CR': 5 / 6,
        'CF1': 5 / 8,
        'OP': 1 / 2,
        'OR': 4 / 5,
        'OF1': 8 / 13,
        'CP_top2': 4 / 9,
        'CR_top2': 2 / 3,
        'CF1_top2': 8 / 15,
        'OP_top2': 3 / 7,
        'OR_top2': 3 / 5,
        'OF1_top2': 1 / 2,
    }
    res = run_metric(
        MultiLabelPRF(topk=(None, 2), prefix='p'),
        make_samples(HAND_SCORES, HAND_TARGET))
    assert set(res) == {f'p/{k}' for k in expected}
    for key, value in expected.items():
        assert res[f'p/{key}'] == pytest.approx(100 * value, abs=1e-10), key


def test_prf_ignored_entry_is_not_counted():
    valid = np.ones_like(HAND_TARGET)
    valid[3, 1] = False  # the FP of class 1 on sample 3 is ignored
    # class 1: TP 1 / pred 2 -> CP = (1/2 + 1/2 + 2/3) / 3, OP = 4/7
    res = run_metric(
        MultiLabelPRF(topk=None), make_samples(HAND_SCORES, HAND_TARGET,
                                               valid))
    assert res['multi-label/CP'] == pytest.approx(100 * 5 / 9, abs=1e-10)
    assert res['multi-label/OP'] == pytest.approx(100 * 4 / 7, abs=1e-10)
    assert res['multi-label/CR'] == pytest.approx(100 * 5 / 6, abs=1e-10)


@pytest.mark.parametrize('zero_division', ['zero', 'exclude'])
def test_prf_zero_division(zero_division):
    # class 3 is never predicted (all scores < 0.5) and has one positive
    scores = np.concatenate(
        [HAND_SCORES, np.full((4, 1), 0.1, np.float32)], axis=1)
    target = np.concatenate([HAND_TARGET, [[1], [0], [0], [0]]], axis=1)
    res = run_metric(
        MultiLabelPRF(topk=None, zero_division=zero_division),
        make_samples(scores, target))
    if zero_division == 'zero':
        cp = (1 / 2 + 1 / 3 + 2 / 3 + 0) / 4
    else:
        cp = (1 / 2 + 1 / 3 + 2 / 3) / 3
    cr = (1 / 2 + 1 + 1 + 0) / 4  # recall of class 3 is 0/1 either way
    assert res['multi-label/CP'] == pytest.approx(100 * cp, abs=1e-10)
    assert res['multi-label/CR'] == pytest.approx(100 * cr, abs=1e-10)
    assert res['multi-label/CF1'] == pytest.approx(
        100 * 2 * cp * cr / (cp + cr), abs=1e-10)
    assert res['multi-label/OR'] == pytest.approx(100 * 4 / 6, abs=1e-10)


def test_topk_ties_and_threshold():
    scores = torch.tensor([[0.7, 0.7, 0.7, 0.2], [0.1, 0.9, 0.45, 0.8]])
    # row 0: ties -> the lower class indices; row 1: top-3 = {1, 3, 2} but
    # 0.45 fails the threshold
    pred = multi_label_decisions(scores, 0.5, topk=2)
    assert pred.tolist() == [[True, True, False, False],
                             [False, True, False, True]]
    pred = multi_label_decisions(scores, 0.5, topk=3)
    assert pred.tolist() == [[True, True, True, False],
                             [False, True, False, True]]
    pred = multi_label_decisions(scores, None, topk=1)
    assert pred.tolist() == [[True, False, False, False],
                             [False, True, False, False]]


@pytest.mark.parametrize('seed', [0, 1])
def test_prf_equals_sklearn_with_ignores(seed):
    scores, target, valid = random_problem(
        120, 5, seed=seed, decimals=2, ignore_rate=0.2)
    pred = scores >= 0.5
    values = prf_from_counts(**prf_counts(
        torch.from_numpy(pred), torch.from_numpy(target),
        torch.from_numpy(valid)))
    p = [
        precision_score(
            target[valid[:, c], c], pred[valid[:, c], c], zero_division=0)
        for c in range(5)
    ]
    r = [
        recall_score(
            target[valid[:, c], c], pred[valid[:, c], c], zero_division=0)
        for c in range(5)
    ]
    op = precision_score(target[valid], pred[valid])
    o_r = recall_score(target[valid], pred[valid])
    assert values['CP'].item() == pytest.approx(np.mean(p), abs=1e-12)
    assert values['CR'].item() == pytest.approx(np.mean(r), abs=1e-12)
    assert values['OP'].item() == pytest.approx(op, abs=1e-12)
    assert values['OR'].item() == pytest.approx(o_r, abs=1e-12)
    assert values['OF1'].item() == pytest.approx(
        2 * op * o_r / (op + o_r), abs=1e-12)
    cp, cr = np.mean(p), np.mean(r)
    assert values['CF1'].item() == pytest.approx(
        2 * cp * cr / (cp + cr), abs=1e-12)


def test_prf_matches_mmpretrain_where_defined_alike():
    scores, target, _ = random_problem(200, 6, seed=4, pos_rate=0.2)
    scores_t, target_t = torch.from_numpy(scores), torch.from_numpy(target)
    res = run_metric(MultiLabelPRF(topk=None), make_samples(scores, target))
    macro = MultiLabelMetric.calculate(scores_t, target_t.long(), thr=0.5)
    micro = MultiLabelMetric.calculate(
        scores_t, target_t.long(), thr=0.5, average='micro')
    assert res['multi-label/CP'] == pytest.approx(macro[0].item(), abs=1e-4)
    assert res['multi-label/CR'] == pytest.approx(macro[1].item(), abs=1e-4)
    assert res['multi-label/OP'] == pytest.approx(micro[0].item(), abs=1e-4)
    assert res['multi-label/OR'] == pytest.approx(micro[1].item(), abs=1e-4)
    assert res['multi-label/OF1'] == pytest.approx(micro[2].item(), abs=1e-4)
    # MMPretrain's macro f1-score is the mean of per-class F1, not CF1
    assert abs(res['multi-label/CF1'] - macro[2].item()) > 1e-2


def test_prf_per_class_thresholds(tmp_path):
    thr = [0.85, 0.5, 0.58]
    # class 0: pred {s0}: 1/1/2; class 1: {s0,s1,s3}: 1/3/1;
    # class 2: {s2}: 1/1/2
    cp, cr = (1 + 1 / 3 + 1) / 3, (1 / 2 + 1 + 1 / 2) / 3
    samples = make_samples(HAND_SCORES, HAND_TARGET)
    res = run_metric(MultiLabelPRF(thr=thr, topk=None), samples)
    assert res['multi-label/CP'] == pytest.approx(100 * cp, abs=1e-10)
    assert res['multi-label/CR'] == pytest.approx(100 * cr, abs=1e-10)
    assert res['multi-label/OP'] == pytest.approx(100 * 3 / 5, abs=1e-10)

    path = str(tmp_path / 'thr.json')
    save_thresholds(path, thr, ['a', 'b', 'c'])
    res_file = run_metric(
        MultiLabelPRF(thr=path, topk=None), samples, classes=['a', 'b', 'c'])
    assert res_file == res
    with pytest.raises(ValueError, match='calibrated for the classes'):
        run_metric(
            MultiLabelPRF(thr=path, topk=None),
            samples,
            classes=['a', 'b', 'x'])
    with pytest.raises(ValueError, match='2 thresholds'):
        run_metric(MultiLabelPRF(thr=[0.5, 0.5], topk=None), samples)
    with pytest.raises(ValueError, match='duplicates'):
        MultiLabelPRF(topk=(3, 3))
    with pytest.raises(ValueError, match='thr=None'):
        MultiLabelPRF(thr=None, topk=(None, 3))
    with open(tmp_path / 'bad.json', 'w') as f:
        json.dump(dict(thresholds=[0.5]), f)
    with pytest.raises(ValueError, match='not a threshold file'):
        MultiLabelPRF(thr=str(tmp_path / 'bad.json'))


# ------------------------------------------------------------- calibration
def brute_force_thresholds(scores, target, valid):
    """Max F1 per class over every distinct valid score; ties -> highest."""
    best = []
    for c in range(scores.shape[1]):
        s, y = scores[valid[:, c], c], target[valid[:, c], c]
        best_f1, best_t = -1.0, None
        for t in sorted(set(s.tolist()), reverse=True):
            pred = s >= t
            tp = int((pred & y).sum())
            f1 = 2 * tp / (2 * tp + int((pred & ~y).sum()) + int(
                (~pred & y).sum())) if y.any() else 0.0
            if f1 > best_f1:
                best_f1, best_t = f1, t
        best.append((best_f1, best_t))
    return best


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_calibration_equals_brute_force(seed):
    scores, target, valid = random_problem(
        80, 5, seed=seed, decimals=2, ignore_rate=0.1, pos_rate=0.25)
    thr, f1, num_pos = calibrate_f1_thresholds(
        torch.from_numpy(scores), torch.from_numpy(target),
        torch.from_numpy(valid))
    for c, (best_f1, best_t) in enumerate(
            brute_force_thresholds(scores, target, valid)):
        s = scores[valid[:, c], c]
        assert f1[c].item() == pytest.approx(best_f1, abs=1e-12)
        assert num_pos[c].item() == target[valid[:, c], c].sum()
        # same decisions as the highest best candidate threshold
        np.testing.assert_array_equal(s >= thr[c].item(), s >= best_t)
    # applying the thresholds reproduces the per-class F1
    pred = multi_label_decisions(torch.from_numpy(scores), thr)
    counts = prf_counts(pred, torch.from_numpy(target),
                        torch.from_numpy(valid))
    f1_applied = 2 * counts['tp'] / (counts['num_pred'] + counts['num_gt'])
    np.testing.assert_allclose(f1_applied.numpy(), f1.numpy(), atol=1e-12)


def test_calibration_midpoint_and_empty_class():
    scores = torch.tensor([[0.9, 0.3], [0.6, 0.2], [0.2, 0.1]])
    target = torch.tensor([[1, 0], [1, 0], [0, 0]])
    thr, f1, num_pos = calibrate_f1_thresholds(scores, target, default_thr=0.7)
    # class 0: accept {0.9, 0.6} (F1 = 1); midpoint of 0.6 and 0.2
    assert thr[0].item() == torch.tensor(0.4, dtype=torch.float32).item()
    assert f1.tolist() == [1.0, 0.0]
    # class 1 has no positive -> default threshold
    assert thr[1].item() == 0.7 and num_pos.tolist() == [2, 0]
    # adjacent float32 values: no midpoint in between -> the score itself
    hi = torch.tensor(0.5, dtype=torch.float32)
    lo = torch.nextafter(hi, torch.tensor(0.0))
    thr, _, _ = calibrate_f1_thresholds(
        torch.stack([hi, lo])[:, None], torch.tensor([[1], [0]]))
    assert thr[0].item() == hi.item()


def test_calibrate_tool_end_to_end(tmp_path):
    scores, target, valid = random_problem(
        60, 4, seed=7, decimals=2, ignore_rate=0.1)
    # what tools/test.py --out writes: DumpResults' list of sample dicts
    mmengine.dump(make_samples(scores, target, valid), tmp_path / 'p.pkl')
    with open(tmp_path / 'classes.txt', 'w') as f:
        f.write('a\nb\nc\nd\n')
    spec = importlib.util.spec_from_file_location(
        'calibrate_thresholds',
        osp.join(REPO, 'tools', 'calibrate_thresholds.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = str(tmp_path / 'thr.json')
    tool.main([
        str(tmp_path / 'p.pkl'), '--out', out, '--classes',
        str(tmp_path / 'classes.txt')
    ])
    thr, classes = load_thresholds(out)
    assert classes == ['a', 'b', 'c', 'd']
    for c, (_, best_t) in enumerate(
            brute_force_thresholds(scores, target, valid)):
        s = scores[valid[:, c], c]
        np.testing.assert_array_equal(s >= thr[c], s >= best_t)
    # the metric applies the file: per-class precision from the thresholds
    res = run_metric(
        MultiLabelPRF(thr=out, topk=None),
        make_samples(scores, target, valid),
        classes=['a', 'b', 'c', 'd'])
    pred = scores >= np.array(thr)[None]
    p = [
        precision_score(
            target[valid[:, c], c], pred[valid[:, c], c], zero_division=0)
        for c in range(4)
    ]
    assert res['multi-label/CP'] == pytest.approx(100 * np.mean(p), abs=1e-10)


# ------------------------------------------------------ batch records
@pytest.mark.parametrize('round_up', [True, False])
def test_rank_records_interleave_like_default_sampler(round_up):
    """Three simulated ranks of ``DefaultSampler`` shards (23 samples,
    uneven; with ``round_up`` rank 2 gets a repeated sample) give the
    single-process rows in order, the padding dropped."""
    from mmcsra.evaluation.metrics.multi_label_metric_base import (
        MultiLabelMetricBase, interleave_rank_records)
    scores, target, valid = random_problem(23, 4, seed=5, ignore_rate=0.2)
    samples = make_samples(scores, target, valid)
    parts = []
    for rank in range(3):
        # DefaultSampler's shard of rank r of 3 (its own arithmetic: pad to
        # a multiple of the world size by repeating from the start)
        total = 24 if round_up else 23
        shard = (list(range(23)) * 2)[rank:total:3]
        metric = MultiLabelMAP()
        for start in range(0, len(shard), 4):  # batches of 4, last partial
            metric.process(None, [samples[i] for i in shard[start:start + 4]])
        assert len(metric.results) == -(-len(shard) // 4)  # one per batch
        assert metric.results[0]['pred_score'].shape == (4, 4)
        parts.append(metric._local_record())
    total = sum(p['pred_score'].size(0) for p in parts)
    assert total == (24 if round_up else 23)
    rows = interleave_rank_records(parts, 23)
    assert torch.equal(rows['pred_score'], torch.from_numpy(scores))
    assert torch.equal(rows['gt'], torch.from_numpy(target))
    assert torch.equal(rows['valid'], torch.from_numpy(valid))
    # compute_metrics on the merged record equals the one-process run
    single = run_metric(MultiLabelMAP(), samples)
    merged = MultiLabelMAP().compute_metrics([rows])
    assert {f'multi-label/{k}': v for k, v in merged.items()} == single
    assert MultiLabelMetricBase.stack_results([rows])[0].shape == (23, 4)


def test_batch_records_refuse_mixed_class_counts():
    metric = MultiLabelMAP()
    metric.process(
        None, make_samples(np.full((2, 3), 0.5), np.eye(2, 3, dtype=bool)))
    metric.process(
        None, make_samples(np.full((2, 4), 0.5), np.eye(2, 4, dtype=bool)))
    with pytest.raises(ValueError, match=r'different numbers of classes'):
        metric.evaluate(4)
    with pytest.raises(ValueError, match='0 samples'):
        MultiLabelMAP().evaluate(4)


# ------------------------------------------------ build-time option checks
def test_dataset_meta_checks_topk_and_thresholds(tmp_path):
    metric = MultiLabelPRF(topk=(None, 3, 11))
    classes = [str(i) for i in range(10)]
    with pytest.raises(ValueError) as info:
        metric.dataset_meta = dict(classes=classes)
    assert 'topk=[11] is larger than the number of classes of the ' \
        'dataset (10)' in str(info.value)
    assert metric.dataset_meta is None  # refused, not stored
    # k == C is allowed; no class list: nothing to check yet
    MultiLabelPRF(topk=(None, 10)).dataset_meta = dict(classes=classes)
    MultiLabelPRF(topk=100).dataset_meta = dict()
    with pytest.raises(ValueError, match='3 thresholds but there are 10'):
        MultiLabelPRF(
            thr=[0.5] * 3, topk=None).dataset_meta = dict(classes=classes)
    path = str(tmp_path / 'thr.json')
    save_thresholds(path, [0.5] * 3, ['a', 'b', 'c'])
    with pytest.raises(ValueError, match='calibrated for the classes'):
        MultiLabelPRF(
            thr=path, topk=None).dataset_meta = dict(classes=['a', 'c', 'b'])
    # MultiLabelMAP has no class-dependent option
    MultiLabelMAP().dataset_meta = dict(classes=classes)


@pytest.mark.parametrize('mode', ['train', 'test'])
def test_topk_larger_than_classes_fails_before_the_first_iteration(
        tmp_path, monkeypatch, mode):
    """A top-100 metric on the 10-class demo stops ``Runner.train()`` /
    ``Runner.test()`` when the val / test loop is built, not after an
    epoch."""
    from mmengine.config import Config
    from mmengine.runner import Runner, loops
    calls = []
    for cls in (loops.EpochBasedTrainLoop, loops.ValLoop, loops.TestLoop):
        monkeypatch.setattr(cls, 'run_iter',
                            lambda self, *a, **k: calls.append(1))
    cfg = Config.fromfile(
        osp.join(REPO, 'tests', 'configs', 'csra_tiny_multidigits.py'))
    cfg.work_dir = str(tmp_path)
    evaluator = [
        dict(type='MultiLabelMAP'),
        dict(type='MultiLabelPRF', topk=(None, 100))
    ]
    cfg.val_evaluator = cfg.test_evaluator = evaluator
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.num_samples = 4
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError) as info:
        getattr(runner, mode)()
    assert 'topk=[100] is larger than the number of classes of the ' \
        'dataset (10)' in str(info.value)
    assert calls == []


# --------------------------------------------------------------- benchmark
def test_benchmark_quick_table(capsys):
    spec = importlib.util.spec_from_file_location(
        'bench_metrics',
        osp.join(REPO, 'tools', 'benchmark', 'bench_metrics.py'))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(['--quick'])
    text = capsys.readouterr().out
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip('|').split('|')]
        if line.startswith('| ') and len(cells) >= 7:
            rows[cells[0]] = cells
    scores, target = bench.make_data(*bench.QUICK_SIZE, seed=0, decimals=2)
    assert (scores.sort(0).values.diff(dim=0) == 0).any()  # has ties
    ref = 100 * np.nanmean(
        sklearn_ap(scores.numpy(), target.numpy(), np.ones_like(
            target.numpy())))
    ours = rows['ours: average_precision']
    assert float(ours[4]) == pytest.approx(ref, abs=1e-5)
    assert ours[6] == 'yes'
    assert float(rows['sklearn (loop over classes)'][4]) == pytest.approx(
        ref, abs=1e-5)
    # MMPretrain splits ties and disagrees with sklearn on this data
    assert rows['MMPretrain AveragePrecision.calculate'][6] == 'no'
    assert rows['ours: MultiLabelMAP.compute_metrics (cat batch records + '
                'AP)'][4:7:2] == [ours[4], 'yes']
    # PRF rows: the threshold rows of ours equal sklearn's CP..OF1
    ours_prf = rows['ours thr=0.5'][3:9]
    assert ours_prf == rows['sklearn precision_recall_fscore_support'][3:9]
    assert ours_prf == rows[
        'ours: MultiLabelPRF.compute_metrics (thr and top-3)'][3:9]
    pred = scores.numpy() >= 0.5
    cp = np.mean([
        precision_score(target[:, c], pred[:, c], zero_division=0)
        for c in range(scores.shape[1])
    ])
    assert float(ours_prf[0]) == pytest.approx(100 * cp, abs=1e-4)
    assert re.search(r'ours / sort = \d+\.\d\d', text)
    assert re.search(
        r'MultiLabelMAP.compute_metrics / torch.sort\(scores, '
        r'dim=0\) = \d+\.\d\d', text)
