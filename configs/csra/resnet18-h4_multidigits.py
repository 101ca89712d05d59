# Multi-head CSRA (H = 4, temperatures 1, 2, 4, inf) on the offline demo.
# Same setting as configs/csra/resnet18_multidigits.py.
_base_ = ['./resnet18_multidigits.py']

model = dict(head=dict(num_heads=4, lam=0.1))
