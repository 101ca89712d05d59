# CSRA on VGG-16, PASCAL VOC 2007 (Zhu & Wu, ICCV 2021, with a VGG backbone).
# 1 GPU x 16 images, 448 x 448, 30 epochs (the CSRA paper recipe: SGD, lr 0.01
# backbone / 0.1 head, x0.1 every 4 epochs), H = 1, lambda = 1e-3.
# Backbone: MMPretrain's VGG-16 (no BN) conv layers only (num_classes=-1, no
# fully connected classifier), last max-pool removed (with_last_pool=False):
# output stride 16, so CSRA pools a 28 x 28 map (784 locations) of 512
# channels at 448 px. ImageNet weights: MMPretrain's vgg16_8xb32_in1k,
# loaded through init_cfg Pretrained from the OpenMMLab URL below (as
# resnet101_voc.py does); offline, set `checkpoint` to a local copy. Its
# fully connected classifier is not used (unexpected keys, ignored).
# lambda = 1e-3 is the value of the CSRA reproduction report of issue #5,
# whose VGG-16 + CSRA run failed; that report gives 70.1 mAP for its VGG-16
# baseline (without CSRA). That number is the report's baseline, not a CSRA
# result and not measured with mmcsra; the CSRA paper reports no VGG-16.
# Expected: no published VGG-16 + CSRA number.
_base_ = [
    '../_base_/datasets/voc07.py',
    '../_base_/schedules/csra_sgd_30e.py',
    '../_base_/default_runtime.py',
]

pretrained = 'https://download.openmmlab.com/mmclassification/v0/vgg/vgg16_batch256_imagenet_20210208-db26f1a5.pth'  # noqa: E501
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VGG',
        depth=16,
        num_classes=-1,  # conv stages only: out_indices defaults to (4, )
        with_last_pool=False,  # output stride 16
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')),
    head=dict(
        type='CSRAHead',
        num_classes=20,
        in_channels=512,
        num_heads=1,
        lam=1e-3,
        loss=dict(type='MultiLabelBCELoss'),
    ),
)
