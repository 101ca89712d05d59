# csra_tiny_multidigits.py with GroupNorm instead of BatchNorm in the
# backbone: no layer depends on the batch, so N ranks x batch B/N must train
# like 1 rank x batch B (tests/test_engine/test_distributed.py).
_base_ = ['./csra_tiny_multidigits.py']

model = dict(
    backbone=dict(norm_cfg=dict(type='GN', num_groups=8, requires_grad=True)))
