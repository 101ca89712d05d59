# EfficientNetV2-S (ImageNet-21k) + graph re-weighting neck (two GAT layers,
# 300 -> 1024 -> 1280, over ML-GCN's label graph with t = 0.4, p = 0.25;
# label embeddings trained further, LeakyReLU also after the last layer, as
# the released code of Prokofiev & Sovrasov) + GAP and cosine classifier with
# AAM (k = 0.7, m = 0, gamma+ = gamma- = 0). Method configs set num_classes
# (neck and head), the graph files (neck.cooccurrence,
# neck.label_embeddings, and neck.class_indices where the files' row order
# differs from the dataset's) and the AAM scale s (head.loss.scale).
_base_ = ['./efficientnetv2-s_in21k.py']

model = dict(
    neck=dict(
        type='LabelGraphReweightNeck',
        num_classes=None,
        in_channels=1280,
        cooccurrence=None,
        label_embeddings=None,
        learnable_embeddings=True,
        hidden_channels=1024,
        layer_type='gat',
        t=0.4,
        p=0.25,
        act_after_last=True,
    ),
    head=dict(
        type='CosineClsHead',
        num_classes=None,
        in_channels=1280,
        loss=dict(
            type='AsymmetricAngularMarginLoss',
            scale=None,
            margin=0.0,
            k=0.7,
            gamma_pos=0.0,
            gamma_neg=0.0,
            clip=0.0),
    ))
