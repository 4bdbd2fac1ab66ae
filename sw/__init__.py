"""hetflow: hardware/software co-design for FPGA acceleration in Python.

    import hetflow
    with hetflow.open("sim") as dev:
        z = dev.kernel("saxpy")(x, y, a=7)
"""

from .buffer import Buffer
from .device import Device, KernelHandle, Run, open
from .hw.errors import HetflowError
from .hw.overlay import Overlay, load_overlay

__version__ = "0.1.0"
__all__ = ["Buffer", "Device", "KernelHandle", "Run", "HetflowError", "Overlay", "load_overlay",
           "open", "__version__"]
