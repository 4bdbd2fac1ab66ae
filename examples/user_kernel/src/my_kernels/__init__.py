"""An out-of-tree hetflow kernel: the pattern for your own."""

from .clamp import Clamp

__all__ = ["Clamp"]
