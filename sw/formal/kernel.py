"""The kernel contract as formal properties: any kernel in its shell, its environment free.

:class:`KernelHarness` puts a kernel's :class:`~hetflow.hw.Shell` (its core
behind the register bank) under properties that come from the shell, so a
user's kernel is proven without writing any:

* streams: an output's ``valid`` stays high and its payload stable until
  ``ready``; no input beat is taken and no output beat offered outside a job;
  no stream moves more beats than the job has;
* control: ``finish`` comes only after every output beat was accepted;
  ``busy`` rises the cycle after ``start`` and falls the cycle after
  ``finish``; no job starts while one runs; the registers do not change while
  busy, whatever the host writes; a status read returns busy and done, a read
  of ``cycles_lo`` the cycles of the job so far;
* liveness, bounded: when the environment is eager (inputs always valid,
  outputs always ready) the job finishes within the kernel's cycle bound
  (:func:`cycle_bound`).

The host side is scripted: the solver picks one of a few small jobs the
kernel's own description makes (:func:`small_jobs`), the harness writes its
registers over the bus and starts it, and from then on bus writes and reads
are free (writes only while the job runs: a write when idle could start a job
nobody knows the size of).  Stream payloads and valid/ready are free
(``AnySeq``), keeping the stream contract on the environment's side.
"""

from dataclasses import dataclass

import numpy as np
from amaranth.asserts import AnyConst, AnySeq
from amaranth.hdl import Array, Assert, Assume, Cover, Elaboratable
from amaranth.hdl import Module, Mux, Signal

from ..hw.errors import StimulusError
from ..hw.shell import Shell

__all__ = ["KernelHarness", "FormalJob", "small_jobs", "cycle_bound"]

#: Cycles allowed beyond the datapath's own, for pipeline fill and the finish handshake.
BOUND_SLACK = 8


@dataclass(frozen=True)
class FormalJob:
    """One job the harness may run: its register writes and beat counts.

    Attributes
    ----------
    writes : tuple of (int, int)
        ``(word address, value)`` of every register write before the start.
    in_beats, out_beats : dict of str to int
        Beats each input takes and each output gives.
    bound : int
        Cycles from start to finish allowed with an eager environment.
    label : str
        What the job is, for reports (``len=3``).
    """

    writes: tuple
    in_beats: dict
    out_beats: dict
    bound: int
    label: str


