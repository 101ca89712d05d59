# CSRA on ViT-L/16 patch tokens, MS-COCO 2014 (Zhu & Wu, ICCV 2021).
# 1 GPU x 16 images (8 per GPU x 2 if memory is short), 448 x 448: the
# checkpoint's 384-px position embedding (24 x 24 + 1, MMPretrain's
# ImageNet-21k -> 1k ViT-L/16) is interpolated to the 28 x 28 patch grid when
# the pretrained weights are loaded. 30 epochs, step every 5 epochs, H = 8
# (temperatures 1..7, inf), lambda = 0.3; class token dropped.
# Expected: the paper's COCO ViT-L16 + CSRA result (Table 4).
_base_ = [
    '../_base_/models/vit_csra.py',
    '../_base_/datasets/coco14.py',
    '../_base_/schedules/csra_sgd_30e_step5.py',
    '../_base_/default_runtime.py',
]

pretrained = 'https://download.openmmlab.com/mmclassification/v0/vit/finetune/vit-large-p16_in21k-pre-3rdparty_ft-64xb64_in1k-384_20210928-b20ba619.pth'  # noqa: E501
model = dict(
    backbone=dict(
        arch='l',
        img_size=448,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')),
    head=dict(num_classes=80, in_channels=1024, num_heads=8, lam=0.3))
# the pretrained ViT weights were trained on images scaled to [-1, 1]
data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5])
