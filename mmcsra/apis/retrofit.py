"""Training-free CSRA retrofit of a trained GAP + linear classifier.

Zhu & Wu (ICCV 2021), Sec. 3.4 ("4 lines of code"): apply the trained
classifier at every location and score ``y_avg + λ·y_max``. λ = 0 is the
original model. :func:`retrofit_csra` sweeps λ on the config's test set with
one backbone pass, and can write the retrofitted config and checkpoint.
"""
import copy
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint
from mmpretrain.registry import METRICS, MODELS

from mmcsra.models.heads.csra_retrofit_head import avg_and_max_logits

__all__ = ['retrofit_csra', 'check_retrofit_supported', 'format_retrofit_table']


def check_retrofit_supported(model_cfg) -> None:
    """Raise a clear error unless the model is ImageClassifier + GAP + linear.
    """
    if model_cfg.get('type') != 'ImageClassifier':
        raise ValueError('the retrofit supports `ImageClassifier` models, got '
                         f"{model_cfg.get('type')!r}")
    neck = model_cfg.get('neck') or {}
    if neck.get('type') != 'GlobalAveragePooling':
        raise ValueError('the retrofit needs a `GlobalAveragePooling` neck '
                         f"(the model has {neck.get('type')!r})")
    if neck.get('dim', 2) != 2:
        raise ValueError('the retrofit needs 2-D global average pooling of a '
                         '(B, D, H, W) map')


@torch.no_grad()
def _collect_logits(model, dataloader, device: str):
    """One pass over the test set: original logits, max logits, samples."""
    avg_list, max_list, samples = [], [], []
    for data in dataloader:
        data = model.data_preprocessor(data, False)
        feats = model.extract_feat(data['inputs'], stage='backbone')
        y_orig = model.head(model.neck(feats))  # the model's own logits
        _, y_max = avg_and_max_logits(model.head.fc, feats[-1])
        avg_list.append(y_orig.float().cpu())
        max_list.append(y_max.float().cpu())
        samples.extend(data['data_samples'])
    return torch.cat(avg_list), torch.cat(max_list), samples


def _evaluate(head, evaluator: Evaluator, logits: torch.Tensor,
              samples: List, batch_size: int) -> Dict[str, float]:
    for start in range(0, len(samples), batch_size):
        batch = [copy.copy(s) for s in samples[start:start + batch_size]]
        preds = head._get_predictions(logits[start:start + batch_size],
                                      batch)
        evaluator.process(data_samples=preds)
    return evaluator.evaluate(len(samples))


def retrofit_csra(config,
                  checkpoint: str,
                  lams: Sequence[float] = (0, 0.02, 0.1, 0.2, 0.5, 1),
                  out_dir: Optional[str] = None,
                  metric: Optional[str] = None,
                  device: str = 'cpu') -> dict:
    """Sweep λ of the training-free ``y_avg + λ·y_max`` retrofit.

    Args:
        config (str | Config): config of an ``ImageClassifier`` with a
            ``GlobalAveragePooling`` neck and a linear head (``fc``), CNN or
            ViT (``out_type='featmap'``).
        checkpoint (str): its trained weights (loaded with mmcsra's
            ``weights_only`` allow-list).
        lams (Sequence[float]): the λ values to evaluate (each >= 0).
        out_dir (str, optional): where to write ``retrofit_csra.py`` and
            ``retrofit_csra_lam{λ}.pth`` for the best λ.
        metric (str, optional): metric key that picks the best λ (higher is
            better). Defaults to the first key the test evaluator returns.
        device (str): device of the pass. Defaults to ``'cpu'``.

    Returns:
        dict: ``results`` (list of ``(λ, metrics)``), ``metric``,
        ``best_lam``, and ``config``/``checkpoint`` paths when written.
    """
    lams = [float(lam) for lam in lams]
    if not lams or min(lams) < 0:
        raise ValueError(f'lams must be a non-empty list of values >= 0, '
                         f'got {lams}')
    cfg = config if isinstance(config, Config) else Config.fromfile(config)
    check_retrofit_supported(cfg.model)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))

    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:  # as mmengine's Runner does
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    ckpt = load_checkpoint(model, checkpoint, map_location='cpu',
                           strict=True)
    model.to(device).eval()
    if not isinstance(getattr(model.head, 'fc', None), torch.nn.Linear):
        raise TypeError(f'{type(model.head).__name__} has no linear '
                        'classifier `fc`; the retrofit supports linear heads')

    loader_cfg = copy.deepcopy(cfg.test_dataloader)
    loader_cfg['num_workers'] = loader_cfg.get('num_workers', 0)
    if loader_cfg['num_workers'] == 0:
        loader_cfg['persistent_workers'] = False
    dataloader = Runner.build_dataloader(loader_cfg)
    avg, mx, samples = _collect_logits(model, dataloader, device)

    evaluator_cfg = cfg.test_evaluator
    if isinstance(evaluator_cfg, dict):
        evaluator_cfg = [evaluator_cfg]
    evaluator = Evaluator([METRICS.build(m) for m in evaluator_cfg])
    evaluator.dataset_meta = dataloader.dataset.metainfo

    results = []
    for lam in lams:
        metrics = _evaluate(model.head, evaluator, avg + lam * mx, samples,
                            dataloader.batch_size or 1)
        results.append((lam, metrics))
    if metric is None:
        metric = next(iter(results[0][1]))
    if metric not in results[0][1]:
        raise KeyError(f'metric {metric!r} not among {list(results[0][1])}')
    best_lam = max(results, key=lambda r: r[1][metric])[0]
    out = dict(results=results, metric=metric, best_lam=best_lam)

    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        new_cfg = copy.deepcopy(cfg)
        new_cfg.model.neck = None
        new_cfg.model.head = dict(
            type='CSRARetrofitHead', head=cfg.model.head, lam=best_lam)
        new_cfg.load_from = None
        cfg_path = osp.join(out_dir, 'retrofit_csra.py')
        new_cfg.dump(cfg_path)
        state = {('head.head.' + k[len('head.'):] if k.startswith('head.')
                  else k): v for k, v in model.state_dict().items()}
        meta = dict(ckpt.get('meta', {})) if isinstance(ckpt, dict) else {}
        meta.update(retrofit_csra=dict(lam=best_lam, source=checkpoint))
        ckpt_path = osp.join(out_dir, f'retrofit_csra_lam{best_lam:g}.pth')
        torch.save(dict(meta=meta, state_dict=state), ckpt_path)
        out.update(config=cfg_path, checkpoint=ckpt_path)
    return out


def format_retrofit_table(result: dict) -> str:
    """A markdown table of every metric vs λ, the best λ marked."""
    keys = list(result['results'][0][1])
    lines = ['| λ | ' + ' | '.join(keys) + ' |',
             '|---' * (len(keys) + 1) + '|']
    for lam, metrics in result['results']:
        mark = ' (best)' if lam == result['best_lam'] else ''
        cells = [f'{metrics[k]:.4f}' if isinstance(metrics[k], float) else
                 str(metrics[k]) for k in keys]
        lines.append(f'| {lam:g}{mark} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
