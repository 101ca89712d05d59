"""mmcsra's model zoo: the model index, model building and publishing.

The index is ``model-index.yml``, in OpenMMLab's `modelindex
<https://github.com/open-mmlab/modelindex>`_ format: it imports one
``configs/<method>/metafile.yml`` per method folder, each listing
``Collections`` (the method and its paper) and ``Models`` (``Name``,
``In Collection``, ``Config``, optional ``Results`` and ``Weights``). Config
paths are relative to the directory of ``model-index.yml``, as in
MMPretrain's metafiles.

:func:`model_zoo_root` finds that directory the way MMPretrain and ``mim``
do, first match wins:

1. the package data ``mmcsra/.mim/`` (``model-index.yml`` and ``configs/``
   copied there when a wheel is built, as MMPretrain ships its
   ``mmpretrain/.mim``);
2. for an editable install (``pip install -e .``), the checkout named by
   the distribution's ``direct_url.json`` (PEP 610), if the imported
   package lies inside it;
3. the source checkout the package sits in (``<checkout>/mmcsra``, e.g.
   imported through ``PYTHONPATH``).

None of them holding ``model-index.yml`` is an error that lists each place
searched.

mmcsra keeps its own registry of names instead of registering into
MMPretrain's global ``ModelHub``: that hub is shared with every MMPretrain
model, and its ``get_model(pretrained=True)`` only warns when a model has no
weights, whereas here it is an error.

* :func:`list_models` / :func:`get_model_info`: names and metadata;
* :func:`get_model`: build a model by name, config file or
  :class:`~mmengine.config.Config`, optionally loading weights;
* :func:`publish_checkpoint`: turn a training checkpoint into a release
  file (``tools/publish_model.py``).
"""
import copy
import datetime
import fnmatch
import functools
import hashlib
import importlib.metadata
import importlib.resources
import io
import json
import numbers
import os
import os.path as osp
import urllib.parse
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config

from mmcsra.engine.compat import safe_torch_load
from mmcsra.version import __version__

__all__ = [
    'ModelInfo', 'model_zoo_root', 'model_zoo_places', 'model_index_path',
    'load_model_index', 'list_models', 'get_model_info', 'get_model',
    'publish_checkpoint', 'to_plain_python', 'register_to_mmpretrain'
]

INDEX_FILE = 'model-index.yml'
#: The package-data directory of a wheel (MMPretrain's and mim's name).
MIM_DIR = '.mim'


@dataclass
class ModelInfo:
    """One entry of the model index.

    Attributes:
        name (str): the model name (unique, case-insensitive).
        collection (str | None): ``In Collection`` (the method).
        config (str): absolute path of the config file.
        weights (str | None): URL or path of the published weights, None if
            none is published.
        results (list[dict]): ``{'Task', 'Dataset', 'Metrics'}`` per result.
        paper (dict | None): the collection's ``Paper`` (``Title``, ``URL``).
        metadata (dict): merged ``Metadata`` of the collection and model.
        extra (dict): every other field of the entry (e.g.
            ``Results Source``, which says where the numbers come from).
        metafile (str): the metafile that declares the model.
    """
    name: str
    collection: Optional[str]
    config: str
    weights: Optional[str]
    results: List[dict] = field(default_factory=list)
    paper: Optional[dict] = None
    metadata: Dict[str, Any] = field(default_factory=dict)
    extra: Dict[str, Any] = field(default_factory=dict)
    metafile: str = ''


_INDEX_CACHE: Dict[str, Dict[str, ModelInfo]] = {}
_KNOWN_FIELDS = {
    'Name', 'In Collection', 'Config', 'Weights', 'Results', 'Paper',
    'Metadata'
}


# ---------------------------------------------------------- finding it
def _package_dir() -> str:
    """The directory of the imported ``mmcsra`` package."""
    return str(importlib.resources.files('mmcsra'))


def _installed_distributions() -> List[importlib.metadata.Distribution]:
    """Every ``mmcsra`` distribution on ``sys.path`` (a checkout's
    ``mmcsra.egg-info`` may precede the installed ``.dist-info``)."""
    return list(importlib.metadata.distributions(name='mmcsra'))


