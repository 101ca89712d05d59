"""Installation script of mmcsra, an OpenMMLab (MMPretrain) plugin for
multi-label image recognition."""
import os
import subprocess
import sys

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_version() -> str:
    namespace: dict = {}
    with open(os.path.join(HERE, 'mmcsra', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def full_mmcv_installed() -> bool:
    """Whether the *target* interpreter already has the full ``mmcv``.

    pip builds this package in an isolated environment whose ``sys.path``
    hides the target's site-packages, so we ask the target interpreter itself
    (``-E`` ignores the ``PYTHONPATH`` that pip's isolation injects).
    """
    probe = ('import importlib.metadata as m, sys\n'
             'try:\n    m.version("mmcv")\nexcept m.PackageNotFoundError:\n'
             '    sys.exit(1)\n')
    try:
        return subprocess.run([sys.executable, '-E', '-c', probe],
                              capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


MMCV_BOUNDS = '>=2.0.0,<2.4.0'  # the range mmpretrain 1.2 supports
mmcv_requirement = ('mmcv' if full_mmcv_installed() else 'mmcv-lite') + \
    MMCV_BOUNDS

install_requires = [
    'torch>=2.4',  # torch.serialization.add_safe_globals
    'torchvision>=0.19',
    'mmengine>=0.10.3,<1.0.0',
    mmcv_requirement,
    'mmpretrain>=1.2.0,<1.3.0',
    'numpy>=1.23',
    'pycocotools>=2.0.6',
    'scikit-learn>=1.1',
    'matplotlib>=3.5',
    'modelindex',  # reads model-index.yml (mmcsra.apis.list_models)
]

extras_require = {
    'tests': ['pytest>=7', 'hypothesis>=6'],
}

setup(
    name='mmcsra',
    version=read_version(),
    description='Multi-label image recognition (CSRA, ASL/AAM, ML-Decoder, '
    'CAT, ...) as an OpenMMLab / MMPretrain plugin',
    long_description=open(os.path.join(HERE, 'README.md')).read()
    if os.path.exists(os.path.join(HERE, 'README.md')) else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests')),
    python_requires='>=3.9',
    install_requires=install_requires,
    extras_require=extras_require,
    license='Apache License 2.0',
    zip_safe=False,
)
