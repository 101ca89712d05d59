# Tiny CSRA demo for the fault-tolerance tests (tests/test_engine/test_faults.py,
# tests/test_engine/test_distributed.py): configs/csra/resnet18_multidigits.py with a
# ResNet-18 of 1/4 width (16 base channels), on 64 train / 32 test canvases
# of 32 px, 1 CPU process x batch 16, 3 epochs, validation and a checkpoint
# every epoch, deterministic.
_base_ = ['../../configs/csra/resnet18_multidigits.py']

model = dict(
    backbone=dict(stem_channels=16, base_channels=16),
    head=dict(in_channels=128))

max_epochs = 3
_tiny = dict(canvas_size=32, digit_size=(8, 16))
train_dataloader = dict(batch_size=16, dataset=dict(num_samples=64, **_tiny))
val_dataloader = dict(batch_size=16, dataset=dict(num_samples=32, **_tiny))
test_dataloader = val_dataloader

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.1,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=1,
        end=max_epochs,
        eta_min=1e-4,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)

default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=1, max_keep_ckpts=2, save_best='auto'))
# SGD with momentum (its state is part of what resume must restore)
optim_wrapper = dict(
    _delete_=True,
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4))
randomness = dict(seed=0, deterministic=True)
