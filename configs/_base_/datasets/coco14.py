# MS-COCO 2014, 80 classes, read from the official instances_*.json:
#   data/coco/annotations/instances_{train,val}2014.json
#   data/coco/{train,val}2014/*.jpg
# Train on train2014 (82,081 annotated images), evaluate on val2014 (40,137),
# 448 x 448, the CSRA / ASL / ML-GCN protocol. Images without annotations are
# dropped and crowd annotations count as positives, as CSRA's released
# prepare_coco.py does; classes in category-id order (CSRA, ASL). For ML-GCN's
# alphabetical order set class_order='name'.
# Augmentation as CSRA's released code: random horizontal flip and random
# resized crop keeping 70-100% of the area; test: plain resize.
dataset_type = 'COCOMultiLabel'
data_root = 'data/coco'
data_preprocessor = dict(
    num_classes=80,
    # ImageNet mean / std, RGB order
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

train_pipeline = [
    dict(type='LoadImageFromFileChecked'),
    dict(type='RandomResizedCrop', scale=448, crop_ratio_range=(0.7, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs', algorithm_keys=['gt_ignore']),
]
test_pipeline = [
    dict(type='LoadImageFromFileChecked'),
    dict(type='Resize', scale=(448, 448)),
    dict(type='PackInputs', algorithm_keys=['gt_ignore']),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_train2014.json',
        data_prefix='train2014',
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_val2014.json',
        data_prefix='val2014',
        test_mode=True,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_dataloader = val_dataloader

val_evaluator = [
    dict(type='MultiLabelMAP'),
    dict(type='MultiLabelPRF', thr=0.5),
]
test_evaluator = val_evaluator
