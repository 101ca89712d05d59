from .label_graph import (build_label_graph, class_indices_by_name,
                          count_cooccurrence, load_adjacency,
                          load_cooccurrence, load_label_embeddings)

__all__ = [
    'build_label_graph', 'class_indices_by_name', 'count_cooccurrence',
    'load_adjacency', 'load_cooccurrence', 'load_label_embeddings'
]
