# PASCAL VOC 2007, 20 classes, read from the devkit layout (no conversion):
#   data/VOCdevkit/VOC2007/{JPEGImages,Annotations,ImageSets/Main}
# Train on trainval (5,011 images), test on test (4,952), 448 x 448.
# Difficult-only classes: negative in training, ignored (not scored) at test
# time, the CSRA recipe (Zhu & Wu, ICCV 2021, released prepare_voc.py).
_base_ = './multi_label_448.py'

dataset_type = 'VOCMultiLabel'
data_root = 'data/VOCdevkit/VOC2007'
data_preprocessor = dict(num_classes=20)

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='trainval',
        difficult_as='negative'))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        difficult_as='ignore'))
test_dataloader = val_dataloader
