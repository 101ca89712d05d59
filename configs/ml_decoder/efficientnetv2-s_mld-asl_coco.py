# ML-Decoder + ASL with the training strategy of Prokofiev & Sovrasov
# (VISAPP 2023), MS-COCO 2014 (train2014 / val2014, 80 classes).
# 4 GPUs x 21 images (the released total batch 84), 448 x 448, at most 60
# epochs with early stopping (configs/_base_/schedules/
# aam_strategy_sgd_sam_60e.py: SGD + SAM rho 0.05, one-cycle peak lr 0.007,
# EMA 0.9997, no bias decay, RandAugment + Cutout 0.4).
# Backbone: EfficientNetV2-S pre-trained on ImageNet-21k (MMPretrain's
# conversion of timm's tf_efficientnetv2_s_in21k). The authors'
# EfficientNetV2-S started from their own OpenImages weights, which are not
# in MMPretrain.
# Head: ML-Decoder (Ridnik et al., WACV 2023) with its defaults: K = 80 fixed
# random queries, D = 768, 8 heads, FFN 2048, dropout 0.1.
# Loss: ASL with the ASL paper's gamma- = 4, gamma+ = 0, clip 0.05 (the loss
# that AAM replaces in the paper).
# Expected: not measured; the authors' numbers are for ML-Decoder + AAM
# (./efficientnetv2-s_mld-aam_coco.py).
# Run (on GPUs with --amp: SAM in mixed precision, AmpSAMOptimWrapper):
#   bash tools/dist_train.sh \
#       configs/ml_decoder/efficientnetv2-s_mld-asl_coco.py 4 --amp
_base_ = [
    '../_base_/models/efficientnetv2-s_mld-asl.py',
    '../_base_/datasets/coco14.py',
    '../_base_/schedules/aam_strategy_sgd_sam_60e.py',
    '../_base_/default_runtime.py',
]

# the EfficientNetV2 weights expect inputs scaled to [-1, 1]
data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5])
train_dataloader = dict(
    batch_size=21, dataset=dict(pipeline={{_base_.strategy_train_pipeline}}))

model = dict(head=dict(num_classes=80))
