from . import hooks, optimizers  # noqa: F401
from .compat import (UnsafeCheckpointError, fix_dataloader_cfg,
                     safe_torch_load, setup_distributed_env)

__all__ = [
    'UnsafeCheckpointError', 'safe_torch_load', 'setup_distributed_env',
    'fix_dataloader_cfg'
]
