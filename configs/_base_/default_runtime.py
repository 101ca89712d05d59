# Runtime shared by every mmcsra config (MMPretrain conventions).
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmcsra'], allow_failed_imports=False)
# mmengine's Runner, except that resuming never executes the config text
# stored in a checkpoint (docs/security.md)
runner_type = 'SafeRunner'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # CheckpointHook whose files survive a kill at any moment (temporary
    # file + atomic rename; old checkpoints removed after last_checkpoint)
    checkpoint=dict(
        type='AtomicCheckpointHook',
        interval=1,
        max_keep_ckpts=2,
        save_best='auto'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
    # DDP does not broadcast buffers: average BN statistics across ranks at
    # each epoch end, before the checkpoint is saved and validation runs, so
    # every rank evaluates the weights that are saved
    sync_buffers=dict(type='SyncBuffersHook'),
    # stop with a clear message at the first non-finite loss or weight, before
    # anything poisoned is checkpointed (a default hook, so method configs
    # that set their own custom_hooks keep it)
    non_finite_guard=dict(type='NonFiniteGuardHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches to gloo on machines without CUDA
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
