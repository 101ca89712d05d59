# NUS-WIDE, 81 concepts, read from the official release files:
#   data/nus_wide/Concepts81.txt
#   data/nus_wide/ImageList/{Train,Test}Imagelist.txt
#   data/nus_wide/Groundtruth/TrainTestLabels/Labels_<concept>_{Train,Test}.txt
#   data/nus_wide/Flickr/<folder>/<image>.jpg
# Official split: train 161,789 / test 107,859 listed images, 448 x 448.
# Circulating image copies often miss files: the dataset raises naming the
# first missing one; set missing_images='drop' to train on what is there
# (the number dropped is logged). invalid_labels='ignore' because line 78,372
# of the official Labels_lake_Train.txt is -1130179, not 0/1: that entry is
# ignored and logged.
# Augmentation: random horizontal flip and random resized crop keeping
# 70-100% of the area (as the VOC / COCO configs); test: plain resize.
dataset_type = 'NUSWIDE'
data_root = 'data/nus_wide'
data_preprocessor = dict(
    num_classes=81,
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
        split='train',
        invalid_labels='ignore',
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
        invalid_labels='ignore',
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
