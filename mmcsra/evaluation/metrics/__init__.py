from .multi_label_map import MultiLabelMAP
from .multi_label_prf import MultiLabelPRF
from .voc_submission import VOCSubmission

__all__ = ['MultiLabelMAP', 'MultiLabelPRF', 'VOCSubmission']
