# Residual Attention Network Attention-92 (Wang et al., CVPR 2017) + CSRA
# (Zhu & Wu, ICCV 2021) on PASCAL VOC 2007 (trainval -> test).
# 1 GPU x 16 images, 448 x 448, 30 epochs, H = 1, lambda = 0.1: the CSRA
# recipe of configs/csra/resnet101_voc.py with the backbone swapped. If 16
# images at 448 px do not fit on one GPU, run 2 GPUs x 8 (same total
# batch): bash tools/dist_train.sh <this config> 2
#             --cfg-options train_dataloader.batch_size=8
# Backbone: standard width (50.4M parameters; stage 3
# gives 2048 x 14 x 14 at 448 px). Every input size works: the soft masks
# up-sample to the size of their skip tensors.
# Expected: no published number (neither paper reports this combination).
# There is no ImageNet-pretrained Attention-92 in OpenMMLab format, so this
# config starts from scratch, far below the 94.7 mAP of the ImageNet
# ResNet-101 CSRA; with a converted ImageNet checkpoint set
# `model.backbone.init_cfg = dict(type='Pretrained', checkpoint=...,
# prefix='backbone')`.
_base_ = [
    '../_base_/datasets/voc07.py',
    '../_base_/schedules/csra_sgd_30e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResidualAttentionNet',
        depth=92,
        stem='imagenet',
        out_indices=(3, ),
    ),
    head=dict(
        type='CSRAHead',
        num_classes=20,
        in_channels=2048,
        num_heads=1,
        lam=0.1,
        loss=dict(type='MultiLabelBCELoss'),
    ),
)
