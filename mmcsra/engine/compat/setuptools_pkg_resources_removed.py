"""Shim for setuptools >= 82, which removed ``pkg_resources``.

mmengine 0.10.x resolves ``_base_ = 'mmpretrain::...'`` (and ``mim``-style
package lookups) through ``pkg_resources``; without it those configs fail to
load. When -- and only when -- ``pkg_resources`` can not be imported
(:func:`needed`), the three package helpers mmengine imports by value
(``is_installed``, ``get_installed_path``, ``package2module``) are rebound
to :mod:`importlib.metadata` equivalents in the modules that hold them.
"""
import importlib
import importlib.metadata
import importlib.util
import os.path as osp

__all__ = ['needed', 'apply']


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


def needed() -> bool:
    """True if ``pkg_resources`` can not be imported."""
    try:
        import pkg_resources  # noqa: F401
        return False
    except ImportError:
        return True


def apply() -> None:
    replacements = dict(
        is_installed=_is_installed,
        get_installed_path=_get_installed_path,
        package2module=_package2module)
    for module_name in ('mmengine.utils.package_utils', 'mmengine.utils',
                        'mmengine.config.config', 'mmengine.hub.hub'):
        module = importlib.import_module(module_name)
        for name, func in replacements.items():
            if hasattr(module, name):
                setattr(module, name, func)
