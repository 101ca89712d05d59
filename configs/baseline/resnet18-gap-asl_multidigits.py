# Strategy demo, row "GAP + ASL": global average pooling + a linear
# classifier trained with ASL, with the training strategy of Prokofiev &
# Sovrasov (VISAPP 2023): AdamW + SAM, one-cycle lr, EMA, early stopping,
# no bias decay (configs/_base_/schedules/multidigits_strategy.py).
# 1 CPU process x batch 32, 64 px, 4 SAM epochs x 4,000 canvases from scratch
# (no download), ResNet-18 with output stride 16 (a 4 x 4 map, as the CSRA
# demo); validation (mAP) after every epoch, on the EMA weights.
# Expected: see the README's strategy demo table (measured).
#
# This file is the root of the 8 strategy demo configs (GAP / CSRA /
# ML-Decoder / graph re-weighting, each with ASL and with AAM): the other 7
# inherit from it and change only the neck, the head and the loss, so the
# table compares heads and losses with the same data, backbone, schedule and
# seed.
#
# No RandAugment / Cutout here, unlike the real-dataset strategy configs:
# the digits fill much of the 64 px canvas (16-32 px each), so translations,
# shears and Cutout's 0.4 x 64 = 26 px square can move a digit off the
# canvas or erase most of it while its label stays (label noise), and the
# photometric operations have little to act on in grey-scale scans on black.
#
# The head: CSRAHead(mode='avg', normalize_weight=False) scores
# (1/N) sum_j x_j^T m_i, i.e. global average pooling followed by a bias-free
# linear classifier (the CSRA paper's 'avg' control); it also works on the
# re-weighted feature maps of the graph rows and honours ignore masks.
_base_ = [
    '../_base_/datasets/multidigits.py',
    '../_base_/schedules/multidigits_strategy.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=18,
        num_stages=4,
        out_indices=(3, ),
        strides=(1, 2, 2, 1),
        style='pytorch'),
    head=dict(
        type='CSRAHead',
        num_classes=10,
        in_channels=512,
        mode='avg',
        normalize_weight=False,
        # ASL paper defaults (Ben-Baruch et al., ICCV 2021)
        loss=dict(
            type='MultiLabelAsymmetricLoss',
            gamma_pos=0.0,
            gamma_neg=4.0,
            clip=0.05),
    ),
)

# log once per epoch; ProgressBarHook shows the progress in between
default_hooks = dict(logger=dict(interval=1000))
