"""Loading checkpoints and prediction dumps that come from other people.

A ``.pth`` checkpoint and a ``.pkl`` prediction dump are pickles, and a
pickle can name any importable callable and call it while it is read. mmcsra
treats both as untrusted (see ``docs/security.md``) and reads them in two
passes:

1. **Inert scan** (:func:`scan_pickle_file`): the pickle program is run by a
   pure-Python unpickler in which every global is a placeholder and every
   call only records its arguments, so nothing of the file is executed. The
   numpy objects it would build are checked here, *before* numpy sees them:
   a dtype may only be a plain builtin number type (bool, signed/unsigned
   integer, float, complex) with no fields, sub-arrays, offsets or custom
   item size; a numpy scalar must have one of those dtypes and exactly
   ``itemsize`` bytes; an array must have such a dtype and raw bytes as data
   (an object array holds a list). A crafted void dtype whose field lies far
   past its buffer -- which makes numpy read wild memory and kill the
   interpreter -- is refused here with :class:`UnsafeCheckpointError`.
2. **Restricted load**: checkpoints go through
   ``torch.load(weights_only=True)`` with the allow-list of
   :func:`safe_checkpoint_globals` (what mmengine really writes: log buffers,
   numeric numpy arrays/scalars, standard containers); dumps go through an
   unpickler whose ``find_class`` only knows containers, tensors and numeric
   numpy arrays (:func:`safe_pickle_load`). Any other global is refused with
   :class:`UnsafeCheckpointError`. There is no ``weights_only=False``
   fallback.

A file that is empty, truncated or not a checkpoint at all raises
:class:`CorruptCheckpointError` naming the file and what is wrong, instead of
a bare ``EOFError`` from deep inside ``pickle``.
"""
import collections
import io
import os
import os.path as osp
import pickle
import zipfile
from typing import Any, Dict, Iterable, List, Set, Union

import numpy as np
import torch

__all__ = [
    'UnsafeCheckpointError', 'CorruptCheckpointError',
    'safe_checkpoint_globals', 'scan_pickle_file', 'safe_torch_load',
    'safe_load_from_http', 'safe_pickle_load'
]

FileLike = Union[str, os.PathLike, io.BytesIO]


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint or dump needs a pickle global outside the allow-list, or
    holds numpy objects that are not plain numbers.

    Such a file could execute code or crash the interpreter when unpickled,
    so it is refused instead of being loaded with ``weights_only=False``.
    """


class CorruptCheckpointError(ValueError):
    """A checkpoint / dump file that is empty, truncated or not a pickle."""


# ------------------------------------------------------------ numpy rules
#: dtype kinds mmengine writes: bool, signed / unsigned integer, float,
#: complex (``HistoryBuffer`` arrays, numpy scalars in the message hub)
NUMERIC_KINDS = frozenset('biufc')


def _numpy_core():
    try:  # numpy >= 2
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    return multiarray


def _numeric_scalar_types() -> List[type]:
    return sorted(
        {
            t
            for t in np.sctypeDict.values() if isinstance(t, type)
            and issubclass(t, np.generic) and np.dtype(t).kind in NUMERIC_KINDS
        },
        key=lambda t: t.__name__)


def _numeric_dtype_classes() -> List[type]:
    """``numpy.dtypes.*DType`` of the numeric kinds (numpy >= 1.25).

    The class of a dtype instance must be allowed for torch's unpickler to
    apply the dtype's pickled state; void, object, string and datetime
    dtype classes are deliberately absent.
    """
    return sorted({type(np.dtype(t))
                   for t in _numeric_scalar_types()},
                  key=lambda t: t.__name__)


def _numpy_globals() -> List[Any]:
    core = _numpy_core()
    return ([np.ndarray, np.dtype, core._reconstruct, core.scalar] +
            _numeric_dtype_classes() + _numeric_scalar_types())


def _pickle_names(objs: Iterable[Any]) -> Set[str]:
    names = set()
    for obj in objs:
        module = getattr(obj, '__module__', None)
        name = getattr(obj, '__qualname__', None)
        if module and name:
            names.add(f'{module}.{name}')
    return names


# ------------------------------------------------------------ inert scan
class _Global:
    """Placeholder for a pickle global: calling it records the call."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    @property
    def qualname(self) -> str:
        return f'{self.module}.{self.name}'

    def __call__(self, *args):
        return _Call(self, args)

    def __repr__(self) -> str:
        return self.qualname