def _editable_root(distribution: importlib.metadata.Distribution,
                   package_dir: str) -> Tuple[Optional[str], str]:
    """The checkout of an editable install of ``package_dir``, or None;
    and what was found."""
    where = (f'{distribution.metadata["Name"]} {distribution.version} in '
             f'{osp.abspath(distribution.locate_file(""))}')
    text = distribution.read_text('direct_url.json')
    if text is None:
        return None, f'{where}: no direct_url.json'
    try:
        info = json.loads(text)
    except json.JSONDecodeError as err:
        return None, f'{where}: direct_url.json is not JSON ({err})'
    url = info.get('url', '')
    if not (info.get('dir_info') or {}).get('editable'):
        return None, f'{where}: not an editable install ({url})'
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme != 'file':
        return None, f'{where}: editable from {url}, not a local directory'
    root = osp.abspath(urllib.request.url2pathname(parsed.path))
    if osp.commonpath([root, package_dir]) != root:
        return None, (f'{where}: editable install of {root}, which does '
                      f'not contain the imported package {package_dir}')
    return root, f'{where}: editable install of {root}'


def model_zoo_places(
    package_dir: Optional[str] = None,
    distributions: Optional[Sequence[importlib.metadata.Distribution]] = None
) -> List[Tuple[str, Optional[str]]]:
    """The places :func:`model_zoo_root` searches, in order.

    Args:
        package_dir (str, optional): the ``mmcsra`` package directory.
            Defaults to that of the imported package.
        distributions (Sequence[Distribution], optional): installed
            distributions whose ``direct_url.json`` may name an editable
            checkout. Defaults to every ``mmcsra`` distribution
            ``importlib.metadata`` finds; ``[]`` skips that place.

    Returns:
        list[tuple[str, str | None]]: ``(description, directory)``; the
        directory is None where a place does not apply (no editable
        install), the description then says what was found instead.
    """
    package_dir = osp.abspath(package_dir or _package_dir())
    if distributions is None:
        distributions = _installed_distributions()
    editable, found = None, []
    for distribution in distributions:
        editable, why = _editable_root(distribution, package_dir)
        found.append(why)
        if editable:
            break
    return [
        (f'package data ({osp.basename(package_dir)}/{MIM_DIR}, as in a '
         'wheel)', osp.join(package_dir, MIM_DIR)),
        ('editable install (direct_url.json): ' +
         ('; '.join(found) or 'no mmcsra distribution installed'), editable),
        ('source checkout containing the package', osp.dirname(package_dir)),
    ]


def model_zoo_root(
    package_dir: Optional[str] = None,
    distributions: Optional[Sequence[importlib.metadata.Distribution]] = None
) -> str:
    """The directory holding ``model-index.yml`` and ``configs/``.

    The first of :func:`model_zoo_places` that has ``model-index.yml``
    (see the module doc); arguments as there.

    Raises:
        FileNotFoundError: if none has it; the message lists each place.
    """
    places = model_zoo_places(package_dir, distributions)
    for _, directory in places:
        if directory and osp.isfile(osp.join(directory, INDEX_FILE)):
            return directory
    searched = '\n'.join(f'  {i}. {what}: ' +
                         (f'no {osp.join(directory, INDEX_FILE)}'
                          if directory else 'not searched')
                         for i, (what, directory) in enumerate(places, 1))
    raise FileNotFoundError(
        f"mmcsra's model zoo ({INDEX_FILE} and configs/) was not found; "
        f'searched:\n{searched}\n'
        f'Install a wheel built from the repository (it ships them in '
        f'mmcsra/{MIM_DIR}) or install a checkout with `pip install -e .`.')


@functools.lru_cache(maxsize=None)
def _default_root() -> str:
    return model_zoo_root()


def model_index_path() -> str:
    """Path of mmcsra's ``model-index.yml`` (see :func:`model_zoo_root`)."""
    return osp.join(_default_root(), INDEX_FILE)


# ------------------------------------------------------------- reading it


