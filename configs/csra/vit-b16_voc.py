# CSRA on ViT-B/16 patch tokens, PASCAL VOC 2007 (Zhu & Wu, ICCV 2021).
# 1 GPU x 16 images, 448 x 448, 30 epochs, x0.1 every 4 epochs (the VOC
# recipe), H = 1, lambda = 0.3 (the authors' ViT setting); the class token is
# dropped and the 28 x 28 = 784 patch tokens are the CSRA locations.
# Weights: MMPretrain's ImageNet-21k-pretrained ViT-B/16 fine-tuned on
# ImageNet-1k at 384 px (24 x 24 + 1 position embeddings). On loading,
# VisionTransformer's load_state_dict pre-hook (`_prepare_pos_embed`, calling
# mmpretrain.models.utils.resize_pos_embed) keeps the class-token embedding
# and resizes the patch grid bicubically to 28 x 28; a 224-px checkpoint
# (14 x 14 + 1) is resized the same way. Offline, set `checkpoint` to a
# local copy.
# Expected: no published ViT-B/16 + CSRA number on VOC 2007.
_base_ = [
    '../_base_/models/vit_csra.py',
    '../_base_/datasets/voc07.py',
    '../_base_/schedules/csra_sgd_30e.py',
    '../_base_/default_runtime.py',
]

pretrained = 'https://download.openmmlab.com/mmclassification/v0/vit/finetune/vit-base-p16_in21k-pre-3rdparty_ft-64xb64_in1k-384_20210928-98e8652b.pth'  # noqa: E501
model = dict(
    backbone=dict(
        arch='b',
        img_size=448,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')),
    head=dict(num_classes=20, in_channels=768, num_heads=1, lam=0.3))
# the pretrained ViT weights were trained on images scaled to [-1, 1]
data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5])
