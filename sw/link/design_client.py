"""Jobs of a design's instances on a board: one instance, a chain, several at once.

:class:`DesignClient` is a :class:`~hetflow.link.client.BoardClient`
over a :class:`~hetflow.link.boardmap.BoardMap` (see its module doc for
the register space, channels and ``RUN`` rule every board shares).  Its
:meth:`~DesignClient.run_jobs` executes the jobs of several instances as one
burst of requests:

1. ``RESET``; the inputs of every instance written to memory (each instance's
   channels in the BoardMap's order, regions laid out one after another from
   address 0, as :meth:`BoardClient.layout` lays out one kernel's);
2. a ``DMA_SETUP`` per channel of those instances;
3. each instance's registers at its window (``unit.base + offset``);
4. the starts (``ctrl = 1``) in the order given: a chain's *last instance
   first*, so that a consumer runs before its producer emits;
5. one ``RUN``, which is done when every started instance is done and every
   channel idle; then every output and each instance's cycle counter read back.

A chain's jobs come from :func:`~hetflow.hw.overlay.chain.derive_jobs`: its
chained ports have no channel, so their data never crosses the link.  Two
independent instances' jobs in one call run on the board at the same time.
:meth:`~DesignClient.read_manifest` reads an overlay's manifest words in one
burst and decodes them, so a host discovers the design from the board.
"""

import time

from ..hw.errors import HetflowError
from ..hw.job import from_memory_image
from ..hw.overlay.manifest import HEADER_WORDS, decode_manifest, manifest_words
from . import protocol as P
from .boardmap import MANIFEST_BASE
from .client import BoardAccessError, BoardClient, BoardError, KernelTimeout, cycle_budget
from .job_burst import _image
from .job_layout import job_layout, region_bytes

__all__ = ["DesignClient", "UnitView"]


class UnitView:
    """One instance of a design on a board, as fitting a call sees it
    (:func:`hetflow.fit.fit_call`): its memory need and the board's size."""

    def __init__(self, client, unit):
        self.client = client
        self.unit = unit
        self.memory_size = client.memory_size
        self.where = client.where
        self.memory_hint = client.memory_hint

    def memory_needed(self, lengths):
        """Bytes of board memory a job of this instance takes (its channels' regions)."""
        return sum(region_bytes(ch, lengths[ch.port.name]) for ch in self.unit.channels)


def _port_beats(kernel, job):
    """Beats every stream of ``job`` moves, channel or chained (for the cycle budget)."""
    ports = {p.name: p for p in (*kernel.in_ports, *kernel.out_ports)}
    return (sum(ports[n].beats(len(a)) for n, a in job.streams.items())
            + sum(ports[n].beats(c) for n, c in job.expect.items()))


