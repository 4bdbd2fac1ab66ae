"""The UART-to-bus frame bridge (see :mod:`.frame_bridge`): receiver, executor, transmitter."""

from .executor import RUN_COUNTER_BITS
from .frame_bridge import DEFAULT_IDLE_CYCLES, FrameBridge

__all__ = ["FrameBridge", "DEFAULT_IDLE_CYCLES", "RUN_COUNTER_BITS"]
