# WIDER Attribute, 14 person attributes, read from the official JSON files:
#   data/wider_attribute/Annotations/wider_attribute_{trainval,test}.json
#   data/wider_attribute/Image/{train,val,test}/...
# One sample per annotated person, cropped to its box by CropByBBox; train on
# trainval (28,345 persons), test on test (29,179), 224 x 224 as CSRA's ViT
# experiments. Unspecified attributes: negative in training, ignored (not
# scored) at test time, CSRA's released prepare_wider.py.
# Augmentation as CSRA's released code: random horizontal flip and random
# resized crop keeping 70-100% of the area; test: plain resize.
_base_ = './multi_label_448.py'

dataset_type = 'WIDERAttribute'
data_root = 'data/wider_attribute'
data_preprocessor = dict(num_classes=14)

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
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='trainval',
        unspecified_as='negative',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        unspecified_as='ignore',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
