# CPU-sized version of the training strategy of Prokofiev & Sovrasov,
# "Combining Metric Learning and Attention Heads for Accurate and Efficient
# Multilabel Image Classification", VISAPP 2023 (arXiv 2209.06585), for the
# offline MultiDigits demo. Same length as configs/_base_/schedules/
# multidigits.py (6 epochs of 4,000 canvases, batch 32 = 125 iterations per
# epoch, 750 in all), so every strategy demo costs about as many
# forward/backward passes as the CSRA demo, times two for SAM.
#
# Taken from the authors' released recipe (openvinotoolkit/deep-object-reid,
# branch `multilabel`, configs/EfficientNetV2_small_mld.yml, TResNetL_mld.yml,
# EfficientNetV2_small_gcn.yml; their paper's own text was not available to
# us, so these are the released configs' values):
#   SGD (base optimizer `sgd`, momentum 0.9) inside SAM with rho 0.05
#   (`optim: sam`, `sam.rho`); weight decay 5e-4 without decay on biases and
#   norm layers (`nbd: True`); one-cycle learning rate with 20% warm-up
#   (`lr_scheduler: onecycle`, `pct_start: 0.2`) ending at 1/1000 of the
#   start (`lr_decay_factor: 1000`, read as the one-cycle's final division);
#   EMA of the weights (`ema`); early stopping on the validation mAP after 5
#   epochs without improvement (`early_stopping`, `train_patience: 5`,
#   `target_metric: test_acc`).
# Changed for the demo, with the reason:
#   * peak lr 0.05 instead of 0.005-0.007: the demo trains ResNet-18 from
#     scratch (no download) for 750 iterations, and its losses average over
#     the batch x classes instead of summing (see
#     configs/baseline/resnet18-gap-asl_multidigits.py); 0.05 is the peak of
#     the CSRA demo schedule (configs/_base_/schedules/multidigits.py);
#   * EMA decay 0.99 (momentum 0.01) instead of 0.9997: the released decay
#     averages over ~3,300 iterations, longer than the whole demo (750), so
#     the EMA weights would stay close to the random initialisation; 0.99
#     averages over ~100 iterations (0.8 epoch);
#   * no AMP (CPU), 1 process.
# Early stopping is kept (patience 5, the released value); on a 6-epoch run it
# can only trigger if mAP never improves after the first epoch.
max_epochs = 6
optim_wrapper = dict(
    type='SAMOptimWrapper',
    rho=0.05,
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4),
    # no weight decay on biases and on BN / LN weights and biases
    paramwise_cfg=dict(bias_decay_mult=0., norm_decay_mult=0.),
)
# OneCycleLR sets the lr of every parameter group itself (from eta_max), so
# the optimizer's lr and `--auto-scale-lr` have no effect: scale eta_max
# when changing the total batch.
param_scheduler = [
    dict(
        type='OneCycleLR',
        eta_max=0.05,
        pct_start=0.2,
        anneal_strategy='cos',
        div_factor=25.,  # start at eta_max / 25 (PyTorch's default)
        final_div_factor=1000.,  # end at the start lr / 1000
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# custom_hooks of a child config replace this whole list: keep all three.
custom_hooks = [
    dict(type='ProgressBarHook'),
    # validation and the saved checkpoints use the EMA weights; averaging
    # the BN running statistics too, as timm's ModelEma does
    dict(type='EMAHook', momentum=0.01, update_buffers=True),
    # strict: a monitor missing from the metrics is an error, not a no-op
    dict(type='EarlyStoppingHook', monitor='multi-label/mAP', rule='greater',
         min_delta=0., patience=5, strict=True),
]
