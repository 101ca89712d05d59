# MS-COCO 2014, 80 classes, read from the official instances_*.json:
#   data/coco/annotations/instances_{train,val}2014.json
#   data/coco/{train,val}2014/*.jpg
# Train on train2014 (82,081 annotated images), evaluate on val2014 (40,137),
# 448 x 448, the CSRA / ASL / ML-GCN protocol. Images without annotations are
# dropped and crowd annotations count as positives, as CSRA's released
# prepare_coco.py does; classes in category-id order (CSRA, ASL). For ML-GCN's
# alphabetical order set class_order='name'.
_base_ = './multi_label_448.py'

dataset_type = 'COCOMultiLabel'
data_root = 'data/coco'
data_preprocessor = dict(num_classes=80)

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_train2014.json',
        data_prefix='train2014'))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_val2014.json',
        data_prefix='val2014'))
test_dataloader = val_dataloader
