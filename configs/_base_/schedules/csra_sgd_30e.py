# CSRA paper recipe (Zhu & Wu, ICCV 2021, Sec. 4.1): SGD, momentum 0.9,
# weight decay 1e-4, lr 0.01 for the backbone and 0.1 (10x) for the head,
# linear warm-up over the first 2 epochs, then x0.1 every 4 epochs (VOC;
# COCO/WIDER configs override the step to 5), 30 epochs, batch 16 on 1 GPU.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)}),
)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=2,
        convert_to_iter_based=True),
    dict(type='StepLR', by_epoch=True, begin=2, step_size=4, gamma=0.1),
]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# the recipe's total batch: 1 GPU x 16 images
auto_scale_lr = dict(base_batch_size=16)
