# Offline multi-label demo: canvases of real handwritten digits
# (scikit-learn's load_digits), 64 px, 1-3 digits of 16-32 px each, 10 classes.
# Built in memory in about a second; nothing is downloaded.
dataset_type = 'MultiDigits'
data_preprocessor = dict(
    num_classes=10,
    mean=[0.0, 0.0, 0.0],
    std=[255.0, 255.0, 255.0],
    to_rgb=False,
)

train_pipeline = [  # canvases are random already; no augmentation
    dict(type='PackInputs', algorithm_keys=['gt_ignore']),
]
test_pipeline = [
    dict(type='PackInputs', algorithm_keys=['gt_ignore']),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    dataset=dict(
        type=dataset_type,
        split='train',
        canvas_size=64,
        digit_size=(16, 32),
        max_digits=3,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=0,
    dataset=dict(
        type=dataset_type,
        split='test',
        canvas_size=64,
        digit_size=(16, 32),
        max_digits=3,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_dataloader = val_dataloader

val_evaluator = [
    dict(type='MultiLabelMAP'),
    dict(type='MultiLabelPRF', thr=0.5),
]
test_evaluator = val_evaluator
