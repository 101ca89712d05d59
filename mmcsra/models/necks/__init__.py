from .cross_layer_aggregation_neck import CrossLayerAggregationNeck
from .label_graph_reweight_neck import LabelGraphReweightNeck

__all__ = ['CrossLayerAggregationNeck', 'LabelGraphReweightNeck']
