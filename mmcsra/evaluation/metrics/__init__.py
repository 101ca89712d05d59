from .multi_label_map import MultiLabelMAP
from .multi_label_prf import MultiLabelPRF
from .multi_label_score_dump import MultiLabelScoreDump
from .voc_submission import VOCSubmission

__all__ = [
    'MultiLabelMAP', 'MultiLabelPRF', 'MultiLabelScoreDump', 'VOCSubmission'
]