def _plain(obj: Any) -> Any:
    """modelindex objects -> dicts/lists of plain values."""
    data = getattr(obj, 'data', obj)
    if isinstance(data, dict):
        return {k: _plain(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    return data


def load_model_index(path: Optional[str] = None,
                     root: Optional[str] = None) -> Dict[str, ModelInfo]:
    """Parse a model index into ``{lower-case name: ModelInfo}``.

    Args:
        path (str, optional): the ``model-index.yml``. Defaults to mmcsra's.
        root (str, optional): directory the ``Config`` paths are relative
            to. Defaults to the directory of ``path``.

    Raises:
        ValueError: if the index has format errors (modelindex's checks), a
            name appears twice, a model has no ``Config`` or its config file
            does not exist.
    """
    from modelindex.load_model_index import load

    path = osp.abspath(path or model_index_path())
    root = osp.abspath(root or osp.dirname(path))
    index = load(path)
    index.build_models_with_collections()  # also flags unknown collections
    errors = index.check(silent=True)
    if errors:
        raise ValueError(f'model index {path} has errors:\n' +
                         '\n'.join(errors))

    models: Dict[str, ModelInfo] = {}
    for entry in index.models:
        full = entry.full_model
        data = _plain(full)
        name = entry.name
        metafile = osp.abspath(entry.filepath) if entry.filepath else path
        key = name.lower()
        if key in models:
            raise ValueError(f'model name {name!r} appears twice: in '
                             f'{models[key].metafile} and {metafile}')
        if not entry.config:
            raise ValueError(f'{metafile}: model {name!r} has no Config')
        config = entry.config if osp.isabs(entry.config) else osp.join(
            root, entry.config)
        if not osp.isfile(config):
            raise ValueError(f'{metafile}: model {name!r} names config '
                             f'{entry.config!r}, which does not exist')
        models[key] = ModelInfo(
            name=name,
            collection=data.get('In Collection'),
            config=config,
            weights=data.get('Weights') or None,
            results=list(data.get('Results') or []),
            paper=data.get('Paper'),
            metadata=dict(data.get('Metadata') or {}),
            extra={
                k: v
                for k, v in data.items() if k not in _KNOWN_FIELDS
            },
            metafile=metafile)
    return models


def _index() -> Dict[str, ModelInfo]:
    path = model_index_path()
    if path not in _INDEX_CACHE:
        _INDEX_CACHE[path] = load_model_index(path)
    return _INDEX_CACHE[path]


def list_models(pattern: Optional[str] = None,
                exclude_patterns: Optional[Sequence[str]] = None,
                task: Optional[str] = None) -> List[str]:
    """Names of the models in mmcsra's index, sorted.

    Matching follows MMPretrain's ``list_models``: a name matches
    ``pattern`` if it matches the shell wildcard ``pattern + '*'``
    (case-insensitive; so a plain word selects the names starting with it).

    Args:
        pattern (str, optional): wildcard pattern, e.g. ``'resnet101*'``.
        exclude_patterns (list[str], optional): wildcard patterns to drop
            (also extended by ``'*'``).
        task (str, optional): keep models with a result of this task (e.g.
            ``'Multi-Label Classification'``).
    """
    index = _index()
    names = set(index)
    if pattern is not None:
        names = set(fnmatch.filter(names, pattern.lower() + '*'))
    for exclude in exclude_patterns or []:
        names -= set(fnmatch.filter(names, exclude.lower() + '*'))
    if task is not None:
        names = {
            n
            for n in names if any(
                r.get('Task') == task for r in index[n].results)
        }
    return sorted(index[n].name for n in names)


def get_model_info(name: str) -> ModelInfo:
    """The index entry of ``name`` (case-insensitive)."""
    index = _index()
    info = index.get(name.lower())
    if info is None:
        info = _renamed_model(index, name)
    if info is None:
        raise ValueError(f'no model named {name!r} in {model_index_path()}; '
                         'see mmcsra.apis.list_models()')
    return copy.deepcopy(info)


def _renamed_model(index: Dict[str, ModelInfo],
                   name: str) -> Optional[ModelInfo]:
    """The model once named ``{method folder}_{config stem}`` (before the
    metafile ``Name`` became the config stem), with a deprecation warning;
    None if ``name`` is no such old name."""
    import warnings

    for info in index.values():
        folder = osp.basename(osp.dirname(info.config))
        if f'{folder}_{info.name}'.lower() == name.lower():
            warnings.warn(
                f'model name {name!r} is deprecated: the model is now named '
                f'{info.name!r} (its config file name)',
                DeprecationWarning,
                stacklevel=3)
            return info
    return None


_REGISTERED_WITH_MMPRETRAIN = False


def register_to_mmpretrain() -> None:
    """Register mmcsra's index with MMPretrain's ``ModelHub`` (idempotent).

    After it, ``mmpretrain.list_models('resnet101*')`` /
    ``mmpretrain.get_model`` and MMPretrain's inferencers find mmcsra's
    models by name. mmcsra's own :func:`get_model` stays the strict entry
    point (``pretrained=True`` without published weights is an error there,
    a warning in MMPretrain).
    """
    global _REGISTERED_WITH_MMPRETRAIN
    if _REGISTERED_WITH_MMPRETRAIN:
        return
    from mmpretrain.apis import ModelHub

    ModelHub._register_mmpretrain_models()  # keep MMPretrain's own first
    clash = sorted(set(_index()) & set(ModelHub._models_dict))
    if clash:
        raise ValueError(f'mmcsra model names {clash} are already in '
                         "MMPretrain's ModelHub")
    ModelHub.register_model_index(
        model_index_path(), config_prefix=_default_root())
    _REGISTERED_WITH_MMPRETRAIN = True


def get_model(model: Union[str, os.PathLike, Config],
              pretrained: Union[None, bool, str, os.PathLike] = None,
              device: Union[None, str, torch.device] = None,
              **kwargs):
    """Build a model of the index, of a config file or of a Config.

    The model is built from the config's ``model`` (with the config's
    ``data_preprocessor``) and put in eval mode. Building never downloads:
    backbones' ``init_cfg`` (e.g. ImageNet weights) are only applied by
    ``init_weights()``, which the training runner calls, not this function.

    Args:
        model (str | PathLike | Config): a name from :func:`list_models`, a
            config file (``.py``) or a config.
        pretrained (None | bool | str | PathLike): weights to load.
            ``None``/``False``: none (random initialisation).
            ``True``: the ``Weights`` of the index entry; an error if the
            entry has none (or ``model`` is not a name). A path or URL:
            loaded by :func:`mmcsra.apis.init_model.init_model` (mmcsra's
            safe loader, ``weights_only=True``; keys, shapes and the class
            order checked against the config's test dataset).
        device (str | torch.device, optional): where to put the model.
        **kwargs: merged into the config's ``model`` (e.g.
            ``head=dict(num_classes=5)``).

    Returns:
        mmengine.model.BaseModel: the model, with ``_dataset_meta`` (from
        the checkpoint's ``meta['dataset_meta']``, else the config's test
        dataset's classes or its class's ``METAINFO``), ``_config`` and
        ``_metainfo`` (the :class:`ModelInfo`, or None) set as MMPretrain's
        ``get_model`` does.

    Raises:
        ValueError: unknown name, or ``pretrained=True`` without published
            weights.
        FileNotFoundError: a local checkpoint that does not exist.
    """
    from .init_model import init_model

    info = None
    if isinstance(model, Config):
        cfg = copy.deepcopy(model)
    elif isinstance(model, (str, os.PathLike)) and str(model).endswith('.py'):
        cfg = Config.fromfile(str(model))
    elif isinstance(model, str):
        info = get_model_info(model)
        cfg = Config.fromfile(info.config)
    else:
        raise TypeError('model must be a model name, a config file (.py) '
                        f'or a Config, got {type(model).__name__}')

    if pretrained is True:
        if info is None:
            raise ValueError(
                'pretrained=True looks the weights up in the model index, '
                'which needs a model name; with a config, pass the '
                'checkpoint path or URL as pretrained=...')
        if not info.weights:
            raise ValueError(
                f'model {info.name!r} has no published weights (no '
                f'`Weights` in {info.metafile}); pass a checkpoint path or '
                'URL as pretrained=..., or pretrained=None for a randomly '
                'initialised model')
        pretrained = info.weights
    elif pretrained is False:
        pretrained = None
    elif pretrained is not None and not isinstance(pretrained,
                                                   (str, os.PathLike)):
        raise TypeError('pretrained must be None, a bool, a path or a URL, '
                        f'got {type(pretrained).__name__}')

    if kwargs:
        cfg.merge_from_dict({'model': kwargs})
    # the one loading path: keys, shapes and class order are checked
    net = init_model(cfg, pretrained, device=device or 'cpu')
    net._metainfo = info
    net.eval()
    return net


# ------------------------------------------------------------- publishing
def to_plain_python(value: Any, where: str = 'meta') -> Any:
    """``value`` with only types ``torch.load(weights_only=True)`` accepts.

    dict (and subclasses such as ConfigDict / OrderedDict) -> dict,
    list -> list, tuple -> tuple, numpy scalars / 0-d arrays -> Python
    numbers, numpy arrays and tensors -> nested lists; str, bool, int,
    float and None are kept.

    Raises:
        TypeError: on any other type, naming where it is (``where``).
    """
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f'{where}: key {key!r} is a '
                                f'{type(key).__name__}, not str or int')
            out[key] = to_plain_python(item, f'{where}[{key!r}]')
        return out
    if isinstance(value, (list, tuple)):
        items = [
            to_plain_python(v, f'{where}[{i}]') for i, v in enumerate(value)
        ]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return value.tolist()
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f'{where} is a {type(value).__name__}, which a published '
                    'checkpoint cannot hold (plain Python values only)')


