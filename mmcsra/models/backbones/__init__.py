from .efficientnet_lite import EfficientNetLite
from .residual_attention_net import ResidualAttentionNet  # noqa: F401

__all__ = ['EfficientNetLite', 'ResidualAttentionNet']
