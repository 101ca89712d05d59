# Residual Attention Network (Wang et al., CVPR 2017) Attention-56 + CSRA
# (Zhu & Wu, ICCV 2021) on the offline MultiDigits demo: the ResNet-18 CSRA
# demo (configs/csra/resnet18_multidigits.py) with the backbone swapped.
# 1 CPU process x batch 32, 64 px, 8 epochs from scratch (no download).
# Reduced width for CPU: base_channels=16 (stage widths 64-128-256-512,
# 1.9M backbone parameters; the paper's width 64 has 29.8M). The last stage
# is 2 x 2 at 64 px (stride 32), 512 channels like ResNet-18's.
# Expected: see the README's demo table (measured; same data, schedule, loss
# and seed as the ResNet-18 rows).
_base_ = ['../csra/resnet18_multidigits.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResidualAttentionNet',
        depth=56,
        base_channels=16,
        stem='imagenet',
        out_indices=(3, ),
    ),
    head=dict(in_channels=512),
)
