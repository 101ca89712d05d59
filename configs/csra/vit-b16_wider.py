# CSRA on ViT-B/16 patch tokens, WIDER-Attribute (Zhu & Wu, ICCV 2021).
# 1 GPU x 16 images, 224 x 224 person crops, 30 epochs, step every 5 epochs,
# H = 1, lambda = 0.3 (the official training command); the class token is
# dropped and the 14 x 14 patch tokens are the CSRA locations.
# Expected: the paper's WIDER-Attribute ViT-B16 + CSRA result (Table 5).
_base_ = [
    '../_base_/models/vit_csra.py',
    '../_base_/datasets/wider.py',
    '../_base_/schedules/csra_sgd_30e_step5.py',
    '../_base_/default_runtime.py',
]

pretrained = 'https://download.openmmlab.com/mmclassification/v0/vit/finetune/vit-base-p16_in21k-pre-3rdparty_ft-64xb64_in1k-384_20210928-98e8652b.pth'  # noqa: E501
model = dict(
    backbone=dict(
        arch='b',
        img_size=224,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')),
    head=dict(num_classes=14, in_channels=768, num_heads=1, lam=0.3))
train_dataloader = dict(batch_size=16)
# the pretrained ViT weights were trained on images scaled to [-1, 1]
data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5])
