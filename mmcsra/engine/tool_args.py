"""Command-line pieces shared by ``tools/train.py`` and ``tools/test.py``.

The tools are scripts run by path, so what they share lives in the package:
the ``--cfg-options`` override, the launcher arguments, ``LOCAL_RANK`` and
the default work directory (OpenMMLab ``tools/`` conventions).
"""
import argparse
import os
import os.path as osp
import sys
from typing import Optional

from mmengine.config import Config, DictAction

__all__ = [
    'LAUNCHERS', 'add_cfg_options_arg', 'add_launcher_args',
    'export_local_rank', 'resolve_work_dir', 'add_config_dir_to_path'
]

#: the ``--launcher`` choices (mmengine's ``init_dist`` launchers + none)
LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def add_cfg_options_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--cfg-options key=value ...`` (parsed by mmengine's
    :class:`DictAction`)."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value (xxx=yyy format)')


def add_launcher_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--launcher`` (default ``'none'``) and ``--local_rank`` /
    ``--local-rank`` (default 0, passed by ``torch.distributed.launch``)."""
    parser.add_argument(
        '--launcher',
        choices=list(LAUNCHERS),
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def export_local_rank(args: argparse.Namespace) -> None:
    """Set the ``LOCAL_RANK`` environment variable from ``--local_rank``
    unless the launcher (torchrun) has already set it."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)


def resolve_work_dir(cfg: Config, work_dir: Optional[str],
                     config_path: str) -> None:
    """Set ``cfg.work_dir``: ``work_dir`` (``--work-dir``) if given, else
    the config's own ``work_dir``, else ``./work_dirs/<config name>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])


def add_config_dir_to_path(config_path: str) -> str:
    """Let ``custom_imports`` find a user's module next to the config.

    mmengine's ``Config.fromfile`` imports ``custom_imports=dict(imports=
    ['my_head'])`` with ``importlib`` (``import_modules_from_strings``),
    which only searches ``sys.path``: a ``my_head.py`` beside the config is
    not found unless ``PYTHONPATH`` names its directory. The directory is
    appended (not prepended), so it never shadows an installed package.
    Call it before ``Config.fromfile``. Returns the directory.
    """
    directory = osp.dirname(osp.abspath(config_path))
    if directory not in sys.path:
        sys.path.append(directory)
    return directory
