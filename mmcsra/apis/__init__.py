from .retrofit import (check_retrofit_supported, format_retrofit_table,
                       retrofit_csra)
from .model_zoo import (get_model, get_model_info, list_models,
                        publish_checkpoint, register_to_mmpretrain)
from .inferencer import MultiLabelInferencer

__all__ = [
    'retrofit_csra', 'check_retrofit_supported', 'format_retrofit_table',
    'get_model', 'get_model_info', 'list_models', 'publish_checkpoint',
    'register_to_mmpretrain', 'MultiLabelInferencer'
]
