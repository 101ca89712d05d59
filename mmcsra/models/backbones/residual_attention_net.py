"""Residual Attention Network (Wang et al., CVPR 2017).

Fei Wang, Mengqing Jiang, Chen Qian, Shuo Yang, Cheng Li, Honggang Zhang,
Xiaogang Wang, Xiaoou Tang. "Residual Attention Network for Image
Classification", CVPR 2017. https://arxiv.org/abs/1704.06904

The layer layout follows the authors' released Caffe deploy files
(``Attention-56-deploy.prototxt`` / ``Attention-92-deploy.prototxt``):
pre-activation bottleneck units everywhere, a soft-mask branch that pools
straight from the output of the first (pre-processing) unit, one residual
unit on every skip connection, bilinear up-sampling to the size of the
matching bottom-up tensor, and ``BN-ReLU-1x1-BN-ReLU-1x1-sigmoid`` at the end
of the mask.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.registry import MODELS

__all__ = [
    'PreActBottleneck', 'SoftMaskBranch', 'AttentionModule',
    'ResidualAttentionNet'
]

_UPSAMPLE_MODES = ('bilinear', 'nearest')


def _norm(norm_cfg: dict, channels: int) -> nn.Module:
    return build_norm_layer(norm_cfg, channels)[1]


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck residual unit (He et al., ECCV 2016).

    "Identity Mappings in Deep Residual Networks", https://arxiv.org/abs/
    1603.05027. Every convolution is preceded by BN-ReLU and the unit adds
    its residual to an untouched identity:

    .. math::
        y = h(x) + W_3\\,\\sigma(\\mathrm{BN}(W_2\\,\\sigma(\\mathrm{BN}(
            W_1\\,\\sigma(\\mathrm{BN}(x))))))

    with :math:`h(x) = x`, or a 1x1 (strided) projection of the
    pre-activated input :math:`\\sigma(\\mathrm{BN}(x))` when the shape
    changes. The output is the raw sum (no BN-ReLU): the next unit
    pre-activates it.

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels, a multiple of ``expansion``.
        stride (int): stride of the 3x3 convolution (and of the projection).
            Defaults to 1.
        expansion (int): ``out_channels / mid_channels`` of the bottleneck.
            Defaults to 4.
        norm_cfg (dict): normalisation layer config. Defaults to
            ``dict(type='BN')``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int = 1,
                 expansion: int = 4,
                 norm_cfg: Optional[dict] = None):
        super().__init__()
        norm_cfg = dict(type='BN') if norm_cfg is None else norm_cfg
        if out_channels % expansion != 0:
            raise ValueError(f'out_channels ({out_channels}) must be a '
                             f'multiple of expansion ({expansion})')
        mid_channels = out_channels // expansion
        self.norm1 = _norm(norm_cfg, in_channels)
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, bias=False)
        self.norm2 = _norm(norm_cfg, mid_channels)
        self.conv2 = nn.Conv2d(
            mid_channels,
            mid_channels,
            3,
            stride=stride,
            padding=1,
            bias=False)
        self.norm3 = _norm(norm_cfg, mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1, bias=False)
        if stride != 1 or in_channels != out_channels:
            self.projection = nn.Conv2d(
                in_channels, out_channels, 1, stride=stride, bias=False)
        else:
            self.projection = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.norm1(x))  # [B, Cin, H, W]
        identity = x if self.projection is None else self.projection(pre)
        out = self.conv1(pre)  # [B, Cmid, H, W]
        out = self.conv2(F.relu(self.norm2(out)))  # [B, Cmid, H/s, W/s]
        out = self.conv3(F.relu(self.norm3(out)))  # [B, Cout, H/s, W/s]
        return out + identity


def _units(num: int, channels: int, norm_cfg: dict) -> nn.Sequential:
    """``num`` shape-preserving pre-activation units (identity if 0)."""
    return nn.Sequential(*[
        PreActBottleneck(channels, channels, norm_cfg=norm_cfg)
        for _ in range(num)
    ])


class SoftMaskBranch(nn.Module):
    """Bottom-up top-down soft-mask branch :math:`M(x)` (Sec. 3.3).

    With ``L = num_levels`` max-pooling steps (3x3, stride 2) and ``r``
    residual units between adjacent pooling layers::

        d_1 = R_r(pool(x)),  d_l = R_r(pool(d_{l-1}))   for l < L
        d_L = R_2r(pool(d_{L-1}))                        (deepest level)
        u_L = d_L
        u_l = R_r(up(u_{l+1}, size(d_l)) + S(d_l))       for l = L-1 .. 1
        M(x) = sigmoid(W_b σ(BN(W_a σ(BN(up(u_1, size(T(x))))))))

    where ``S`` is one residual unit on the skip connection at each
    intermediate resolution (``L - 1`` skips) and ``W_a``, ``W_b`` are 1x1
    convolutions. Up-sampling always targets the size of the tensor it is
    added to, so any input size works (odd sizes included).

    Args:
        channels (int): channels of the input, of every unit and of the mask.
        num_levels (int): number of max-pooling / up-sampling steps, >= 1.
            The paper uses 3, 2, 1 in stages 1, 2, 3 at ImageNet scale.
        mask_units (int): ``r``, residual units between adjacent pooling
            layers. Defaults to 1.
        norm_cfg (dict): normalisation layer config. Defaults to
            ``dict(type='BN')``.
        upsample_mode (str): ``'bilinear'`` (default; with
            ``align_corners=True``, as Caffe's ``Interp`` layer used by the
            authors) or ``'nearest'``.
    """

    def __init__(self,
                 channels: int,
                 num_levels: int,
                 mask_units: int = 1,
                 norm_cfg: Optional[dict] = None,
                 upsample_mode: str = 'bilinear'):
        super().__init__()
        norm_cfg = dict(type='BN') if norm_cfg is None else norm_cfg
        if num_levels < 1:
            raise ValueError(f'num_levels must be >= 1, got {num_levels}')
        if mask_units < 1:
            raise ValueError(f'mask_units must be >= 1, got {mask_units}')
        if upsample_mode not in _UPSAMPLE_MODES:
            raise ValueError(f'upsample_mode must be one of '
                             f'{_UPSAMPLE_MODES}, got {upsample_mode!r}')
        self.num_levels = num_levels
        self.upsample_mode = upsample_mode
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        # down[l]: units after the (l+1)-th pooling; the deepest has 2r
        self.down = nn.ModuleList([
            _units(mask_units * (2 if level == num_levels - 1 else 1),
                   channels, norm_cfg) for level in range(num_levels)
        ])
        # skips[l] / up[l]: at the resolution of down[l], l < num_levels - 1
        self.skips = nn.ModuleList([
            PreActBottleneck(channels, channels, norm_cfg=norm_cfg)
            for _ in range(num_levels - 1)
        ])
        self.up = nn.ModuleList([
            _units(mask_units, channels, norm_cfg)
            for _ in range(num_levels - 1)
        ])
        self.head = nn.Sequential(
            _norm(norm_cfg, channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 1, bias=False),
            _norm(norm_cfg, channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 1, bias=False))

    def _upsample(self, x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        if self.upsample_mode == 'bilinear':
            return F.interpolate(
                x, size=tuple(size), mode='bilinear', align_corners=True)
        return F.interpolate(x, size=tuple(size), mode='nearest')

    def forward(self, x: torch.Tensor,
                out_size: Sequence[int]) -> torch.Tensor:
        """
        Args:
            x (Tensor): [B, C, H, W], output of the pre-processing units.
            out_size (tuple[int, int]): spatial size of the trunk output.

        Returns:
            Tensor: the mask in (0, 1), [B, C, *out_size].
        """
        bottom_up: List[torch.Tensor] = []
        out = x
        for blocks in self.down:
            out = blocks(self.pool(out))  # [B, C, ~H/2^l, ~W/2^l]
            bottom_up.append(out)
        for level in reversed(range(self.num_levels - 1)):
            skip = bottom_up[level]  # [B, C, h_l, w_l]
            out = self._upsample(out, skip.shape[-2:]) + self.skips[level](
                skip)
            out = self.up[level](out)  # [B, C, h_l, w_l]
        out = self._upsample(out, out_size)  # [B, C, *out_size]
        return torch.sigmoid(self.head(out))


class AttentionModule(nn.Module):
    """Attention module: trunk :math:`T(x)`, soft mask :math:`M(x)`.

    Attention residual learning (ARL, Eq. 3 of the paper):

    .. math::
        H_{i,c}(x) = (1 + M_{i,c}(x)) \\cdot T_{i,c}(x)

    or, with ``naive_attention=True``, naive attention learning (NAL,
    Eq. 1): :math:`H_{i,c}(x) = M_{i,c}(x) \\cdot T_{i,c}(x)`. The input
    first goes through ``p`` residual units; trunk (``t`` units) and mask
    both read their output; ``p`` more units follow the fusion.

    Args:
        channels (int): channels in and out.
        mask_levels (int): pooling steps of the mask branch
            (see :class:`SoftMaskBranch`).
        pre_post_units (int): ``p``. Defaults to 1.
        trunk_units (int): ``t``. Defaults to 2.
        mask_units (int): ``r``. Defaults to 1.
        naive_attention (bool): NAL ``M·T`` instead of ARL ``(1+M)·T``.
            Defaults to False.
        norm_cfg (dict): normalisation layer config. Defaults to
            ``dict(type='BN')``.
        upsample_mode (str): ``'bilinear'`` or ``'nearest'``.
    """

    def __init__(self,
                 channels: int,
                 mask_levels: int,
                 pre_post_units: int = 1,
                 trunk_units: int = 2,
                 mask_units: int = 1,
                 naive_attention: bool = False,
                 norm_cfg: Optional[dict] = None,
                 upsample_mode: str = 'bilinear'):
        super().__init__()
        norm_cfg = dict(type='BN') if norm_cfg is None else norm_cfg
        if pre_post_units < 0 or trunk_units < 0:
            raise ValueError('pre_post_units and trunk_units must be >= 0, '
                             f'got {pre_post_units} and {trunk_units}')
        self.naive_attention = naive_attention
        self.pre = _units(pre_post_units, channels, norm_cfg)
        self.trunk = _units(trunk_units, channels, norm_cfg)
        self.mask = SoftMaskBranch(channels, mask_levels, mask_units, norm_cfg,
                                   upsample_mode)
        self.post = _units(pre_post_units, channels, norm_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre(x)  # [B, C, H, W]
        trunk = self.trunk(x)  # [B, C, H, W]
        mask = self.mask(x, trunk.shape[-2:])  # [B, C, H, W] in (0, 1)
        if self.naive_attention:
            out = mask * trunk
        else:
            out = (1.0 + mask) * trunk
        return self.post(out)  # [B, C, H, W]


@MODELS.register_module()
class ResidualAttentionNet(BaseBackbone):
    """Residual Attention Network backbone (Attention-56 / Attention-92).

    Wang et al., "Residual Attention Network for Image Classification",
    CVPR 2017, https://arxiv.org/abs/1704.06904. Stacks attention modules
    (:class:`AttentionModule`, output :math:`(1 + M(x))\\cdot T(x)`) between
    pre-activation bottleneck units, laid out as in Table 2 of the paper
    (``w = base_channels``, 64 in the paper)::

        stage  stride  channels  content
        stem   4 (1)   w         7x7/2 conv + 3x3/2 max-pool (cifar: 3x3/1)
        0      4 (1)   4w  256   unit(w->4w) + n_0 modules, mask levels 3
        1      8 (2)   8w  512   unit(4w->8w, /2) + n_1 modules, levels 2
        2      16 (4)  16w 1024  unit(8w->16w, /2) + n_2 modules, levels 1
        3      32 (8)  32w 2048  unit(16w->32w, /2) + 2 units + BN-ReLU

    Strides in brackets are those of ``stem='cifar'``. ``(n_0, n_1, n_2)``
    is ``(1, 1, 1)`` for depth 56 and ``(1, 2, 3)`` for depth 92 (depth =
    3 x trunk-path units + conv1 + fc = 56 / 92). At 224 px the masks of
    stages 0, 1, 2 pool 56->28->14->7, 28->14->7 and 14->7: 3, 2, 1
    down/up levels with 2, 1, 0 skip connections (the released Caffe
    models). With ``p, t, r = 1, 2, 1`` these give 31.8M parameters for
    Attention-56 and 52.5M for Attention-92 with a 1000-way fc (the paper
    reports 31.9M and 51.3M). The spatial size of stage ``i`` is
    ``ceil(H / stride_i)`` for any input ``H``. Stages 0-2 return the raw
    residual sum (pre-activation, as in the paper every next unit starts
    with BN-ReLU); stage 3 ends with the network's final BN-ReLU.

    Args:
        depth (int): 56 or 92.
        out_indices (Sequence[int] | int): stages to return, distinct and
            increasing, in 0..3 (negative indices count from the end, so
            ``(-1,)`` is ``(3,)``). Defaults to ``(3,)``.
        stem (str): ``'imagenet'`` (7x7 stride-2 conv + max-pool, total
            stride 4; default) or ``'cifar'`` (3x3 stride-1 conv, no pool,
            for 32-px inputs).
        base_channels (int): stem width ``w``; stage ``i`` has
            ``4 w 2^i`` channels. Defaults to 64 (the paper).
        mask_levels (Sequence[int]): pooling steps of the soft mask in
            stages 0, 1, 2. Defaults to ``(3, 2, 1)`` as in the paper.
        pre_post_units (int): ``p`` of every attention module. Defaults to 1.
        trunk_units (int): ``t``. Defaults to 2.
        mask_units (int): ``r``. Defaults to 1.
        naive_attention (bool): use naive attention learning ``M·T`` (NAL)
            instead of attention residual learning ``(1+M)·T`` (ARL), for
            the paper's Sec. 4.1 comparison. Defaults to False.
        upsample_mode (str): mask up-sampling, ``'bilinear'`` (default) or
            ``'nearest'``.
        norm_cfg (dict): normalisation layer config. Defaults to
            ``dict(type='BN')``.
        init_cfg (dict | list[dict], optional): defaults to Kaiming init of
            every ``Conv2d`` and constant (1, 0) init of the norm layers.
    """

    arch_settings: Dict[int, Tuple[int, int, int]] = {
        56: (1, 1, 1),
        92: (1, 2, 3),
    }
    num_stages = 4
    num_last_stage_units = 3
    expansion = 4

    def __init__(self,
                 depth: int = 56,
                 out_indices: Union[int, Sequence[int]] = (3, ),
                 stem: str = 'imagenet',
                 base_channels: int = 64,
                 mask_levels: Sequence[int] = (3, 2, 1),
                 pre_post_units: int = 1,
                 trunk_units: int = 2,
                 mask_units: int = 1,
                 naive_attention: bool = False,
                 upsample_mode: str = 'bilinear',
                 norm_cfg: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer=['Conv2d']),
                dict(
                    type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
            ]
        super().__init__(init_cfg=init_cfg)
        norm_cfg = dict(type='BN') if norm_cfg is None else norm_cfg
        if depth not in self.arch_settings:
            raise KeyError(f'invalid depth {depth!r} for ResidualAttentionNet'
                           f', choose from {sorted(self.arch_settings)}')
        if stem not in ('imagenet', 'cifar'):
            raise ValueError(f"stem must be 'imagenet' or 'cifar', "
                             f'got {stem!r}')
        if base_channels < 1:
            raise ValueError(f'base_channels must be >= 1, got '
                             f'{base_channels}')
        mask_levels = tuple(mask_levels)
        if len(mask_levels) != 3:
            raise ValueError(f'mask_levels needs one entry per attention '
                             f'stage (3), got {mask_levels}')
        self.depth = depth
        self.stem_type = stem
        self.naive_attention = naive_attention
        self.out_indices = self._check_out_indices(out_indices)
        self.modules_per_stage = self.arch_settings[depth]

        w = base_channels
        self.stage_channels = tuple(self.expansion * w * 2**i
                                    for i in range(self.num_stages))
        first_stride = 4 if stem == 'imagenet' else 1
        self.stage_strides = tuple(first_stride * 2**i
                                   for i in range(self.num_stages))

        if stem == 'imagenet':
            self.stem = nn.Sequential(
                nn.Conv2d(3, w, 7, stride=2, padding=3, bias=False),
                _norm(norm_cfg, w), nn.ReLU(),
                nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(3, w, 3, stride=1, padding=1, bias=False),
                _norm(norm_cfg, w), nn.ReLU())

        stages = []
        in_channels = w
        for i, channels in enumerate(self.stage_channels):
            stride = 1 if i == 0 else 2
            layers = [
                PreActBottleneck(
                    in_channels,
                    channels,
                    stride=stride,
                    expansion=self.expansion,
                    norm_cfg=norm_cfg)
            ]
            if i < len(self.modules_per_stage):
                layers += [
                    AttentionModule(channels, mask_levels[i], pre_post_units,
                                    trunk_units, mask_units, naive_attention,
                                    norm_cfg, upsample_mode)
                    for _ in range(self.modules_per_stage[i])
                ]
            else:  # last stage: plain units, then the final BN-ReLU
                layers += [
                    PreActBottleneck(
                        channels,
                        channels,
                        expansion=self.expansion,
                        norm_cfg=norm_cfg)
                    for _ in range(self.num_last_stage_units - 1)
                ]
                layers += [_norm(norm_cfg, channels), nn.ReLU()]
            stages.append(nn.Sequential(*layers))
            in_channels = channels
        self.stages = nn.ModuleList(stages)

    def _check_out_indices(self, out_indices) -> Tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        checked = []
        for index in out_indices:
            if not isinstance(index, int) or not (-self.num_stages <= index <
                                                  self.num_stages):
                raise ValueError(f'out_indices entries must be ints in '
                                 f'[-{self.num_stages}, {self.num_stages}), '
                                 f'got {index!r} in {tuple(out_indices)}')
            checked.append(index % self.num_stages)
        if not checked:
            raise ValueError('out_indices must name at least one stage')
        if any(a >= b for a, b in zip(checked, checked[1:])):
            raise ValueError(f'out_indices must name distinct stages in '
                             f'increasing order, got {tuple(out_indices)}')
        return tuple(checked)

    def train(self, mode: bool = True) -> 'ResidualAttentionNet':
        """Set train / eval mode and return ``self`` (``nn.Module``
        semantics; MMPretrain's ``BaseBackbone.train`` returns None)."""
        super().train(mode)
        return self

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of the returned feature maps, in order."""
        return tuple(self.stage_channels[i] for i in self.out_indices)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """
        Args:
            x (Tensor): images, [B, 3, H, W], any H, W.

        Returns:
            tuple[Tensor]: for each index ``i`` in ``out_indices``,
            ``[B, stage_channels[i], ceil(H/s_i), ceil(W/s_i)]`` with
            ``s_i = stage_strides[i]``.
        """
        out = self.stem(x)  # [B, w, H/4, W/4] (cifar: H, W)
        outs = []
        for i, stage in enumerate(self.stages):
            out = stage(out)  # [B, 4w*2^i, H/s_i, W/s_i]
            if i in self.out_indices:
                outs.append(out)
        return tuple(outs)
