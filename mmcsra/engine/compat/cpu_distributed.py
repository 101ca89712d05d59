"""Running the OpenMMLab stack on machines without CUDA.

Explicit helpers, called by ``tools/train.py`` and ``tools/test.py`` (they
change the config, not library code):

* :func:`setup_distributed_env`: on a machine without CUDA it initialises
  the process group with gloo itself (mmengine's ``init_dist`` would call
  ``torch.cuda.set_device``) and makes DDP wrap CPU modules
  (``device_ids=None``);
* :func:`fix_dataloader_cfg` turns off ``persistent_workers`` where
  ``num_workers == 0`` (torch refuses that combination);
* :func:`finish_distributed` destroys the process group of a finished run.
"""
import os

import torch

__all__ = ['setup_distributed_env', 'fix_dataloader_cfg', 'finish_distributed']


def finish_distributed() -> None:
    """After a distributed run: wait for every rank, then destroy the
    process group (a no-op when none was initialised).

    A rank that exits with its gloo process group alive can be aborted at
    interpreter exit (``terminate called without an active exception``,
    SIGABRT) while its peer still tears down, failing a finished job;
    torch asks for ``destroy_process_group()`` before exit.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def setup_distributed_env(cfg, launcher: str) -> None:
    """Prepare ``cfg`` and the process group for ``launcher`` on any device.

    With CUDA, this only fills mmengine's defaults. Without CUDA, it
    initialises ``torch.distributed`` with the gloo backend here, before the
    Runner does (mmengine's ``init_dist`` calls ``torch.cuda.set_device``),
    and tells the DDP wrapper not to pin ``device_ids``.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return
    import torch.distributed as dist
    from mmengine.dist import init_dist

    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = dict(env_cfg.get('dist_cfg', {}) or {})
    dist_cfg['backend'] = 'gloo'
    env_cfg['dist_cfg'] = dist_cfg
    if launcher == 'pytorch' and not dist.is_initialized():
        kwargs = {k: v for k, v in dist_cfg.items() if k != 'backend'}
        if 'timeout' in kwargs:
            import datetime
            kwargs['timeout'] = datetime.timedelta(seconds=kwargs['timeout'])
        dist.init_process_group(
            backend='gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']),
            **kwargs)
    elif not dist.is_initialized():  # slurm / mpi: mmengine handles them
        init_dist(launcher, **dist_cfg)

    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None  # CPU modules must not name a device
    cfg['model_wrapper_cfg'] = wrapper


def fix_dataloader_cfg(cfg) -> None:
    """Turn off ``persistent_workers`` for loaders with ``num_workers=0``."""
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader and loader.get('num_workers', 0) == 0 and \
                loader.get('persistent_workers', False):
            loader['persistent_workers'] = False
