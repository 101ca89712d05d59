# ML-Decoder with cosine group decoding + AAM, the training strategy of
# Prokofiev & Sovrasov (VISAPP 2023), NUS-WIDE (81 concepts, official split).
# 4 GPUs x 21 images (total 84), 448 x 448, at most 60 epochs with early
# stopping, one-cycle peak lr 0.009 (configs/_base_/schedules/
# aam_strategy_sgd_sam_60e_nuswide.py).
# AAM: s = 23, m = 0, k = 0.7, gamma- = 2, gamma+ = 1: the paper's text
# (Sec. 4.4; no NUS-WIDE config was released, so there is no released
# variant to prefer, unlike VOC / COCO).
# Paper (Table 4, EfficientNetV2-S from the authors' OpenImages weights,
# 448 px): 67.60 mAP. Not measured here; this config starts from
# ImageNet-21k weights.
#   bash tools/dist_train.sh \
#       configs/ml_decoder/efficientnetv2-s_mld-aam_nuswide.py 4 --amp
_base_ = [
    '../_base_/models/efficientnetv2-s_mld-asl.py',
    '../_base_/datasets/nuswide.py',
    '../_base_/schedules/aam_strategy_sgd_sam_60e_nuswide.py',
    '../_base_/default_runtime.py',
]

# the EfficientNetV2 weights expect inputs scaled to [-1, 1]
data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5])
train_dataloader = dict(
    batch_size=21, dataset=dict(pipeline={{_base_.strategy_train_pipeline}}))

aam_scale = 23.0
model = dict(
    head=dict(
        num_classes=81,
        normalized=True,
        cosine_scale=aam_scale,
        loss=dict(
            _delete_=True,
            type='AsymmetricAngularMarginLoss',
            scale=aam_scale,
            margin=0.0,
            k=0.7,
            gamma_pos=1.0,
            gamma_neg=2.0,
            clip=0.0)))