def _check_tensors(state: dict, where: str) -> None:
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f'{where}[{key!r}] is a {type(value).__name__}, '
                            'not a tensor')


def _ema_and_raw_weights(checkpoint: dict, in_file: str):
    """The averaged and the raw weights of an EMAHook checkpoint.

    mmengine's ``EMAHook.before_save_checkpoint`` (MMPretrain's ``EMAHook``
    inherits it) swaps the two before saving, so that testing a checkpoint
    evaluates the averaged model: ``state_dict`` holds the **EMA** weights
    and ``ema_state_dict`` the **raw** training weights under
    ``'module.' + key``, plus the averaged model's ``steps`` counter.
    """
    state = checkpoint['state_dict']
    ema_state = checkpoint['ema_state_dict']
    raw = OrderedDict()
    for key, value in ema_state.items():
        if key.startswith('module.'):
            raw[key[len('module.'):]] = value
        elif key != 'steps':
            raise ValueError(f'{in_file}: ema_state_dict key {key!r} is '
                             "neither 'module.<name>' nor 'steps'")
    if set(raw) != set(state):
        missing = sorted(set(state) - set(raw))[:5]
        extra = sorted(set(raw) - set(state))[:5]
        raise ValueError(
            f'{in_file}: ema_state_dict does not mirror state_dict (keys '
            f'only in state_dict: {missing}, only in ema_state_dict: '
            f'{extra})')
    averaged = OrderedDict((k, state[k]) for k in state)
    raw = OrderedDict((k, raw[k]) for k in state)
    return averaged, raw


