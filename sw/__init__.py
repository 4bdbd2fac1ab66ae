"""hetflow: hardware/software co-design for FPGA acceleration in Python.

    import hetflow
    with hetflow.open("sim") as dev:
        z = dev.kernel("saxpy")(x, y, a=7)
"""

from .buffer import Buffer
from .device import Device, KernelHandle, Run, open
from .hw.errors import HetflowError

__version__ = "0.1.0"
__all__ = ["Buffer", "Device", "KernelHandle", "Run", "HetflowError", "open", "__version__"]
