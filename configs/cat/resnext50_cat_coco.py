# CAT, ResNeXt-50 (32x4d), MS-COCO 2014 (Zhang et al., "Cross-Layer
# Aggregation with Transformers for Multi-Label Image Classification",
# ICASSP 2022).
# 1 GPU x 16 images, 448 x 448, 30 epochs (SGD, warm-up 2 epochs, x0.1 every
# 5 epochs, the COCO step of the repository's CSRA recipe,
# configs/_base_/schedules/csra_sgd_30e_step5.py).
# The paper's own training details and its COCO mAP could not be read
# offline when this config was written: the schedule is the repository's
# 448-px CSRA recipe (head at 10x lr, the new neck at the backbone lr).
# Expected: not measured, and the paper's COCO mAP is not quoted here (it
# could not be checked offline).
_base_ = [
    '../_base_/models/cat_r50.py',
    '../_base_/datasets/coco14.py',
    '../_base_/schedules/csra_sgd_30e_step5.py',
    '../_base_/default_runtime.py',
]

pretrained = 'https://download.openmmlab.com/mmclassification/v0/resnext/resnext50_32x4d_b32x8_imagenet_20210429-56066e27.pth'  # noqa: E501
model = dict(
    backbone=dict(
        type='ResNeXt',
        groups=32,
        width_per_group=4,
        init_cfg=dict(checkpoint=pretrained)),
    head=dict(num_classes=80),
)
