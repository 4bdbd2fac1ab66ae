"""Errors of board builds and programming, each reported to users as one line."""

from ..hw.errors import BuildError, HetflowError

__all__ = ["BoardNotFound", "BoardUnavailable", "BuildError", "DoesNotFit", "ToolchainMissing",
           "OutputDirError", "ReportError", "ProgramError"]


class BoardNotFound(HetflowError, LookupError):
    """No board of that name is described."""


class BoardUnavailable(HetflowError, RuntimeError):
    """The board is described but its toolchain cannot build for it here."""


class DoesNotFit(BuildError):
    """The design needs more of a resource than the part has."""


class ToolchainMissing(HetflowError, RuntimeError):
    """A tool the build or the programming step needs is not installed."""


class OutputDirError(HetflowError, OSError):
    """The output directory cannot be created or written."""


class ReportError(HetflowError, ValueError):
    """A build directory has no usable report.json, or it does not match its bitstream."""


class ProgramError(HetflowError, RuntimeError):
    """Programming the board failed or was refused."""
