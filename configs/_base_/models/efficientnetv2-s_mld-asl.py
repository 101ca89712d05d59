# EfficientNetV2-S (ImageNet-21k) + ML-Decoder head with its defaults (fixed
# random queries, D = 768, 8 heads, FFN 2048, dropout 0.1) + ASL with the ASL
# paper's gamma- = 4, gamma+ = 0, clip 0.05. Method configs set num_classes
# (K = num_classes queries); the AAM variants replace the loss.
_base_ = ['./efficientnetv2-s_in21k.py']

model = dict(
    head=dict(
        type='MLDecoderHead',
        num_classes=None,
        in_channels=1280,
        embed_dims=768,
        num_heads=8,
        feedforward_channels=2048,
        dropout=0.1,
        loss=dict(
            type='MultiLabelAsymmetricLoss',
            gamma_pos=0.0,
            gamma_neg=4.0,
            clip=0.05),
    ))
