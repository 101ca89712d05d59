# Strategy demo, row "graph re-weighting + AAM": the GAT channel re-weighting
# branch of Prokofiev & Sovrasov (VISAPP 2023) followed by global average
# pooling and a cosine classifier trained with their Asymmetric Angular
# Margin loss (the paper's graph model), with their strategy.
# 1 CPU process x batch 32, 64 px, 4 SAM epochs x 4,000 canvases from scratch;
# neck and graph as in configs/label_graph/resnet18-gat-asl_multidigits.py,
# head and loss as in configs/baseline/resnet18-gap-aam_multidigits.py.
# AAM: s = 23, m = 0, k = 0.7, gamma+ = gamma- = 0 (authors' released COCO
# configs).
# Expected: see the README's strategy demo table (measured).
_base_ = ['./resnet18-gat-asl_multidigits.py']

model = dict(
    head=dict(
        _delete_=True,
        type='CosineClsHead',
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
