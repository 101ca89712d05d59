"""Crash-safe writes of local files, and the storage backend that uses them.

A file written with ``open(path, 'wb')`` and one ``write`` (stock mmengine's
``LocalBackend.put``, hence every checkpoint) is truncated under its final
name if the process is killed while writing; ``--resume`` then picks it up
and fails. :func:`atomic_open` writes to ``<target>.tmp-<pid>`` in the same
directory (hence the same file system), flushes and fsyncs it, and renames
it over the target with :func:`os.replace`, which is atomic: a reader sees
the old complete file or the new complete one, never a part. A kill can
leave a ``*.tmp-<pid>`` file behind; nothing reads it and it may be deleted.
Symbolic links are kept: the file they point to is replaced.

:class:`AtomicLocalBackend` is mmengine's ``LocalBackend`` with an atomic
``put`` / ``put_text``, registered as the file backend ``'atomic_local'``
(``backend_args=dict(backend='atomic_local')``).
:class:`~mmcsra.engine.hooks.AtomicCheckpointHook` saves checkpoints with it.
"""
import contextlib
import os
import os.path as osp
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

__all__ = ['atomic_open', 'AtomicLocalBackend', 'ATOMIC_BACKEND_ARGS']

#: ``backend_args`` selecting :class:`AtomicLocalBackend`
ATOMIC_BACKEND_ARGS = dict(backend='atomic_local')


@contextlib.contextmanager
def atomic_open(path: Union[str, Path], mode: str = 'w', **kwargs):
    """``open(path, mode)`` for writing that replaces ``path`` atomically.

    Args:
        path: the file to (re)write.
        mode: ``'w'`` or ``'wb'``.
        **kwargs: passed to :func:`open` (e.g. ``encoding``).
    """
    if mode not in ('w', 'wb'):
        raise ValueError(f'atomic_open writes whole files: mode must be '
                         f"'w' or 'wb', got {mode!r}")
    target = osp.realpath(path)
    tmp = f'{target}.tmp-{os.getpid()}'
    try:
        with open(tmp, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose writes are atomic
    (:func:`atomic_open`); reads, listing and removal are unchanged."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        os.makedirs(osp.dirname(osp.abspath(filepath)), exist_ok=True)
        with atomic_open(filepath, 'wb') as f:
            f.write(obj)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        os.makedirs(osp.dirname(osp.abspath(filepath)), exist_ok=True)
        with atomic_open(filepath, 'w', encoding=encoding) as f:
            f.write(obj)
