from .frozen_backbone_classifier import (FrozenBackboneClassifier,
                                         StaleFeatureCacheError)

__all__ = ['FrozenBackboneClassifier', 'StaleFeatureCacheError']
