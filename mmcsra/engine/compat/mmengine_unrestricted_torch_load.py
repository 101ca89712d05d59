"""Shim for mmengine <= 0.10.7: its checkpoint loaders unpickle anything.

``mmengine.runner.checkpoint.load_from_local`` calls ``torch.load(filename)``
without ``weights_only`` or an allow-list, and ``load_from_http`` goes
through ``torch.hub.load_state_dict_from_url``, whose ``weights_only``
defaults to False. On torch < 2.6 both execute whatever a checkpoint's
pickle names; on torch >= 2.6 (``weights_only=True`` by default) the local
loader can no longer read mmengine's own checkpoints (``HistoryBuffer``,
numpy arrays in the message hub), so ``--resume`` fails.

The shim registers :func:`mmcsra.engine.safe_loading.safe_torch_load` and
:func:`~mmcsra.engine.safe_loading.safe_load_from_http` for local paths and
``http(s)://`` through mmengine's own
``CheckpointLoader.register_scheme(force=True)``, and rebinds
``mmengine.runner.checkpoint.load_from_http`` (which the ``torchvision://``,
``open-mmlab://`` and ``mmcls://`` loaders call by name). It is applied only
when :func:`needed` finds the unrestricted ``torch.load`` in mmengine's
loaders.
"""
import inspect

__all__ = ['needed', 'apply']


def _calls_unrestricted_load(func) -> bool:
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):  # no source: assume the known behaviour
        return True
    return 'weights_only' not in source


def needed() -> bool:
    """True if mmengine's local or http loader has no ``weights_only``."""
    from mmengine.runner import checkpoint
    return any(
        _calls_unrestricted_load(f)
        for f in (checkpoint.load_from_local, checkpoint.load_from_http))


def apply() -> None:
    from mmengine.runner import checkpoint
    from mmengine.runner.checkpoint import CheckpointLoader

    from ..safe_loading import safe_load_from_http, safe_torch_load

    # '' is mmengine's scheme for local paths
    CheckpointLoader.register_scheme(
        prefixes='', loader=safe_torch_load, force=True)
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'),
        loader=safe_load_from_http,
        force=True)
    checkpoint.load_from_http = safe_load_from_http
