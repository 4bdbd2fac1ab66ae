"""Device buffers: NumPy arrays that know where they live.

Shaped after PYNQ's ``allocate``: a :class:`Buffer` is an ``ndarray``
subclass with a ``physical_address`` (where the device has one), and
``flush`` / ``invalidate`` for devices whose memory is not coherent with
the host's view.  On the CPU and the simulated board both are no-ops that
keep host scripts portable.
"""

import numpy as np

__all__ = ["Buffer"]


class Buffer(np.ndarray):
    """A NumPy array allocated by a :class:`~hetflow.device.Device`.

    Attributes
    ----------
    physical_address : int or None
        Bus address of the first element, or None on devices without one.
    owner : Device or None
        The device that allocated it (``device`` is taken by NumPy 2's array API).
    """

    def __new__(cls, shape, dtype, device=None, physical_address=None):
        obj = super().__new__(cls, shape, dtype=dtype)
        obj.fill(0)
        obj.owner = device
        obj.physical_address = physical_address
        return obj

    def __array_finalize__(self, obj):
        # Views and slices keep the device but not an address they no longer start at.
        self.owner = getattr(obj, "owner", None)
        self.physical_address = None

    def flush(self):
        """Make host writes visible to the device (no-op where coherent)."""

    def invalidate(self):
        """Make device writes visible to the host (no-op where coherent)."""
