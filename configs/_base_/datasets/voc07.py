# PASCAL VOC 2007, 20 classes, read from the devkit layout (no conversion):
#   data/VOCdevkit/VOC2007/{JPEGImages,Annotations,ImageSets/Main}
# Train on trainval (5,011 images), test on test (4,952), 448 x 448.
# Difficult-only classes: negative in training, ignored (not scored) at test
# time, the CSRA recipe (Zhu & Wu, ICCV 2021, released prepare_voc.py).
# Augmentation as CSRA's released code: random horizontal flip and random
# resized crop keeping 70-100% of the area; test: plain resize.
dataset_type = 'VOCMultiLabel'
data_root = 'data/VOCdevkit/VOC2007'
data_preprocessor = dict(
    num_classes=20,
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
        split='trainval',
        difficult_as='negative',
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
        split='test',
        difficult_as='ignore',
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
