from .retrofit import (check_retrofit_supported, format_retrofit_table,
                       retrofit_csra)
from .model_zoo import (get_model, get_model_info, list_models,
                        publish_checkpoint, register_to_mmpretrain)
from .inferencer import MultiLabelInferencer
# last: the package attribute ``init_model`` is the function (the one way
# to load a model), not its module ``mmcsra.apis.init_model``
from .init_model import build_test_pipeline, init_model

__all__ = [
    'init_model', 'build_test_pipeline', 'retrofit_csra',
    'check_retrofit_supported', 'format_retrofit_table', 'get_model',
    'get_model_info', 'list_models', 'publish_checkpoint',
    'register_to_mmpretrain', 'MultiLabelInferencer'
]
