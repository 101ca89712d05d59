# EfficientNetV2-S pre-trained on ImageNet-21k (MMPretrain's conversion of
# timm's tf_efficientnetv2_s_in21k), last feature map: 1280 channels.
# Model bases on top of it add the neck and head. The weights expect inputs
# scaled to [-1, 1]: method configs set data_preprocessor mean = std = 127.5
# (the dataset bases own `data_preprocessor`).
pretrained = 'https://download.openmmlab.com/mmclassification/v0/efficientnetv2/efficientnetv2-s_3rdparty_in21k_20221220-c0572b56.pth'  # noqa: E501
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='EfficientNetV2',
        arch='s',
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')),
)
