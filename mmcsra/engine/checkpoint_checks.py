"""Checkpoints whose tensors do not fit the model: say so, or re-initialise.

With ``load_from`` mmengine loads a checkpoint with ``strict=False``: a
tensor whose shape differs from the model's (e.g. the classifier of a
checkpoint trained for 10 classes loaded into a 7-class model) only gives a
generic size-mismatch warning, and the run goes on with that layer left at
its random initialisation -- a test then reports chance-level numbers.

:func:`check_checkpoint_shapes`, called by :class:`ConfigCheckHook` in
``after_load_checkpoint`` (the checkpoint is read, not yet loaded into the
model), compares the shapes first:

* tensors of the **class-dependent modules** (the model's direct children
  with a ``num_classes``: the head, a label-graph neck) with other shapes
  raise :class:`CheckpointShapeError` naming every such key with both
  shapes and the option to re-initialise them; with ``reinit_head=True``
  (config key ``load_from_reinit_head=True``, ``tools/train.py
  --reinit-head``) they are dropped from the checkpoint instead, so these
  layers keep their initialisation, and the log lists them. Tensors of those
  modules whose shapes match (e.g. ML-Decoder's decoder layer) are loaded.
* tensors of **other modules** with other shapes (another backbone) always
  raise: re-initialising the head can not fix that.
* a **resumed** run must continue the model it saved: a mismatch raises,
  whatever ``reinit_head`` says.

Keys are compared as mmengine loads them (a leading ``module.``, from a
wrapped model, is stripped). Both ``state_dict`` and, when present,
``ema_state_dict`` are checked.
"""
import logging
import re
from numbers import Integral
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log

__all__ = [
    'CheckpointShapeError', 'class_dependent_modules', 'shape_mismatches',
    'check_checkpoint_shapes'
]

STATE_DICT_KEYS = ('state_dict', 'ema_state_dict')


class CheckpointShapeError(ValueError):
    """A checkpoint has tensors whose shapes differ from the model's."""


def class_dependent_modules(model: nn.Module) -> Tuple[str, ...]:
    """Names of the model's direct children that have a ``num_classes``."""
    names = []
    for name, child in model.named_children():
        value = getattr(child, 'num_classes', None)
        if name != 'data_preprocessor' and isinstance(
                value, Integral) and not isinstance(value, bool):
            names.append(name)
    return tuple(names)


def _model_key(key: str) -> str:
    """The model's name of a checkpoint key (as mmengine's ``revise_keys``)."""
    return re.sub(r'^module\.', '', key)


def shape_mismatches(model_state: Dict[str, torch.Tensor],
                     state_dict: Dict[str, object]
                     ) -> List[Tuple[str, str, tuple, tuple]]:
    """``[(checkpoint key, model key, checkpoint shape, model shape)]``."""
    found = []
    for key, value in state_dict.items():
        name = _model_key(key)
        mine = model_state.get(name)
        if isinstance(value, torch.Tensor) and isinstance(
                mine, torch.Tensor) and value.shape != mine.shape:
            found.append((key, name, tuple(value.shape), tuple(mine.shape)))
    return found


def _rows(mismatches) -> str:
    return '\n'.join(f'  {name}: checkpoint {ckpt}, model {mine}'
                     for _, name, ckpt, mine in mismatches)


def check_checkpoint_shapes(model: nn.Module,
                            checkpoint: dict,
                            filename: Optional[str] = None,
                            reinit_head: bool = False,
                            resume: bool = False) -> List[str]:
    """Raise on tensors that do not fit ``model``, or drop the head's.

    Args:
        model: the (unwrapped) model the checkpoint is loaded into.
        checkpoint: the loaded checkpoint (a dict with ``state_dict``, or a
            bare state dict); modified in place when keys are dropped.
        filename: the checkpoint's path, for the messages.
        reinit_head: drop the class-dependent modules' tensors whose shapes
            differ (they keep their initialisation) instead of raising.
        resume: the checkpoint resumes a run (never re-initialise).

    Returns:
        list[str]: the model keys dropped (empty if nothing differed).

    Raises:
        CheckpointShapeError: see the module docstring.
    """
    where = f'checkpoint {filename!r}' if filename else 'the checkpoint'
    modules = class_dependent_modules(model)
    prefixes = tuple(f'{name}.' for name in modules)
    model_state = model.state_dict()
    if any(key in checkpoint for key in STATE_DICT_KEYS):
        state_dicts = [checkpoint[key] for key in STATE_DICT_KEYS
                       if isinstance(checkpoint.get(key), dict)]
    else:
        state_dicts = [checkpoint]

    dropped: List[str] = []
    for state_dict in state_dicts:
        mismatches = shape_mismatches(model_state, state_dict)
        if not mismatches:
            continue
        of_classes = [m for m in mismatches if m[1].startswith(prefixes)]
        others = [m for m in mismatches if not m[1].startswith(prefixes)]
        if others:
            head_part = (f'\nand {len(of_classes)} of the class-dependent '
                         f'modules {list(modules)}:\n{_rows(of_classes)}'
                         if of_classes else '')
            raise CheckpointShapeError(
                f'{where} does not fit this model: {len(others)} tensor(s) '
                'outside the class-dependent modules have other shapes, so '
                f'it was saved from another architecture:\n{_rows(others)}'
                f'{head_part}\nCheck the backbone / neck settings of the '
                'config; re-initialising the head (--reinit-head) can not '
                'fix this.')
        if resume or not reinit_head:
            if resume:
                advice = (
                    'A run can only be resumed with the model that saved it. '
                    'To start a new run from these weights, load it with '
                    "load_from (no --resume) and tools/train.py's "
                    '--reinit-head.')
            else:
                advice = (
                    'To fine-tune it on this model\'s classes, re-initialise '
                    'these layers: tools/train.py --reinit-head (config key '
                    'load_from_reinit_head=True); every other weight is '
                    'loaded. To evaluate it, use the config it was trained '
                    'with (its number of classes).')
            raise CheckpointShapeError(
                f'{where} was trained for a different number of classes: '
                f'{len(of_classes)} tensor(s) of the class-dependent '
                f'module(s) {list(modules)} have other shapes:\n'
                f'{_rows(of_classes)}\n{advice}')
        for key, name, _, _ in of_classes:
            del state_dict[key]
            if name not in dropped:
                dropped.append(name)
        print_log(
            f'load_from_reinit_head: {where}: dropped {len(of_classes)} '
            'tensor(s) of the class-dependent module(s) '
            f'{list(modules)} whose shapes differ; these layers keep their '
            f'initialisation:\n{_rows(of_classes)}',
            logger='current',
            level=logging.WARNING)
    return dropped
