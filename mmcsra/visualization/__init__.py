from .attention_maps import (compute_attention_maps, load_csra_model,
                             save_attention_grid, save_attention_maps,
                             show_attention)

__all__ = [
    'compute_attention_maps', 'load_csra_model', 'save_attention_grid',
    'save_attention_maps', 'show_attention'
]
