# Your own multi-label images (MultiLabelFolder): one annotation file per
# split, OpenMMLab 2.0 JSON ({"metainfo": {"classes": [...]}, "data_list":
# [{"img_path": ..., "gt_label": [...]}]}), the list JSON or the CSV of
# docs/datasets.md; image paths are relative to `data_root`.
#
# The ONLY settings a user changes are `data_root`, `ann_file` and `classes`
# of the three dataloaders (no `_delete_=True`: they merge into the dicts
# below), plus the head's `num_classes` (the ConfigCheckHook of
# tools/train.py stops with a clear message if it is not len(classes)):
#
#   python tools/train.py CONFIG --cfg-options \
#       train_dataloader.dataset.data_root=data/pets \
#       train_dataloader.dataset.ann_file=train.json ... \
#       model.head.num_classes=2
#
# or a 5-line child config (docs/demo.md, "Train on your own data").
# `classes=None` takes the list from the OpenMMLab 2.0 file's metainfo (a
# CSV / list JSON then infers the sorted names: set `classes` for those, so
# that every split has the same list).
#
# 224 x 224, no random augmentation, so that FeatureCacheHook can cache a
# frozen backbone's features (the train pipeline is deterministic); the
# normalisation lives in the model config (`model.data_preprocessor`).
dataset_type = 'MultiLabelFolder'

train_pipeline = [
    dict(type='LoadImageFromFileChecked'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='PackInputs', algorithm_keys=['gt_ignore']),
]
test_pipeline = [
    dict(type='LoadImageFromFileChecked'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='PackInputs', algorithm_keys=['gt_ignore']),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root='data/my_dataset',
        ann_file='train.json',
        classes=None,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root='data/my_dataset',
        ann_file='val.json',
        classes=None,
        test_mode=True,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
# its own dict (not `= val_dataloader`): overriding the val split does not
# silently change the test split
test_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root='data/my_dataset',
        ann_file='test.json',
        classes=None,
        test_mode=True,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)

val_evaluator = [
    dict(type='MultiLabelMAP'),
    dict(type='MultiLabelPRF', thr=0.5),
]
test_evaluator = [
    dict(type='MultiLabelMAP'),
    dict(type='MultiLabelPRF', thr=0.5),
]
