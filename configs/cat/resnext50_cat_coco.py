# CAT, ResNeXt-50 (32x4d), MS-COCO 2014 (Zhang et al., "Cross-Layer
# Aggregation with Transformers for Multi-Label Image Classification",
# ICASSP 2022).
# 1 GPU x 16 images, 448 x 448, 30 epochs (SGD, warm-up 2 epochs, x0.1 every
# 5 epochs, the COCO step of the repository's CSRA recipe).
# The paper's own training details and its COCO mAP could not be read
# offline when this config was written: the schedule is the repository's
# 448-px CSRA recipe (head at 10x lr, the new neck at the backbone lr) and
# the expected mAP is the paper's Table (to be filled in from the paper).
_base_ = [
    '../_base_/datasets/coco14.py',
    '../_base_/schedules/csra_sgd_30e.py',
    '../_base_/default_runtime.py',
]

pretrained = 'https://download.openmmlab.com/mmclassification/v0/resnext/resnext50_32x4d_b32x8_imagenet_20210429-56066e27.pth'  # noqa: E501
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNeXt',
        depth=50,
        num_stages=4,
        out_indices=(1, 2, 3),
        groups=32,
        width_per_group=4,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained,
                      prefix='backbone')),
    neck=dict(
        type='CrossLayerAggregationNeck',
        in_channels=(512, 1024, 2048),
        embed_dims=256,
        num_heads=8,
        feedforward_channels=1024,
        dropout=0.1,
        pool_size=2,
    ),
    head=dict(
        type='CATHead',
        num_classes=80,
        in_channels=256,
        alpha=1.0,
        beta=1.0,
        gamma=1.0,
        loss=dict(type='MultiLabelBCELoss'),
    ),
)

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='StepLR', by_epoch=True, begin=2, step_size=5, gamma=0.1),
]
