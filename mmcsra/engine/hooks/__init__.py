from .config_check_hook import ConfigCheckHook
from .non_finite_guard_hook import NonFiniteGuardHook, NonFiniteTrainingError
from .progress_bar_hook import ProgressBarHook

__all__ = ['ProgressBarHook', 'NonFiniteGuardHook', 'NonFiniteTrainingError',
           'ConfigCheckHook']
