"""Convert a checkpoint of the official CSRA code to mmcsra.

    python tools/model_converters/csra_official_to_mmcsra.py SRC.pth DST.pth

Source: https://github.com/Kevinz-code/CSRA (Zhu & Wu, ICCV 2021), whose
``main.py`` / ``val.py`` save and load ``model.state_dict()`` (a
``module.`` prefix from ``nn.DataParallel`` is stripped; a dict holding it
under ``state_dict`` or ``model`` is unwrapped). Two models:

**ResNet_CSRA** (``pipeline/resnet_csra.py``): a torchvision ResNet whose
``fc`` is an empty ``nn.Sequential`` (no keys)::

    conv1.weight, bn1.{weight,bias,running_mean,running_var,
                       num_batches_tracked}
    layer{1-4}.{j}.conv{1-3}.weight, layer{1-4}.{j}.bn{1-3}.*,
    layer{1-4}.0.downsample.{0.weight, 1.*}
    classifier.multi_head.{h}.head.weight          (C, 2048, 1, 1)

MMPretrain's ``ResNet`` (``style='pytorch'``) uses the same names, so every
backbone key becomes ``backbone.<key>``. The depth is read from the number
of blocks per stage ((3, 4, 23, 3) = ResNet-101).

**VIT_CSRA** (``pipeline/vit_csra.py``, timm's original ViT, LayerNorm
eps 1e-6, ``qkv_bias=True``)::

    cls_token (1, 1, D)                -> backbone.cls_token
    pos_embed (1, 1 + N, D)            -> backbone.pos_embed
    patch_embed.proj.{weight,bias}     -> backbone.patch_embed.projection.*
    blocks.{i}.norm1.*                 -> backbone.layers.{i}.ln1.*
    blocks.{i}.attn.qkv.*   (3D, D)    -> backbone.layers.{i}.attn.qkv.*
    blocks.{i}.attn.proj.*             -> backbone.layers.{i}.attn.proj.*
    blocks.{i}.norm2.*                 -> backbone.layers.{i}.ln2.*
    blocks.{i}.mlp.fc1.*               -> backbone.layers.{i}.ffn.layers.0.0.*
    blocks.{i}.mlp.fc2.*               -> backbone.layers.{i}.ffn.layers.1.*
    norm.*                             -> backbone.ln1.*  (final_norm)
    classifier.multi_head.{h}.head.weight (C, D, 1, 1)

Both timm and MMPretrain lay the fused qkv projection out as
``[q; k; v]`` rows split into heads the same way, so it is copied as is.
The official model normalises all tokens, drops the class token and pools
the patch tokens: in mmcsra that is ``VisionTransformer(out_type='raw')``
with ``CSRAHead(num_extra_tokens=1)``. If the config's ``img_size`` differs
from the checkpoint's ``pos_embed`` grid, MMPretrain's ViT resizes the
position embedding (bicubic) when loading.

**Classifier.** The official ``MHA`` holds one bias-free 1x1 convolution
``(C, D, 1, 1)`` per head ``h``; mmcsra's :class:`MultiHeadCSRA` stacks the
H classifiers into one ``nn.Linear(D, H*C)``: row ``h*C + i`` is class
``i`` of head ``h``, i.e. ``head.csra.classifier.weight =
cat_h(W_h.reshape(C, D))``. Temperatures follow the head count exactly as
the official ``MHA.temp_settings`` (its ``T = 99`` is max pooling,
``float('inf')`` in mmcsra), so the config needs ``num_heads=H``; ``lam``
is not stored in the checkpoint (official commands: 0.1 VOC, 0.5 COCO
ResNet, 0.3 ViT). The tool prints the matching head config.

Unknown keys are an error, never dropped.
"""
import re
from collections import OrderedDict
from typing import Dict, Tuple

import torch

from mmcsra.apis.official_checkpoint import (converter_arg_parser,
                                             load_official_checkpoint,
                                             save_converted_checkpoint,
                                             unwrap_state_dict)

CLASSIFIER = re.compile(r'classifier\.multi_head\.(\d+)\.head\.weight')
_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
RESNET_KEY = re.compile(
    rf'(conv1\.weight|bn1\.{_BN}|layer[1-4]\.\d+\.(conv[1-3]\.weight|'
    rf'bn[1-3]\.{_BN}|downsample\.0\.weight|downsample\.1\.{_BN}))')
VIT_RULES = [  # (official pattern, mmcsra replacement)
    (r'cls_token', 'backbone.cls_token'),
    (r'pos_embed', 'backbone.pos_embed'),
    (r'patch_embed\.proj\.(weight|bias)',
     r'backbone.patch_embed.projection.\1'),
    (r'blocks\.(\d+)\.norm1\.(weight|bias)', r'backbone.layers.\1.ln1.\2'),
    (r'blocks\.(\d+)\.attn\.qkv\.(weight|bias)',
     r'backbone.layers.\1.attn.qkv.\2'),
    (r'blocks\.(\d+)\.attn\.proj\.(weight|bias)',
     r'backbone.layers.\1.attn.proj.\2'),
    (r'blocks\.(\d+)\.norm2\.(weight|bias)', r'backbone.layers.\1.ln2.\2'),
    (r'blocks\.(\d+)\.mlp\.fc1\.(weight|bias)',
     r'backbone.layers.\1.ffn.layers.0.0.\2'),
    (r'blocks\.(\d+)\.mlp\.fc2\.(weight|bias)',
     r'backbone.layers.\1.ffn.layers.1.\2'),
    (r'norm\.(weight|bias)', r'backbone.ln1.\1'),
]
RESNET_DEPTHS = {
    (2, 2, 2, 2): 18,
    (3, 4, 6, 3): 50,  # BasicBlock (3, 4, 6, 3) is 34: told apart below
    (3, 4, 23, 3): 101,
    (3, 8, 36, 3): 152,
}


