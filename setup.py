"""Shim for tools that still run ``setup.py``; the metadata is in
``pyproject.toml`` (PEP 621).

Its one job: a wheel ships the model zoo (``model-index.yml``,
``configs/``) and ``tools/`` as package data in ``mmcsra/.mim``, the layout
of MMPretrain's wheels, where ``mmcsra.apis.model_zoo`` and ``mim`` find
them. The sdist carries them through ``MANIFEST.in``.
"""
import os
import os.path as osp
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

#: Copied from the source root into ``mmcsra/.mim`` of a wheel.
MIM_FILES = ('model-index.yml', 'configs', 'tools')


class BuildPyWithMim(build_py):
    """``build_py`` that also copies :data:`MIM_FILES` into
    ``<build_lib>/mmcsra/.mim`` (the build directory, never the source
    tree). Editable installs skip it: there the model zoo is the checkout,
    found through ``direct_url.json``."""

    def run(self):
        super().run()
        if self.editable_mode:
            return
        root = osp.dirname(osp.abspath(__file__))
        target = osp.join(self.build_lib, 'mmcsra', '.mim')
        os.makedirs(target, exist_ok=True)
        for name in MIM_FILES:
            src, dst = osp.join(root, name), osp.join(target, name)
            if osp.isdir(src):
                shutil.copytree(src, dst, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns(
                                    '__pycache__', '*.pyc'))
            elif osp.isfile(src):
                shutil.copyfile(src, dst)
            else:
                raise FileNotFoundError(
                    f'{src} is missing: a wheel ships it in mmcsra/.mim '
                    '(build from a checkout or from the sdist)')


setup(cmdclass={'build_py': BuildPyWithMim})
