# WIDER Attribute, 14 person attributes, read from the official JSON files:
#   data/wider_attribute/Annotations/wider_attribute_{trainval,test}.json
#   data/wider_attribute/Image/{train,val,test}/...
# One sample per annotated person, cropped to its box by CropByBBox; train on
# trainval (28,345 persons), test on test (29,179), 224 x 224 as CSRA's ViT
# experiments. Unspecified attributes: negative in training, ignored (not
# scored) at test time, CSRA's released prepare_wider.py.
# Augmentation as CSRA's released code: random horizontal flip and random
# resized crop keeping 70-100% of the area; test: plain resize.
dataset_type = 'WIDERAttribute'
data_root = 'data/wider_attribute'
data_preprocessor = dict(
    num_classes=14,
    # ImageNet mean / std, RGB order
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

train_pipeline = [
    dict(type='LoadImageFromFileChecked'),
    dict(type='CropByBBox', bbox_key='crop_bbox', bbox_format='xywh'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.7, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs', algorithm_keys=['gt_ignore']),
]
test_pipeline = [
    dict(type='LoadImageFromFileChecked'),
    dict(type='CropByBBox', bbox_key='crop_bbox', bbox_format='xywh'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='PackInputs', algorithm_keys=['gt_ignore']),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='trainval',
        unspecified_as='negative',
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        unspecified_as='ignore',
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
