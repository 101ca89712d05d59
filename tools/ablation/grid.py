"""The grid: axes from the command line, points, and the config they set.

**Axes.** ``key=v1,v2,...`` per axis; ``mode``, ``heads`` and ``lam`` are
short for ``model.head.mode``, ``model.head.num_heads`` and
``model.head.lam``, and any dotted config key works (``a.b.c=1,2``). Values
are Python literals (``1`` int, ``0.1`` float, ``inf``, ``True``, ``[1,2]``),
anything else is a string (``avg``). Points are the Cartesian product, in
the order the axes and values are given.

**λ collapse.** ``MultiHeadCSRA`` scores ``'avg'`` as the mean of the class
scores and ``'attention'`` as the attention term alone; λ only weighs the
attention term in ``'residual'``. So for a ``CSRAHead`` whose mode (from the
grid, else the config) is ``'avg'`` or ``'attention'``, the λ axis is
dropped and the duplicate points are trained once: ``mode=avg,residual
lam=0.1,0.5`` is 3 points, not 4. H is *not* collapsed for ``'avg'``: the H
heads are H unit-norm classifiers whose sum bounds the logits' scale, a
different model.

**Config.** :func:`check_axes` refuses axes the config cannot take before
anything runs; :func:`base_values` reads the values the collapse and the
plot need when the grid does not set them; :func:`cfg_option_text` turns a
point's values into ``--cfg-options`` text that mmengine reads back exactly.
"""
import ast
import inspect
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

__all__ = [
    'GRID_ALIASES', 'LAMBDA_FREE_MODES', 'GridAxis', 'GridPoint',
    'split_values', 'parse_value', 'parse_grid', 'expand_grid',
    'cfg_option_text', 'point_options', 'check_axes', 'base_values',
    'head_class', 'is_csra_head'
]

#: Short grid names of the CSRA head's arguments.
GRID_ALIASES = OrderedDict([('mode', 'model.head.mode'),
                            ('heads', 'model.head.num_heads'),
                            ('lam', 'model.head.lam')])
MODE_KEY = GRID_ALIASES['mode']
HEADS_KEY = GRID_ALIASES['heads']
LAM_KEY = GRID_ALIASES['lam']
SEED_KEY = 'randomness.seed'
#: CSRA modes whose logits do not depend on λ (``MultiHeadCSRA``).
LAMBDA_FREE_MODES = ('avg', 'attention')
_KEY = re.compile(r'^[A-Za-z_]\w*(\.\w+)*$')
_MISSING = object()  # a config key that is not there


# ------------------------------------------------------------------ axes
def split_values(text: str) -> List[str]:
    """Split ``text`` at the commas outside brackets and quotes.

    >>> split_values("avg,'a,b',[1,2]")
    ['avg', "'a,b'", '[1,2]']
    """
    parts, depth, quote, current = [], 0, None, ''
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in '\'"':
            quote = char
        elif char in '([{':
            depth += 1
        elif char in ')]}':
            depth -= 1
            if depth < 0:
                raise ValueError(f'unbalanced brackets in {text!r}')
        elif char == ',' and depth == 0:
            parts.append(current)
            current = ''
            continue
        current += char
    if quote or depth:
        raise ValueError(f'unbalanced brackets or quotes in {text!r}')
    parts.append(current)
    return [p.strip() for p in parts]


def parse_value(text: str) -> Any:
    """A Python literal (``1``, ``0.1``, ``'a'``, ``[1, 2]``, ``True``,
    ``None``), ``inf``/``nan`` as floats, else the text as a string."""
    text = text.strip()
    if not text:
        raise ValueError('empty grid value')
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    try:
        return float(text)  # inf, -inf, nan, infinity
    except ValueError:
        return text


@dataclass
class GridAxis:
    """One axis: its name as given (``lam`` or ``a.b.c``), the config key it
    sets, and its values."""
    name: str
    key: str
    values: List[Any]


@dataclass
class GridPoint:
    """One point: ``values`` (axis name -> value) of the axes that apply,
    ``overrides`` (config key -> value), ``dropped`` (names of the axes that
    do not apply here, e.g. ``lam`` for mode ``'avg'``) and ``name`` (its
    directory name)."""
    values: 'OrderedDict[str, Any]'
    overrides: 'OrderedDict[str, Any]'
    dropped: List[str] = field(default_factory=list)
    name: str = ''


