"""hetflow.hw (folder ``hw/``): the kernel contract, the shell, overlays, the built-in kernels.

First in the flow hw -> sim -> boards -> hetflow: what the hardware *is*
(Amaranth components, their golden models, register maps, overlay
descriptions).  This package imports no other part of hetflow; every other
package builds on it.
"""

from .errors import HetflowError, KernelNotFound, ParamError, StimulusError
from .job import Job, pack_beats, unpack_beats
from .regmap import RegisterMap
from .registry import all_kernels, get_kernel, kernel_names
from .control import ControlSignature
from .core import KernelCore
from .kernel import Kernel
from .params import Params
from .shell import Shell
from .spec import Param, Port, Register

__all__ = [
    "HetflowError", "KernelNotFound", "ParamError", "StimulusError",
    "Job", "pack_beats", "unpack_beats", "RegisterMap",
    "all_kernels", "get_kernel", "kernel_names",
    "ControlSignature", "Kernel", "KernelCore", "Params", "Shell", "Param", "Port",
    "Register",
]
