from .cosine_cls_head import CosineClsHead
from .cosine_multi_head_csra import CosineMultiHeadCSRA
from .csra_head import CSRAHead
from .csra_retrofit_head import CSRARetrofitHead
from .multi_head_csra import MultiHeadCSRA
from .multi_label_head_base import MultiLabelHeadBase
from .cat_head import CATHead
from .ml_decoder_head import MLDecoderHead

__all__ = [
    'CSRAHead', 'CSRARetrofitHead', 'MultiHeadCSRA', 'MultiLabelHeadBase',
    'CosineClsHead', 'CosineMultiHeadCSRA', 'CATHead', 'MLDecoderHead'
]
