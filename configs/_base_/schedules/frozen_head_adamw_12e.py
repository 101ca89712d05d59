# Head-only training on a frozen backbone (linear probing): AdamW, cosine
# decay over 12 epochs, validation once at the end. With FeatureCacheHook
# the backbone runs once (first epoch); the other epochs cost the head only.
max_epochs = 12
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4), )
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        eta_min=1e-5,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
