# Strategy demo, row "ML-Decoder + ASL": ML-Decoder head (Ridnik et al.,
# WACV 2023; K = 10 fixed random queries for the 10 classes, D = 768,
# 8 heads, FFN 2048, dropout 0.1: the paper's defaults) trained with ASL and
# the strategy of Prokofiev & Sovrasov (VISAPP 2023).
# 1 CPU process x batch 32, 64 px (4 x 4 = 16 backbone tokens), 4 SAM epochs x
# 4,000 canvases from scratch; everything but the head as in
# configs/baseline/resnet18-gap-asl_multidigits.py.
# Expected: see the README's strategy demo table (measured).
_base_ = ['../baseline/resnet18-gap-asl_multidigits.py']

model = dict(
    head=dict(
        _delete_=True,
        type='MLDecoderHead',
        num_classes=10,
        in_channels=512,
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
