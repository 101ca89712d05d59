"""Check a config's checkpoint URLs before a run, for nodes without internet.

mmengine downloads a URL checkpoint (an ``init_cfg=dict(type='Pretrained',
checkpoint=URL)`` of the backbone, or ``load_from=URL``) only when it loads
it: after the runner, the model and the dataloaders are built, in
``init_weights()``. On a training node without internet the run then ends in
a bare ``urllib.error.URLError``. mmengine (``load_from_http``; mmcsra's safe
loader keeps the place) first looks for the file in torch hub's cache,
``<torch.hub.get_dir()>/checkpoints/<file name of the URL>``
(``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/...``),
and downloads only when it is missing.

* :func:`find_checkpoints` lists every checkpoint a config names, with its
  config key (``model.backbone.init_cfg.checkpoint``, ``load_from``) and
  the URL behind ``torchvision://``, ``open-mmlab://`` and ``mmcls://``
  names.
* :func:`check_checkpoints_available` (``tools/train.py`` calls it before
  building the runner) raises :class:`CheckpointUnavailableError` with one
  message per unavailable checkpoint: the URL, the cache file mmengine looks
  for, and the ``--cfg-options`` that points at a local copy. A URL is
  available when its cache file exists or the URL answers.
* :func:`download_checkpoints` (``tools/download_weights.py``) fetches the
  missing ones into that cache, e.g. on a login node.
"""
import os
import os.path as osp
import urllib.request
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Tuple
from urllib.parse import urlparse

__all__ = [
    'CheckpointRef', 'CheckpointUnavailableError', 'find_checkpoints',
    'hub_cache_path', 'check_checkpoints_available', 'download_checkpoints'
]

URL_SCHEMES = ('http://', 'https://', 'file://')
#: mmengine's model-name schemes and the tables that map them to URLs
NAME_SCHEMES = ('torchvision://', 'modelzoo://', 'open-mmlab://',
                'openmmlab://', 'mmcls://')


class CheckpointUnavailableError(RuntimeError):
    """A checkpoint of the config can not be read on this machine."""


@dataclass
class CheckpointRef:
    """One checkpoint named by a config.

    Attributes:
        key (str): its config key, as ``--cfg-options`` spells it.
        name (str): the value in the config (URL, model name or path).
        url (str | None): the URL it is downloaded from (None: local file).
    """
    key: str
    name: str
    url: Optional[str]

    @property
    def cache_path(self) -> Optional[str]:
        """The local file mmengine reads instead of downloading."""
        return hub_cache_path(self.url) if self.url else None


def hub_cache_path(url: str) -> str:
    """``<torch.hub.get_dir()>/checkpoints/<basename of the URL path>``, the
    file torch hub's ``load_state_dict_from_url`` (used by mmengine's
    ``load_from_http``) reads if it exists."""
    from torch.hub import get_dir
    return osp.join(get_dir(), 'checkpoints', osp.basename(urlparse(url).path))


def _url_of(name: str) -> Optional[str]:
    """The download URL of a checkpoint name; None for a local path."""
    if name.startswith(URL_SCHEMES):
        return name
    if not name.startswith(NAME_SCHEMES):
        return None
    from mmengine.runner import checkpoint as ckpt
    scheme, _, model = name.partition('://')
    if scheme in ('torchvision', 'modelzoo'):
        table = ckpt.get_torchvision_models()
    elif scheme == 'mmcls':
        table = ckpt.get_mmcls_models()
    else:
        table = ckpt.get_external_models()
        model = ckpt.get_deprecated_model_names().get(model, model)
    if model not in table:
        raise CheckpointUnavailableError(
            f'{name!r}: mmengine knows no {scheme}:// model {model!r}')
    url = table[model]
    if not url.startswith(URL_SCHEMES):  # open-mmlab:// names a local file
        return None
    return url


