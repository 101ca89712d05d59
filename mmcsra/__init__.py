"""mmcsra: multi-label image recognition for OpenMMLab / MMPretrain.

Importing this package registers every mmcsra component into MMPretrain's
registries (``mmpretrain.registry.MODELS``, ``DATASETS``, ``METRICS``,
``TRANSFORMS``, ``HOOKS``, ``RUNNERS``, ...). It changes no attribute of
another library, except through the version-gated shims of
:mod:`mmcsra.engine.compat`, each applied only when the library bug it is
named after is present. Configs load it with::

    custom_imports = dict(imports=['mmcsra'], allow_failed_imports=False)
"""
from .engine.compat import apply_import_time_fixes
from .version import __version__

apply_import_time_fixes()

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__all__ = ['__version__']
