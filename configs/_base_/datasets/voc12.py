# PASCAL VOC 2012, 20 classes, read from the devkit layout (no conversion):
#   data/VOCdevkit/VOC2012/{JPEGImages,Annotations,ImageSets/Main}
# Train on train (5,717 images), evaluate on val (5,823), 448 x 448: the
# VOC2012 test annotations are not public (papers' VOC2012 numbers train on
# trainval and come from the evaluation server, which this config can not
# reproduce locally).
# Difficult-only classes: negative in training, ignored (not scored) at test
# time, the CSRA recipe (Zhu & Wu, ICCV 2021, released prepare_voc.py).
_base_ = './multi_label_448.py'

dataset_type = 'VOCMultiLabel'
data_root = 'data/VOCdevkit/VOC2012'
data_preprocessor = dict(num_classes=20)

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        difficult_as='negative'))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        difficult_as='ignore'))
test_dataloader = val_dataloader
