# ImageNet-21k-pretrained ViT (OpenMMLab zoo) + CSRA on its patch tokens (the
# class token is dropped). Method configs set the arch, img_size (the position
# embedding is interpolated on loading), init_cfg.checkpoint, in_channels,
# num_classes, num_heads and lam, and the [-1, 1] input scaling of the
# pretrained weights (data_preprocessor mean = std = 127.5).
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch='b',
        img_size=224,
        patch_size=16,
        out_type='raw',  # (B, 1 + N, D) tokens
        drop_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=None, prefix='backbone')),
    head=dict(
        type='CSRAHead',
        num_classes=None,
        in_channels=768,
        num_heads=1,
        lam=0.3,
        num_extra_tokens=1,
        loss=dict(type='MultiLabelBCELoss'),
    ),
)
