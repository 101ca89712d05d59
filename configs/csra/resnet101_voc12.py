# CSRA, ResNet-101, PASCAL VOC 2012 (Zhu & Wu, ICCV 2021, Table 3).
# Settings as VOC2007 (paper Sec. 4.2): 1 GPU x 16 images, 448 x 448, 30
# epochs, H = 1, lambda = 0.1, ImageNet ResNet-101; trained on trainval.
# Paper (evaluation server, VOC2012 test): 94.1 mAP (95.2 with MS-COCO
# pre-training, not this config). Not measured here.
# Train, then write the server files (results.tar.gz to upload):
#   bash tools/dist_train.sh configs/csra/resnet101_voc12.py 8
#   python tools/test.py configs/csra/resnet101_voc12.py CKPT \
#       --cfg-options test_evaluator.outfile_prefix=work_dirs/r101_voc12_test
# The test_evaluator is VOCSubmission (comp2: ImageNet pre-training is data
# from outside VOC). On VOC2012 val with labels instead:
#   --cfg-options "test_dataloader.dataset.split=val" \
#       "test_evaluator=[dict(type='MultiLabelMAP')]"
_base_ = [
    '../_base_/models/resnet101_csra.py',
    '../_base_/datasets/voc12_trainval.py',
    '../_base_/schedules/csra_sgd_30e.py',
    '../_base_/default_runtime.py',
]

model = dict(head=dict(num_classes=20, num_heads=1, lam=0.1))
test_evaluator = dict(
    outfile_prefix='work_dirs/resnet101_voc12/test_submission')
# val is part of trainval: do not pick checkpoints by its mAP
default_hooks = dict(checkpoint=dict(save_best=None))
