from .multi_label_head_base import MultiLabelHeadBase

__all__ = ['MultiLabelHeadBase']
