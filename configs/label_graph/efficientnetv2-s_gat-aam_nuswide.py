# Graph re-weighting (GAT) + AAM, the graph model and training strategy of
# Prokofiev & Sovrasov (VISAPP 2023), NUS-WIDE (81 concepts, official split).
# 4 GPUs x 21 images (total 84), 448 x 448, at most 60 epochs with early
# stopping, one-cycle peak lr 0.009 (configs/_base_/schedules/
# aam_strategy_sgd_sam_60e_nuswide.py).
# Neck: as ./efficientnetv2-s_gat-aam_voc.py (GAT 300 -> 1024 -> 1280,
# ML-GCN graph t = 0.4, p = 0.25).
# Head: GAP + cosine classifier, AAM with s = 23, m = 0, k = 0.7,
# gamma- = 2, gamma+ = 1 (the paper's text, Sec. 4.4; nothing released).
# Paper (Table 4, "GAT re-weighting (ours)", EfficientNetV2-S, 448 px):
# 66.85 mAP. Not measured here.
#
# Graph inputs (no NUS-WIDE graph ships with ML-GCN or mmcsra): count the
# co-occurrences of the training labels once, in the dataset's class order,
#   python tools/build_label_graph.py \
#       configs/label_graph/efficientnetv2-s_gat-aam_nuswide.py \
#       --out data/nus_wide/nuswide_cooccurrence.npz
# The label embeddings are learned from N(0, 1) (300-d): no GloVe vectors of
# the 81 concepts are shipped; pass a (81, 300) .npy as
# model.neck.label_embeddings to use your own.
_base_ = [
    '../_base_/models/efficientnetv2-s_gat-aam.py',
    '../_base_/datasets/nuswide.py',
    '../_base_/schedules/aam_strategy_sgd_sam_60e_nuswide.py',
    '../_base_/default_runtime.py',
]

data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5])
train_dataloader = dict(
    batch_size=21, dataset=dict(pipeline={{_base_.strategy_train_pipeline}}))

model = dict(
    neck=dict(
        num_classes=81,
        cooccurrence='data/nus_wide/nuswide_cooccurrence.npz',
        label_embeddings=None,
        embed_dims=300,
    ),
    head=dict(
        num_classes=81, loss=dict(scale=23.0, gamma_pos=1.0, gamma_neg=2.0)),
)
