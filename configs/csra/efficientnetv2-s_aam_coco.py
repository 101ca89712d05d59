# CSRA (Zhu & Wu, ICCV 2021; H = 4 with temperatures 1, 2, 4, inf and
# lambda = 0.5, the CSRA paper's COCO setting) trained with AAM and the
# strategy of Prokofiev & Sovrasov (VISAPP 2023), MS-COCO 2014.
# 4 GPUs x 21 images (total 84), 448 x 448, at most 60 epochs with early
# stopping (configs/_base_/schedules/aam_strategy_sgd_sam_60e.py: SGD + SAM
# rho 0.05, one-cycle peak lr 0.007, EMA 0.9997, no bias decay, RandAugment +
# Cutout 0.4).
# Backbone: EfficientNetV2-S pre-trained on ImageNet-21k.
# AAM: s = 23, m = 0, k = 0.7, gamma+ = gamma- = 0 (the authors' released COCO
# configs). Expected: not measured (no published number for this
# combination).
# The head is the cosine CSRA (see configs/_base_/models/
# efficientnetv2-s_csra-aam.py): the four heads' cosines are averaged.
_base_ = [
    '../_base_/models/efficientnetv2-s_csra-aam.py',
    '../_base_/datasets/coco14.py',
    '../_base_/schedules/aam_strategy_sgd_sam_60e.py',
    '../_base_/default_runtime.py',
]

# the EfficientNetV2 weights expect inputs scaled to [-1, 1]
data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5])
train_dataloader = dict(
    batch_size=21, dataset=dict(pipeline={{_base_.strategy_train_pipeline}}))

model = dict(
    head=dict(num_classes=80, num_heads=4, lam=0.5, loss=dict(scale=23.0)))