class _Call:
    """Placeholder for an object a pickle would build: ``func(*args)``, then
    ``__setstate__(state)`` and item / attribute assignments, all recorded."""

    def __init__(self, func: Any, args: tuple):
        self.func, self.args, self.state = func, args, None
        self.has_state = False

    def __setstate__(self, state):
        self.state, self.has_state = state, True

    # list / dict protocol used by APPEND(S) / SETITEM(S) on built objects
    def append(self, value):
        pass

    def extend(self, values):
        pass

    def __setitem__(self, key, value):
        pass

    def __repr__(self) -> str:
        return f'{self.func!r}(...)'


class _Persistent:
    """Placeholder for a persistent id (a tensor storage in torch files)."""


class _InertUnpickler(pickle._Unpickler):  # the pure-Python unpickler
    """Runs a pickle program without importing or calling anything."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, calls: List[_Call]):
        super().__init__(file, encoding='latin1')
        self.calls = calls

    def find_class(self, module, name):
        return _Global(str(module), str(name))

    def persistent_load(self, pid):
        return _Persistent()

    def _record(self, func, args):
        call = _Call(func, tuple(args))
        self.calls.append(call)
        return call

    def load_reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if not isinstance(func, _Global):
            raise UnsafeCheckpointError(
                f'the pickle calls a {type(func).__name__} object, not a '
                'named global')
        self.stack[-1] = self._record(func, args)

    dispatch[pickle.REDUCE[0]] = load_reduce

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._record(cls, args))

    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self):
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._record(cls, tuple(args) + (kwargs, )))

    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def load_obj(self):
        args = self.pop_mark()
        cls = args.pop(0)
        self.append(self._record(cls, args))

    dispatch[pickle.OBJ[0]] = load_obj

    def load_inst(self):
        module = self.readline()[:-1].decode('ascii')
        name = self.readline()[:-1].decode('ascii')
        self.append(self._record(_Global(module, name), self.pop_mark()))

    dispatch[pickle.INST[0]] = load_inst


def _check_dtype_args(typestr: Any, where: str) -> np.dtype:
    if not isinstance(typestr, str) or len(typestr) > 8:
        raise UnsafeCheckpointError(
            f'{where}: numpy.dtype({typestr!r}) is not a plain type string')
    try:
        dtype = np.dtype(typestr)
    except TypeError as err:
        raise UnsafeCheckpointError(
            f'{where}: numpy.dtype({typestr!r}) is not a numpy type') from err
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or \
            dtype.subdtype is not None:
        raise UnsafeCheckpointError(
            f'{where}: numpy dtype {typestr!r} (kind {dtype.kind!r}) is not '
            'a plain bool / integer / float / complex type; only those are '
            'allowed (no void, object, string or structured dtypes)')
    return dtype


def _check_dtype_state(state: Any, dtype: np.dtype, where: str) -> None:
    """numpy's dtype ``__setstate__`` tuple must describe ``dtype`` as is.

    ``(version, byteorder, subarray, names, fields, elsize, alignment,
    flags)``: no sub-array, names or fields (hence no offsets), the item
    size and alignment left to the type (-1) or equal to the type's, and no
    flags (object / structured flags).
    """
    if not isinstance(state, tuple) or len(state) not in (8, 9):
        raise UnsafeCheckpointError(
            f'{where}: unexpected numpy dtype state {state!r}')
    version, byteorder, subarray, names, fields, elsize, align, flags = \
        state[:8]
    problems = []
    if version not in (3, 4):
        problems.append(f'version {version!r}')
    if byteorder not in ('<', '>', '|', '='):
        problems.append(f'byte order {byteorder!r}')
    if subarray is not None or names is not None or fields is not None:
        problems.append('fields / sub-arrays (with offsets)')
    if elsize not in (-1, dtype.itemsize):
        problems.append(f'item size {elsize!r} for a {dtype.itemsize}-byte '
                        'type')
    if align not in (-1, dtype.alignment):
        problems.append(f'alignment {align!r}')
    if flags != 0:
        problems.append(f'flags {flags!r}')
    if len(state) == 9 and state[8] is not None:
        problems.append('metadata')
    if problems:
        raise UnsafeCheckpointError(
            f'{where}: numpy dtype {dtype.str!r} with a crafted state '
            f'({", ".join(problems)}); only plain numeric dtypes are allowed')


def _as_bytes(data: Any) -> Any:
    """``_codecs.encode(text, 'latin1')`` (protocol 2 bytes) -> its length."""
    if isinstance(data, (bytes, bytearray)):
        return data
    if isinstance(data, _Call) and isinstance(data.func, _Global) and \
            data.func.qualname == '_codecs.encode' and data.args and \
            isinstance(data.args[0], str):
        return data.args[0].encode('latin1')
    return None


def _checked_dtype(obj: Any, where: str) -> np.dtype:
    if not (isinstance(obj, _Call) and isinstance(obj.func, _Global)
            and obj.func.name == 'dtype' and obj.func.module == 'numpy'):
        raise UnsafeCheckpointError(
            f'{where}: expected a numpy dtype, got {obj!r}')
    return getattr(obj, 'checked_dtype')


def _validate_numpy_calls(calls: List[_Call], source: str) -> None:
    """Apply the numpy rules of this module's docstring to recorded calls."""
    allowed_types = _pickle_names(_numeric_scalar_types() +
                                  _numeric_dtype_classes())
    # dtypes first: scalars and arrays refer to them
    for call in calls:
        func = call.func
        if not isinstance(func, _Global):
            continue
        where = f'{source}: {func.qualname}'
        if func.module == 'numpy' and func.name == 'dtype':
            dtype = _check_dtype_args(call.args[0] if call.args else None,
                                      where)
            if call.has_state:
                _check_dtype_state(call.state, dtype, where)
            call.checked_dtype = dtype
    for call in calls:
        func = call.func
        if not isinstance(func, _Global):
            continue
        module, name = func.module, func.name
        if not (module == 'numpy' or module.startswith('numpy.')):
            continue
        where = f'{source}: {func.qualname}'
        if module == 'numpy' and name == 'dtype':
            continue
        if name == 'scalar' and module.endswith('multiarray'):
            if len(call.args) != 2:
                raise UnsafeCheckpointError(f'{where} with {call.args!r}')
            dtype = _checked_dtype(call.args[0], where)
            data = _as_bytes(call.args[1])
            if data is None or len(data) != dtype.itemsize:
                raise UnsafeCheckpointError(
                    f'{where}: a {dtype.str!r} scalar needs exactly '
                    f'{dtype.itemsize} bytes of data')
        elif name == '_reconstruct' and module.endswith('multiarray'):
            if not call.args or not isinstance(call.args[0], _Global) or \
                    call.args[0].qualname != 'numpy.ndarray':
                raise UnsafeCheckpointError(
                    f'{where} of something other than numpy.ndarray')
            if call.has_state:
                state = call.state
                if not isinstance(state, tuple) or len(state) != 5:
                    raise UnsafeCheckpointError(
                        f'{where}: unexpected array state')
                dtype = _checked_dtype(state[2], where)
                if _as_bytes(state[4]) is None:
                    raise UnsafeCheckpointError(
                        f'{where}: a {dtype.str!r} array must hold raw '
                        'bytes (object arrays are not allowed)')
        elif func.qualname in allowed_types:
            raise UnsafeCheckpointError(
                f'{where} is called; numpy types may only appear as values')
        else:
            raise UnsafeCheckpointError(
                f'{where} is not an allowed numpy function')


