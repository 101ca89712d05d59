"""Predict the label set of images with a trained multi-label model.

    python tools/infer.py IMG_OR_DIR CONFIG CHECKPOINT \
        [--thr 0.5 | --topk 3 | --thr-file thresholds.json] \
        [--out results.json] [--device cpu] [--batch-size 8] \
        [--image-size 96]

Every class whose score passes the rule is reported (not one arg-max label):
``--thr`` one threshold for all classes, ``--topk`` the k best classes,
``--thr-file`` the per-class thresholds of ``tools/calibrate_thresholds.py``;
without any, the head's own rule (``thr=0.5`` by default). A folder is read
in sorted order, with a progress bar. ``--out`` writes the JSON described in
:meth:`mmcsra.apis.MultiLabelInferencer.to_json`. ``--image-size`` is only
needed for configs whose test pipeline does not load files (in-memory
datasets other than the MultiDigits demo). See
:class:`mmcsra.apis.MultiLabelInferencer`.
"""
import argparse

from mmcsra.apis import MultiLabelInferencer


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Multi-label inference on an image or a folder')
    parser.add_argument('inputs', help='an image file or a folder of images')
    parser.add_argument('config', help='the model config')
    parser.add_argument('checkpoint', help='the checkpoint (path or URL)')
    rule = parser.add_mutually_exclusive_group()
    rule.add_argument('--thr', type=float, help='one score threshold')
    rule.add_argument('--topk', type=int, help='predict the k best classes')
    rule.add_argument(
        '--thr-file',
        help='per-class thresholds (.json of '
        'tools/calibrate_thresholds.py)')
    parser.add_argument('--out', help='write the results to this .json')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument(
        '--image-size',
        type=int,
        help='resize side for configs whose test pipeline has no loading '
        'step')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.out is not None and not args.out.endswith('.json'):
        raise ValueError(f'--out must end with .json, got {args.out!r}')
    inferencer = MultiLabelInferencer(
        args.config,
        pretrained=args.checkpoint,
        device=args.device,
        thr=args.thr,
        topk=args.topk,
        thr_file=args.thr_file,
        image_size=args.image_size,
        batch_size=args.batch_size)
    results = inferencer(args.inputs)
    for result in results:
        names = result['classes'] or [str(i) for i in result['labels']]
        found = ', '.join(f'{n} ({s:.3f})'
                          for n, s in zip(names, result['scores']))
        print(f"{result['img_path']}: {found or '-'}")
    if args.out is not None:
        inferencer.dump(
            results, args.out, config=args.config, checkpoint=args.checkpoint)
        print(f'results written to {args.out}')
    return results


if __name__ == '__main__':
    main()
