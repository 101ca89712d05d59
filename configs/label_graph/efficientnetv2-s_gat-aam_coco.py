# Graph re-weighting (GAT) + AAM, the graph model and training strategy of
# Prokofiev & Sovrasov (VISAPP 2023), MS-COCO 2014 (train2014 / val2014).
# 4 GPUs x 21 images (the released total batch 84), 448 x 448, at most 60
# epochs with early stopping (configs/_base_/schedules/
# aam_strategy_sgd_sam_60e.py: SGD + SAM rho 0.05, one-cycle peak lr 0.007,
# EMA 0.9997, no bias decay, RandAugment + Cutout 0.4).
# Backbone: EfficientNetV2-S pre-trained on ImageNet-21k (the authors used
# their own OpenImages weights).
# Neck: as ./efficientnetv2-s_gat-aam_voc.py (GAT 300 -> 1024 -> 1280, ML-GCN
# graph t = 0.4, p = 0.25, GloVe embeddings trained further).
# Head: global average pooling + cosine classifier, AAM with s = 23, m = 0,
# k = 0.7, gamma+ = gamma- = 0 (released COCO configs; no COCO graph config
# was released, so the COCO values of the ML-Decoder configs are used).
# Expected: not measured; the authors' README reports ML-Decoder numbers only.
#
# Graph inputs: ML-GCN's COCO co-occurrence counts and GloVe vectors, read
# from ../shared/label_graph/ relative to the repository root; not shipped
# with mmcsra (no licence is stated for them). Their rows are sorted by class
# name, while COCOMultiLabel uses the category-id order: `class_indices[i]` is
# the file row of dataset class i (mmcsra.utils.label_graph.
# class_indices_by_name(file names, dataset names); checked in
# tests/test_configs/test_strategy_configs.py). With your own counts from
# tools/build_label_graph.py (written in the dataset's order) drop
# `class_indices`.
_base_ = [
    '../_base_/models/efficientnetv2-s_gat-aam.py',
    '../_base_/datasets/coco14.py',
    '../_base_/schedules/aam_strategy_sgd_sam_60e.py',
    '../_base_/default_runtime.py',
]

# the EfficientNetV2 weights expect inputs scaled to [-1, 1]
data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5])
train_dataloader = dict(
    batch_size=21, dataset=dict(pipeline={{_base_.strategy_train_pipeline}}))

model = dict(
    neck=dict(
        num_classes=80,
        cooccurrence='../shared/label_graph/coco_cooccurrence.npz',
        label_embeddings='../shared/label_graph/coco_glove300.npy',
        class_indices=[
            49, 9, 18, 44, 0, 16, 73, 74, 11, 72, 31, 63, 48, 8, 10, 20, 28,
            37, 56, 25, 30, 6, 79, 34, 2, 76, 36, 68, 64, 33, 59, 60, 62, 40,
            4, 5, 58, 65, 67, 13, 78, 26, 32, 41, 61, 14, 3, 1, 54, 46, 15, 19,
            38, 50, 29, 17, 22, 24, 51, 7, 27, 70, 75, 42, 45, 53, 39, 21, 43,
            47, 69, 57, 52, 12, 23, 77, 55, 66, 35, 71
        ],
    ),
    head=dict(num_classes=80, loss=dict(scale=23.0)),
)
