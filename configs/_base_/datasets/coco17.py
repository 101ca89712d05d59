# MS-COCO 2017, 80 classes, read from the official instances_*.json:
#   data/coco/annotations/instances_{train,val}2017.json
#   data/coco/{train,val}2017/*.jpg
# Train on train2017 (117,266 annotated images), evaluate on val2017 (4,952),
# 448 x 448 (the 2014 images, split differently). Images without annotations
# are dropped and crowd annotations count as positives, as CSRA's released
# prepare_coco.py does; classes in category-id order (CSRA, ASL). For
# ML-GCN's alphabetical order set class_order='name'.
_base_ = './multi_label_448.py'

dataset_type = 'COCOMultiLabel'
data_root = 'data/coco'
data_preprocessor = dict(num_classes=80)

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_train2017.json',
        data_prefix='train2017'))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_val2017.json',
        data_prefix='val2017'))
test_dataloader = val_dataloader
