from .cosine_linear import CosineLinear, cosine_linear
from .attention import FeedForward, MultiHeadAttention
from .position_encoding import sine_position_encoding_2d
from .group_linear import CosineGroupLinear, GroupLinear
from .graph_layers import GraphAttention, GraphConvolution
from .ml_decoder_layer import MLDecoderLayer

__all__ = [
    'CosineLinear', 'cosine_linear', 'FeedForward', 'MultiHeadAttention',
    'sine_position_encoding_2d', 'CosineGroupLinear', 'GroupLinear',
    'GraphAttention', 'GraphConvolution', 'MLDecoderLayer'
]
