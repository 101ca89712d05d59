"""Convert an official ML-Decoder checkpoint's head to mmcsra.

    python tools/model_converters/ml_decoder_official_to_mmcsra.py \
        SRC.pth DST.pth [--backbone-prefix backbone.]

Source: https://github.com/Alibaba-MIIL/ML_Decoder (Ridnik et al., WACV
2023). Its checkpoints are ``{'model': state_dict, 'idx_to_class': {i:
name}}`` (a bare state dict, or one under ``state_dict``, works too; a
``module.`` prefix is stripped). ``add_ml_decoder_head`` puts the
``MLDecoder`` at ``head`` (TResNet) or ``fc`` (ResNet-50); the prefix is
found from the ``<prefix>decoder.embed_standart.weight`` key. With D the
decoder width (``decoder_embedding``), D_in the backbone channels, K the
queries (groups), G = ceil(C / K) and F the FFN width (2048 in the official
code, 8 attention heads, one decoder layer)::

    official (<prefix>decoder.)                  mmcsra MLDecoderHead (head.)
    embed_standart.weight (D, D_in), .bias (D)   token_embed.weight, .bias
    query_embed.weight (K, D)                    queries (buffer, fixed)
    layers.0.norm1.*, norm2.*, norm3.* (D)       decoder.norm1.*, 2.*, 3.*
    layers.0.multihead_attn.in_proj_weight       decoder.cross_attn.
        (3D, D) = [W_q; W_k; W_v]                    {q,k,v}_proj.weight
    layers.0.multihead_attn.in_proj_bias (3D)    decoder.cross_attn.
                                                     {q,k,v}_proj.bias
    layers.0.multihead_attn.out_proj.*           decoder.cross_attn.out_proj.*
    layers.0.linear1.* (F, D), linear2.* (D, F)  decoder.ffn.fc1.*, fc2.*
    duplicate_pooling (K, D, G)                  group_fc.weight (K, D, G)
    duplicate_pooling_bias (C)                   group_fc.bias (C)

``nn.MultiheadAttention`` stacks the query, key and value projections in
``in_proj_*`` in that order; mmcsra keeps three ``nn.Linear`` layers, so
the rows are split in three. Both decoders run the layer the same way
(post-LayerNorm; the identity branch where self-attention was, so
``LN1(q + q)`` in eval; cross-attention; ReLU FFN), and both group-decode
class ``c`` with output ``c mod G`` of query ``c // G``.

Every key outside the head (the TResNet backbone, which MMPretrain does not
implement) is passed through under ``--backbone-prefix`` (default
``backbone.``), unchanged otherwise: load it into a backbone with the same
names, or use the head only. ``idx_to_class`` becomes
``meta['dataset_meta']['classes']``. The tool prints the matching head
config. Unknown head keys are an error, never dropped.
"""
import math
import re
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch

from mmcsra.apis.official_checkpoint import (converter_arg_parser,
                                             load_official_checkpoint,
                                             save_converted_checkpoint,
                                             unwrap_state_dict)

ANCHOR = 'decoder.embed_standart.weight'
_WB = r'(weight|bias)'
HEAD_RULES = [  # (official key after '<prefix>decoder.', mmcsra key)
    (rf'embed_standart\.{_WB}', r'token_embed.\1'),
    (r'query_embed\.weight', 'queries'),
    (rf'layers\.0\.norm([123])\.{_WB}', r'decoder.norm\1.\2'),
    (rf'layers\.0\.multihead_attn\.out_proj\.{_WB}',
     r'decoder.cross_attn.out_proj.\1'),
    (rf'layers\.0\.linear1\.{_WB}', r'decoder.ffn.fc1.\1'),
    (rf'layers\.0\.linear2\.{_WB}', r'decoder.ffn.fc2.\1'),
    (r'duplicate_pooling', 'group_fc.weight'),
    (r'duplicate_pooling_bias', 'group_fc.bias'),
]
IN_PROJ = re.compile(r'layers\.0\.multihead_attn\.in_proj_(weight|bias)')


def unwrap(checkpoint) -> Tuple[Dict[str, torch.Tensor], Optional[list]]:
    """(state dict, class names or None) of an official checkpoint."""
    state = unwrap_state_dict(checkpoint, containers=('model', 'state_dict'))
    classes = None
    idx_to_class = checkpoint.get('idx_to_class')
    if idx_to_class is not None:
        keys = sorted(int(k) for k in idx_to_class)
        if keys != list(range(len(keys))):
            raise ValueError('idx_to_class keys are not 0..C-1')
        by_int = {int(k): v for k, v in idx_to_class.items()}
        classes = [str(by_int[i]) for i in keys]
    return state, classes


