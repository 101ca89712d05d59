# CSRA, ResNet-101, PASCAL VOC 2007 (Zhu & Wu, ICCV 2021).
# 1 GPU x 16 images, 448 x 448, 30 epochs, H = 1, lambda = 0.1.
# Expected: 94.7 mAP (official release, ImageNet ResNet-101 backbone);
# 95.2 with the CutMix-pretrained ResNet-101 (convert it with
# tools/model_converters and set `load_from`).
# Multi-GPU: bash tools/dist_train.sh configs/csra/resnet101_voc.py 8
# (add --auto-scale-lr to keep the per-image learning rate).
_base_ = [
    '../_base_/datasets/voc07.py',
    '../_base_/schedules/csra_sgd_30e.py',
    '../_base_/default_runtime.py',
]

pretrained = 'https://download.openmmlab.com/mmclassification/v0/resnet/resnet101_8xb32_in1k_20210831-539c63f8.pth'  # noqa: E501
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=101,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained,
                      prefix='backbone')),
    head=dict(
        type='CSRAHead',
        num_classes=20,
        in_channels=2048,
        num_heads=1,
        lam=0.1,
        loss=dict(type='MultiLabelBCELoss'),
    ),
)
