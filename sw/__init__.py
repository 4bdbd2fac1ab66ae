"""hetflow: hardware/software co-design for FPGA acceleration in Python.

The host side, last in the flow hw -> sim -> boards -> hetflow (folder
``sw/``): devices (``hetflow.open``: cpu, sim, serial, pynq) and their
backends, buffers, overlays on a device, scheduling (:mod:`hetflow.sched`),
formal proofs, benchmarks (:mod:`hetflow.bench`), the demo and the CLI.  It
may import every other package; none of them imports it, except for the
cache and tool lookup (:mod:`hetflow.cache`, :mod:`hetflow.tools`).

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
