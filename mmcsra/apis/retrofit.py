"""Training-free CSRA retrofit of a trained classifier: y_avg + λ·y_max.

Zhu & Wu, "Residual Attention" (ICCV 2021), Sec. 3.1 and Table 1 ("4 lines
of code"): apply the trained linear classifier at every location ``j`` of the
final feature map and add ``λ·max_j (W x_j + b)`` to the model's own
(average-pooled) score. λ = 0 is the original model; the max term is a
class-specific attention that reuses the classifier weights. It applies to
multi-label (mAP) and single-label (top-1 accuracy) classifiers alike.

:func:`retrofit_csra` follows Table 1's two columns without peeking at the
reported split:

* **Varying λ**: λ is chosen on ``select_split`` (the val dataloader by
  default) and the model with that λ is evaluated on ``report_split`` (the
  test dataloader);
* **Fixed λ**: λ = 0.02 for the ResNet family and 0.2 for every other
  backbone (Table 1's caption), evaluated on ``report_split``;

next to the baseline (λ = 0) on ``report_split``. Each split is passed
through the backbone once; every λ is then a cheap re-scoring.

Supported models (MMPretrain ``ImageClassifier`` and its subclasses, e.g.
mmcsra's ``FrozenBackboneClassifier``):

* a ``GlobalAveragePooling`` neck and a head with a linear classifier ``fc``
  (``LinearClsHead``, ``MultiLabelLinearClsHead``, ...): ResNet, MobileNet,
  EfficientNet, ... ;
* a ``VisionTransformer`` with ``out_type='cls_token'`` and a
  ``VisionTransformerClsHead`` without hidden layer: the average term is the
  class-token score (the original model), the max term is taken over the
  patch tokens (the class token is dropped, as the paper does for ViT).
"""
import copy
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmpretrain.registry import METRICS, MODELS

from mmcsra.apis.init_model import init_model
from mmcsra.engine.checkpoint_checks import check_class_order
from mmcsra.models.heads.csra_retrofit_head import avg_and_max_logits

__all__ = [
    'retrofit_csra', 'check_retrofit_supported', 'format_retrofit_table',
    'paper_fixed_lambda', 'same_dataset', 'SameSplitError', 'retrofit_logits'
]

#: λ values swept by default (Table 1 uses 0.02 to 0.8)
DEFAULT_LAMS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0)
#: Table 1 "Fixed λ": the ResNet family and every other model
RESNET_FIXED_LAMBDA = 0.02
OTHER_FIXED_LAMBDA = 0.2
#: dataset keys that say where the data of a split comes from
_SOURCE_KEYS = ('ann_file', 'data_root', 'data_prefix')


class SameSplitError(ValueError):
    """λ would be chosen on the split it is reported on."""


def _type_name(cfg) -> str:
    kind = cfg.get('type') if cfg else None
    if not isinstance(kind, str):  # a class in a Python-style config
        kind = getattr(kind, '__name__', str(kind))
    return kind.rpartition('.')[2]


def paper_fixed_lambda(model_cfg) -> float:
    """Table 1's fixed λ: 0.02 for a ResNet-family backbone, else 0.2.

    The ResNet family is every backbone type named ``ResNet*``, ``ResNeXt*``
    or ``SEResNet*`` / ``SEResNeXt*`` (e.g. ``ResNet``, ``ResNetV1c``,
    ``ResNetV1d``, ``ResNet_CIFAR``).
    """
    name = _type_name(model_cfg.get('backbone'))
    return (RESNET_FIXED_LAMBDA
            if re.match(r'^(SE)?ResNe[tX]', name) else OTHER_FIXED_LAMBDA)


def _is_vit(model_cfg) -> bool:
    return _type_name(model_cfg.get('head')) == 'VisionTransformerClsHead'


def _is_image_classifier(kind) -> bool:
    from mmpretrain.models import ImageClassifier
    if isinstance(kind, str):
        kind = MODELS.get(kind)
    return isinstance(kind, type) and issubclass(kind, ImageClassifier)


