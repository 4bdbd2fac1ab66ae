"""Run a host script with a chosen default device.

The script opens its device with ``hetflow.open()`` (no argument); this
command decides which one that is, so the same script runs on the CPU, the
simulated board or a real board.  With ``--board DIR`` (the build on a serial
board), the serial device takes the build's baud rate, kernel and parameters
(``$HETFLOW_BOARD``, which :func:`hetflow.open` reads).
"""

import os
import runpy
import sys
from pathlib import Path

from ..device import BOARD_VARIABLE, DEFAULT_DEVICE_VARIABLE
from ..hw.errors import HetflowError
from .common import check_device


def add_arguments(parser):
    parser.add_argument("script", metavar="SCRIPT.py", help="host script to run")
    parser.add_argument("--device", "-d", default="sim",
                        help="cpu, sim, pynq or serial:PORT (default: sim)")
    parser.add_argument("--board", metavar="DIR",
                        help="with --device serial:PORT: the build on the board ('hetflow build "
                             "--out'), whose baud rate, kernel and parameters the device takes")
    parser.add_argument("args", nargs="*", metavar="ARG", help="arguments passed to the script")


def run(args):
    script = Path(args.script)
    if not script.is_file():
        raise HetflowError(f"script {script} does not exist")
    device = check_device(args.device)
    if args.board is not None:
        if not device.startswith("serial:"):
            raise HetflowError(f"--board names the build on a serial board; use it with "
                               f"--device serial:PORT, not {device}")
        from ..boardtime import read_build
        read_build(args.board)                  # a missing or broken build: say so now
        os.environ[BOARD_VARIABLE] = str(args.board)
    os.environ[DEFAULT_DEVICE_VARIABLE] = device
    saved_argv = sys.argv
    sys.argv = [str(script), *args.args]
    sys.path.insert(0, str(script.parent.resolve()))
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved_argv
    return 0
