from typing import List

import torch
from mmpretrain.models.heads import MultiLabelClsHead
from mmpretrain.structures import DataSample

from mmcsra.structures import stack_multi_label_targets


class MultiLabelHeadBase(MultiLabelClsHead):
    """MMPretrain's ``MultiLabelClsHead`` with ignore-aware targets.

    The loss receives ``weight`` = 0 at the entries listed in each sample's
    ``gt_ignore`` so ignored classes contribute no loss. Prediction keeps
    MMPretrain's semantics: sigmoid scores, then ``thr`` or ``topk``.
    Subclasses implement ``forward(feats) -> (B, C) logits``.
    """

    def _get_loss(self, cls_score: torch.Tensor,
                  data_samples: List[DataSample], **kwargs) -> dict:
        target, valid = stack_multi_label_targets(
            data_samples, cls_score.size(-1), device=cls_score.device)
        loss = self.loss_module(cls_score, target, weight=valid, **kwargs)
        return dict(loss=loss)
