# The strategy of ./aam_strategy_sgd_sam_60e.py with the NUS-WIDE learning
# rate of Prokofiev & Sovrasov (VISAPP 2023, Sec. 4.4, Table 4: "For NUS
# dataset we set s = 23, lr = 0.009, gamma- = 2, gamma+ = 1"): one-cycle
# peak lr 0.009. No NUS-WIDE config was released; everything else (SAM,
# EMA 0.9997, early stopping, augmentation) as for MS-COCO.
_base_ = ['./aam_strategy_sgd_sam_60e.py']

peak_lr = 0.009
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