def _convert_classifier(
        state: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, int, int, int]:
    heads = {}
    for key in list(state):
        match = CLASSIFIER.fullmatch(key)
        if match:
            heads[int(match.group(1))] = state.pop(key)
    if not heads:
        raise KeyError('no classifier.multi_head.{h}.head.weight: not a '
                       'CSRA checkpoint')
    if sorted(heads) != list(range(len(heads))):
        raise KeyError(f'classifier heads {sorted(heads)} are not 0..H-1')
    shapes = {tuple(w.shape) for w in heads.values()}
    if len(shapes) != 1:
        raise ValueError(f'classifier heads have different shapes {shapes}')
    num_classes, in_channels, kh, kw = shapes.pop()
    if (kh, kw) != (1, 1):
        raise ValueError('classifier heads must be 1x1 convolutions, got '
                         f'kernel {kh}x{kw}')
    # row h*C + i = class i of head h (MultiHeadCSRA's stacked classifier)
    weight = torch.cat([
        heads[h].reshape(num_classes, in_channels) for h in range(len(heads))
    ])  # [H*C, D]
    return weight, len(heads), num_classes, in_channels


def _convert_resnet(
        state: Dict[str, torch.Tensor]) -> Tuple[OrderedDict, dict]:
    unknown = [k for k in state if not RESNET_KEY.fullmatch(k)]
    if unknown:
        raise KeyError(f'keys that are not ResNet_CSRA backbone keys: '
                       f'{unknown[:10]}')
    blocks = []
    for stage in range(1, 5):
        ids = {
            int(k.split('.')[1])
            for k in state if k.startswith(f'layer{stage}.')
        }
        blocks.append(len(ids))
    bottleneck = any('.conv3.' in k for k in state)
    depth = RESNET_DEPTHS.get(tuple(blocks))
    if depth == 50 and not bottleneck:
        depth = 34
    if depth is None or (depth in (18, 34)) == bottleneck:
        raise ValueError(f'unknown ResNet layout: blocks per stage {blocks}, '
                         f'bottleneck={bottleneck}')
    converted = OrderedDict(('backbone.' + k, v) for k, v in state.items())
    return converted, dict(backbone='ResNet', depth=depth)


def _convert_vit(state: Dict[str, torch.Tensor]) -> Tuple[OrderedDict, dict]:
    converted = OrderedDict()
    for key, value in state.items():
        for pattern, replacement in VIT_RULES:
            if re.fullmatch(pattern, key):
                converted[re.sub(pattern, replacement, key)] = value
                break
        else:
            raise KeyError(f'{key!r} is not a VIT_CSRA key')
    embed_dims = state['cls_token'].shape[-1]
    num_layers = len(
        {k.split('.')[1]
         for k in state if k.startswith('blocks.')})
    patch = state['patch_embed.proj.weight'].shape[-1]
    num_patches = state['pos_embed'].shape[1] - 1
    grid = int(round(num_patches**0.5))
    if grid * grid != num_patches:
        raise ValueError(f'pos_embed has {num_patches} patch positions, not '
                         'a square grid')
    info = dict(
        backbone='VisionTransformer',
        embed_dims=embed_dims,
        num_layers=num_layers,
        feedforward_channels=state['blocks.0.mlp.fc1.weight'].shape[0],
        patch_size=patch,
        img_size=grid * patch)
    return converted, info


def convert(checkpoint) -> Tuple[OrderedDict, dict]:
    """Official CSRA checkpoint -> (mmcsra state dict, facts for the config).
    """
    state = unwrap_state_dict(checkpoint, containers=('state_dict', 'model'))
    weight, num_heads, num_classes, in_channels = _convert_classifier(state)
    if 'patch_embed.proj.weight' in state:
        converted, info = _convert_vit(state)
        info['num_extra_tokens'] = 1
    elif 'conv1.weight' in state:
        converted, info = _convert_resnet(state)
        info['num_extra_tokens'] = 0
    else:
        raise KeyError('neither a ResNet_CSRA (conv1.weight) nor a VIT_CSRA '
                       '(patch_embed.proj.weight) checkpoint')
    converted['head.csra.classifier.weight'] = weight
    info.update(
        num_heads=num_heads, num_classes=num_classes, in_channels=in_channels)
    return converted, info


def head_config_text(info: dict) -> str:
    extra = (', num_extra_tokens=1' if info['num_extra_tokens'] else '')
    return (f"head=dict(type='CSRAHead', num_classes={info['num_classes']}, "
            f"in_channels={info['in_channels']}, "
            f"num_heads={info['num_heads']}, lam=<as trained>{extra})")


def main(argv=None):
    parser = converter_arg_parser(
        'Convert an official CSRA checkpoint to mmcsra')
    args = parser.parse_args(argv)

    state, info = convert(load_official_checkpoint(args.src))
    meta = dict(converted_from='Kevinz-code/CSRA', **info)
    save_converted_checkpoint(state, meta, args.dst)
    print(f'{info["backbone"]} + {info["num_heads"]}-head CSRA, '
          f'{info["num_classes"]} classes -> {args.dst}')
    print('model config: ' + head_config_text(info))
    return state, info


if __name__ == '__main__':
    main()
