"""Compatibility of the OpenMMLab 2.x stack with today's torch/setuptools.

Everything mmcsra changes about the behaviour of third-party code lives in
this one module, and is applied at one explicit place:

* :func:`apply_import_time_fixes` runs on ``import mmcsra``:

  - **safe checkpoint loading** on torch >= 2.6, where ``torch.load``
    defaults to ``weights_only=True`` and stock mmengine can no longer
    resume or test its own checkpoints (they pickle
    :class:`mmengine.logging.HistoryBuffer` and numpy arrays). We extend
    torch's allow-list with exactly those classes and register a local-file
    loader that always uses ``weights_only=True`` and turns a refused pickle
    into :class:`UnsafeCheckpointError`. We never fall back to
    ``weights_only=False``: a checkpoint is untrusted input.
  - **``pkg_resources`` fallback**: setuptools >= 82 removed
    ``pkg_resources``, which mmengine 0.10.x uses to resolve
    ``_base_ = 'mmpretrain::...'``. When it is missing we rebind mmengine's
    three package helpers to :mod:`importlib.metadata` equivalents.
  - **atomic checkpoint saving**: checkpoints and ``last_checkpoint`` are
    written to a temporary file and renamed, and old checkpoints are removed
    only after ``last_checkpoint`` names the new one, so a job killed while
    saving never leaves a checkpoint that ``--resume`` picks up and fails on
    (:func:`_make_checkpoint_saving_atomic`).

* :func:`setup_distributed_env` is called by ``tools/train.py`` and
  ``tools/test.py``: on a machine without CUDA it initialises the process
  group with gloo itself (mmengine's ``init_dist`` would call
  ``torch.cuda.set_device``) and makes DDP wrap CPU modules
  (``device_ids=None``).

* :func:`fix_dataloader_cfg` turns off ``persistent_workers`` where
  ``num_workers == 0`` (torch refuses that combination).
"""
import collections
import importlib
import importlib.metadata
import importlib.util
import os
import os.path as osp
import pickle
from typing import Any, Dict, List, Set

import numpy as np
import torch

