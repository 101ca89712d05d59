# EfficientNetV2-S (ImageNet-21k) + CSRA head trained with AAM (k = 0.7,
# m = 0, gamma+ = gamma- = 0, the released values of Prokofiev & Sovrasov).
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
        loss=dict(type='AsymmetricAngularMarginLoss', scale=None, margin=0.0,
                  k=0.7, gamma_pos=0.0, gamma_neg=0.0, clip=0.0),
    ))
