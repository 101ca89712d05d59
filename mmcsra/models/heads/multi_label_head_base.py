from typing import List, Optional

import torch
from mmpretrain.models.heads import MultiLabelClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmcsra.structures import stack_multi_label_targets


class MultiLabelHeadBase(MultiLabelClsHead):
    """MMPretrain's ``MultiLabelClsHead`` with ignore-aware targets.

    The loss receives ``weight`` = 0 at the entries listed in each sample's
    ``gt_ignore`` so ignored classes contribute no loss. Prediction keeps
    MMPretrain's semantics: sigmoid scores, then ``thr`` or ``topk``.
    Subclasses implement ``forward(feats) -> (B, C)``.

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
        loss = self.loss_module(cls_score, target, weight=valid, **kwargs)
        return dict(loss=loss)

    def _get_predictions(self, cls_score: torch.Tensor,
                         data_samples: List[DataSample]):
        if self.cosine_scale is not None:
            cls_score = self.cosine_scale * cls_score
        # the parent applies the sigmoid and the thr / topk decision
        return super()._get_predictions(cls_score, data_samples)


def build_cosine_loss(head: str, loss, scale: Optional[float],
                      scale_arg: str = 'scale'):
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

    Returns:
        tuple: ``(loss_module, scale)``.

    Raises:
        ValueError: if neither gives a scale, or if they disagree.
    """
    loss_module = loss if isinstance(loss, torch.nn.Module) \
        else MODELS.build(loss)
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