def parse_grid(specs: Sequence[str]) -> List[GridAxis]:
    """Parse ``['mode=avg,residual', 'lam=0.1,0.5', 'a.b=1']`` into axes.

    Raises:
        ValueError: on a spec without ``=``, a malformed key, an empty or
            repeated value, a key given twice (also as alias and dotted
            key), or ``randomness.seed`` (use the seeds argument).
    """
    axes: List[GridAxis] = []
    seen: Dict[str, str] = {}
    for spec in specs:
        if '=' not in spec:
            raise ValueError(f'grid axis {spec!r} must be key=v1,v2,...')
        name, text = spec.split('=', 1)
        name = name.strip()
        if not _KEY.match(name):
            raise ValueError(f'grid axis {spec!r}: {name!r} is not a config '
                             f'key (a.b.c) nor one of {list(GRID_ALIASES)}')
        key = GRID_ALIASES.get(name, name)
        if key == SEED_KEY:
            raise ValueError('give the seeds with --seeds, not as a grid axis')
        if key in seen:
            raise ValueError(f'grid axis {name!r} sets {key}, already set by '
                             f'{seen[key]!r}')
        seen[key] = name
        values = [parse_value(v) for v in split_values(text)]
        for i, value in enumerate(values):
            if any(repr(value) == repr(v) for v in values[:i]):
                raise ValueError(f'grid axis {name!r} repeats the value '
                                 f'{value!r}')
        axes.append(GridAxis(name, key, values))
    return axes


# ---------------------------------------------------------------- points
def _value_name(value: Any) -> str:
    """``value`` as a piece of a directory name."""
    if isinstance(value, float):
        text = repr(value)
    elif isinstance(value, (list, tuple)):
        text = '-'.join(_value_name(v) for v in value)
    else:
        text = str(value)
    return re.sub(r'[^A-Za-z0-9._+-]+', '-', text).strip('-') or 'x'


def expand_grid(axes: Sequence[GridAxis],
                base: Optional[Dict[str, Any]] = None,
                csra_head: bool = True) -> List[GridPoint]:
    """The grid's points, with λ collapsed for λ-free CSRA modes.

    Args:
        axes (Sequence[GridAxis]): from :func:`parse_grid`.
        base (dict, optional): config values by key, for the keys the
            collapse reads when the grid does not set them (``model.head.
            mode``).
        csra_head (bool): whether the head is a ``CSRAHead``; only then is
            λ collapsed. Defaults to True.

    Returns:
        list[GridPoint]: in product order, duplicates (after collapsing)
        removed.
    """
    base = base or {}
    points: List[GridPoint] = [GridPoint(OrderedDict(), OrderedDict())]
    for axis in axes:
        points = [
            GridPoint(
                OrderedDict(list(p.values.items()) + [(axis.name, v)]),
                OrderedDict(list(p.overrides.items()) + [(axis.key, v)]))
            for p in points for v in axis.values
        ]
    lam_axis = next((a for a in axes if a.key == LAM_KEY), None)
    out, names = [], {}
    for point in points:
        mode = point.overrides.get(MODE_KEY, base.get(MODE_KEY))
        if csra_head and lam_axis is not None and \
                mode in LAMBDA_FREE_MODES:
            del point.values[lam_axis.name]
            del point.overrides[LAM_KEY]
            point.dropped.append(lam_axis.name)
        point.name = '_'.join(f'{name}-{_value_name(v)}'
                              for name, v in point.values.items()) or 'base'
        identity = repr(list(point.values.items()))
        if point.name in names:
            if names[point.name] == identity:
                continue  # collapsed duplicate
            raise ValueError(f'grid points {names[point.name]} and '
                             f'{identity} get the same directory name '
                             f'{point.name!r}')
        names[point.name] = identity
        out.append(point)
    return out


