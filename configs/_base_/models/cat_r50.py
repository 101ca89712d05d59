# ImageNet-pretrained ResNet-50 (OpenMMLab zoo), stages C3/C4/C5 (512, 1024,
# 2048 channels) + CAT's cross-layer aggregation neck (FPN + long-range
# dependency + cross-layer fusion with pre-max attention, window 2; D = 256,
# 8 heads, FFN 1024, dropout 0.1) + CAT head (one GAP + linear classifier per
# level, summed with weights alpha = beta = gamma = 1). Method configs set
# num_classes; a ResNeXt-50 config swaps the backbone type and its checkpoint.
pretrained = 'https://download.openmmlab.com/mmclassification/v0/resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth'  # noqa: E501
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(1, 2, 3),
        style='pytorch',
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')),
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
        num_classes=None,
        in_channels=256,
        alpha=1.0,
        beta=1.0,
        gamma=1.0,
        loss=dict(type='MultiLabelBCELoss'),
    ),
)
