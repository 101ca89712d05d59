# Strategy demo, row "CSRA + AAM": CSRA head (H = 1, lambda = 0.1) trained
# with the Asymmetric Angular Margin loss and the strategy of Prokofiev &
# Sovrasov (VISAPP 2023).
# 1 CPU process x batch 32, 64 px, 4 SAM epochs x 4,000 canvases from scratch;
# everything but the head and the loss as in
# configs/baseline/resnet18-gap-asl_multidigits.py.
# AAM: s = 23, m = 0, k = 0.7, gamma+ = gamma- = 0 (authors' released COCO
# configs).
# Expected: see the README's strategy demo table (measured).
#
# The head is the cosine CSRA (cosine=True): cos(m_i, g + lambda a_i), the
# cosine between the class weight and CSRA's class-specific feature, which
# is what AAM expects; scores at inference are sigmoid(23 cos). (An earlier
# version fed AAM the plain CSRA logits, which are not cosines: s = 23 then
# scaled unbounded logits, and the 4-epoch demo reached 56.0 mAP.)
_base_ = ['./resnet18-asl_multidigits.py']

model = dict(
    head=dict(
        cosine=True,
        loss=dict(
            _delete_=True,
            type='AsymmetricAngularMarginLoss',
            scale=23.0,
            margin=0.0,
            k=0.7,
            gamma_pos=0.0,
            gamma_neg=0.0,
            clip=0.0)))
