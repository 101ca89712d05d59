from . import hooks, optimizers  # noqa: F401
from .atomic_files import AtomicLocalBackend, atomic_open
from .checkpoint_checks import CheckpointShapeError, check_checkpoint_shapes
from .compat import (finish_distributed, fix_dataloader_cfg,
                     setup_distributed_env)
from .config_checks import ConfigError, check_runner_config
from .hooks import AtomicCheckpointHook, add_config_checks
from .package_checkpoint import register as _register_pkg_scheme
from .runner import SafeRunner, build_runner
from .safe_loading import (CorruptCheckpointError, UnsafeCheckpointError,
                           safe_pickle_load, safe_torch_load)

_register_pkg_scheme()  # pkg://<module>/<file>: weights a package ships

__all__ = [
    'UnsafeCheckpointError', 'CorruptCheckpointError', 'safe_torch_load',
    'safe_pickle_load', 'setup_distributed_env', 'fix_dataloader_cfg',
    'finish_distributed', 'CheckpointShapeError', 'check_checkpoint_shapes',
    'ConfigError', 'add_config_checks', 'check_runner_config', 'SafeRunner',
    'build_runner', 'AtomicCheckpointHook', 'AtomicLocalBackend', 'atomic_open'
]
