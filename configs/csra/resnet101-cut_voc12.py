# CSRA, ResNet-cut (ResNet-101 pre-trained on ImageNet with CutMix, Yun et
# al., ICCV 2019), PASCAL VOC 2012 (Zhu & Wu, ICCV 2021, Table 3).
# As ./resnet101_voc12.py (trainval, 448 px, 30 epochs, H = 1,
# lambda = 0.1), with the backbone initialised from the CutMix authors'
# released ImageNet ResNet-101 (clovaai/CutMix-PyTorch; a torchvision
# state_dict, possibly under 'state_dict' with a 'module.' prefix, both
# handled by mmengine's loader; its 'fc' keys are unused). Save it as
# checkpoints/resnet101_cutmix.pth or set
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
# Paper (evaluation server, VOC2012 test): 94.6 mAP (96.1 with MS-COCO
# pre-training, not this config). Not measured here.
#   python tools/test.py configs/csra/resnet101-cut_voc12.py CKPT \
#       --cfg-options test_evaluator.outfile_prefix=work_dirs/rcut_voc12_test
_base_ = ['./resnet101_voc12.py']

model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint='checkpoints/resnet101_cutmix.pth')))
test_evaluator = dict(
    outfile_prefix='work_dirs/resnet101-cut_voc12/test_submission')