def check_retrofit_supported(model_cfg) -> None:
    """Raise a clear error unless the retrofit applies to ``model_cfg``.

    See the module docstring for the supported models.
    """
    if not _is_image_classifier(model_cfg.get('type')):
        raise ValueError('the retrofit supports `ImageClassifier` models '
                         '(and subclasses such as FrozenBackboneClassifier), '
                         f"got {model_cfg.get('type')!r}")
    if _is_vit(model_cfg):
        backbone = model_cfg.get('backbone') or {}
        if backbone.get('out_type', 'cls_token') != 'cls_token':
            raise ValueError(
                'the ViT retrofit needs the backbone\'s class-token output '
                "(out_type='cls_token'), got "
                f"{backbone.get('out_type')!r}")
        if model_cfg.head.get('hidden_dim') is not None:
            raise ValueError(
                'the ViT retrofit needs a VisionTransformerClsHead without '
                'hidden layer (hidden_dim=None): the classifier must be '
                'linear in the token features')
        return
    neck = model_cfg.get('neck') or {}
    if _type_name(neck) != 'GlobalAveragePooling':
        raise ValueError('the retrofit needs a `GlobalAveragePooling` neck '
                         f"(the model has {neck.get('type')!r}) and a linear "
                         'head, or a ViT with VisionTransformerClsHead')
    if neck.get('dim', 2) != 2:
        raise ValueError('the retrofit needs 2-D global average pooling of a '
                         '(B, D, H, W) map')


def _linear(model) -> nn.Linear:
    head = model.head
    linear = (
        head.layers.head if hasattr(head, 'layers') else getattr(
            head, 'fc', None))
    if not isinstance(linear, nn.Linear):
        raise TypeError(f'{type(head).__name__} has no linear classifier '
                        '`fc`; the retrofit supports linear heads')
    return linear


