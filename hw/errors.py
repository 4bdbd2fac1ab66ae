"""Errors that hetflow reports to users as one line.

Every error a user can cause (a bad kernel name, an out-of-range parameter, a
stimulus of the wrong dtype) derives from :class:`HetflowError`; the CLI prints
its message alone and exits non-zero.  The subclasses also derive from the
built-in exception a Python caller would expect (``ValueError``,
``TypeError``, ``LookupError``), so ``except ValueError`` keeps working.
"""

__all__ = ["HetflowError", "ParamError", "KernelNotFound", "StimulusError",
           "KernelDefinitionError", "ElaborationError", "OverlayError", "BuildError"]


class HetflowError(Exception):
    """Base of every user-facing hetflow error."""


class ParamError(HetflowError, ValueError):
    """An elaboration parameter is unknown or outside its allowed range."""


class KernelNotFound(HetflowError, LookupError):
    """No kernel of that name is registered."""


class StimulusError(HetflowError, TypeError):
    """Input arrays or runtime scalars do not match the kernel's metadata."""


class KernelDefinitionError(KernelNotFound, TypeError):
    """A kernel class breaks the :class:`Kernel` contract (found, but unusable).

    It is a :class:`~hetflow.hw.errors.KernelNotFound` so that code listing
    kernels (``hetflow kernels``) skips one broken plugin like one that fails
    to import, instead of stopping.
    """


class ElaborationError(HetflowError, RuntimeError):
    """A kernel's core (:class:`~hetflow.hw.KernelCore`) raised while building its hardware."""


class OverlayError(HetflowError, ValueError):
    """An overlay description is inconsistent (unknown kernel or port, a loop, ...)."""


class BuildError(HetflowError, RuntimeError):
    """A tool failed to build something: a simulator model, a bitstream (synthesis, place
    and route, packing).  The message names the tool and where its log is."""
