"""Errors that hetflow reports to users as one line.

Every error a user can cause (a bad kernel name, an out-of-range parameter, a
stimulus of the wrong dtype) derives from :class:`HetflowError`; the CLI prints
its message alone and exits non-zero.  The subclasses also derive from the
built-in exception a Python caller would expect (``ValueError``,
``TypeError``, ``LookupError``), so ``except ValueError`` keeps working.
"""

__all__ = ["HetflowError", "ParamError", "KernelNotFound", "StimulusError"]


class HetflowError(Exception):
    """Base of every user-facing hetflow error."""


class ParamError(HetflowError, ValueError):
    """An elaboration parameter is unknown or outside its allowed range."""


class KernelNotFound(HetflowError, LookupError):
    """No kernel of that name is registered."""


class StimulusError(HetflowError, TypeError):
    """Input arrays or runtime scalars do not match the kernel's metadata."""
