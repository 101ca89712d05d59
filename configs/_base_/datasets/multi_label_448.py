# Shared by the real-dataset configs (voc07, voc12, coco14, coco17, nuswide,
# wider): ImageNet normalisation, 448 x 448, CSRA's released augmentation
# (random resized crop keeping 70-100% of the area + horizontal flip; test:
# plain resize), batch 16, ignore-aware packing, mAP + CP/CR/CF1/OP/OR/OF1.
# A dataset config sets `data_preprocessor.num_classes` and the `dataset`
# dicts (type, data_root, split/ann_file, ...) of the three dataloaders.
data_preprocessor = dict(
    num_classes=None,  # set by each dataset config
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
    dataset=dict(pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(test_mode=True, pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_dataloader = val_dataloader

val_evaluator = [
    dict(type='MultiLabelMAP'),
    dict(type='MultiLabelPRF', thr=0.5),
]
test_evaluator = val_evaluator
