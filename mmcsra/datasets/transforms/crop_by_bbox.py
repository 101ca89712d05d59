from typing import Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

from ..errors import AnnotationError


@TRANSFORMS.register_module()
class CropByBBox(BaseTransform):
    """Crop the image to a box stored in the sample (e.g. one person).

    Used for WIDER Attribute, where every sample is one annotated person of
    an image: the dataset stores the person's box in ``crop_bbox`` and this
    transform, placed right after loading, cuts it out.

    The box is turned into integer pixel bounds by rounding each corner to
    the nearest integer (as PIL's ``Image.crop``, used by CSRA's released
    code, does), then clipped to the image. PIL would pad the part of a box
    outside the image with black; this transform keeps only the part inside.
    A box with no pixel inside the image raises an error naming the image
    and the box.

    Required keys: ``img``, ``bbox_key``. Modified keys: ``img``,
    ``img_shape``. ``ori_shape`` stays the shape of the whole image.

    Args:
        bbox_key (str): the key holding the box. Defaults to ``'crop_bbox'``.
        bbox_format (str): ``'xywh'`` (default; ``[x, y, width, height]``,
            the WIDER / COCO convention) or ``'xyxy'`` (``[x1, y1, x2, y2]``).
    """

    FORMATS = ('xywh', 'xyxy')

    def __init__(self, bbox_key: str = 'crop_bbox', bbox_format: str = 'xywh'):
        if bbox_format not in self.FORMATS:
            raise ValueError(f'bbox_format must be one of {self.FORMATS}, '
                             f'got {bbox_format!r}')
        self.bbox_key = bbox_key
        self.bbox_format = bbox_format

    def _pixel_bounds(self, bbox, height: int,
                      width: int) -> Tuple[int, int, int, int]:
        x1, y1, a, b = (float(v) for v in bbox)
        x2, y2 = (x1 + a, y1 + b) if self.bbox_format == 'xywh' else (a, b)
        x1, x2 = (min(max(int(round(v)), 0), width) for v in (x1, x2))
        y1, y2 = (min(max(int(round(v)), 0), height) for v in (y1, y2))
        return x1, y1, x2, y2

    def transform(self, results: dict) -> dict:
        img_path = results.get('img_path', '<no img_path>')
        if self.bbox_key not in results:
            raise KeyError(f'CropByBBox: sample {img_path} has no '
                           f'{self.bbox_key!r} key')
        bbox = results[self.bbox_key]
        img = results['img']
        height, width = img.shape[:2]
        x1, y1, x2, y2 = self._pixel_bounds(bbox, height, width)
        if x2 <= x1 or y2 <= y1:
            raise AnnotationError(
                img_path, f'{self.bbox_key} {list(bbox)} ({self.bbox_format})'
                f' has no pixel inside the {width}x{height} image')
        crop = np.ascontiguousarray(img[y1:y2, x1:x2])
        results['img'] = crop
        results['img_shape'] = crop.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(bbox_key={self.bbox_key!r}, '
                f'bbox_format={self.bbox_format!r})')
