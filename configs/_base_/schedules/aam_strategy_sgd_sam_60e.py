# Training strategy of Prokofiev & Sovrasov, "Combining Metric Learning and
# Attention Heads for Accurate and Efficient Multilabel Image Classification",
# VISAPP 2023 (arXiv 2209.06585), for the 448 px datasets, with the values of
# the authors' released MS-COCO configs (openvinotoolkit/deep-object-reid,
# branch `multilabel`: configs/EfficientNetV2_small_mld.yml and
# configs/TResNetL_mld.yml; the paper's own text was not available to us, so
# every value below is the released configs'). VOC values:
# ./aam_strategy_sgd_sam_60e_voc.py.
#
#   optimizer     SGD, momentum 0.9 (`optim: sam`, base optimizer `sgd`)
#   SAM           rho 0.05 (`sam.rho`)
#   weight decay  5e-4, none on biases and norm layers (`nbd: True`)
#   lr            one-cycle (`lr_scheduler: onecycle`), peak 0.007 (`lr`),
#                 20% warm-up (`pct_start: 0.2`), ending at 1/1000 of the
#                 starting lr (`lr_decay_factor: 1000`, which we read as the
#                 one-cycle's final division; the start, peak / 25, is
#                 PyTorch's OneCycleLR default, not a released value)
#   epochs        at most 60 (`max_epoch`), validation after each
#   early stop    5 validations without a better mAP (`early_stopping`,
#                 `train_patience: 5`, `target_metric: test_acc`)
#   EMA           decay 0.9997 (`ema.ema_decay`) = mmengine momentum 3e-4
#   batch         84 (`batch_size`), set by the method configs
#   augmentation  horizontal flip, RandAugment, Cutout 0.4 (p = 0.5):
#                 `strategy_train_pipeline` below
#   precision     the released configs train SAM with mixed precision
#                 (`mix_precision: True`): run tools/train.py with --amp
#                 (GPU), which turns the SAMOptimWrapper below into
#                 AmpSAMOptimWrapper (both SAM passes in autocast, dynamic
#                 loss scaling). Without --amp, this config trains SAM in
#                 fp32.
# Not reproduced: the released models' classifier dropout (p = 0.1) and
# momentum cycling of one-cycle (mmengine's OneCycleLR cycles the lr only).
#
# OneCycleLR sets the lr of every parameter group from eta_max, so the
# optimizer's lr and --auto-scale-lr have no effect: with another total batch
# than 84, scale eta_max yourself.
max_epochs = 60
peak_lr = 0.007
optim_wrapper = dict(
    type='SAMOptimWrapper',
    rho=0.05,
    optimizer=dict(type='SGD', lr=peak_lr, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(bias_decay_mult=0., norm_decay_mult=0.),
)
param_scheduler = [
    dict(
        type='OneCycleLR',
        eta_max=peak_lr,
        pct_start=0.2,
        anneal_strategy='cos',
        div_factor=25.,
        final_div_factor=1000.,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# custom_hooks of a child config replace this whole list
custom_hooks = [
    # validation / test / checkpoints use the EMA weights; BN statistics are
    # averaged too, as timm's ModelEma (used by the released code) does
    dict(type='EMAHook', momentum=3e-4, update_buffers=True),  # 1 - 0.9997
    # strict: a monitor missing from the metrics is an error, not a no-op
    dict(
        type='EarlyStoppingHook',
        monitor='multi-label/mAP',
        rule='greater',
        min_delta=0.,
        patience=5,
        strict=True),
]

# The strategy's training augmentation at 448 x 448 (the released
# `transforms`: random_flip p 0.5, randaugment, cutout with cutout_factor 0.4
# and p 0.5; no random crop). Method configs use it as
#   train_dataloader = dict(dataset=dict(
#       pipeline={{_base_.strategy_train_pipeline}}))
# RandAugment's N = 2 operations at magnitude 9 (std 0.5) from MMPretrain's
# 'timm_increasing' set are the MMPretrain / timm defaults: the released
# configs only switch RandAugment on. Grey fill 128 = 0 after the [-1, 1]
# normalisation of the EfficientNetV2 weights.
strategy_train_pipeline = [
    dict(type='LoadImageFromFileChecked'),
    dict(type='Resize', scale=(448, 448)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(pad_val=128)),
    dict(type='Cutout', shape=179, pad_val=128, prob=0.5),  # 0.4 x 448
    dict(type='PackInputs', algorithm_keys=['gt_ignore']),
]