def _describe(file: FileLike) -> str:
    return repr(os.fspath(file)) if not isinstance(file, io.BytesIO) \
        else 'an in-memory checkpoint'


def _pickle_streams(file: FileLike, name: str):
    """The pickle program(s) of a torch file or a plain pickle, as bytes
    streams: ``*/data.pkl`` of a zip checkpoint; else the whole file (plain
    pickle) or torch's legacy sequence of pickles."""
    if isinstance(file, io.BytesIO):
        head = file.getvalue()[:4]
        size = len(file.getvalue())
    else:
        size = osp.getsize(file)
        with open(file, 'rb') as f:
            head = f.read(4)
    if size == 0:
        raise CorruptCheckpointError(f'{name} is empty (0 bytes)')
    if head.startswith(b'PK'):
        try:
            with zipfile.ZipFile(file) as archive:
                members = [
                    m for m in archive.namelist()
                    if m == 'data.pkl' or m.endswith('/data.pkl')
                ]
                if not members:
                    raise CorruptCheckpointError(
                        f'{name} is a zip file without data.pkl: not a '
                        'PyTorch checkpoint')
                return [io.BytesIO(archive.read(m)) for m in members]
        except (zipfile.BadZipFile, EOFError, OSError) as err:
            raise CorruptCheckpointError(
                f'{name} is truncated or damaged ({size} bytes; the zip '
                f'archive can not be read: {err}). Copy or download it '
                'again.') from err
    if not head.startswith(b'\x80'):
        raise CorruptCheckpointError(
            f'{name} ({size} bytes) is neither a PyTorch checkpoint nor a '
            f'pickle (it starts with {head!r})')
    if isinstance(file, io.BytesIO):
        return [io.BytesIO(file.getvalue())]
    with open(file, 'rb') as f:
        return [io.BytesIO(f.read())]