@torch.no_grad()
def retrofit_logits(model,
                    inputs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(y_orig, y_max)`` of a preprocessed batch, both ``(B, C)``.

    ``y_orig`` is the model's own score (its head on the pooled feature, or
    the class token for ViT); ``y_max`` is ``max_j (W x_j + b)`` over the
    locations (patch tokens) ``x_j`` of the last feature map.
    """
    if type(model.head).__name__ == 'VisionTransformerClsHead':
        backbone = model.backbone
        out_type = backbone.out_type
        backbone.out_type = 'raw'  # (B, extra + HW, D) after the final norm
        try:
            tokens = backbone(inputs)[-1]
        finally:
            backbone.out_type = out_type
        linear = _linear(model)
        y_orig = model.head((tokens[:, 0], ))
        y_max = linear(tokens[:, backbone.num_extra_tokens:]).amax(dim=1)
        return y_orig, y_max
    feats = model.extract_feat(inputs, stage='backbone')
    y_orig = model.head(model.neck(feats))
    _, y_max = avg_and_max_logits(_linear(model), feats[-1])
    return y_orig, y_max


def _collect(model, dataloader, device: str, progress: bool):
    """One pass over a split: original and max logits, and the samples."""
    orig, mx, samples = [], [], []
    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(dataloader))
    for data in dataloader:
        data = model.data_preprocessor(data, False)
        y_orig, y_max = retrofit_logits(model, data['inputs'].to(device))
        orig.append(y_orig.float().cpu())
        mx.append(y_max.float().cpu())
        samples.extend(data['data_samples'])
        if bar is not None:
            bar.update()
    return torch.cat(orig), torch.cat(mx), samples


def _evaluate(head, evaluator: Evaluator, logits: torch.Tensor, samples: List,
              batch_size: int) -> Dict[str, float]:
    for start in range(0, len(samples), batch_size):
        batch = [copy.copy(s) for s in samples[start:start + batch_size]]
        preds = head._get_predictions(logits[start:start + batch_size], batch)
        evaluator.process(data_samples=preds)
    return {k: float(v) for k, v in evaluator.evaluate(len(samples)).items()}


def _dump_scores(head, logits: torch.Tensor, samples: List, batch_size: int,
                 path: str) -> str:
    """Write the scores the evaluator saw (the head's own prediction of
    ``logits``: sigmoid for multi-label heads), the targets and the valid
    mask as ``.npz`` (``scores``, ``gt``, ``valid``; numeric arrays, read
    with plain ``np.load``)."""
    import numpy as np

    from mmcsra.evaluation.multi_label_results import (
        pack_multi_label_result, stack_multi_label_results)
    records = []
    for start in range(0, len(samples), batch_size):
        batch = [copy.copy(s) for s in samples[start:start + batch_size]]
        preds = head._get_predictions(logits[start:start + batch_size], batch)
        records += [pack_multi_label_result(p.to_dict()) for p in preds]
    scores, gt, valid = stack_multi_label_results(records)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    np.savez(
        path,
        scores=scores.float().numpy().astype(np.float32),
        gt=gt.numpy().astype(np.uint8),
        valid=valid.numpy().astype(np.uint8))
    return path


def _source(dataset_cfg) -> dict:
    """What identifies the data of a dataset config (pipeline excluded)."""
    cfg = dict(dataset_cfg)
    if any(cfg.get(k) for k in _SOURCE_KEYS):
        return {k: cfg.get(k) for k in ('type', 'split') + _SOURCE_KEYS}
    cfg.pop('pipeline', None)
    return cfg


def same_dataset(a, b) -> bool:
    """Whether two dataset configs read the same data.

    Datasets with files are the same when type, split, ``ann_file``,
    ``data_root`` and ``data_prefix`` agree; generated datasets (no files)
    when their whole config but the pipeline agrees.
    """
    return _source(a) == _source(b)


_SPLITS = ('train', 'val', 'test')


def _split_parts(cfg: Config, split: str):
    if split not in _SPLITS:
        raise ValueError(f"a split is 'train', 'val' or 'test', got {split!r}")
    loader = cfg.get(f'{split}_dataloader')
    evaluator = cfg.get(f'{split}_evaluator') or cfg.get('test_evaluator')
    if not loader or not evaluator:
        raise ValueError(f'the config has no {split}_dataloader / evaluator '
                         f'for the {split!r} split')
    return copy.deepcopy(loader), evaluator


def _build_loader(loader_cfg):
    loader_cfg.setdefault('num_workers', 0)
    if loader_cfg['num_workers'] == 0:
        loader_cfg['persistent_workers'] = False
    sampler = loader_cfg.get('sampler')
    if sampler is not None:
        sampler['shuffle'] = False  # the order does not matter; no surprises
    return Runner.build_dataloader(loader_cfg)


def _build_evaluator(evaluator_cfg, dataset) -> Evaluator:
    if isinstance(evaluator_cfg, dict):
        evaluator_cfg = [evaluator_cfg]
    evaluator = Evaluator(
        [METRICS.build(copy.deepcopy(m)) for m in evaluator_cfg])
    evaluator.dataset_meta = dataset.metainfo
    return evaluator


def _check_classes(dataset_meta: dict, dataset, split: str,
                   checkpoint: str) -> None:
    """The model's class names (the checkpoint's ``meta['dataset_meta']``,
    else the config's test dataset's, see :func:`init_model`), when known,
    must be the split's, in the same order (unknown ones are warned
    about)."""
    check_class_order(
        dataset.metainfo.get('classes'), dataset_meta.get('classes'),
        f'the {split!r} dataset', f'checkpoint {checkpoint!r}')


def retrofit_csra(config,
                  checkpoint: str,
                  lams: Sequence[float] = DEFAULT_LAMS,
                  select_split: str = 'val',
                  report_split: str = 'test',
                  metric: Optional[str] = None,
                  fixed_lam: Optional[float] = None,
                  allow_same_split: bool = False,
                  out_dir: Optional[str] = None,
                  device: str = 'cpu',
                  progress: bool = False,
                  dump_scores: bool = False) -> dict:
    """Choose λ of the ``y_avg + λ·y_max`` retrofit on one split, report on
    another (CSRA paper, Table 1).

    Args:
        config (str | Config): config of a supported classifier (see the
            module docstring), multi-label or single-label.
        checkpoint (str): its trained weights (path or URL; loaded strictly
            with mmcsra's ``weights_only`` allow-list).
        lams (Sequence[float]): the λ values tried on ``select_split``
            (each >= 0; 0 is added if missing).
        select_split (str): split whose dataloader/evaluator choose λ
            (``'val'``, ``'test'`` or ``'train'``). Defaults to ``'val'``.
        report_split (str): split the results are reported on. Defaults to
            ``'test'``.
        metric (str, optional): metric key that picks λ (higher is better).
            Defaults to the first key the evaluator returns (``mAP`` for
            ``MultiLabelMAP``, top-1 for ``Accuracy``).
        fixed_lam (float, optional): the "Fixed λ" column. Defaults to
            :func:`paper_fixed_lambda` (0.02 for ResNets, 0.2 otherwise).
        allow_same_split (bool): allow both splits to read the same data
            (then the "varying λ" number is tuned on the reported data).
        out_dir (str, optional): write ``retrofit_csra.py`` and
            ``retrofit_csra_lam{λ}.pth`` (the model with the selected λ as
            a ``CSRARetrofitHead``) and ``retrofit_csra.json`` here.
        device (str): device of the passes. Defaults to ``'cpu'``.
        progress (bool): show a progress bar per pass.
        dump_scores (bool): with ``out_dir``, also write the
            ``report_split``'s scores at λ = 0 (the original model) and at
            the selected λ as ``{report_split}_scores_lam{λ}.npz``
            (``scores``, ``gt``, ``valid`` arrays), so that any metric can
            be recomputed; their paths go to ``scores`` in the result.

    Returns:
        dict: ``metric``, ``select_split``, ``report_split``,
        ``same_data`` (both splits read the same data), ``lams``,
        ``select`` (list of ``{'lam', 'metrics'}`` on ``select_split``, one
        per λ), ``best_lam``, ``fixed_lam``, ``report`` (``{'baseline',
        'fixed', 'varying'}`` -> metrics on ``report_split`` at λ = 0,
        ``fixed_lam`` and ``best_lam``), and ``config``/``checkpoint``/
        ``json`` paths when ``out_dir`` is given.

    Raises:
        SameSplitError: both splits read the same data and
            ``allow_same_split`` is False.
    """
    lams = [float(lam) for lam in lams]
    if not lams or min(lams) < 0:
        raise ValueError(f'lams must be a non-empty list of values >= 0, '
                         f'got {lams}')
    if 0.0 not in lams:
        lams.insert(0, 0.0)
    cfg = config if isinstance(config, Config) else Config.fromfile(config)
    check_retrofit_supported(cfg.model)
    if fixed_lam is None:
        fixed_lam = paper_fixed_lambda(cfg.model)
    if fixed_lam < 0:
        raise ValueError(f'fixed_lam must be >= 0, got {fixed_lam}')

    select_loader_cfg, select_eval_cfg = _split_parts(cfg, select_split)
    report_loader_cfg, report_eval_cfg = _split_parts(cfg, report_split)
    same_data = select_split == report_split or same_dataset(
        select_loader_cfg.dataset, report_loader_cfg.dataset)
    if same_data and not allow_same_split:
        raise SameSplitError(
            f'the {select_split!r} and {report_split!r} dataloaders read the '
            f'same data ({_source(report_loader_cfg.dataset)}): λ would be '
            f'tuned on the reported split. Point {select_split}_dataloader '
            'at a held-out split (e.g. --cfg-options '
            f'{select_split}_dataloader.dataset.ann_file=...), or pass '
            '--allow-same-split (allow_same_split=True) to do it anyway')

    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope') or 'mmpretrain'):
        # the one loading path: strict, safe loader, shapes / keys /
        # class order against the config's test dataset
        model = init_model(cfg, checkpoint, device)
        dataset_meta = model.dataset_meta
        _linear(model)  # a clear error before any data pass

        def run(loader_cfg, eval_cfg, split):
            loader = _build_loader(loader_cfg)
            _check_classes(dataset_meta, loader.dataset, split, checkpoint)
            orig, mx, samples = _collect(model, loader, device, progress)

            def score(lam, dump=None):
                if dump is not None:
                    _dump_scores(model.head, orig + lam * mx, samples,
                                 loader.batch_size or 1, dump)
                return _evaluate(model.head,
                                 _build_evaluator(eval_cfg, loader.dataset),
                                 orig + lam * mx, samples, loader.batch_size
                                 or 1)

            return score

        score_select = run(select_loader_cfg, select_eval_cfg, select_split)
        select = [dict(lam=lam, metrics=score_select(lam)) for lam in lams]
        if metric is None:
            metric = next(iter(select[0]['metrics']))
        if metric not in select[0]['metrics']:
            raise KeyError(f'metric {metric!r} not among '
                           f"{list(select[0]['metrics'])}")
        # the first λ reaching the best value: ties go to the smallest λ
        best_lam = max(
            select, key=lambda r: (r['metrics'][metric], -r['lam']))['lam']

        score_report = run(report_loader_cfg, report_eval_cfg, report_split)
        dumps = {}
        if dump_scores:
            if out_dir is None:
                raise ValueError('dump_scores=True needs out_dir')
            dumps = {
                f'{lam:g}':
                osp.join(out_dir, f'{report_split}_scores_lam{lam:g}.npz')
                for lam in (0.0, best_lam)
            }
        report = dict(
            baseline=score_report(0.0, dumps.get('0')),
            fixed=score_report(fixed_lam),
            varying=score_report(best_lam, dumps.get(f'{best_lam:g}')))

    out = dict(
        metric=metric,
        select_split=select_split,
        report_split=report_split,
        same_data=same_data,
        lams=lams,
        select=select,
        best_lam=best_lam,
        fixed_lam=fixed_lam,
        report=report,
        source_checkpoint=str(checkpoint))
    if dumps:
        out['scores'] = dumps
    if out_dir is not None:
        out.update(
            _write_retrofit(cfg, model, dataset_meta, checkpoint, best_lam,
                            out_dir))
        out['json'] = osp.join(out_dir, 'retrofit_csra.json')
        write_json(out, out['json'])
    return out


def write_json(result: dict, path: str) -> None:
    """Write a :func:`retrofit_csra` result as JSON."""
    import json
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(result, f, indent=2)


def _write_retrofit(cfg: Config, model, dataset_meta: dict, checkpoint: str,
                    lam: float, out_dir: str) -> dict:
    """The model with ``CSRARetrofitHead(lam)`` as a config + checkpoint."""
    from mmcsra.apis.model_zoo import to_plain_python

    if _is_vit(cfg.model):
        return {}  # CSRARetrofitHead pools a (B, D, H, W) map, not tokens
    os.makedirs(out_dir, exist_ok=True)
    new_cfg = copy.deepcopy(cfg)
    new_cfg.model.neck = None
    new_cfg.model.head = dict(
        type='CSRARetrofitHead', head=cfg.model.head, lam=lam)
    new_cfg.load_from = None
    cfg_path = osp.join(out_dir, 'retrofit_csra.py')
    new_cfg.dump(cfg_path)
    state = {
        ('head.head.' + k[len('head.'):] if k.startswith('head.') else k):
        v.cpu()
        for k, v in model.state_dict().items()
    }
    meta = dict(
        dataset_meta=to_plain_python(dataset_meta),
        retrofit_csra=dict(lam=lam, source=str(checkpoint)))
    ckpt_path = osp.join(out_dir, f'retrofit_csra_lam{lam:g}.pth')
    torch.save(dict(meta=meta, state_dict=state), ckpt_path)
    return dict(config=cfg_path, checkpoint=ckpt_path)


#: preferred table columns, by the metric's short name
_PREFERRED = ('mAP', 'top1', 'CF1', 'OF1', 'top5', 'CP', 'CR', 'OP', 'OR')
MAX_TABLE_COLUMNS = 8


def _columns(metrics: Dict[str, float], metric: str, room: int) -> List[str]:
    keys = list(metrics)
    short = {k: k.rpartition('/')[2] for k in keys}
    cols = [metric]
    for name in _PREFERRED:
        cols += [k for k in keys if short[k] == name and k not in cols]
    cols += [k for k in keys if k not in cols]
    return cols[:room]


def format_retrofit_table(result: dict) -> str:
    """A markdown table, at most 8 columns: what, split, λ and up to five
    metrics (the selection metric first). The λ sweep on the selection split,
    then the baseline, fixed-λ and varying-λ rows on the reported split; the
    full metrics are in the JSON."""
    metric = result['metric']
    cols = _columns(result['report']['baseline'], metric,
                    MAX_TABLE_COLUMNS - 3)
    names = [c.rpartition('/')[2] for c in cols]
    lines = [
        '| row | split | λ | ' + ' | '.join(names) + ' |',
        '|---' * (len(cols) + 3) + '|'
    ]

    def row(what, split, lam, metrics):
        cells = [f'{metrics[c]:.2f}' if c in metrics else '-' for c in cols]
        lines.append(f'| {what} | {split} | {lam:g} | ' + ' | '.join(cells) +
                     ' |')

    for entry in result['select']:
        mark = 'sweep (selected)' if entry['lam'] == result[
            'best_lam'] else 'sweep'
        row(mark, result['select_split'], entry['lam'], entry['metrics'])
    report = result['report']
    row('baseline', result['report_split'], 0.0, report['baseline'])
    row('fixed λ', result['report_split'], result['fixed_lam'],
        report['fixed'])
    row('varying λ', result['report_split'], result['best_lam'],
        report['varying'])
    return '\n'.join(lines)
