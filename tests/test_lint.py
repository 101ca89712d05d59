"""``ruff check`` passes on the package, the tools, the tests and the
configs, with the rules of ``pyproject.toml`` ``[tool.ruff]`` (pycodestyle
E/W without E501, pyflakes F; issue 15, "Packaging and habits"). ruff is
pinned in the ``tests`` extra."""
import os.path as osp
import shutil
import subprocess
import sys

import pytest

from utils import REPO


def _ruff():
    exe = shutil.which('ruff', path=osp.dirname(sys.executable))
    return exe or shutil.which('ruff')


@pytest.mark.skipif(_ruff() is None,
                    reason='ruff is not installed (pip install -e ".[tests]")')
def test_ruff_check_passes():
    result = subprocess.run(
        [_ruff(), 'check', '--no-cache', 'mmcsra', 'tools', 'tests',
         'configs'],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(_ruff() is None, reason='ruff is not installed')
def test_ruff_finds_a_planted_mistake(tmp_path):
    """The configuration really checks: an unused import and an undefined
    name in a file under the same settings are reported."""
    bad = tmp_path / 'bad.py'
    bad.write_text('import os\n\n\ndef f():\n    return undefined_name\n')
    result = subprocess.run(
        [_ruff(), 'check', '--no-cache', '--config',
         osp.join(REPO, 'pyproject.toml'), str(bad)],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert 'F401' in result.stdout and 'F821' in result.stdout