def scan_pickle_file(file: FileLike, legacy_pickles: int = 1) -> None:
    """The inert scan (pass 1 of this module's docstring).

    Args:
        file: a path or an in-memory file.
        legacy_pickles: how many consecutive pickles a non-zip file holds
            (torch's legacy format writes five; a plain dump one).

    Raises:
        CorruptCheckpointError: empty, truncated or not a pickle.
        UnsafeCheckpointError: numpy objects that are not plain numbers.
    """
    name = _describe(file)
    for stream in _pickle_streams(file, name):
        calls: List[_Call] = []
        count = 0
        while count < legacy_pickles:
            if count > 0 and not stream.read(1):
                break
            if count > 0:
                stream.seek(-1, io.SEEK_CUR)
            try:
                _InertUnpickler(stream, calls).load()
            except UnsafeCheckpointError as err:
                raise UnsafeCheckpointError(
                    f'Refusing to load {name}: {err}') from err
            except (EOFError, pickle.UnpicklingError) as err:
                if count == 0 or legacy_pickles == 1:
                    raise CorruptCheckpointError(
                        f'{name} is truncated or not a pickle: '
                        f'{type(err).__name__}: {err or "ran out of data"}'
                    ) from err
                break
            except (RecursionError, MemoryError) as err:
                raise UnsafeCheckpointError(
                    f'Refusing {name}: its pickle is too deeply nested or '
                    f'too large to scan ({type(err).__name__})') from err
            except Exception as err:  # noqa: BLE001 - malformed program
                raise CorruptCheckpointError(
                    f'{name} holds a malformed pickle: '
                    f'{type(err).__name__}: {err}') from err
            count += 1
        try:
            _validate_numpy_calls(calls, name)
        except UnsafeCheckpointError as err:
            raise UnsafeCheckpointError(
                f'Refusing to load {err}. Such numpy objects can make numpy '
                'read outside its buffers and kill the interpreter; '
                'mmengine writes only plain numeric arrays and scalars.'
            ) from None


# ------------------------------------------------- checkpoint allow-list
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
        HistoryBuffer: {'min', 'max', 'current', 'mean'}
        | set(HistoryBuffer._statistics_methods),
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
        'checkpoint: only ' +
        '; '.join(f'{cls.__name__}.{{{", ".join(sorted(names))}}}'
                  for cls, names in _getattr_allow_list().items()) + ' are')


def safe_checkpoint_globals() -> List[Any]:
    """The allow-list of classes/functions a trusted checkpoint may name.

    Plain data only: mmengine's log buffers, numeric numpy arrays / scalars
    / dtypes, standard containers, mmengine's ``ConfigDict``, and the
    attributes of :func:`_getattr_allow_list` through a restricted
    ``getattr`` (the one-cycle scheduler's class is an inert reference, not
    callable). Nothing here can run arbitrary code on unpickling; the numpy
    objects are additionally checked by :func:`scan_pickle_file`.
    """
    from mmengine.config import ConfigDict
    from mmengine.logging import HistoryBuffer
    from mmengine.optim.scheduler.param_scheduler import \
        OneCycleParamScheduler
    return [
        HistoryBuffer, ConfigDict, collections.OrderedDict,
        collections.defaultdict, collections.deque,
        (_restricted_getattr, 'builtins.getattr'),
        (_AttributeOwner(OneCycleParamScheduler),
         'mmengine.optim.scheduler.param_scheduler.OneCycleParamScheduler')
    ] + _numpy_globals()


def _open_error(name: str, err: Exception) -> CorruptCheckpointError:
    return CorruptCheckpointError(
        f'{name} can not be read as a checkpoint ({type(err).__name__}: '
        f'{err}); it is probably truncated or damaged. Copy or download it '
        'again.')


