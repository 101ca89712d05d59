from . import backbones, heads, losses, necks  # noqa: F401
