# CSRA, ResNet-101, PASCAL VOC 2007 (Zhu & Wu, ICCV 2021).
# 1 GPU x 16 images, 448 x 448, 30 epochs, H = 1, lambda = 0.1.
# Expected: 94.7 mAP (official release, ImageNet ResNet-101 backbone);
# 95.2 with the CutMix-pretrained ResNet-101 (convert it with
# tools/model_converters and set `load_from`).
# Multi-GPU: bash tools/dist_train.sh configs/csra/resnet101_voc.py 8
# (add --auto-scale-lr to keep the per-image learning rate).
_base_ = [
    '../_base_/models/resnet101_csra.py',
    '../_base_/datasets/voc07.py',
    '../_base_/schedules/csra_sgd_30e.py',
    '../_base_/default_runtime.py',
]

model = dict(head=dict(num_classes=20, num_heads=1, lam=0.1))