__all__ = [
    'UnsafeCheckpointError', 'safe_checkpoint_globals', 'safe_torch_load',
    'apply_import_time_fixes', 'setup_distributed_env', 'fix_dataloader_cfg'
]


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs a pickle global that is not on the allow-list.

    Such a file could execute arbitrary code when unpickled, so it is
    refused instead of being loaded with ``weights_only=False``.
    """


def _numpy_globals() -> List[Any]:
    """numpy objects that appear in pickled arrays and scalars."""
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    found = [np.ndarray, np.dtype, _reconstruct, scalar]
    # numpy >= 1.25 pickles dtypes by their class (``numpy.dtypes.*DType``)
    dtypes_module = getattr(np, 'dtypes', None)
    if dtypes_module is not None:
        for name in dir(dtypes_module):
            obj = getattr(dtypes_module, name)
            if isinstance(obj, type) and issubclass(obj, np.dtype):
                found.append(obj)
    # scalar types, e.g. ``np.float64`` used as a dtype argument
    found.extend(
        t for t in set(np.sctypeDict.values()) if isinstance(t, type))
    return found


class _AttributeOwner:
    """Inert stand-in for a class that a checkpoint names only to ``getattr``.

    Registered under the class's pickle name, it lets :func:`_restricted_getattr`
    resolve the allowed attributes without putting the class itself on the
    allow-list (a class global could be *called* by a crafted pickle).
    """

    def __init__(self, cls: type):
        self.cls = cls

    def __call__(self, *args, **kwargs):
        raise pickle.UnpicklingError(
            f'a checkpoint may not construct {self.cls.__qualname__}; it is '
            'named only for its allow-listed attributes')

    def __repr__(self) -> str:
        return f'<checkpoint reference to {self.cls.__qualname__}>'


def _getattr_allow_list() -> Dict[type, Set[str]]:
    """The attributes a checkpoint may fetch with ``getattr``, per class.

    * ``HistoryBuffer``: mmengine pickles the statistics methods of its log
      buffers (``min``, ``max``, ``current``, ``mean`` and user-registered
      ones) as ``getattr(HistoryBuffer, 'min')``.
    * ``OneCycleParamScheduler``: its state dict holds ``anneal_func``, a
      static method pickled as ``getattr(OneCycleParamScheduler,
      '_annealing_cos')`` (or ``'_annealing_linear'``).
    """
    from mmengine.logging import HistoryBuffer
    from mmengine.optim.scheduler.param_scheduler import \
        OneCycleParamScheduler
    return {
        HistoryBuffer: {'min', 'max', 'current', 'mean'} | set(
            HistoryBuffer._statistics_methods),
        OneCycleParamScheduler: {'_annealing_cos', '_annealing_linear'},
    }


def _restricted_getattr(obj: Any, name: str) -> Any:
    """A ``getattr`` limited to :func:`_getattr_allow_list`.

    A general ``getattr`` global would let a crafted pickle walk to any
    callable, so this stand-in is registered under the name
    ``builtins.getattr`` instead and refuses everything else.
    """
    owner = obj.cls if isinstance(obj, _AttributeOwner) else obj
    for cls, names in _getattr_allow_list().items():
        is_owner = owner is cls or isinstance(owner, cls)
        if is_owner and isinstance(name, str) and name in names:
            return getattr(owner, name)
    raise pickle.UnpicklingError(
        f'getattr({type(owner).__name__}, {name!r}) is not allowed in a '
        'checkpoint: only ' + '; '.join(
            f'{cls.__name__}.{{{", ".join(sorted(names))}}}'
            for cls, names in _getattr_allow_list().items()) + ' are')


def safe_checkpoint_globals() -> List[Any]:
    """The allow-list of classes/functions a trusted checkpoint may name.

    Plain data only: mmengine's log buffers, numpy arrays/scalars/dtypes,
    standard containers, and the attributes of :func:`_getattr_allow_list`
    through a restricted ``getattr`` (the one-cycle scheduler's class is an
    inert reference, not callable). Nothing here can run arbitrary code on
    unpickling.
    """
    from mmengine.logging import HistoryBuffer
    from mmengine.optim.scheduler.param_scheduler import \
        OneCycleParamScheduler
    allowed = [HistoryBuffer, collections.OrderedDict, collections.defaultdict,
               collections.deque, (_restricted_getattr, 'builtins.getattr'),
               (_AttributeOwner(OneCycleParamScheduler),
                'mmengine.optim.scheduler.param_scheduler.'
                'OneCycleParamScheduler')]
    allowed.extend(_numpy_globals())
    try:
        from mmengine.config import ConfigDict
        allowed.append(ConfigDict)
    except ImportError:  # pragma: no cover - mmengine always has it
        pass
    return allowed


def safe_torch_load(filename: str, map_location: Any = None) -> Any:
    """``torch.load(weights_only=True)`` with mmcsra's allow-list.

    Raises:
        FileNotFoundError: if ``filename`` does not exist.
        UnsafeCheckpointError: if the pickle names a global outside the
            allow-list (it could execute code).
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    try:
        with torch.serialization.safe_globals(safe_checkpoint_globals()):
            return torch.load(
                filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f'Refusing to load checkpoint {filename!r}: it needs a pickle '
            f'global outside the safe allow-list, so unpickling it could '
            f'execute code. Only load checkpoints from sources you trust; '
            f'if this one is trusted, re-save its state_dict with plain '
            f'tensors. torch said: {err}') from err


def safe_load_from_http(filename: str, map_location: Any = None,
                        model_dir: Any = None, progress: bool = False) -> Any:
    """mmengine's ``load_from_http`` with :func:`safe_torch_load`.

    mmengine downloads through ``torch.hub.load_state_dict_from_url``, whose
    ``weights_only`` defaults to False: a checkpoint URL (or a file placed in
    the hub cache under its name) would be unpickled with arbitrary code.
    Here the file is downloaded (rank 0 first, as mmengine does) into the
    same cache and read with the allow-list.
    """
    from urllib.parse import urlparse

    import torch.distributed as dist
    from mmengine.dist import get_dist_info
    from torch.hub import download_url_to_file, get_dir

    model_dir = model_dir or osp.join(get_dir(), 'checkpoints')
    cached = osp.join(model_dir, osp.basename(urlparse(filename).path))
    rank, world_size = get_dist_info()

    def fetch():
        if not osp.exists(cached):
            os.makedirs(model_dir, exist_ok=True)
            download_url_to_file(filename, cached, progress=progress)

    if rank == 0:
        fetch()
    if world_size > 1:
        dist.barrier()
        fetch()
    return safe_torch_load(cached, map_location=map_location)


