from .multi_digits import MultiDigits  # noqa: F401
from .coco_multi_label import COCOMultiLabel  # noqa: F401
from .errors import AnnotationError, ImageLoadError  # noqa: F401
from .multi_label_folder import MultiLabelFolder  # noqa: F401
from .nus_wide import NUSWIDE  # noqa: F401
from .voc_multi_label import VOCMultiLabel  # noqa: F401
from .wider_attribute import WIDERAttribute  # noqa: F401
from .transforms import *  # noqa: F401,F403
