from .multi_label_map import MultiLabelMAP
from .multi_label_prf import MultiLabelPRF

__all__ = ['MultiLabelMAP', 'MultiLabelPRF']
