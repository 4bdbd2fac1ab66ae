"""The error of the Zynq export (bad board, frequency, output directory or kernel)."""

from ...hw.errors import HetflowError


class ExportError(HetflowError, ValueError):
    """A bad board, frequency, output directory or kernel for the Zynq export."""