def _register_safe_checkpoint_loader() -> None:
    from mmengine.runner import checkpoint
    from mmengine.runner.checkpoint import CheckpointLoader

    # '' is mmengine's scheme for local paths; force replaces its loader,
    # which calls torch.load without an allow-list.
    CheckpointLoader.register_scheme(
        prefixes='', loader=safe_torch_load, force=True)
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'), loader=safe_load_from_http,
        force=True)
    # torchvision:// and mmcls:// call the module's load_from_http by name
    checkpoint.load_from_http = safe_load_from_http


# ---------------------------------------------------------------- packaging
def _is_installed(package: str) -> bool:
    try:
        importlib.metadata.distribution(package)
        return True
    except importlib.metadata.PackageNotFoundError:
        spec = importlib.util.find_spec(package)
        return spec is not None and spec.origin is not None


def _package2module(package: str) -> str:
    dist = importlib.metadata.distribution(package)
    top_level = dist.read_text('top_level.txt')
    if top_level:
        return top_level.split('\n')[0]
    # wheels without top_level.txt: take the first top-level package
    for file in dist.files or []:
        parts = file.parts
        if len(parts) > 1 and parts[-1] == '__init__.py' and \
                not parts[0].endswith('.dist-info'):
            return parts[0]
    raise ValueError(f'can not infer the module name of {package}')


def _get_installed_path(package: str) -> str:
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        spec = importlib.util.find_spec(package)
        if spec is None:
            raise
        if spec.origin is None:
            raise RuntimeError(
                f'{package} is a namespace package, which is invalid for '
                '`get_install_path`')
        return osp.dirname(spec.origin)
    location = str(dist.locate_file(''))
    possible_path = osp.join(location, package)
    if osp.exists(possible_path):
        return possible_path
    return osp.join(location, _package2module(package))


def _pkg_resources_available() -> bool:
    try:
        import pkg_resources  # noqa: F401
        return True
    except ImportError:
        return False


def _install_pkg_resources_fallback() -> None:
    if _pkg_resources_available():
        return
    replacements = dict(
        is_installed=_is_installed,
        get_installed_path=_get_installed_path,
        package2module=_package2module)
    # mmengine imports these names by value into several modules
    for module_name in ('mmengine.utils.package_utils', 'mmengine.utils',
                        'mmengine.config.config', 'mmengine.hub.hub'):
        module = importlib.import_module(module_name)
        for name, func in replacements.items():
            if hasattr(module, name):
                setattr(module, name, func)


