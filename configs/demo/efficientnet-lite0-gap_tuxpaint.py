# GAP baseline of the demo (tools/demo.py): frozen ImageNet EfficientNet-Lite0,
# global average pooling + a linear multi-label classifier.
# 1 CPU process x batch 64, 224 px, 12 epochs of head-only training from
# cached backbone features (FeatureCacheHook), Tux Paint photographs composed
# by mmcsra/apis/demo_data.py (10 classes, 1-3 objects per image).
# Expected: docs/demo.md (measured table).
_base_ = [
    '../_base_/models/efficientnet-lite0.py',
    '../_base_/datasets/multi_label_folder.py',
    '../_base_/schedules/frozen_head_adamw_12e.py',
    '../_base_/default_runtime.py',
]

# the demo's data (tools/demo.py composes it and sets data_root)
classes = [
    'bird', 'mammal', 'fish', 'insect', 'fruit', 'vegetable', 'flower', 'tool',
    'coin', 'ball'
]
train_dataloader = dict(
    dataset=dict(
        data_root='data/tuxpaint_demo', ann_file='train.json',
        classes=classes))
val_dataloader = dict(
    dataset=dict(
        data_root='data/tuxpaint_demo', ann_file='val.json', classes=classes))
test_dataloader = dict(
    dataset=dict(
        data_root='data/tuxpaint_demo', ann_file='test.json', classes=classes))

model = dict(
    type='FrozenBackboneClassifier',
    channels_last=True,  # faster CPU convolutions, same values
    backbone=dict(frozen=True),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='MultiLabelLinearClsHead',
        num_classes=10,
        in_channels=1280,
        loss=dict(type='MultiLabelBCELoss'),
    ),
)

# backbone features computed once and kept in <work_dir>/feature_cache;
# runs that point `cache_dir` at the same folder with the same frozen
# backbone and train split (the same key) share them: tools/demo.py gives
# the GAP and CSRA runs one folder, so the second head reads the first's
custom_hooks = [
    dict(type='FeatureCacheHook', cache_dir='work_dir'),
    dict(type='ProgressBarHook'),
]
default_hooks = dict(
    logger=dict(interval=1000),
    checkpoint=dict(save_best=None, max_keep_ckpts=1))
