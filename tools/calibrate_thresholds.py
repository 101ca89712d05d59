"""Calibrate per-class decision thresholds by maximising per-class F1.

    python tools/calibrate_thresholds.py PREDS.pkl --out thr.json \
        [--classes classes.txt] [--default-thr 0.5]

``PREDS.pkl`` holds the saved predictions of one split (the calibration
split, e.g. a held-out part of train, not the test set): the list of
per-sample dicts with ``pred_score``, ``gt_label`` (or ``gt_score``) and
optionally ``gt_ignore`` that ``tools/test.py CONFIG CKPT --out PREDS.pkl``
(mmengine's ``DumpResults``) writes; a ``.json`` list of the same dicts
works too (and is the format to exchange). A ``.pkl`` is read with mmcsra's
restricted unpickler: only containers, numbers, strings, tensors and numeric
numpy arrays; a dump naming anything else is refused with
``UnsafeCheckpointError`` and nothing of it runs (docs/security.md).

For each class the threshold maximises that class's F1 on these
predictions (see :func:`mmcsra.evaluation.functional.calibrate_f1_thresholds`
for the exact rule); a class without positives gets ``--default-thr``.
The JSON written to ``--out`` is read by the metric::

    val_evaluator = dict(type='MultiLabelPRF', thr='thr.json')

``--classes`` (a .txt with one name per line, or a .json list) stores the
class names in the file, so the metric can check that it is applied to
the same classes.
"""
import argparse
import json
import os.path as osp
from typing import List, Optional, Sequence

from mmcsra.evaluation.functional import (calibrate_f1_thresholds,
                                          multi_label_decisions, prf_counts,
                                          prf_from_counts)
from mmcsra.evaluation.multi_label_results import \
    load_multi_label_predictions
from mmcsra.evaluation.threshold_file import save_thresholds


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = argparse.ArgumentParser(
        description='Calibrate per-class thresholds (max F1 per class)')
    parser.add_argument(
        'predictions', help='.pkl/.json dump of per-sample predictions')
    parser.add_argument(
        '--out', required=True, help='output threshold file (.json)')
    parser.add_argument(
        '--classes', help='class names: a .txt (one per line) or a .json list')
    parser.add_argument(
        '--default-thr',
        type=float,
        default=0.5,
        help='threshold of classes without positives (default: 0.5)')
    return parser.parse_args(argv)


def read_class_names(path: str) -> List[str]:
    if not osp.isfile(path):
        raise FileNotFoundError(f'class name file {path!r} does not exist')
    if path.endswith('.json'):
        with open(path) as f:
            names = json.load(f)
        if not isinstance(names, list):
            raise ValueError(f'{path} must hold a JSON list of names')
        return [str(n) for n in names]
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if not args.out.endswith('.json'):
        raise ValueError(f'--out must end with .json, got {args.out!r}')
    scores, gt, valid = load_multi_label_predictions(args.predictions)
    num_classes = scores.size(1)
    classes = None
    if args.classes is not None:
        classes = read_class_names(args.classes)
        if len(classes) != num_classes:
            raise ValueError(f'{args.classes} names {len(classes)} classes '
                             f'but the predictions have {num_classes}')

    thresholds, best_f1, num_pos = calibrate_f1_thresholds(
        scores, gt, valid, default_thr=args.default_thr)
    save_thresholds(
        args.out,
        thresholds.tolist(),
        classes,
        criterion='max per-class F1 (score >= thr)',
        source=osp.abspath(args.predictions),
        num_samples=scores.size(0),
        f1=best_f1.tolist(),
        num_positives=num_pos.tolist(),
        default_thr=args.default_thr)

    names = classes or [str(i) for i in range(num_classes)]
    print('| class | threshold | F1 | positives |\n|---|---|---|---|')
    for name, thr, f1, npos in zip(names, thresholds.tolist(),
                                   best_f1.tolist(), num_pos.tolist()):
        print(f'| {name} | {thr:.6g} | {100 * f1:.2f} | {npos} |')
    summary = {}
    for label, thr in (('thr=0.5', 0.5), ('calibrated', thresholds)):
        counts = prf_counts(multi_label_decisions(scores, thr), gt, valid)
        values = prf_from_counts(**counts)
        summary[label] = {k: 100 * values[k].item() for k in ('CF1', 'OF1')}
        print(f'{label}: CF1 {summary[label]["CF1"]:.2f}  '
              f'OF1 {summary[label]["OF1"]:.2f}  (on the calibration split)')
    empty = [names[i] for i in (num_pos == 0).nonzero().flatten().tolist()]
    if empty:
        print(f'classes without positives (threshold {args.default_thr}): '
              f'{empty}')
    print(f'thresholds saved to {args.out}')
    return dict(thresholds=thresholds, f1=best_f1, summary=summary)


if __name__ == '__main__':
    main()
