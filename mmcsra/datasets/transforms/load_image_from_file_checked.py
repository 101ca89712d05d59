import io
import logging
import os
import warnings
from typing import Optional, Set

import mmcv
import mmengine.fileio as fileio
import numpy as np
from PIL import Image, UnidentifiedImageError
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log
from mmpretrain.registry import TRANSFORMS

from ..errors import ImageLoadError


@TRANSFORMS.register_module()
class LoadImageFromFileChecked(BaseTransform):
    """Load an image, with a clear error (or a counted skip) if it is bad.

    mmcv's ``LoadImageFromFile`` fails on a corrupt file with an anonymous
    ``AssertionError`` or the decoder's own exception, or, with
    ``ignore_empty=True``, skips it without a word. This transform raises
    :class:`~mmcsra.datasets.errors.ImageLoadError` naming the file and the
    reason (missing, unreadable, not decodable), or, with ``on_error='skip'``,
    logs a warning naming the file and returns ``None``.

    How a skip is handled: during training mmengine's ``BaseDataset``
    draws another random sample instead (at most ``max_refetch`` times in a
    row, then it raises). At test time mmcsra's datasets raise
    ``ImageLoadError`` instead, since a skipped sample would silently change
    the evaluated set.

    Counting: each instance counts the skips it made (``num_skipped``, every
    failed load) and the distinct files (``skipped_files``); every warning
    states both. With dataloader workers, each worker process holds its own
    copy of the pipeline, so the counts in a warning are those of the process
    (its pid is in the message), not a total over workers; and a file that
    stays unreadable is counted again each time it is drawn.

    Decompression bombs: a small file can declare a huge image (a 40 KB PNG
    of 50,000 x 50,000 pixels decodes to 7.5 GB). Before decoding, the image
    size is read from the file's header (PIL, no pixel data is decoded) and
    an image of more than ``max_pixels`` pixels is refused, naming the file
    and its size. PIL refuses on its own any header above twice
    ``PIL.Image.MAX_IMAGE_PIXELS`` (about 179 MP by default); a format PIL
    can not identify is left to the decoder (cv2's own limit is 2**30
    pixels).

    Required keys: ``img_path``. Added keys: ``img``, ``img_shape``,
    ``ori_shape``.

    Args:
        on_error (str): ``'raise'`` (default) or ``'skip'``.
        to_float32 (bool): return a float32 array instead of uint8.
            Defaults to False.
        color_type (str): ``flag`` of :func:`mmcv.imfrombytes`. Defaults to
            ``'color'``.
        imdecode_backend (str): ``backend`` of :func:`mmcv.imfrombytes`.
            Defaults to ``'cv2'``.
        backend_args (dict, optional): file backend arguments of
            :func:`mmengine.fileio.get`. Defaults to None (local files).
        max_pixels (int, optional): the largest width x height decoded;
            ``None`` disables the check. Defaults to 100,000,000 (100 MP).
    """

    ON_ERROR = ('raise', 'skip')

    def __init__(self,
                 on_error: str = 'raise',
                 to_float32: bool = False,
                 color_type: str = 'color',
                 imdecode_backend: str = 'cv2',
                 backend_args: Optional[dict] = None,
                 max_pixels: Optional[int] = 100_000_000):
        if max_pixels is not None and (isinstance(max_pixels, bool)
                                       or not isinstance(max_pixels, int)
                                       or max_pixels <= 0):
            raise ValueError('max_pixels must be a positive int or None, '
                             f'got {max_pixels!r}')
        self.max_pixels = max_pixels
        if on_error not in self.ON_ERROR:
            raise ValueError(f'on_error must be one of {self.ON_ERROR}, '
                             f'got {on_error!r}')
        self.on_error = on_error
        self.to_float32 = to_float32
        self.color_type = color_type
        self.imdecode_backend = imdecode_backend
        self.backend_args = None if backend_args is None \
            else dict(backend_args)
        self.num_skipped = 0
        self.skipped_files: Set[str] = set()

    def _fail(self, filename: str, reason: str, cause=None) -> None:
        if self.on_error == 'raise':
            raise ImageLoadError(filename, reason) from cause
        self.num_skipped += 1
        self.skipped_files.add(filename)
        print_log(
            f'Skipped image {filename}: {reason}. This process (pid '
            f'{os.getpid()}) has skipped {self.num_skipped} load(s) of '
            f'{len(self.skipped_files)} distinct file(s).',
            logger='current',
            level=logging.WARNING)
        return None

    def _check_size(self, img_bytes: bytes) -> Optional[str]:
        """Why the image is too large to decode, from its header, or None."""
        if self.max_pixels is None:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            try:
                with Image.open(io.BytesIO(img_bytes)) as header:
                    width, height = header.size
            except Image.DecompressionBombError as err:
                return f'decompression bomb refused before decoding ({err})'
            except (UnidentifiedImageError, OSError, ValueError):
                return None  # not PIL's format: the decoder decides
        if width * height > self.max_pixels:
            return (f'its header declares {width} x {height} = '
                    f'{width * height:,} pixels, more than max_pixels='
                    f'{self.max_pixels:,}; refused before decoding (raise '
                    'max_pixels in the LoadImageFromFileChecked step of the '
                    'pipeline if the image is genuine)')
        return None

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        try:
            img_bytes = fileio.get(filename, backend_args=self.backend_args)
        except FileNotFoundError as err:
            return self._fail(filename, 'file not found', err)
        except OSError as err:
            return self._fail(filename, f'can not read the file ({err})', err)
        too_large = self._check_size(img_bytes)
        if too_large is not None:
            return self._fail(filename, too_large)
        try:
            img = mmcv.imfrombytes(
                img_bytes, flag=self.color_type, backend=self.imdecode_backend)
        except Exception as err:  # decoders raise many different types
            return self._fail(
                filename, f'can not decode the image with '
                f'{self.imdecode_backend} ({type(err).__name__}: {err})', err)
        if img is None or img.size == 0:
            return self._fail(
                filename, f'can not decode the image with '
                f'{self.imdecode_backend}: corrupt or not an image '
                f'({len(img_bytes)} bytes)')
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(on_error={self.on_error!r}, '
                f'to_float32={self.to_float32}, '
                f'color_type={self.color_type!r}, '
                f'imdecode_backend={self.imdecode_backend!r}, '
                f'backend_args={self.backend_args}, '
                f'max_pixels={self.max_pixels})')
