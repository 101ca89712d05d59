# MS-COCO 2017, 80 classes, read from the official instances_*.json:
#   data/coco/annotations/instances_{train,val}2017.json
#   data/coco/{train,val}2017/*.jpg
# Train on train2017 (117,266 annotated images), evaluate on val2017 (4,952),
# 448 x 448 (the 2014 images, split differently). Everything else (crowd
# annotations, class order, pipelines) is coco14.py's.
_base_ = './coco14.py'

train_dataloader = dict(
    dataset=dict(
        ann_file='annotations/instances_train2017.json',
        data_prefix='train2017'))
val_dataloader = dict(
    dataset=dict(
        ann_file='annotations/instances_val2017.json', data_prefix='val2017'))
test_dataloader = val_dataloader
