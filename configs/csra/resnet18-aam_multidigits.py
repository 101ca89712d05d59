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
# Caveat: CSRAHead scores project the *unnormalised* features on the unit
# class weights, y = mean_j x_j^T m_i/|m_i| + lambda * att; they are not
# cosines in [-1, 1] as AAM assumes. Here AAM's s acts as an inverse
# temperature on the CSRA scores (training sees sigmoid(s * y)), and CSRAHead
# reports sigmoid(y). With m = 0 both give the same ranking and the same
# decisions at thr = 0.5 (y > 0), so mAP, CF1 and OF1 are those of the
# trained model. A cosine CSRA (features L2-normalised at every location,
# inference scores sigmoid(s * y)) needs an option in CSRAHead that it does
# not have yet.
_base_ = ['./resnet18-asl_multidigits.py']

model = dict(
    head=dict(
        loss=dict(_delete_=True, type='AsymmetricAngularMarginLoss',
                  scale=23.0, margin=0.0, k=0.7, gamma_pos=0.0,
                  gamma_neg=0.0, clip=0.0)))