def publish_checkpoint(in_file: str,
                       out_file: str,
                       ema: Optional[bool] = None,
                       dataset_type: Optional[str] = None,
                       date: Optional[str] = None,
                       config=None) -> str:
    """Write a release file of a training checkpoint.

    Keeps ``state_dict`` and ``meta`` (with ``dataset_meta``), drops the
    optimizer, parameter schedulers, message hub and any other entry, and
    writes ``{OUT}_{YYYYMMDD}-{sha256[:8]}.pth`` where ``OUT`` is
    ``out_file`` without ``.pth`` and the hash is that of the written file
    (OpenMMLab's convention). The result loads with plain
    ``torch.load(path, weights_only=True)``: the meta is converted to plain
    Python values (:func:`to_plain_python`) and the file is re-read that way
    before returning.

    Checkpoints written with an ``EMAHook`` (they have ``ema_state_dict``)
    need an explicit choice (see :func:`_ema_and_raw_weights` for the
    layout): ``ema=True`` publishes the averaged weights, ``ema=False`` the
    raw training weights.

    Args:
        in_file (str): the training checkpoint (loaded with
            :func:`~mmcsra.engine.compat.safe_torch_load`). A bare
            ``{name: tensor}`` state dict is accepted too.
        out_file (str): output name, e.g. ``work_dirs/csra_voc.pth``; its
            directory must exist.
        ema (bool, optional): which weights of an EMA checkpoint to
            publish (required for one). For a checkpoint without EMA
            weights, True is an error and None / False publish its
            ``state_dict``.
        dataset_type (str, optional): a registered dataset whose
            ``METAINFO`` fills ``meta['dataset_meta']`` when the checkpoint
            has none (e.g. a converted official checkpoint).
        date (str, optional): ``YYYYMMDD`` of the file name. Defaults to
            today.
        config (str | Config, optional): the model's config. When given,
            the written file is loaded into that model by
            :func:`~mmcsra.apis.init_model.init_model` (strict keys,
            shapes, class names and order against the config's test
            dataset); if that fails the written file is removed and the
            error raised (``in_file`` is never touched).

    Returns:
        str: the path of the written file.
    """
    out_dir = osp.dirname(osp.abspath(out_file))
    if not osp.isdir(out_dir):
        raise FileNotFoundError(f'output directory {out_dir} does not exist')
    checkpoint = safe_torch_load(in_file, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise TypeError(f'{in_file} holds a {type(checkpoint).__name__}, '
                        'not a checkpoint dict')
    if 'state_dict' not in checkpoint:
        if checkpoint and all(
                isinstance(v, torch.Tensor) for v in checkpoint.values()):
            checkpoint = dict(state_dict=checkpoint)
        else:
            raise KeyError(f'{in_file} has no state_dict (keys: '
                           f'{sorted(checkpoint)[:10]})')
    state = checkpoint['state_dict']
    _check_tensors(state, 'state_dict')

    if 'ema_state_dict' in checkpoint:
        if ema is None:
            raise ValueError(
                f'{in_file} was trained with an EMAHook: choose the weights '
                'to publish, --ema (the averaged weights, which the runner '
                'validated and tests) or --no-ema (the raw training '
                'weights)')
        averaged, raw = _ema_and_raw_weights(checkpoint, in_file)
        weights = averaged if ema else raw
        kind = 'ema' if ema else 'raw'
    else:
        if ema:
            raise ValueError(f'{in_file} has no ema_state_dict: it was not '
                             'trained with an EMAHook, so --ema has no EMA '
                             'weights to publish')
        weights = OrderedDict((k, state[k]) for k in state)
        kind = 'model'
    metadata = getattr(state, '_metadata', None)
    if metadata is not None:  # module versions, read by _load_from_state_dict
        weights._metadata = to_plain_python(
            dict(metadata), 'state_dict._metadata')

    meta = to_plain_python(dict(checkpoint.get('meta') or {}), 'meta')
    if not meta.get('dataset_meta'):
        if dataset_type is None:
            raise ValueError(
                f'{in_file} has no meta["dataset_meta"] (class names); pass '
                '--dataset-type NAME to take them from a registered dataset')
        from mmpretrain.registry import DATASETS
        dataset_cls = DATASETS.get(dataset_type)
        if dataset_cls is None or not getattr(dataset_cls, 'METAINFO', None):
            raise ValueError(f'dataset type {dataset_type!r} is not '
                             'registered or has no METAINFO')
        meta['dataset_meta'] = to_plain_python(
            dict(dataset_cls.METAINFO), 'METAINFO')
    meta['mmcsra_version'] = __version__
    meta['published_weights'] = kind
    published = dict(meta=meta, state_dict=weights)

    buffer = io.BytesIO()
    torch.save(published, buffer)
    data = buffer.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    date = date or datetime.datetime.now().strftime('%Y%m%d')
    stem = out_file[:-len('.pth')] if out_file.endswith('.pth') else out_file
    final_file = f'{stem}_{date}-{sha[:8]}.pth'
    with open(final_file, 'wb') as f:
        f.write(data)
    try:
        # the promise of this function: loadable without any allow-list
        torch.load(final_file, map_location='cpu', weights_only=True)
        if config is not None:
            from .init_model import init_model
            init_model(config, final_file)
    except BaseException:
        os.remove(final_file)
        raise
    return final_file
