# ImageNet-pretrained ResNet-101 (OpenMMLab zoo) + CSRA head. Method configs
# set num_classes, num_heads and lam.
pretrained = 'https://download.openmmlab.com/mmclassification/v0/resnet/resnet101_8xb32_in1k_20210831-539c63f8.pth'  # noqa: E501
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=101,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')),
    head=dict(
        type='CSRAHead',
        num_classes=None,
        in_channels=2048,
        num_heads=1,
        lam=0.1,
        loss=dict(type='MultiLabelBCELoss'),
    ),
)
