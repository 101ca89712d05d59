from . import hooks, optimizers  # noqa: F401
from .checkpoint_checks import CheckpointShapeError, check_checkpoint_shapes
from .config_checks import ConfigError, add_config_checks, check_runner_config
from .compat import (UnsafeCheckpointError, fix_dataloader_cfg,
                     safe_torch_load, setup_distributed_env)

__all__ = [
    'UnsafeCheckpointError', 'safe_torch_load', 'setup_distributed_env',
    'fix_dataloader_cfg', 'CheckpointShapeError', 'check_checkpoint_shapes',
    'ConfigError', 'add_config_checks', 'check_runner_config'
]