# ------------------------------------------------------- --cfg-options
def cfg_option_text(value: Any) -> str:
    """``value`` as ``--cfg-options`` text that mmengine parses back to it.

    Raises:
        ValueError: if mmengine's ``DictAction`` would read the text as
            another value (e.g. the string ``'1'``, or a string with a
            comma or a space).
    """
    from mmengine.config import DictAction

    if isinstance(value, float):
        text = repr(value)
    elif isinstance(value, list):
        text = '[' + ','.join(cfg_option_text(v) for v in value) + ']'
    elif isinstance(value, tuple):
        inner = ','.join(cfg_option_text(v) for v in value)
        text = '(' + inner + (',' if len(value) == 1 else '') + ')'
    elif value is None or isinstance(value, (bool, int, str)):
        text = str(value)
    else:
        raise ValueError(f'cannot pass {value!r} through --cfg-options')
    if repr(DictAction._parse_iterable(text)) != repr(value):
        raise ValueError(
            f'{value!r} cannot be passed through --cfg-options: mmengine '
            f'would read {text!r} as '
            f'{DictAction._parse_iterable(text)!r}')
    return text


def point_options(point: GridPoint, seed: int) -> List[str]:
    """The ``key=value`` options that make a run of ``point`` and
    ``seed``."""
    return [
        f'{key}={cfg_option_text(v)}' for key, v in point.overrides.items()
    ] + [f'{SEED_KEY}={seed}']


# --------------------------------------------------------------- config
def _get_key(cfg, key: str, missing=_MISSING):
    """The value at dotted ``key`` of a config (or dict), else
    ``missing``."""
    node = cfg.to_dict() if hasattr(cfg, 'to_dict') else cfg  # Config
    for part in key.split('.'):
        if isinstance(node, (list, tuple)) and part.isdigit() and \
                int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return missing
    return node


def head_class(cfg):
    """The class of the config's ``model.head`` (None if it has none)."""
    from mmpretrain.registry import MODELS

    import mmcsra  # noqa: F401 (registers mmcsra's heads in MODELS)
    head = _get_key(cfg, 'model.head', None)
    kind = head.get('type') if isinstance(head, dict) else None
    return MODELS.get(kind) if isinstance(kind, str) else kind


def is_csra_head(cls) -> bool:
    """Whether ``cls`` is mmcsra's ``CSRAHead`` or a subclass."""
    from mmcsra.models.heads import CSRAHead
    return isinstance(cls, type) and issubclass(cls, CSRAHead)


def base_values(cfg, keys: Sequence[str]) -> Dict[str, Any]:
    """Config values of ``keys``; for ``model.head.X`` not in the config,
    the head class's default of argument X; None if neither exists."""
    cls = head_class(cfg)
    out = {}
    for key in keys:
        value = _get_key(cfg, key)
        if value is _MISSING and key.startswith('model.head.') and \
                cls is not None:
            param = inspect.signature(cls.__init__).parameters.get(
                key.rsplit('.', 1)[-1])
            if param is not None and param.default is not param.empty:
                value = param.default
        out[key] = None if value is _MISSING else value
    return out


def check_axes(cfg, axes: Sequence[GridAxis]) -> None:
    """Refuse axes the config cannot take.

    Raises:
        ValueError: an axis whose parent key is not in the config, a
            ``mode``/``heads``/``lam`` alias on a head that is not a
            ``CSRAHead``, or a CSRA mode ``MultiHeadCSRA`` does not know.
    """
    cls = head_class(cfg)
    csra = is_csra_head(cls)
    for axis in axes:
        parent = axis.key.rsplit('.', 1)[0] if '.' in axis.key else None
        if parent and _get_key(cfg, parent) is _MISSING:
            raise ValueError(f'grid axis {axis.name!r}: the config has no '
                             f'{parent!r} to set {axis.key!r} in')
        if axis.name in GRID_ALIASES and not csra:
            raise ValueError(
                f'grid axis {axis.name!r} sets {axis.key}, an argument of '
                'CSRAHead, but the config\'s head is '
                f'{getattr(cls, "__name__", cls)}; give the dotted '
                'key to set it anyway')
        if axis.key == MODE_KEY and csra:
            from mmcsra.models.heads.multi_head_csra import MultiHeadCSRA
            bad = [v for v in axis.values if v not in MultiHeadCSRA.MODES]
            if bad:
                raise ValueError(f'grid axis {axis.name!r}: unknown CSRA '
                                 f'mode(s) {bad}; choose from '
                                 f'{MultiHeadCSRA.MODES}')
