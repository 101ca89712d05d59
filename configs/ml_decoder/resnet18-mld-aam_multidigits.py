# Strategy demo, row "ML-Decoder + AAM": ML-Decoder with the normalised
# (cosine) group decoding of Prokofiev & Sovrasov (VISAPP 2023), trained with
# their Asymmetric Angular Margin loss and strategy. Scores: sigmoid(s * cos).
# 1 CPU process x batch 32, 64 px, 4 SAM epochs x 4,000 canvases from scratch;
# everything but the head and the loss as in
# configs/ml_decoder/resnet18-mld-asl_multidigits.py.
# AAM: s = 23, m = 0, k = 0.7, gamma+ = gamma- = 0 (authors' released COCO
# configs, e.g. deep-object-reid configs/EfficientNetV2_small_mld.yml).
# Expected: see the README's strategy demo table (measured).
_base_ = ['./resnet18-mld-asl_multidigits.py']

aam_scale = 23.0
model = dict(
    head=dict(
        normalized=True,
        cosine_scale=aam_scale,
        loss=dict(
            _delete_=True,
            type='AsymmetricAngularMarginLoss',
            scale=aam_scale,
            margin=0.0,
            k=0.7,
            gamma_pos=0.0,
            gamma_neg=0.0,
            clip=0.0)))
