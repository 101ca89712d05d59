"""``ruff check`` and yapf pass on the package, the tools, the tests and the
configs (issue 15, "Packaging and habits").

ruff: the rules of ``pyproject.toml`` ``[tool.ruff]`` (pycodestyle E/W
without E501, pyflakes F). yapf: OpenMMLab's style, ``[tool.yapf]``. Both
are pinned in the ``tests`` extra, so that a new release cannot fail CI; the
``.pre-commit-config.yaml`` hooks run the same versions.
"""
import os.path as osp
import shutil
import subprocess
import sys

import pytest

from utils import REPO

SOURCES = ['mmcsra', 'tools', 'tests', 'configs']


def _ruff():
    exe = shutil.which('ruff', path=osp.dirname(sys.executable))
    return exe or shutil.which('ruff')


def _yapf_installed() -> bool:
    import importlib.util
    return importlib.util.find_spec('yapf') is not None


def _run(cmd, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)


needs_ruff = pytest.mark.skipif(
    _ruff() is None,
    reason='ruff is not installed (pip install -e ".[tests]")')
needs_yapf = pytest.mark.skipif(
    not _yapf_installed(),
    reason='yapf is not installed (pip install -e ".[tests]")')


@needs_ruff
def test_ruff_check_passes():
    result = _run([_ruff(), 'check', '--no-cache'] + SOURCES)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_ruff
def test_ruff_finds_a_planted_mistake(tmp_path):
    """The configuration really checks: an unused import and an undefined
    name in a file under the same settings are reported."""
    bad = tmp_path / 'bad.py'
    bad.write_text('import os\n\n\ndef f():\n    return undefined_name\n')
    result = _run([
        _ruff(), 'check', '--no-cache', '--config',
        osp.join(REPO, 'pyproject.toml'),
        str(bad)
    ])
    assert result.returncode == 1
    assert 'F401' in result.stdout and 'F821' in result.stdout


@needs_yapf
def test_yapf_leaves_every_file_as_it_is():
    result = _run([sys.executable, '-m', 'yapf', '--diff', '-r'] + SOURCES)
    assert result.returncode == 0, (
        'not formatted (run `yapf -i -r -p mmcsra tools tests configs`):\n' +
        result.stdout[-4000:] + result.stderr[-2000:])


@needs_yapf
def test_yapf_finds_a_planted_misformat(tmp_path):
    """The style is read from pyproject.toml: a cramped call is reported."""
    bad = tmp_path / 'bad.py'
    bad.write_text('x = dict( a=1,b = 2 )\n')
    result = _run([
        sys.executable, '-m', 'yapf', '--diff', '--style',
        osp.join(REPO, 'pyproject.toml'),
        str(bad)
    ])
    assert result.returncode == 1
    assert '+x = dict(a=1, b=2)' in result.stdout
