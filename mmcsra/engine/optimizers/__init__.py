from .amp_sam_optim_wrapper import AmpSAMOptimWrapper
from .sam_optim_wrapper import SAMOptimWrapper

__all__ = ['AmpSAMOptimWrapper', 'SAMOptimWrapper']
