# NUS-WIDE, 81 concepts, read from the official release files:
#   data/nus_wide/Concepts81.txt
#   data/nus_wide/ImageList/{Train,Test}Imagelist.txt
#   data/nus_wide/Groundtruth/TrainTestLabels/Labels_<concept>_{Train,Test}.txt
#   data/nus_wide/Flickr/<folder>/<image>.jpg
# Official split: train 161,789 / test 107,859 listed images, 448 x 448.
# Circulating image copies often miss files: the dataset raises naming the
# first missing one; set missing_images='drop' to train on what is there
# (the number dropped is logged). invalid_labels='ignore' because line 78,372
# of the official Labels_lake_Train.txt is -1130179, not 0/1: that entry is
# ignored and logged.
_base_ = './multi_label_448.py'

dataset_type = 'NUSWIDE'
data_root = 'data/nus_wide'
data_preprocessor = dict(num_classes=81)

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        invalid_labels='ignore'))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        invalid_labels='ignore'))
test_dataloader = val_dataloader
