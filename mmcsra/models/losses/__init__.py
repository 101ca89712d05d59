from .multi_label_bce_loss import MultiLabelBCELoss

__all__ = ['MultiLabelBCELoss']