def _beats(elements, lanes):
    return -(-int(elements) // lanes)


def cycle_bound(kernel_cls, p, job, out_beats):
    """Cycles a job may take with inputs always valid and outputs always ready.

    ``ceil(work / throughput)`` from the kernel's declared
    :meth:`~hetflow.hw.Kernel.throughput` (units per cycle), plus one cycle
    per output beat and :data:`BOUND_SLACK`; a kernel that declares no
    throughput is allowed four cycles per beat of the job.
    """
    per_cycle, _ = kernel_cls.throughput(p)
    work, _ = kernel_cls.work(p, job)
    beats = sum(out_beats.values())
    if per_cycle:
        return int(np.ceil(work / per_cycle)) + beats + BOUND_SLACK
    total = beats + sum(_beats(len(v), 1) for v in job.streams.values())
    return 4 * total + BOUND_SLACK


def _formal_job(kernel_cls, p, job):
    regmap = kernel_cls.memo("regmap", p)
    ports = {q.name: q for q in (*kernel_cls.memo("inputs", p), *kernel_cls.memo("outputs", p))}
    writes = regmap.word_writes(job.registers)
    in_beats = {name: _beats(len(v), ports[name].lanes) for name, v in job.streams.items()}
    out_beats = {name: _beats(n, ports[name].lanes) for name, n in job.expect.items()}
    shape = ", ".join(f"{k}={v}" for k, v in job.registers.items() if not isinstance(v, list)
                      and k in ("len", "width", "height"))
    return FormalJob(tuple(writes), in_beats, out_beats,
                     cycle_bound(kernel_cls, p, job, out_beats), shape or "job")


def small_jobs(kernel_cls, p, count=3, max_beats=3, seed=0):
    """Up to ``count`` small jobs of different shapes, from the kernel's own description.

    Candidates are the calls of :meth:`~hetflow.hw.Kernel.sample_call` with 0
    to 3 units of work and the kernel's verification :meth:`~hetflow.hw.Kernel.cases`;
    those with at most ``max_beats`` beats on every port are kept, smallest
    first, one per shape (the smallest one when none is that small).
    """
    rng = np.random.default_rng(seed)
    calls = []
    for n in range(0, 4):
        inputs, scalars = kernel_cls.sample_call(p, rng, max(n, 1))
        if n == 0:
            inputs = {k: v[:0] if v.ndim == 1 else v for k, v in inputs.items()}
        calls.append((inputs, scalars))
    calls += kernel_cls.cases(p, rng, 24)
    jobs = {}
    for inputs, scalars in calls:
        try:
            pieces, _ = kernel_cls.split(p, dict(inputs), dict(scalars))
            job = kernel_cls.prepare(p, *pieces[0])
        except StimulusError:
            continue             # e.g. an empty call the kernel refuses
        formal = _formal_job(kernel_cls, p, job)
        key = (tuple(sorted(formal.in_beats.items())), tuple(sorted(formal.out_beats.items())))
        size = max((*formal.in_beats.values(), *formal.out_beats.values()), default=0)
        if key not in jobs or len(formal.writes) < len(jobs[key][1].writes):
            jobs[key] = (size, formal)
    ranked = sorted(jobs.values(), key=lambda item: (item[0], len(item[1].writes)))
    small = [job for size, job in ranked if size <= max_beats][:count]
    return small or [ranked[0][1]]


class KernelHarness(Elaboratable):
    """A kernel in its shell under the contract's properties (see the module docs).

    Parameters
    ----------
    kernel_cls : type
        The kernel's description.
    params : dict, optional
        Elaboration parameters.
    jobs : list of FormalJob, optional
        The jobs the solver picks from (default: :func:`small_jobs`).
    """

    def __init__(self, kernel_cls, params=None, jobs=None):
        self.kernel_cls = kernel_cls
        self.shell = Shell(kernel_cls, **(params or {}))
        self.p = self.shell.p
        self.jobs = list(jobs) if jobs is not None else small_jobs(kernel_cls, self.p)

    @property
    def depth(self):
        """Cycles that cover the writes and the longest job's bound, with a margin."""
        return max(len(j.writes) + j.bound for j in self.jobs) + 4

    def elaborate(self, platform):
        m = Module()
        m.submodules.shell = shell = self.shell
        ctl, csr, regmap = shell.core.ctl, shell.csr, shell.map
        jobs = self.jobs

        pick = AnyConst(range(len(jobs)))
        m.d.comb += Assume(pick < len(jobs))
        eager = AnyConst(1)                       # inputs always valid, outputs always ready

        # The host: job `pick`'s register writes, the start, then free traffic.
        step = Signal(range(max(len(j.writes) for j in jobs) + 2))
        started = Signal()
        m.d.comb += [csr.addr.eq(AnySeq(csr.addr.shape())), csr.w_data.eq(AnySeq(32)),
                     csr.w_stb.eq(AnySeq(1)), csr.r_stb.eq(AnySeq(1))]
        with m.If(~started):
            with m.Switch(pick):
                for index, job in enumerate(jobs):
                    with m.Case(index):
                        writes = job.writes + ((regmap["ctrl"].offset >> 2, 1),)
                        with m.Switch(step):
                            for i, (addr, value) in enumerate(writes):
                                with m.Case(i):
                                    m.d.comb += [csr.addr.eq(addr), csr.w_data.eq(value),
                                                 csr.w_stb.eq(1), csr.r_stb.eq(0)]
            m.d.sync += step.eq(step + 1)
        with m.If(ctl.start):
            m.d.sync += started.eq(1)
        # Once the job runs, the host may write anything (the bank must ignore it), and
        # after it ended nothing: a write could start a job of unknown size.
        m.d.comb += Assume(~(started & ~ctl.busy & csr.w_stb))

        outputs = self._streams(m, shell, ctl, pick, eager)
        self._control(m, ctl, csr, regmap, pick, eager, outputs)
        return m

    def _streams(self, m, shell, ctl, pick, eager):
        """The streams' environment and properties; ``{output: (beats so far, expected)}``."""
        for port in shell.in_ports:
            s = getattr(shell, port.name)
            held = Signal(name=f"{port.name}_held")
            last = Signal.like(s.payload.as_value(), name=f"{port.name}_last")
            m.d.comb += [s.valid.eq(Mux(eager, 1, AnySeq(1))),
                         s.payload.eq(AnySeq(len(s.payload.as_value())))]
            # The environment keeps the stream contract: an offered beat stays until taken.
            m.d.sync += [held.eq(s.valid & ~s.ready), last.eq(s.payload.as_value())]
            m.d.comb += Assume(~held | (s.valid & (s.payload.as_value() == last)))
            taken = _beats_moved(m, ctl, s, f"{port.name}_taken")
            expected = _table([j.in_beats[port.name] for j in self.jobs], pick)
            fire = s.valid & s.ready
            m.d.comb += [
                Assert(~fire | ctl.busy, f"{port.name}: no input beat taken while idle"),
                Assert(~fire | (taken < expected),
                       f"{port.name}: no input beat taken beyond the job's"),
            ]
        outputs = {}
        for port in shell.out_ports:
            s = getattr(shell, port.name)
            m.d.comb += s.ready.eq(Mux(eager, 1, AnySeq(1)))
            stalled = Signal(name=f"{port.name}_stalled")
            last = Signal.like(s.payload.as_value(), name=f"{port.name}_offered")
            m.d.sync += [stalled.eq(s.valid & ~s.ready), last.eq(s.payload.as_value())]
            given = _beats_moved(m, ctl, s, f"{port.name}_given")
            expected = _table([j.out_beats[port.name] for j in self.jobs], pick)
            outputs[port.name] = (given + (s.valid & s.ready), expected)
            m.d.comb += [
                Assert(~stalled | s.valid, f"{port.name}: valid held until ready"),
                Assert(~stalled | (s.payload.as_value() == last),
                       f"{port.name}: payload stable until ready"),
                Assert(~s.valid | ctl.busy, f"{port.name}: no output beat offered while idle"),
                Assert(~(s.valid & s.ready) | (given < expected),
                       f"{port.name}: no output beat beyond the job's"),
                Cover(ctl.busy & s.valid & ~s.ready, f"{port.name}: an output beat stalls"),
            ]
        return outputs

    def _control(self, m, ctl, csr, regmap, pick, eager, outputs):
        """The register contract's properties and the bounded liveness one."""
        finishing = ctl.busy & ctl.finish
        all_given = [count == expected for count, expected in outputs.values()]
        m.d.comb += Assert(~finishing | _all(all_given),
                           "finish only after every output beat was accepted")

        # The register contract, modelled: busy, done and the cycle counter.
        busy = Signal()
        done = Signal()
        cycles = Signal(32)
        with m.If(ctl.start):
            m.d.sync += [busy.eq(1), done.eq(0), cycles.eq(0)]
        with m.Elif(busy):
            m.d.sync += cycles.eq(cycles + 1)
            with m.If(ctl.finish):
                m.d.sync += [busy.eq(0), done.eq(1)]
        m.d.comb += [
            Assert(ctl.busy == busy, "busy rises after start and falls after finish"),
            Assert(~(ctl.start & ctl.busy), "no job starts while one runs"),
        ]

        # Registers as the job was started with: the host's writes while busy change nothing.
        length = Signal.like(ctl.length)
        watched = [(ctl.length, length)]
        if hasattr(ctl, "regs"):
            regs = Signal.like(ctl.regs.as_value())
            watched.append((ctl.regs.as_value(), regs))
        for live, kept in watched:
            with m.If(ctl.start):
                m.d.sync += kept.eq(live)
        m.d.comb += Assert(~ctl.busy | _all([live == kept for live, kept in watched]),
                           "registers unchanged while busy")

        # Reads: status is busy and done, cycles_lo the job's cycles so far (one cycle later).
        read = Signal(range(1 << len(csr.addr)))
        reading = Signal()
        want_status = Signal(2)
        want_cycles = Signal(32)
        m.d.sync += [reading.eq(csr.r_stb), read.eq(csr.addr),
                     want_status.eq((done << 1) | busy),
                     want_cycles.eq(cycles)]
        status, cycles_lo = regmap["status"].offset >> 2, regmap["cycles_lo"].offset >> 2
        m.d.comb += [
            Assert(~(reading & (read == status)) | (csr.r_data == want_status),
                   "status reads busy and done"),
            Assert(~(reading & (read == cycles_lo)) | (csr.r_data == want_cycles),
                   "cycles_lo reads the job's cycles"),
        ]

        # Bounded liveness: an eager environment sees the job finish within its bound.
        elapsed = Signal(16)
        with m.If(ctl.start):
            m.d.sync += elapsed.eq(0)
        with m.Elif(ctl.busy & (elapsed != (1 << 16) - 1)):
            m.d.sync += elapsed.eq(elapsed + 1)
        bound = _table([j.bound for j in self.jobs], pick)
        m.d.comb += [
            Assert(~(eager & ctl.busy) | (elapsed <= bound),
                   "an eager job finishes within its cycle bound"),
            Cover(finishing, "a job finishes"),
            Cover(finishing & ~eager, "a job with stalls finishes"),
            Cover(finishing & (pick == len(self.jobs) - 1), "the largest job finishes"),
        ]


def _beats_moved(m, ctl, stream, name):
    """A counter of the beats ``stream`` moved since the job's start (this cycle's not yet)."""
    count = Signal(16, name=name)
    with m.If(ctl.start):
        m.d.sync += count.eq(0)
    with m.Elif(stream.valid & stream.ready):
        m.d.sync += count.eq(count + 1)
    return count


def _table(values, pick):
    """``values[pick]`` as a value (a constant when all are equal)."""
    return Array(values)[pick] if len(set(values)) > 1 else values[0]


def _all(conditions):
    result = 1
    for c in conditions:
        result = result & c
    return result
