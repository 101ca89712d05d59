from .crop_by_bbox import CropByBBox
from .load_image_from_file_checked import LoadImageFromFileChecked

__all__ = ['CropByBBox', 'LoadImageFromFileChecked']
