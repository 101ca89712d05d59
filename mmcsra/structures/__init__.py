from .multi_label import indices_to_multi_hot, stack_multi_label_targets

__all__ = ['indices_to_multi_hot', 'stack_multi_label_targets']
