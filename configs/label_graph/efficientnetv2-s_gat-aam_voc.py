# Graph re-weighting (GAT) + AAM, the graph model and training strategy of
# Prokofiev & Sovrasov (VISAPP 2023), PASCAL VOC 2007 (trainval / test).
# 4 GPUs x 21 images (the released total batch 84), 448 x 448, at most 60
# epochs with early stopping (configs/_base_/schedules/
# aam_strategy_sgd_sam_60e_voc.py: SGD + SAM rho 0.05, one-cycle peak lr
# 0.005, EMA 0.9993, no bias decay, RandAugment + Cutout 0.4; the released
# VOC graph config, deep-object-reid configs/EfficientNetV2_small_gcn.yml,
# itself turns RandAugment and Cutout off: we keep the same strategy for all
# heads).
# Backbone: EfficientNetV2-S pre-trained on ImageNet-21k (the authors used
# their own OpenImages weights).
# Neck: two graph-attention layers (300 -> 1024 -> 1280) over ML-GCN's label
# graph (t = 0.4, p = 0.25) turn the label embeddings into channel weights of
# the last feature map. Label embeddings: GloVe (300-d), trained further and
# with the LeakyReLU also after the second layer, as the released code does.
# Head: global average pooling + cosine classifier, AAM with s = 17, m = 0,
# k = 0.7, gamma+ = gamma- = 0 (released VOC config).
# Expected: not measured; the authors' README reports ML-Decoder numbers only.
#
# Graph inputs: ML-GCN's VOC co-occurrence counts and GloVe vectors, read
# from ../shared/label_graph/ relative to the repository root (run the tools
# from the repository root). They are not shipped with mmcsra (no licence is
# stated for them). Without them: count your training split with
#   python tools/build_label_graph.py configs/_base_/datasets/voc07.py \
#       --out data/label_graph/voc07_trainval.npz
# set `cooccurrence` to that file, and either point `label_embeddings` at
# your own (20, E) .npy vectors or remove it to learn 300-d embeddings.
_base_ = [
    '../_base_/models/efficientnetv2-s_gat-aam.py',
    '../_base_/datasets/voc07.py',
    '../_base_/schedules/aam_strategy_sgd_sam_60e_voc.py',
    '../_base_/default_runtime.py',
]

# the EfficientNetV2 weights expect inputs scaled to [-1, 1]
data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5])
train_dataloader = dict(
    batch_size=21, dataset=dict(pipeline={{_base_.strategy_train_pipeline}}))

model = dict(
    neck=dict(
        num_classes=20,
        # rows in the standard VOC class order, as VOCMultiLabel
        cooccurrence='../shared/label_graph/voc_cooccurrence.npz',
        label_embeddings='../shared/label_graph/voc_glove300.npy',
    ),
    head=dict(num_classes=20, loss=dict(scale=17.0)),
)