def _walk(node: Any, key: str) -> Iterator[Tuple[str, str]]:
    """``(key, checkpoint)`` of every ``type='Pretrained'`` init_cfg."""
    if isinstance(node, dict):
        if node.get('type') == 'Pretrained' and isinstance(
                node.get('checkpoint'), str):
            yield f'{key}.checkpoint', node['checkpoint']
        for name, value in node.items():
            yield from _walk(value, f'{key}.{name}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _walk(value, f'{key}.{i}')


def find_checkpoints(cfg,
                     include_init_cfg: bool = True) -> List[CheckpointRef]:
    """Every checkpoint the config loads: ``Pretrained`` init_cfgs anywhere
    in ``cfg.model`` (applied when training starts) and ``load_from``.

    Args:
        cfg (Config | dict): the config (after ``--cfg-options``).
        include_init_cfg (bool): include the init_cfgs (False for a test
            run, which does not call ``init_weights``).
    """
    found = []
    if include_init_cfg:
        found += list(_walk(cfg.get('model'), 'model'))
    if isinstance(cfg.get('load_from'), str):
        found.append(('load_from', cfg['load_from']))
    return [CheckpointRef(key, name, _url_of(name)) for key, name in found]


def _local_problem(name: str) -> Optional[str]:
    """Why a local checkpoint can not be read (None: it can). ``pkg://``
    names a file of an installed package; other schemes (``s3://``, ...)
    are left to their loaders."""
    if name.startswith('pkg://'):
        from mmcsra.engine.package_checkpoint import resolve_package_file
        try:
            resolve_package_file(name)
        except (ValueError, ImportError, FileNotFoundError) as error:
            return str(error)
        return None
    if '://' in name:
        return None
    path = osp.expanduser(name)
    return None if osp.isfile(path) else f'{path} not found'


def _reachable(url: str, timeout: float) -> Optional[str]:
    """None if the URL answers, else the reason it does not."""
    request = urllib.request.Request(url, method='HEAD')
    if url.startswith('file://'):
        request = url
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except Exception as error:  # URLError, HTTPError, timeouts, ...
        return f'{type(error).__name__}: {error}'


def _unavailable_message(ref: CheckpointRef, reason: str,
                         config: Optional[str]) -> str:
    base = osp.basename(ref.cache_path or ref.name)
    lines = [f'{ref.key} = {ref.name!r}']
    if ref.url is None:
        lines.append(f'  the local file can not be read ({reason})')
    else:
        if ref.url != ref.name:
            lines.append(f'  URL: {ref.url}')
        lines.append(f'  it can not be downloaded ({reason}), and the local '
                     f'copy mmengine looks for first is missing: '
                     f'{ref.cache_path}')
        lines.append('  (torch hub cache: torch.hub.get_dir()/checkpoints; '
                     'TORCH_HOME moves it)')
        lines.append('  either prefetch it on a machine with internet: '
                     f'python tools/download_weights.py {config or "CONFIG"}'
                     ' (then copy the file to the path above),')
    lines.append(f'  or point at a local copy: --cfg-options '
                 f'{ref.key}=/path/to/{base}')
    return '\n'.join(lines)


def check_checkpoints_available(cfg,
                                config: Optional[str] = None,
                                include_init_cfg: bool = True,
                                timeout: float = 10.0) -> List[CheckpointRef]:
    """Raise before anything is built if a checkpoint can not be read.

    A local checkpoint must exist; a URL must be in torch hub's cache or
    answer a HEAD request within ``timeout`` seconds.

    Args:
        cfg (Config): the config.
        config (str, optional): its file, for the messages.
        include_init_cfg (bool): see :func:`find_checkpoints`.
        timeout (float): seconds to wait for a URL.

    Returns:
        list[CheckpointRef]: the checkpoints checked.

    Raises:
        CheckpointUnavailableError: naming each missing checkpoint, the
            file mmengine looks for, and the ``--cfg-options`` fix.
    """
    refs = find_checkpoints(cfg, include_init_cfg)
    problems = []
    for ref in refs:
        if ref.url is None:
            reason = _local_problem(ref.name)
            if reason is not None:
                problems.append(_unavailable_message(ref, reason, config))
        elif not osp.isfile(ref.cache_path):
            reason = _reachable(ref.url, timeout)
            if reason is not None:
                problems.append(_unavailable_message(ref, reason, config))
    if problems:
        raise CheckpointUnavailableError(
            f'{len(problems)} checkpoint(s) of the config can not be read on '
            'this machine (checked before building the run):\n' +
            '\n'.join(problems))
    return refs


def download_checkpoints(cfg,
                         progress: bool = True
                         ) -> List[Tuple[CheckpointRef, str]]:
    """Download every URL checkpoint of ``cfg`` missing from torch hub's
    cache (see :func:`hub_cache_path`), checking that each loads with the
    ``weights_only`` allow-list.

    Returns:
        list[(CheckpointRef, status)]: status is ``'downloaded'``,
        ``'cached'``, ``'local'`` or ``'missing'`` (a local file that does
        not exist).
    """
    from torch.hub import download_url_to_file

    from mmcsra.engine import safe_torch_load

    done = []
    for ref in find_checkpoints(cfg):
        if ref.url is None:
            status = 'local' if _local_problem(ref.name) is None else 'missing'
        elif osp.isfile(ref.cache_path):
            status = 'cached'
        else:
            os.makedirs(osp.dirname(ref.cache_path), exist_ok=True)
            download_url_to_file(ref.url, ref.cache_path, progress=progress)
            try:
                safe_torch_load(ref.cache_path, map_location='cpu')
            except Exception:
                os.remove(ref.cache_path)  # never leave a refused file
                raise
            status = 'downloaded'
        done.append((ref, status))
    return done