def _torch_load_checked(file: FileLike, map_location: Any) -> Any:
    name = _describe(file)
    scan_pickle_file(file, legacy_pickles=5)
    if isinstance(file, io.BytesIO):
        file.seek(0)
    try:
        with torch.serialization.safe_globals(safe_checkpoint_globals()):
            return torch.load(
                file, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f'Refusing to load checkpoint {name}: it needs a pickle '
            f'global outside the safe allow-list, so unpickling it could '
            f'execute code. Only load checkpoints from sources you trust; '
            f'if this one is trusted, re-save its state_dict with plain '
            f'tensors. torch said: {err}') from err
    except (EOFError, RuntimeError, zipfile.BadZipFile) as err:
        raise _open_error(name, err) from err


def safe_torch_load(filename: str, map_location: Any = None) -> Any:
    """Read a checkpoint: inert scan, then ``torch.load(weights_only=True)``
    with :func:`safe_checkpoint_globals`.

    Raises:
        FileNotFoundError: if ``filename`` does not exist.
        CorruptCheckpointError: if it is empty, truncated or not a
            checkpoint.
        UnsafeCheckpointError: if the pickle names a global outside the
            allow-list (it could execute code) or holds numpy objects that
            are not plain numbers.
    """
    filename = osp.expanduser(os.fspath(filename))
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return _torch_load_checked(filename, map_location)


def safe_load_from_http(filename: str,
                        map_location: Any = None,
                        model_dir: Any = None,
                        progress: bool = False) -> Any:
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


# --------------------------------------------------------- plain pickles
def _storage_from_bytes(data: bytes):
    """``torch.storage._load_from_bytes`` through the checkpoint loader: a
    tensor in a plain pickle carries its storage as a nested torch file."""
    if not isinstance(data, (bytes, bytearray)):
        raise UnsafeCheckpointError('a tensor storage must be bytes')
    return _torch_load_checked(io.BytesIO(bytes(data)), 'cpu')


def _dump_globals() -> Dict[str, Any]:
    """``'module.name' -> object`` a prediction dump may name."""
    import _codecs
    found = {
        f'{obj.__module__}.{obj.__qualname__}': obj
        for obj in _numpy_globals()
    }
    found.update({
        'collections.OrderedDict': collections.OrderedDict,
        'builtins.set': set,
        'builtins.frozenset': frozenset,
        'builtins.complex': complex,
        'builtins.bytearray': bytearray,
        '_codecs.encode': _codecs.encode,
        'torch._utils._rebuild_tensor_v2': torch._utils._rebuild_tensor_v2,
        'torch.storage._load_from_bytes': _storage_from_bytes,
    })
    # numpy's pickles name the multiarray module by its public path
    core = _numpy_core()
    for name in ('_reconstruct', 'scalar'):
        found[f'{core.__name__}.{name}'] = getattr(core, name)
    return found


class _DumpUnpickler(pickle.Unpickler):
    """Unpickler that resolves only :func:`_dump_globals`."""

    def find_class(self, module, name):
        allowed = _dump_globals()
        key = f'{module}.{name}'
        if module == '__builtin__':  # protocol 2 spelling of builtins
            key = f'builtins.{name}'
        if key not in allowed:
            raise UnsafeCheckpointError(
                f'the pickle names {key}, which is not allowed: a dump may '
                'hold only containers, numbers, strings, tensors and numeric '
                'numpy arrays')
        return allowed[key]


def safe_pickle_load(filename: str) -> Any:
    """Read a plain pickle (e.g. mmengine's ``DumpResults`` ``.pkl``) safely.

    The inert scan first, then an unpickler whose only globals are
    containers, tensors and numeric numpy arrays / scalars.

    Raises:
        FileNotFoundError: if ``filename`` does not exist.
        CorruptCheckpointError: if it is empty, truncated or not a pickle.
        UnsafeCheckpointError: if it names any other global.
    """
    filename = osp.expanduser(os.fspath(filename))
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    scan_pickle_file(filename)
    with open(filename, 'rb') as f:
        try:
            return _DumpUnpickler(f).load()
        except UnsafeCheckpointError as err:
            raise UnsafeCheckpointError(
                f'Refusing to load {filename!r}: {err}. Write predictions as '
                '.json to exchange them.') from err
        except (EOFError, pickle.UnpicklingError) as err:
            raise CorruptCheckpointError(
                f'{filename!r} is truncated or not a pickle: {err}') from err