class DesignClient(BoardClient):
    """A board client that runs jobs on the instances of a design (see the module doc).

    A subclass sets ``boardmap`` (a :class:`BoardMap`) beside what
    :class:`BoardClient` needs; for a single kernel, ``kernel`` is its shell.
    """

    def unit_view(self, name):
        """A :class:`UnitView` of instance ``name`` (one-line error naming the instances)."""
        return UnitView(self, self.boardmap.unit(name))

    def reg_write(self, offset, value):
        """Write a register; on an overlay only inside an instance's window (a write
        anywhere else would be ignored by the board, so it is refused here)."""
        board = self.boardmap
        if board.overlay is not None:
            self._check_register(offset)
            unit = next((u for u in board.units.values()
                         if u.base <= offset < u.base + u.size), None)
            if unit is None:
                windows = ", ".join(f"{u.name} 0x{u.base:x}..0x{u.base + u.size - 4:x}"
                                    for u in board.units.values())
                raise BoardAccessError(f"{self.description}: register offset 0x{offset:x} is "
                                       f"in no instance's register window ({windows}); the "
                                       f"manifest at 0x{MANIFEST_BASE:x} is read-only")
        super().reg_write(offset, value)

    def _check_unit_write(self, unit, offset):
        # Writes go only to an instance's window: a hole would ignore them silently.
        if not unit.base <= offset < unit.base + unit.size or offset % 4:
            raise BoardAccessError(f"{self.description}: register offset 0x{offset:x} is outside "
                                   f"{unit.name}'s register window 0x{unit.base:x}.."
                                   f"0x{unit.base + unit.size - 4:x}")

    def run_jobs(self, jobs, order=None, timeout=300.0, max_cycles=None):
        """Run the jobs of several instances together, as one burst (see the module doc).

        Parameters
        ----------
        jobs : dict of str to Job
            Instance name to its job; an instance's channels carry the job's
            streams and outputs of the same port names.
        order : list of str, optional
            The order the instances are started in (default: that of ``jobs``).

        Returns
        -------
        (dict, dict)
            ``{instance: {port: array}}`` of the outputs on each instance's
            channels, and ``{instance: cycles}`` of their cycle counters.
        """
        deadline = time.monotonic() + timeout
        board = self.boardmap
        units = [board.unit(name) for name in jobs]
        order = list(jobs) if order is None else list(order)
        requests = [(P.RESET, (4,), b"", None)]
        setups, writes, starts, address, total_beats = [], [], [], 0, 0
        outputs = []                     # (unit, channel, address, beats)
        for unit in units:
            job = jobs[unit.name]
            total_beats += _port_beats(unit.kernel, job)
            regions, address = job_layout(unit.channels, job, address)
            for name, (ch, at, beats) in regions.items():
                if ch.output:
                    outputs.append((unit, ch, at, beats))
                elif beats:
                    requests += self._write_requests(at, _image(ch, job.streams[name]))
                setups.append((P.DMA_SETUP, (ch.index, at, beats), b"", None))
            for word, value in unit.kernel.map.word_writes(job.registers):
                offset = unit.base + 4 * word
                self._check_unit_write(unit, offset)
                writes.append((P.REG_WRITE, (offset, value), b"", None))
        if address > self.memory_size:
            raise BoardError(f"{self.description}: the job of {', '.join(jobs)} needs {address} "
                             f"bytes of board memory but it has {self.memory_size}; "
                             f"{self.memory_hint}")
        for name in order:
            unit = board.unit(name)
            starts.append((P.REG_WRITE, (unit.offset("ctrl"), 1), b"", None))
        budget = cycle_budget(total_beats, max_cycles)
        step = budget if self.run_slice is None else min(budget, self.run_slice)
        requests += setups + writes + starts
        run_at = len(requests)
        requests.append((P.RUN, (step,), b"", self._run_timeout(step, deadline)))
        reads, spans = [], []
        for unit, ch, address, beats in outputs:
            pieces = self._read_requests(address, beats * ch.stride) if beats else []
            spans.append((unit, ch, len(reads), len(pieces)))
            reads += pieces
        for unit in units:
            reads += [(P.REG_READ, (unit.offset(r),), b"", None)
                      for r in ("cycles_lo", "cycles_hi", "status")]
        responses = self._call_many(requests + reads)
        done, ran, responses = self._run_on(responses, run_at, reads, budget, deadline)
        counters = responses[len(responses) - 3 * len(units):]
        if not done:
            how = ("max_cycles" if max_cycles is not None
                   else f"64 per beat moved ({total_beats}) + 100000")
            status = ", ".join(f"{u.name} status=0x{counters[3 * i + 2][0]:x}"
                               for i, u in enumerate(units))
            raise KernelTimeout(f"{' and '.join(jobs)} on the {self.where} not done after {ran} "
                                f"cycles, the cycle budget ({how}; pass max_cycles= to "
                                f"hetflow.open to change it); {status}")
        results = {name: {} for name in jobs}
        for unit, ch, first, count in spans:
            raw = responses[first] if count == 1 else b"".join(responses[first:first + count])
            results[unit.name][ch.port.name] = from_memory_image(
                ch.port, raw, ch.stride, jobs[unit.name].expect[ch.port.name])
        cycles = {u.name: counters[3 * i][0] | counters[3 * i + 1][0] << 32
                  for i, u in enumerate(units)}
        return results, cycles

    def run_unit_job(self, name, job, timeout=300.0, max_cycles=None):
        """Run one instance's job on its channels: ``(outputs, cycles)`` as
        :meth:`~BoardClient.run_job` returns them for a single kernel."""
        outputs, cycles = self.run_jobs({name: job}, timeout=timeout, max_cycles=max_cycles)
        return outputs[name], cycles[name]

    def read_manifest(self):
        """The design the board carries, from its manifest (a dict, as
        :meth:`BoardMap.describe` gives it), or None on a single-kernel board.

        PING's register window above :data:`MANIFEST_BASE` says there is a
        manifest; its words are read in one burst and decoded.
        """
        space = self.ping().register_size
        if space <= MANIFEST_BASE:
            return None
        count = (space - MANIFEST_BASE) // 4
        if count < HEADER_WORDS:
            raise HetflowError(f"{self.description}: the register space ends {count} word(s) "
                               f"past the manifest base; a manifest has at least {HEADER_WORDS}")
        words = [r[0] for r in self._call_many([(P.REG_READ, (MANIFEST_BASE + 4 * i,), b"",
                                                  None) for i in range(count)])]
        manifest_words(words)           # checks the magic and version first
        return decode_manifest(words)
