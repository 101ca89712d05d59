# The CSRA recipe with the learning rate decayed every 5 epochs (COCO, WIDER).
_base_ = './csra_sgd_30e.py'

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=2,
        convert_to_iter_based=True),
    dict(type='StepLR', by_epoch=True, begin=2, step_size=5, gamma=0.1),
]
