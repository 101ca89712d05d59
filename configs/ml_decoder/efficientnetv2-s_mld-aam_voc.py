# ML-Decoder with cosine group decoding + AAM, the training strategy of
# Prokofiev & Sovrasov (VISAPP 2023), PASCAL VOC 2007.
# 4 GPUs x 21 images (total 84), 448 x 448, at most 60 epochs with early
# stopping; everything but the head's decoding and the loss as in
# ./efficientnetv2-s_mld-asl_voc.py.
# AAM: s = 17, m = 0, k = 0.7, gamma+ = gamma- = 0, the authors' released VOC
# config (deep-object-reid configs/EfficientNetV2_small_gcn.yml; the only
# released VOC config, written for their graph model). Scores: sigmoid(s cos).
# Expected (the authors' repository README, EfficientNetV2-S from their
# OpenImages weights, ML-Decoder + AAM, 448 px): 95.86 mAP. Not measured
# here; this config starts from ImageNet-21k weights instead.
_base_ = ['./efficientnetv2-s_mld-asl_voc.py']

aam_scale = 17.0
model = dict(
    head=dict(
        normalized=True,
        cosine_scale=aam_scale,
        loss=dict(
            _delete_=True,
            type='AsymmetricAngularMarginLoss',
            scale=aam_scale,
            margin=0.0,
            k=0.7,
            gamma_pos=0.0,
            gamma_neg=0.0,
            clip=0.0)))
