from .asymmetric_angular_margin_loss import AsymmetricAngularMarginLoss
from .multi_label_asymmetric_loss import MultiLabelAsymmetricLoss
from .multi_label_bce_loss import MultiLabelBCELoss
from .utils import MultiLabelLoss

__all__ = [
    'MultiLabelBCELoss', 'AsymmetricAngularMarginLoss',
    'MultiLabelAsymmetricLoss', 'MultiLabelLoss'
]
