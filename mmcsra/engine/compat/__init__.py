"""Version-gated shims for bugs of the libraries mmcsra runs on.

Each shim is a module named after the library bug it works around, with a
``needed()`` condition and an ``apply()``; :func:`apply_import_time_fixes`
(run by ``import mmcsra``) applies a shim only when its condition holds, so
on a stack without the bug ``import mmcsra`` changes no third-party
attribute:

* :mod:`.mmengine_unrestricted_torch_load`: mmengine <= 0.10.7 loads
  checkpoints with an unrestricted ``torch.load`` (arbitrary code on
  torch < 2.6; on torch >= 2.6 it can not read its own checkpoints). Local
  and http(s) checkpoints are read by
  :func:`mmcsra.engine.safe_loading.safe_torch_load` instead.
* :mod:`.setuptools_pkg_resources_removed`: setuptools >= 82 has no
  ``pkg_resources``, which mmengine 0.10 needs for
  ``_base_ = 'mmpretrain::...'``.

Behaviour mmcsra *adds* to mmengine is not patched in: configs name it
(``runner_type = 'SafeRunner'``, ``default_hooks.checkpoint =
dict(type='AtomicCheckpointHook')``). :mod:`.cpu_distributed` holds the
explicit helpers the tools call to run on CPU-only machines.

``applied_shims()`` lists the shims this process applied.
"""
from typing import List

from ..safe_loading import (CorruptCheckpointError, UnsafeCheckpointError,
                            safe_checkpoint_globals, safe_load_from_http,
                            safe_pickle_load, safe_torch_load)
from . import (mmengine_unrestricted_torch_load,
               setuptools_pkg_resources_removed)
from .cpu_distributed import (finish_distributed, fix_dataloader_cfg,
                              setup_distributed_env)

__all__ = [
    'UnsafeCheckpointError', 'CorruptCheckpointError',
    'safe_checkpoint_globals', 'safe_torch_load', 'safe_load_from_http',
    'safe_pickle_load', 'apply_import_time_fixes', 'applied_shims',
    'setup_distributed_env', 'fix_dataloader_cfg', 'finish_distributed'
]

SHIMS = (mmengine_unrestricted_torch_load, setuptools_pkg_resources_removed)

_APPLIED: List[str] = []
_CHECKED = False


def apply_import_time_fixes() -> None:
    """Apply each shim of :data:`SHIMS` whose ``needed()`` holds (once)."""
    global _CHECKED
    if _CHECKED:
        return
    for shim in SHIMS:
        if shim.needed():
            shim.apply()
            _APPLIED.append(shim.__name__.rsplit('.', 1)[-1])
    _CHECKED = True


def applied_shims() -> List[str]:
    """Names of the shim modules applied in this process."""
    return list(_APPLIED)
