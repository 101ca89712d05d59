# Strategy demo, row "graph re-weighting + ASL": the graph-attention (GAT)
# channel re-weighting branch of Prokofiev & Sovrasov (VISAPP 2023) on the
# last ResNet-18 stage, then global average pooling + a linear classifier
# (CSRAHead in 'avg' mode, as the GAP row), trained with ASL and the
# strategy (configs/_base_/schedules/multidigits_strategy.py).
# 1 CPU process x batch 32, 64 px, 4 SAM epochs x 4,000 canvases from scratch;
# everything but the neck as in
# configs/baseline/resnet18-gap-asl_multidigits.py.
# Expected: see the README's strategy demo table (measured).
#
# The label graph. MultiDigits places its digits independently, so no pair
# of digits co-occurs often: with ML-GCN's threshold t = 0.4 the training
# graph has no edge, and the normalised adjacency is the identity (count it
# with `python tools/build_label_graph.py configs/csra/resnet18_multidigits.py
# --out multidigits.npz`; tests/test_configs/test_strategy_configs.py checks that this
# graph is the identity). The config gives that adjacency ready, so the demo
# reads no file. The 10 label embeddings (300-d) are learned, there being no
# word vectors for the digit classes.
_base_ = ['../baseline/resnet18-gap-asl_multidigits.py']

num_classes = 10
model = dict(
    neck=dict(
        type='LabelGraphReweightNeck',
        num_classes=num_classes,
        in_channels=512,
        adjacency=[[float(i == j) for j in range(num_classes)]
                   for i in range(num_classes)],
        embed_dims=300,
        hidden_channels=1024,
        layer_type='gat',
    ))
