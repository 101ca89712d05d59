# ML-Decoder + ASL with the training strategy of Prokofiev & Sovrasov
# (VISAPP 2023), PASCAL VOC 2007 (trainval / test, 20 classes).
# 4 GPUs x 21 images (the released total batch 84), 448 x 448, at most 60
# epochs with early stopping (configs/_base_/schedules/
# aam_strategy_sgd_sam_60e_voc.py: SGD + SAM rho 0.05, one-cycle peak lr
# 0.005, EMA 0.9993, no bias decay, RandAugment + Cutout 0.4).
# Backbone: EfficientNetV2-S pre-trained on ImageNet-21k (the authors used
# their own OpenImages weights). Head: ML-Decoder defaults (K = 20 fixed
# random queries, D = 768, 8 heads, FFN 2048, dropout 0.1). Loss: ASL with the
# ASL paper's gamma- = 4, gamma+ = 0, clip 0.05.
# Expected: not measured; the authors' numbers are for ML-Decoder + AAM
# (./efficientnetv2-s_mld-aam_voc.py).
# Run (not with --amp: see the strategy base):
#   bash tools/dist_train.sh \
#       configs/ml_decoder/efficientnetv2-s_mld-asl_voc.py 4
_base_ = [
    '../_base_/datasets/voc07.py',
    '../_base_/schedules/aam_strategy_sgd_sam_60e_voc.py',
    '../_base_/default_runtime.py',
]

pretrained = 'https://download.openmmlab.com/mmclassification/v0/efficientnetv2/efficientnetv2-s_3rdparty_in21k_20221220-c0572b56.pth'  # noqa: E501
# the EfficientNetV2 weights expect inputs scaled to [-1, 1]
data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5])
train_dataloader = dict(
    batch_size=21, dataset=dict(pipeline={{_base_.strategy_train_pipeline}}))

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='EfficientNetV2',
        arch='s',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained,
                      prefix='backbone')),
    head=dict(
        type='MLDecoderHead',
        num_classes=20,
        in_channels=1280,
        embed_dims=768,
        num_heads=8,
        feedforward_channels=2048,
        dropout=0.1,
        loss=dict(type='MultiLabelAsymmetricLoss', gamma_pos=0.0,
                  gamma_neg=4.0, clip=0.05),
    ),
)