def convert(checkpoint,
            backbone_prefix: str = 'backbone.',
            head_prefix: str = 'head.') -> Tuple[OrderedDict, dict]:
    """Official checkpoint -> (mmcsra state dict, facts for the config)."""
    state, classes = unwrap(checkpoint)
    anchors = [k for k in state if k.endswith(ANCHOR)]
    if len(anchors) != 1:
        raise KeyError(f'expected one <prefix>{ANCHOR} key, found '
                       f'{anchors}: not an ML-Decoder checkpoint')
    official = anchors[0][:-len(ANCHOR)] + 'decoder.'

    converted = OrderedDict()
    head = OrderedDict()
    for key, value in state.items():
        if not key.startswith(official):
            converted[backbone_prefix + key] = value
            continue
        name = key[len(official):]
        match = IN_PROJ.fullmatch(name)
        if match:
            kind = match.group(1)
            if value.shape[0] % 3:
                raise ValueError(f'{key} has {value.shape[0]} rows, not 3D')
            for proj, part in zip('qkv', value.chunk(3, dim=0)):
                head[f'decoder.cross_attn.{proj}_proj.{kind}'] = part.clone()
            continue
        for pattern, replacement in HEAD_RULES:
            if re.fullmatch(pattern, name):
                head[re.sub(pattern, replacement, name)] = value
                break
        else:
            hint = (' (mmcsra has one decoder layer, as the official code)'
                    if name.startswith('layers.') else '')
            raise KeyError(f'{key!r} is not an ML-Decoder head key{hint}')

    required = [
        'token_embed.weight', 'queries', 'group_fc.weight', 'group_fc.bias',
        'decoder.ffn.fc1.weight', 'decoder.cross_attn.q_proj.weight'
    ]
    missing = [k for k in required if k not in head]
    if missing:
        raise KeyError(f'ML-Decoder head keys missing: {missing}')
    num_groups, embed_dims, group_size = head['group_fc.weight'].shape
    num_classes = head['group_fc.bias'].shape[0]
    if group_size != math.ceil(num_classes / num_groups):
        raise ValueError(
            f'duplicate_pooling groups {num_groups} x {group_size} do not '
            f'decode {num_classes} classes with G = ceil(C / K) = '
            f'{math.ceil(num_classes / num_groups)} (mmcsra GroupLinear)')
    if classes is not None and len(classes) != num_classes:
        raise ValueError(f'idx_to_class names {len(classes)} classes but '
                         f'the head predicts {num_classes}')
    for key, value in head.items():
        converted[head_prefix + key] = value
    info = dict(
        official_prefix=official,
        num_classes=num_classes,
        in_channels=head['token_embed.weight'].shape[1],
        embed_dims=embed_dims,
        num_groups=num_groups,
        feedforward_channels=head['decoder.ffn.fc1.weight'].shape[0],
        classes=classes)
    return converted, info


def head_config_text(info: dict) -> str:
    return (f"head=dict(type='MLDecoderHead', "
            f"num_classes={info['num_classes']}, "
            f"in_channels={info['in_channels']}, "
            f"embed_dims={info['embed_dims']}, "
            f"num_groups={info['num_groups']}, num_heads=8, "
            f"feedforward_channels={info['feedforward_channels']})")


def main(argv=None):
    parser = converter_arg_parser(
        'Convert an official ML-Decoder checkpoint to mmcsra')
    parser.add_argument(
        '--backbone-prefix',
        default='backbone.',
        help='prefix of every non-head key (default: backbone.)')
    args = parser.parse_args(argv)

    state, info = convert(
        load_official_checkpoint(args.src),
        backbone_prefix=args.backbone_prefix)
    meta = dict(
        converted_from='Alibaba-MIIL/ML_Decoder',
        **{
            k: v
            for k, v in info.items() if k != 'classes'
        })
    if info['classes'] is not None:
        meta['dataset_meta'] = dict(classes=tuple(info['classes']))
    save_converted_checkpoint(state, meta, args.dst)
    num_backbone = sum(k.startswith(args.backbone_prefix) for k in state)
    print(f'ML-Decoder head ({info["num_classes"]} classes) and '
          f'{num_backbone} backbone keys under {args.backbone_prefix!r} '
          f'-> {args.dst}')
    print('model config: ' + head_config_text(info))
    return state, info


if __name__ == '__main__':
    main()
