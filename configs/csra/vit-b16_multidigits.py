# CSRA (Zhu & Wu, ICCV 2021) on ViT patch tokens, offline MultiDigits demo.
# 1 CPU process x batch 32, 64 px, 8 epochs from scratch (no download).
# A REDUCED ViT, not ViT-B/16: width 192, 4 layers, 3 heads, MLP 768, patch
# 8, so a 64-px canvas gives 8 x 8 = 64 patch tokens; the class token is
# dropped and the patch tokens are the CSRA locations (as in vit-b16_voc.py,
# whose model base this reuses).
# Expected: see the README's demo table (measured).
_base_ = [
    '../_base_/models/vit_csra.py',
    '../_base_/datasets/multidigits.py',
    '../_base_/schedules/multidigits.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=192,
            num_layers=4,
            num_heads=3,
            feedforward_channels=768),
        img_size=64,
        patch_size=8,
        # from scratch: MMPretrain's ViT initialisation instead of weights
        init_cfg=[
            dict(
                type='Kaiming',
                layer='Conv2d',
                mode='fan_in',
                nonlinearity='linear'),
        ]),
    head=dict(num_classes=10, in_channels=192, num_heads=1, lam=0.1))

# log once per epoch; ProgressBarHook shows the progress in between
default_hooks = dict(logger=dict(interval=1000))
custom_hooks = [dict(type='ProgressBarHook')]
