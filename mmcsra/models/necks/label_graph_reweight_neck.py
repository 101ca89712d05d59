from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from mmcsra.utils.label_graph import (build_label_graph, load_adjacency,
                                      load_cooccurrence, load_label_embeddings)
from ..utils.graph_layers import GraphAttention, GraphConvolution

ArrayOrPath = Union[str, np.ndarray, Sequence]
LAYER_TYPES = {'gcn': GraphConvolution, 'gat': GraphAttention}


def load_graph_inputs(
        num_classes: int, cooccurrence: Optional[Union[ArrayOrPath, dict]],
        adjacency: Optional[ArrayOrPath],
        label_embeddings: Optional[ArrayOrPath],
        class_indices: Optional[Sequence[int]], t: float, p: float,
        convention: str) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Config-time loading of the neck's fixed inputs (the only file reads).

    Returns:
        tuple: the normalised adjacency (C, C) and the label embeddings
        (C, E) or None.
    """
    if (cooccurrence is None) == (adjacency is None):
        raise ValueError('LabelGraphReweightNeck needs exactly one of '
                         '`cooccurrence` (counts) and `adjacency` (ready)')
    if cooccurrence is not None:
        if isinstance(cooccurrence, str):
            counts, nums = load_cooccurrence(cooccurrence, class_indices)
        else:
            if not {'adj', 'nums'} <= set(cooccurrence):
                raise KeyError('`cooccurrence` must be a .npz path or a dict '
                               'with `adj` and `nums`')
            counts = np.asarray(cooccurrence['adj'])
            nums = np.asarray(cooccurrence['nums'])
            if class_indices is not None:
                idx = np.asarray(class_indices, dtype=np.int64)
                counts, nums = counts[np.ix_(idx, idx)], nums[idx]
        adj = build_label_graph(counts, nums, t=t, p=p, convention=convention)
        source = 'cooccurrence'
    else:
        adj = (
            load_adjacency(adjacency) if isinstance(adjacency, str) else
            np.asarray(adjacency, dtype=np.float32))
        source = 'adjacency'
    if adj.shape != (num_classes, num_classes):
        raise ValueError(f'`{source}` gives a {adj.shape} graph, expected '
                         f'({num_classes}, {num_classes})')

    embeddings = None
    if label_embeddings is not None:
        if isinstance(label_embeddings, str):
            embeddings = load_label_embeddings(label_embeddings, class_indices)
        else:
            embeddings = np.asarray(label_embeddings, dtype=np.float32)
            if class_indices is not None:
                embeddings = embeddings[np.asarray(class_indices)]
        if embeddings.ndim != 2 or embeddings.shape[0] != num_classes:
            raise ValueError(f'`label_embeddings` has shape '
                             f'{embeddings.shape}, expected ({num_classes}, '
                             f'E)')
    return adj, embeddings


@MODELS.register_module()
class LabelGraphReweightNeck(BaseModule):
    """Channel re-weighting of the backbone features by a label graph.

    Prokofiev & Sovrasov, *Combining Metric Learning and Attention Heads for
    Accurate and Efficient Multilabel Image Classification*, VISAPP 2023
    (https://arxiv.org/abs/2209.06585), graph branch; the graph is ML-GCN's
    (Chen et al., *Multi-Label Image Recognition with Graph Convolutional
    Networks*, CVPR 2019, https://arxiv.org/abs/1904.03582).

    Two graph layers map the label embeddings :math:`Z \\in R^{C \\times E}`
    over the label graph :math:`\\hat A` to node features, which are
    max-pooled over the classes into channel weights of the feature map
    :math:`F \\in R^{D \\times H \\times W}`:

    .. math::
        X &= g_2(\\hat A,\\ \\mathrm{LeakyReLU}_{0.2}(g_1(\\hat A, Z)))
            \\in R^{C \\times D} \\\\
        w_d &= \\sigma(\\max_c X_{cd}), \\qquad F'_{d} = w_d\\, F_{d}

    :math:`g` is a GCN layer :math:`\\hat A X W` (``layer_type='gcn'``) or a
    graph-attention layer masked by :math:`\\hat A` (``'gat'``, the paper's
    choice); see :mod:`mmcsra.models.utils.graph_layers`.
    :math:`\\hat A` comes from the training-set co-occurrence counts via
    :func:`mmcsra.utils.label_graph.build_label_graph` (threshold ``t``,
    re-weighting ``p``), or is given ready.

    **Caching.** :math:`w` does not depend on the image. In eval mode with
    autograd off (``torch.no_grad`` / ``inference_mode``, as in MMEngine's
    val/test loops) it is computed once and reused. The cache is keyed on
    the storage pointer and the autograd version counter of every parameter
    and buffer of the neck, so any in-place update (optimizer steps, EMA
    ``lerp_``, ``copy_``) or ``.to()`` invalidates it; it is also cleared by
    ``train()`` / ``eval()`` (so MMEngine's EMA swap, which writes through
    ``.data`` before ``model.eval()``, is seen) and by ``load_state_dict``.
    Writes through ``param.data`` while staying in eval mode bypass the
    version counter: call :meth:`clear_cache` after those. In train mode, or
    with autograd on, :math:`w` is recomputed on every call.

    The adjacency and fixed label embeddings are persistent buffers, so a
    checkpoint carries the graph it was trained with.

    Args:
        num_classes (int): C.
        in_channels (int): D, channels of the re-weighted feature map (the
            last backbone output).
        cooccurrence (str | dict, optional): co-occurrence counts, a ``.npz``
            path with ``adj`` (C, C) and ``nums`` (C,) (the format of
            ``tools/build_label_graph.py`` and the ML-GCN data), or a dict
            with those arrays. Exactly one of ``cooccurrence`` and
            ``adjacency`` is required.
        adjacency (str | array, optional): a ready (C, C) adjacency
            :math:`\\hat A`, array or ``.npy`` path, used as given.
        label_embeddings (str | array, optional): (C, E) label embeddings
            (e.g. GloVe, ``.npy`` path or array). None (default): learnable
            embeddings of size ``embed_dims`` drawn from N(0, 1).
        learnable_embeddings (bool): also train given ``label_embeddings``
            (as the paper's released code does). Defaults to False: they are
            a fixed buffer, as in ML-GCN.
        embed_dims (int): E when no ``label_embeddings`` are given.
            Defaults to 300.
        hidden_channels (int): output size of the first graph layer.
            Defaults to 1024 (ML-GCN).
        layer_type (str): ``'gat'`` (default) or ``'gcn'``.
        t (float): binarisation threshold of P(j|i). Defaults to 0.4.
        p (float): neighbour re-weighting. Defaults to 0.25.
        convention (str): ``'paper'`` (ML-GCN Eq. 8, default) or
            ``'official'`` (ML-GCN's released ``gen_A``); see
            :mod:`mmcsra.utils.label_graph`.
        class_indices (Sequence[int], optional): row of the co-occurrence /
            embedding inputs for each model class, e.g. from
            :func:`mmcsra.utils.label_graph.class_indices_by_name` for the
            alphabetically sorted ML-GCN COCO files. Not applied to a ready
            ``adjacency``.
        negative_slope (float): LeakyReLU slope between the graph layers.
            Defaults to 0.2.
        act_after_last (bool): also apply the LeakyReLU after the second
            layer, before the max-pooling (the paper's released code does).
            Defaults to False (ML-GCN: only between the layers).
        init_cfg (dict, optional): the graph layers initialise themselves;
            defaults to None.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 cooccurrence: Optional[Union[str, dict]] = None,
                 adjacency: Optional[ArrayOrPath] = None,
                 label_embeddings: Optional[ArrayOrPath] = None,
                 learnable_embeddings: bool = False,
                 embed_dims: int = 300,
                 hidden_channels: int = 1024,
                 layer_type: str = 'gat',
                 t: float = 0.4,
                 p: float = 0.25,
                 convention: str = 'paper',
                 class_indices: Optional[Sequence[int]] = None,
                 negative_slope: float = 0.2,
                 act_after_last: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if layer_type not in LAYER_TYPES:
            raise ValueError(f'layer_type must be one of '
                             f'{sorted(LAYER_TYPES)}, got {layer_type!r}')
        adj, embeddings = load_graph_inputs(num_classes, cooccurrence,
                                            adjacency, label_embeddings,
                                            class_indices, t, p, convention)
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.layer_type = layer_type
        self.negative_slope = negative_slope
        self.act_after_last = act_after_last

        self.register_buffer('adjacency', torch.from_numpy(adj).float())
        if embeddings is None:
            self.embeddings = nn.Parameter(
                torch.randn(num_classes, embed_dims))
        elif learnable_embeddings:
            self.embeddings = nn.Parameter(torch.from_numpy(embeddings))
        else:
            self.register_buffer('embeddings', torch.from_numpy(embeddings))
        layer = LAYER_TYPES[layer_type]
        self.graph1 = layer(self.embeddings.size(1), hidden_channels)
        self.graph2 = layer(hidden_channels, in_channels)
        self._cache: Optional[tuple] = None

    # ------------------------------------------------------------- caching
    def clear_cache(self) -> None:
        """Forget the cached channel weights."""
        self._cache = None

    def _cache_key(self) -> tuple:
        tensors = list(self.parameters()) + list(self.buffers())
        return tuple((str(x.device), x.dtype, x.data_ptr(), x._version)
                     for x in tensors)

    def train(self, mode: bool = True):
        self.clear_cache()
        return super().train(mode)

    def _load_from_state_dict(self, *args, **kwargs):
        self.clear_cache()
        super()._load_from_state_dict(*args, **kwargs)

    # ------------------------------------------------------------- forward
    def graph_features(self) -> torch.Tensor:
        """Node features X (C, D) of the two graph layers."""
        x = self.graph1(self.embeddings, self.adjacency)  # [C, hidden]
        x = F.leaky_relu(x, self.negative_slope)
        x = self.graph2(x, self.adjacency)  # [C, D]
        if self.act_after_last:
            x = F.leaky_relu(x, self.negative_slope)
        return x

    def compute_channel_weights(self) -> torch.Tensor:
        """w = σ(max over classes of X), (D,), always recomputed."""
        return torch.sigmoid(self.graph_features().amax(dim=0))  # [D]

    def channel_weights(self) -> torch.Tensor:
        """w (D,), from the cache in eval mode with autograd off."""
        if self.training or torch.is_grad_enabled():
            return self.compute_channel_weights()
        key = self._cache_key()
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self.compute_channel_weights())
        return self._cache[1]

    def forward(
        self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]]
    ) -> Union[torch.Tensor, tuple]:
        """Re-weight the channels of the last feature map.

        Args:
            inputs: a tensor (B, D, ...) or a tuple of backbone outputs whose
                last is (B, D, ...); the others pass through unchanged.

        Returns:
            The same structure with the last tensor re-weighted.
        """
        single = isinstance(inputs, torch.Tensor)
        feats = (inputs, ) if single else tuple(inputs)
        last = feats[-1]  # [B, D, H, W]
        if last.dim() < 2 or last.size(1) != self.in_channels:
            raise ValueError(f'LabelGraphReweightNeck expects the last input '
                             f'as (B, {self.in_channels}, ...), got '
                             f'{tuple(last.shape)}')
        weights = self.channel_weights().to(last.dtype)  # [D]
        shape = (1, self.in_channels) + (1, ) * (last.dim() - 2)
        reweighted = last * weights.view(shape)  # [B, D, H, W]
        return reweighted if single else feats[:-1] + (reweighted, )
