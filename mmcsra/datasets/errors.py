"""Errors raised by mmcsra's datasets and loading transforms.

Every message names the file and, where there is one, the entry (image id,
line number, object index, ...) so a bad annotation can be found and fixed.
"""
from typing import Optional

__all__ = ['AnnotationError', 'ImageLoadError']


class AnnotationError(ValueError):
    """An annotation file is malformed or contradicts the dataset settings.

    Args:
        file (str): the annotation file (or the image list) at fault.
        message (str): what is wrong.
        entry (str, optional): the entry inside ``file``: an image id, a
            line number, an object index, ... ``None`` when the whole file
            is at fault (e.g. it is not valid JSON).

    The message reads ``"<file>, <entry>: <message>"``; ``file`` and
    ``entry`` are kept as attributes.
    """

    def __init__(self, file: str, message: str, entry: Optional[str] = None):
        self.file = str(file)
        self.entry = entry
        self.message = message
        where = self.file if entry is None else f'{self.file}, {entry}'
        super().__init__(f'{where}: {message}')

    def __reduce__(self):  # keep pickling (dataloader workers) working
        return (type(self), (self.file, self.message, self.entry))


class ImageLoadError(OSError):
    """An image file is missing, unreadable or can not be decoded.

    Args:
        file (str): the image file.
        reason (str): why it could not be loaded.
    """

    def __init__(self, file: str, reason: str):
        self.file = str(file)
        self.reason = reason
        super().__init__(f'{self.file}: {reason}')

    def __reduce__(self):
        return (type(self), (self.file, self.reason))
