"""Reading official checkpoints and writing converted ones.

Shared by the converters in ``tools/model_converters/`` (official CSRA,
official ML-Decoder). The shared part is everything around the key mapping:
the command line (``SRC.pth DST.pth``), safe loading of the official file,
unwrapping its state dict and saving ``{'state_dict': ..., 'meta': ...}``,
the layout mmengine's ``load_checkpoint`` reads.
"""
import argparse
from typing import Dict, Sequence

import torch

from mmcsra.engine.compat import safe_torch_load

__all__ = [
    'unwrap_state_dict', 'converter_arg_parser', 'load_official_checkpoint',
    'save_converted_checkpoint'
]


def unwrap_state_dict(
    checkpoint, containers: Sequence[str] = ('state_dict', 'model')
) -> Dict[str, torch.Tensor]:
    """The ``{name: tensor}`` dict of an official checkpoint.

    Args:
        checkpoint (dict): a bare state dict, or a dict holding it under one
            of ``containers`` (the first one present whose value is a dict
            is used). A ``module.`` prefix on every key (``nn.DataParallel``)
            is stripped.
        containers (Sequence[str]): the keys that may hold the state dict,
            in order of preference. Defaults to ``('state_dict', 'model')``.

    Raises:
        TypeError: if ``checkpoint`` is not a dict or a value of the state
            dict is not a tensor (named in the message).
    """
    if not isinstance(checkpoint, dict):
        raise TypeError(f'expected a checkpoint dict, got '
                        f'{type(checkpoint).__name__}')
    for key in containers:
        if key in checkpoint and isinstance(checkpoint[key], dict):
            checkpoint = checkpoint[key]
            break
    if checkpoint and all(k.startswith('module.') for k in checkpoint):
        checkpoint = {k[len('module.'):]: v for k, v in checkpoint.items()}
    for key, value in checkpoint.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f'{key!r} is a {type(value).__name__}, not a '
                            'tensor: not a state dict')
    return dict(checkpoint)


def converter_arg_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the converters' positional ``src``
    (official checkpoint) and ``dst`` (output mmcsra checkpoint)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help='official checkpoint (.pth)')
    parser.add_argument('dst', help='output mmcsra checkpoint (.pth)')
    return parser


def load_official_checkpoint(path: str):
    """Load an official checkpoint on CPU with ``weights_only=True``
    (:func:`mmcsra.engine.compat.safe_torch_load`)."""
    return safe_torch_load(path, map_location='cpu')


def save_converted_checkpoint(state: Dict[str, torch.Tensor], meta: dict,
                              dst: str) -> None:
    """Save ``{'state_dict': state, 'meta': meta}`` to ``dst``."""
    torch.save(dict(state_dict=state, meta=meta), dst)
