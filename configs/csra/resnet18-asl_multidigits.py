# Strategy demo, row "CSRA + ASL": CSRA head (Zhu & Wu, ICCV 2021; H = 1,
# lambda = 0.1 as configs/csra/resnet18_multidigits.py) trained with ASL and
# the strategy of Prokofiev & Sovrasov (VISAPP 2023).
# 1 CPU process x batch 32, 64 px, 4 SAM epochs x 4,000 canvases from scratch;
# everything but the head as in
# configs/baseline/resnet18-gap-asl_multidigits.py.
# Expected: see the README's strategy demo table (measured).
_base_ = ['../baseline/resnet18-gap-asl_multidigits.py']

model = dict(
    head=dict(mode='residual', normalize_weight=True, num_heads=1, lam=0.1))
