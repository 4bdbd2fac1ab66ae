"""hetflow: hardware/software co-design for FPGA acceleration in Python."""

from .hw.errors import HetflowError

__version__ = "0.1.0"
__all__ = ["HetflowError", "__version__"]
