# CSRA (Zhu & Wu, ICCV 2021) on VGG-16, offline MultiDigits demo.
# The ResNet-18 CSRA demo (configs/csra/resnet18_multidigits.py: 1 CPU
# process x batch 32, 64 px, 8 epochs from scratch) with the backbone swapped:
# MMPretrain's VGG-16 with BatchNorm (vgg16bn: norm_cfg BN), conv stages only,
# last max-pool removed (with_last_pool=False): output stride 16, so CSRA
# sees a 4 x 4 map (16 locations) of 512 channels.
# BN because plain VGG-16 (13 conv layers, no normalisation) trained badly
# from scratch with the demo's AdamW lr 1e-3: in a 30-iteration check (batch
# 32, constant lr) its loss jumped to 7.6 at iteration 2, then sat at
# ln 2 = 0.69 for 15 iterations before reaching about 0.55.
# Expected: see the README's demo table (measured).
_base_ = ['./resnet18_multidigits.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='VGG',
        depth=16,
        num_classes=-1,  # conv stages only: out_indices defaults to (4, )
        norm_cfg=dict(type='BN'),
        with_last_pool=False),  # output stride 16
    head=dict(in_channels=512),
)
