# PASCAL VOC 2012 as the CSRA paper's Table 3 uses it (Zhu & Wu, ICCV 2021,
# Sec. 4.2: "We train our model on the train-val sets, and evaluate its
# performance on the official evaluation server"): train on trainval
# (11,540 images), write the server's result files for test (10,991) with
# VOCSubmission. Devkit layout:
#   data/VOCdevkit/VOC2012/{JPEGImages,Annotations,ImageSets/Main}
# with the test images and ImageSets/Main/test.txt of the VOC2012 test
# release merged in (its Annotations carry no class labels: the test
# samples have no positives, which VOCSubmission does not need).
# Validation runs on val, which is part of trainval: its mAP only shows that
# training converges (the method configs turn save_best off);
# the paper's number comes from the server.
_base_ = './voc12.py'

train_dataloader = dict(dataset=dict(split='trainval'))
test_dataloader = dict(dataset=dict(split='test'))
# the result folder; tools/test.py --cfg-options
# test_evaluator.outfile_prefix=... puts it elsewhere
test_evaluator = dict(
    _delete_=True,
    type='VOCSubmission',
    outfile_prefix='work_dirs/voc2012_test_submission',
    competition='comp2')