# -------------------------------------------------------- checkpoint saving
def _make_checkpoint_saving_atomic() -> None:
    """Write checkpoints and ``last_checkpoint`` atomically on local disks.

    Stock mmengine 0.10 writes ``epoch_N.pth`` with ``open(path, 'wb')`` and
    one ``write`` (``LocalBackend.put``), then ``last_checkpoint`` (the path
    ``--resume`` without a value loads) with ``open(path, 'w')`` in
    ``CheckpointHook``. A process killed in between leaves a truncated
    ``.pth`` under its final name, or an empty ``last_checkpoint`` that the
    resumed run then fails on.

    Here both are written to ``<name>.tmp-<pid>`` next to the target (same
    directory, hence same file system), flushed and fsynced, then renamed
    over the target with :func:`os.replace`, which is atomic: a reader sees
    the old complete file or the new complete one, never a part. As
    ``last_checkpoint`` is only replaced after the new ``.pth``, it always
    names a complete checkpoint. A kill can leave a ``*.tmp-<pid>`` file
    behind; nothing reads it and it may be deleted.

    ``LocalBackend.put`` is replaced (it serves every local ``put``, e.g.
    ``mmengine.dump`` of a pickle, which gets the same guarantee), and the
    name ``open`` in ``mmengine.hooks.checkpoint_hook`` (used there only for
    the ``last_checkpoint`` write) is bound to a function that makes
    ``'w'``/``'wb'`` opens atomic and passes other modes to :func:`open`.
    Symbolic links are kept: the file they point to is replaced.

    Stock ``CheckpointHook`` also deletes the oldest kept checkpoint
    (``max_keep_ckpts``) *before* writing the new one: with
    ``max_keep_ckpts=1`` a kill in between leaves ``last_checkpoint`` naming
    a deleted file. Its ``_save_checkpoint_with_step`` is wrapped so that
    these deletions are recorded and done after ``last_checkpoint`` names
    the new checkpoint (and not at all if saving fails).
    """
    import builtins
    import contextlib

    from mmengine.fileio.backends import LocalBackend
    from mmengine.hooks import checkpoint_hook

    @contextlib.contextmanager
    def open_atomic(path, mode: str, **kwargs):
        target = osp.realpath(path)
        tmp = f'{target}.tmp-{os.getpid()}'
        try:
            with builtins.open(tmp, mode, **kwargs) as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise

    def put(self, obj: bytes, filepath) -> None:
        os.makedirs(osp.dirname(osp.abspath(filepath)), exist_ok=True)
        with open_atomic(filepath, 'wb') as f:
            f.write(obj)

    def open_in_checkpoint_hook(file, mode: str = 'r', *args, **kwargs):
        if mode in ('w', 'wb') and not args:
            return open_atomic(file, mode, **kwargs)
        return builtins.open(file, mode, *args, **kwargs)

    class RemovalRecorder:
        """A file backend whose ``remove``/``rmtree`` only record."""

        def __init__(self, backend):
            self.backend, self.removed = backend, []

        def __getattr__(self, name):
            return getattr(self.backend, name)

        def remove(self, path):
            self.removed.append(path)

        def rmtree(self, path):
            self.removed.append(path)

    save_with_step = checkpoint_hook.CheckpointHook._save_checkpoint_with_step

    def save_then_remove_old(self, runner, step, meta) -> None:
        backend = self.file_backend
        self.file_backend = recorder = RemovalRecorder(backend)
        try:
            save_with_step(self, runner, step, meta)
        finally:
            self.file_backend = backend
        for path in recorder.removed:
            if backend.isfile(path):
                backend.remove(path)
            elif backend.isdir(path):  # deepspeed saves directories
                backend.rmtree(path)

    LocalBackend.put = put
    checkpoint_hook.open = open_in_checkpoint_hook
    checkpoint_hook.CheckpointHook._save_checkpoint_with_step = \
        save_then_remove_old


_APPLIED = False


def apply_import_time_fixes() -> None:
    """Apply the fixes that must be active whenever mmcsra is imported."""
    global _APPLIED
    if _APPLIED:
        return
    _register_safe_checkpoint_loader()
    _install_pkg_resources_fallback()
    _make_checkpoint_saving_atomic()
    _APPLIED = True


# -------------------------------------------------------------- distributed
def setup_distributed_env(cfg, launcher: str) -> None:
    """Prepare ``cfg`` and the process group for ``launcher`` on any device.

    With CUDA, this only fills mmengine's defaults. Without CUDA, it
    initialises ``torch.distributed`` with the gloo backend here, before the
    Runner does (mmengine's ``init_dist`` calls ``torch.cuda.set_device``),
    and tells the DDP wrapper not to pin ``device_ids``.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return
    import torch.distributed as dist
    from mmengine.dist import init_dist

    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = dict(env_cfg.get('dist_cfg', {}) or {})
    dist_cfg['backend'] = 'gloo'
    env_cfg['dist_cfg'] = dist_cfg
    if launcher == 'pytorch' and not dist.is_initialized():
        kwargs = {k: v for k, v in dist_cfg.items() if k != 'backend'}
        if 'timeout' in kwargs:
            import datetime
            kwargs['timeout'] = datetime.timedelta(seconds=kwargs['timeout'])
        dist.init_process_group(
            backend='gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']),
            **kwargs)
    elif not dist.is_initialized():  # slurm / mpi: mmengine handles them
        init_dist(launcher, **dist_cfg)

    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None  # CPU modules must not name a device
    cfg['model_wrapper_cfg'] = wrapper


def fix_dataloader_cfg(cfg) -> None:
    """Turn off ``persistent_workers`` for loaders with ``num_workers=0``."""
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader and loader.get('num_workers', 0) == 0 and \
                loader.get('persistent_workers', False):
            loader['persistent_workers'] = False

