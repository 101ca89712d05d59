from .residual_attention_net import ResidualAttentionNet  # noqa: F401

__all__ = ['ResidualAttentionNet']
