# EfficientNetV2-S (ImageNet-21k) + CSRA head trained with AAM (k = 0.7,
# m = 0, gamma+ = gamma- = 0, the released values of Prokofiev & Sovrasov).
# Cosine CSRA (cosine=True): the head outputs cos(m_i, g + lambda a_i), the
# cosine between each class weight and CSRA's class-specific feature,
# averaged over the heads, as AAM expects; scores at inference are
# sigmoid(s cos) with the loss's s.
# Method configs set num_classes, num_heads, lam and the AAM scale s
# (loss.scale).
_base_ = ['./efficientnetv2-s_in21k.py']

model = dict(
    head=dict(
        type='CSRAHead',
        num_classes=None,
        in_channels=1280,
        num_heads=None,
        lam=None,
        cosine=True,
        loss=dict(
            type='AsymmetricAngularMarginLoss',
            scale=None,
            margin=0.0,
            k=0.7,
            gamma_pos=0.0,
            gamma_neg=0.0,
            clip=0.0),
    ))
