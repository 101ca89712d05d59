# Strategy demo, row "GAP + AAM": global average pooling + a cosine
# classifier trained with the Asymmetric Angular Margin loss of Prokofiev &
# Sovrasov (VISAPP 2023). Scores at inference: sigmoid(s * cos).
# 1 CPU process x batch 32, 64 px, 4 SAM epochs x 4,000 canvases from scratch;
# everything but the head and the loss as in
# configs/baseline/resnet18-gap-asl_multidigits.py.
# AAM: s = 23, m = 0, k = 0.7, gamma+ = gamma- = 0, the authors' released
# MS-COCO configs (deep-object-reid, configs/EfficientNetV2_small_mld.yml).
# Expected: see the README's strategy demo table (measured).
_base_ = ['./resnet18-gap-asl_multidigits.py']

model = dict(
    head=dict(
        _delete_=True,
        type='CosineClsHead',  # pools the (B, 512, 4, 4) map itself
        num_classes=10,
        in_channels=512,
        loss=dict(
            type='AsymmetricAngularMarginLoss',
            scale=23.0,
            margin=0.0,
            k=0.7,
            gamma_pos=0.0,
            gamma_neg=0.0,
            clip=0.0),
    ))
