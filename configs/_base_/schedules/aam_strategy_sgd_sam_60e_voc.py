# The strategy of ./aam_strategy_sgd_sam_60e.py with the values of the
# authors' released PASCAL VOC config (deep-object-reid, branch `multilabel`,
# configs/EfficientNetV2_small_gcn.yml): peak lr 0.005 (`lr`) and EMA decay
# 0.9993 (`ema.ema_decay`); everything else as for MS-COCO.
_base_ = ['./aam_strategy_sgd_sam_60e.py']

peak_lr = 0.005
optim_wrapper = dict(optimizer=dict(lr=peak_lr))
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
        end={{_base_.max_epochs}},
        convert_to_iter_based=True),
]
custom_hooks = [
    dict(type='EMAHook', momentum=7e-4, update_buffers=True),  # 1 - 0.9993
    # strict: a monitor missing from the metrics is an error, not a no-op
    dict(
        type='EarlyStoppingHook',
        monitor='multi-label/mAP',
        rule='greater',
        min_delta=0.,
        patience=5,
        strict=True),
]
