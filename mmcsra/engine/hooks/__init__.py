from .atomic_checkpoint_hook import AtomicCheckpointHook
from .config_check_hook import ConfigCheckHook, add_config_checks
from .feature_cache_hook import FeatureCacheHook
from .non_finite_guard_hook import NonFiniteGuardHook, NonFiniteTrainingError
from .progress_bar_hook import ProgressBarHook

__all__ = [
    'ProgressBarHook', 'NonFiniteGuardHook', 'NonFiniteTrainingError',
    'ConfigCheckHook', 'add_config_checks', 'AtomicCheckpointHook'
]
__all__ += ['FeatureCacheHook']
