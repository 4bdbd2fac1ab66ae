"""SoC time of a served board: the simulation's cycle count, shared through a file.

The process that runs a served design (:mod:`hetflow.boards.serialsim`) maps
a small file and keeps its cycle count there; any other process (a host
script, ``hetflow bench link``) opens the same file with :class:`SocClock`
and reads SoC time whenever it likes, without a word on the line.  Layout,
little-endian 64-bit words:

====== ================ ==========================================================
offset field            meaning
====== ================ ==========================================================
0      magic            :data:`MAGIC`
8      seq              even when the words below are consistent (a seqlock)
16     cycles           cycles clocked so far
24     delivered        the cycle at which bytes last reached the host
32     clock_hz         the SoC clock: cycles per second of SoC time
40     baud             the line rate
48     turnaround       the USB-UART latency timer, in cycles
56     packet           data bytes per USB packet of the modelled chip
====== ================ ==========================================================

The process clocks the design only while something is under way (a byte on
the line or held in the USB-UART, a request in the bridge); while it waits
for the host, SoC time stands still.  So SoC time is the board's and the
line's time, never the host's think time between requests; a host that is
late while the board is busy (a pipeline run dry) is counted, as on a board.
"""

import mmap
import os
import struct
import time

from ..hw.errors import HetflowError

__all__ = ["SocClock", "SocClockError", "MAGIC", "LAYOUT"]

MAGIC = b"HFSOCCLK"
LAYOUT = struct.Struct("<8s7Q")


class SocClockError(HetflowError, OSError):
    """The SoC clock file is missing or not one."""


class SocClock:
    """Read the SoC time of a served board from its clock file.

    Parameters
    ----------
    path : str or Path
        The file ``hetflow serve`` names (``SerialSocSimulation.clock_path``).
    """

    def __init__(self, path):
        self.path = str(path)
        try:
            with open(self.path, "rb") as f:
                self._map = mmap.mmap(f.fileno(), LAYOUT.size, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise SocClockError(f"SoC clock file {self.path}: cannot read it: {reason}") \
                from None
        if self._map[:len(MAGIC)] != MAGIC:
            self._map.close()
            raise SocClockError(f"SoC clock file {self.path} is not one (it does not start "
                                f"with {MAGIC!r}); pass the path 'hetflow serve' printed")

    def _words(self):
        for _ in range(1000):
            _, seq, *words = LAYOUT.unpack(self._map)
            if seq % 2 == 0 and LAYOUT.unpack(self._map)[1] == seq:
                return words
            time.sleep(0)
        raise SocClockError(f"SoC clock file {self.path}: no consistent reading (is the "
                            f"serving process stuck while writing it?)")

    def read(self):
        """``{name: value}`` of every field (one consistent reading)."""
        names = ("cycles", "delivered", "clock_hz", "baud", "turnaround", "packet")
        return dict(zip(names, self._words()))

    @property
    def cycles(self):
        """Cycles clocked so far."""
        return self.read()["cycles"]

    @property
    def clock_hz(self):
        return self.read()["clock_hz"]

    def seconds(self, cycles):
        """``cycles`` in seconds of SoC time."""
        return cycles / self.clock_hz

    def close(self):
        self._map.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def create_clock_file(directory=None):
    """A new, zeroed clock file (the serving process fills it); returns its path."""
    import tempfile
    fd, path = tempfile.mkstemp(prefix="hetflow-soc-clock-", dir=directory)
    try:
        os.write(fd, bytes(LAYOUT.size))
    finally:
        os.close(fd)
    return path
