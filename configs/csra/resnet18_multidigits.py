# CSRA (Zhu & Wu, ICCV 2021) on the offline MultiDigits demo.
# 1 CPU process x batch 32, 64 px, 8 epochs from scratch (no download);
# ResNet-18 with output stride 16 (last stage not strided) so CSRA sees a
# 4 x 4 map of locations.
# Expected: see the README's demo table (GAP vs CSRA, measured).
_base_ = [
    '../_base_/datasets/multidigits.py',
    '../_base_/schedules/multidigits.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=18,
        num_stages=4,
        out_indices=(3, ),
        strides=(1, 2, 2, 1),
        style='pytorch'),
    head=dict(
        type='CSRAHead',
        num_classes=10,
        in_channels=512,
        num_heads=1,
        lam=0.1,
        loss=dict(type='MultiLabelBCELoss'),
    ),
)

# log once per epoch; ProgressBarHook shows the progress in between
default_hooks = dict(logger=dict(interval=1000))
custom_hooks = [dict(type='ProgressBarHook')]
