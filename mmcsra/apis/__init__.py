from .retrofit import (check_retrofit_supported, format_retrofit_table,
                       retrofit_csra)

__all__ = ['retrofit_csra', 'check_retrofit_supported', 'format_retrofit_table']
