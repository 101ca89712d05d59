# CAT (Cross-Layer Aggregation with Transformers; Zhang et al., ICASSP 2022)
# on the offline MultiDigits demo.
# Same setting as configs/csra/resnet18_multidigits.py: 1 CPU process x
# batch 32, 64 px, 8 epochs from scratch (no download).
# ResNet-18 stages C3/C4/C5 (8x8, 4x4, 2x2 tokens at 64 px) -> FPN + LRD + CLF
# (pre-max attention, window 2) -> one GAP + linear classifier per level.
# Expected: see the README's demo table (measured, not from the paper).
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
        out_indices=(1, 2, 3),
        style='pytorch'),
    neck=dict(
        type='CrossLayerAggregationNeck',
        in_channels=(128, 256, 512),
        embed_dims=128,
        num_heads=4,
        feedforward_channels=256,
        dropout=0.1,
        pool_size=2,
    ),
    head=dict(
        type='CATHead',
        num_classes=10,
        in_channels=128,
        alpha=1.0,
        beta=1.0,
        gamma=1.0,
        loss=dict(type='MultiLabelBCELoss'),
    ),
)

default_hooks = dict(logger=dict(interval=50))
custom_hooks = [dict(type='ProgressBarHook')]
