"""Multi-label classification head with class-specific residual attention."""
from typing import Optional, Sequence, Tuple

import torch
from mmpretrain.registry import MODELS

from .multi_head_csra import MultiHeadCSRA
from .multi_label_head_base import MultiLabelHeadBase, build_cosine_loss


@MODELS.register_module()
class CSRAHead(MultiLabelHeadBase):
    r"""Multi-label head with class-specific residual attention (CSRA).

    `Residual Attention: A Simple but Effective Method for Multi-Label
    Recognition <https://arxiv.org/abs/2108.02456>`_ (Zhu & Wu, ICCV 2021).

    The logits are those of :class:`MultiHeadCSRA` on the last backbone
    stage:

    .. math::
        y_i = \sum_h \Big(\frac{1}{N}\sum_j s^h_{ij} + \lambda
              \sum_j \mathrm{softmax}_j(T_h s^h_{ij})\, s^h_{ij}\Big),
        \qquad s^h_{ij} = x_j^\top m^h_i / \lVert m^h_i \rVert,

    with max pooling for :math:`T_h = \infty`. Training and inference follow
    MMPretrain's ``MultiLabelClsHead`` (sigmoid scores, ``thr`` / ``topk``)
    with the ignore mask of :class:`MultiLabelHeadBase`. With the same
    weights the logits equal MMPretrain's ``CSRAClsHead`` (whose ``T = 99``
    is max pooling, ``float('inf')`` here).

    Args:
        num_classes (int): number of classes C.
        in_channels (int): channels D of the last backbone stage.
        num_heads (int, optional): number of heads H; alone, it selects the
            paper's temperatures (H in {1, 2, 4, 6, 8}). Defaults to None:
            ``len(temperatures)`` if given, else 1.
        lam (float): λ >= 0, weight of the attention term. Defaults to 0.1.
        temperatures (Sequence[float], optional): explicit per-head
            temperatures > 0, ``float('inf')`` = max pooling. Defaults to
            None.
        mode (str): ``'residual'`` (CSRA), ``'avg'`` (average pooling only)
            or ``'attention'`` (attention pooling only). Defaults to
            ``'residual'``.
        normalize_weight (bool): score with L2-normalised classifier weights.
            Defaults to True.
        num_extra_tokens (int): leading tokens of ``(B, N, D)`` token input
            to drop (1 = ViT class token, 2 = DeiT class + distillation
            tokens). Must be 0 for ``(B, D, H, W)`` feature maps. Defaults
            to 0.
        cosine (bool): the cosine variant (:class:`CosineMultiHeadCSRA`): the
            head returns cos θ between each class weight and the
            class-specific feature (averaged over heads), for a margin loss
            on cosines such as ``AsymmetricAngularMarginLoss``; scores at
            inference are ``sigmoid(scale * cos θ)``. Defaults to False.
        scale (float, optional): ``s`` of the cosine variant; None takes the
            loss's ``scale`` (they must agree). Only with ``cosine=True``.
        loss (dict): loss config; mmcsra's or MMPretrain's (e.g.
            ``CrossEntropyLoss(use_sigmoid=True)``), called as described in
            :class:`MultiLabelHeadBase`. Defaults to
            ``dict(type='MultiLabelBCELoss')``.
        thr (float, optional): score threshold of a positive prediction.
        topk (int, optional): predict the k best classes as positive. If
            neither is set, ``thr=0.5``; if both, ``thr`` wins.
        init_cfg (dict, optional): Defaults to
            ``dict(type='Normal', layer='Linear', std=0.01)``, which
            initialises the stacked classifier (an ``nn.Linear``).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 num_heads: Optional[int] = None,
                 lam: float = 0.1,
                 temperatures: Optional[Sequence[float]] = None,
                 mode: str = 'residual',
                 normalize_weight: bool = True,
                 num_extra_tokens: int = 0,
                 cosine: bool = False,
                 scale: Optional[float] = None,
                 loss: dict = dict(type='MultiLabelBCELoss'),
                 thr: Optional[float] = None,
                 topk: Optional[int] = None,
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Linear', std=0.01)):
        loss, scale = build_cosine_loss('CSRAHead', loss, scale, cosine=cosine)
        super().__init__(
            cosine_scale=scale,
            loss=loss,
            thr=thr,
            topk=topk,
            init_cfg=init_cfg)
        self.num_classes = num_classes
        # initialised through this head's init_cfg; cosine=True makes it a
        # CosineMultiHeadCSRA
        self.csra = MultiHeadCSRA(
            num_classes=num_classes,
            in_channels=in_channels,
            num_heads=num_heads,
            lam=lam,
            temperatures=temperatures,
            mode=mode,
            normalize_weight=normalize_weight,
            num_extra_tokens=num_extra_tokens,
            cosine=cosine,
            init_cfg=None)

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """The last stage of the backbone output ``feats``.

        Args:
            feats (tuple[Tensor]): one tensor per backbone stage, each a
                ``(B, D, H, W)`` feature map or ``(B, N, D)`` tokens.
        """
        if isinstance(feats, torch.Tensor) or not isinstance(
                feats, Sequence) or len(feats) == 0:
            raise TypeError(
                'CSRAHead expects the backbone/neck output: a non-empty '
                'tuple of per-stage tensors, got '
                f'{type(feats).__name__}')
        last = feats[-1]
        if not isinstance(last, torch.Tensor):
            raise TypeError(
                'the last stage of feats must be a tensor (B, D, H, W) or '
                f'(B, N, D), got {type(last).__name__}')
        return last

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """``(B, num_classes)`` logits of the last stage of ``feats``."""
        return self.csra(self.pre_logits(feats))  # [B, C]

    def attention_maps(self,
                       feats: Tuple[torch.Tensor],
                       temperature: Optional[float] = None) -> torch.Tensor:
        """``(B, H, C, N)`` class-specific attention on the last stage.

        See :meth:`MultiHeadCSRA.attention_maps`.
        """
        return self.csra.attention_maps(self.pre_logits(feats), temperature)
