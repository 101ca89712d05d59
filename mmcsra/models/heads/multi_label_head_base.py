"""The base of mmcsra's multi-label heads and the checks they share."""
from numbers import Integral
from typing import List, Optional

import torch
import torch.nn as nn
from mmpretrain.models.heads import MultiLabelClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmcsra.structures import stack_multi_label_targets


def check_count(value, name: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (a bool is not a count).

    Raises:
        ValueError: naming ``name`` and the value.
    """
    if isinstance(value, bool) or not isinstance(value, Integral) \
            or value < minimum:
        raise ValueError(f'{name} must be an int >= {minimum}, got '
                         f'{value!r}')
    return int(value)


def takes_elementwise_weight(loss_module: nn.Module) -> bool:
    """Whether ``loss_module`` accepts a ``(B, C)`` ``weight``.

    mmcsra's losses declare it (``elementwise_weight = True``, see
    :class:`mmcsra.models.losses.MultiLabelLoss`). MMPretrain's
    ``CrossEntropyLoss``, ``FocalLoss`` and ``AsymmetricLoss`` take only
    per-sample ``(B,)`` weights (they assert ``weight.dim() == 1``), and a
    loss that does not declare it is treated the same way.
    """
    return bool(getattr(loss_module, 'elementwise_weight', False))


class MultiLabelHeadBase(MultiLabelClsHead):
    """MMPretrain's ``MultiLabelClsHead`` with ignore-aware targets.

    Targets: the multi-hot ``gt_label`` (or ``gt_score``) of each sample,
    and a validity mask :math:`v_{bi}` = 0 at the classes listed in its
    ``gt_ignore``, else 1. The loss is called as

    * ``loss(logits, target, weight=v)`` when some entry is ignored and the
      loss takes element-wise weights (mmcsra's losses, whose ``'mean'`` is
      over the non-ignored entries), so ignored entries add no loss;
    * ``loss(logits, target)`` for such a loss when nothing is ignored (the
      same value as with :math:`v = 1`);
    * ``loss(logits, target, avg_factor=B)`` for any other loss, e.g.
      MMPretrain's ``CrossEntropyLoss(use_sigmoid=True)``, ``FocalLoss`` or
      ``AsymmetricLoss``: exactly what MMPretrain's ``MultiLabelClsHead``
      does (``'mean'`` = sum over the classes, mean over the batch). If a
      sample has ignored classes, such a loss can not honour them and the
      head raises an error that names the loss, rather than dropping the
      mask.

    Prediction keeps MMPretrain's semantics: sigmoid scores, then ``thr`` or
    ``topk``. Subclasses implement ``forward(feats) -> (B, C)``.

    Args:
        cosine_scale (float, optional): set by cosine (normalised) heads
            whose ``forward`` returns cos θ in [-1, 1] for a margin loss such
            as AAM. Scores at inference are then ``sigmoid(s * cos θ)``, with
            no margin. ``None`` (default): ``forward`` returns logits and the
            scores are ``sigmoid(logits)``.
        **kwargs: ``loss``, ``thr``, ``topk``, ``init_cfg`` of
            ``MultiLabelClsHead``.
    """

    def __init__(self, cosine_scale: Optional[float] = None, **kwargs):
        super().__init__(**kwargs)
        if cosine_scale is not None and cosine_scale <= 0:
            raise ValueError(f'cosine_scale must be > 0, got {cosine_scale}')
        self.cosine_scale = cosine_scale

    def _get_loss(self, cls_score: torch.Tensor,
                  data_samples: List[DataSample], **kwargs) -> dict:
        target, valid = stack_multi_label_targets(
            data_samples, cls_score.size(-1), device=cls_score.device)
        target = target.to(cls_score.dtype)  # [B, C]
        something_ignored = not bool(valid.all())
        if takes_elementwise_weight(self.loss_module):
            if something_ignored:
                kwargs['weight'] = valid  # [B, C], 0 = ignored
        elif something_ignored:
            raise ValueError(
                f'{type(self).__name__}: this batch has ignored labels '
                f'(gt_ignore) but the loss {type(self.loss_module).__name__} '
                'takes no element-wise (B, C) weight to ignore them. Use a '
                'loss that does (MultiLabelBCELoss, MultiLabelAsymmetricLoss, '
                'AsymmetricAngularMarginLoss), or drop gt_ignore from the '
                "training pipeline's PackInputs(algorithm_keys=...).")
        else:  # as MMPretrain's MultiLabelClsHead
            kwargs.setdefault('avg_factor', cls_score.size(0))
        return dict(loss=self.loss_module(cls_score, target, **kwargs))

    def _get_predictions(self, cls_score: torch.Tensor,
                         data_samples: List[DataSample]):
        if self.cosine_scale is not None:
            cls_score = self.cosine_scale * cls_score
        # the parent applies the sigmoid and the thr / topk decision
        return super()._get_predictions(cls_score, data_samples)


def build_cosine_loss(head: str,
                      loss,
                      scale: Optional[float],
                      scale_arg: str = 'scale',
                      cosine: bool = True,
                      flag: str = 'cosine=True') -> tuple:
    """Build a cosine head's loss and the scale ``s`` of its scores.

    A cosine head's scores are ``sigmoid(s * cos)`` at inference, and its
    margin loss (e.g. AAM) scales the cosines by its own ``scale`` in
    training; the two must be the same ``s``.

    Args:
        head (str): the head's name, for the error messages.
        loss (dict | nn.Module): the loss config or module.
        scale (float, optional): ``s``; None takes the loss's ``scale``.
        scale_arg (str): the head's name for ``scale``, for the error
            messages. Defaults to ``'scale'``.
        cosine (bool): whether the head is in its cosine mode. If False the
            loss is returned as given and ``scale`` must be None. Defaults
            to True.
        flag (str): the head's argument that turns the cosine mode on, for
            the error messages. Defaults to ``'cosine=True'``.

    Returns:
        tuple: ``(loss, scale)``, the loss built when ``cosine``.

    Raises:
        ValueError: if neither gives a scale, if they disagree, or if a
            scale is given without the cosine mode.
    """
    if not cosine:
        if scale is not None:
            raise ValueError(f'{head}: {scale_arg} is the s of sigmoid(s * '
                             f'cos) and needs {flag}')
        return loss, None
    loss_module = loss if isinstance(loss, nn.Module) else MODELS.build(loss)
    loss_scale = getattr(loss_module, 'scale', None)
    if scale is None:
        if loss_scale is None:
            raise ValueError(
                f'{head}: `{scale_arg}` is not given and the loss '
                f'{type(loss_module).__name__} has no `scale` attribute; '
                f'set {scale_arg}=s (inference scores are sigmoid(s * cos)).')
        scale = float(loss_scale)
    elif loss_scale is not None and float(loss_scale) != float(scale):
        raise ValueError(f'{head}: {scale_arg}={scale} differs from the loss '
                         f'scale {loss_scale}; inference would not match '
                         'training.')
    return loss_module, float(scale)
