# Baseline for the CSRA demo: global average pooling + linear classifier.
# Everything else (data, schedule, loss, seed) is identical to
# configs/csra/resnet18_multidigits.py.
_base_ = ['../csra/resnet18_multidigits.py']

model = dict(
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        _delete_=True,
        type='MultiLabelLinearClsHead',
        num_classes=10,
        in_channels=512,
        loss=dict(type='MultiLabelBCELoss'),
    ),
)
