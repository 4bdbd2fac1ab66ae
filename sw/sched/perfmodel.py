"""Performance models: how long a kernel call or a function takes on a device.

One :class:`Model` per (task key, device name), for example
(``fir(taps=16)``, ``sim``) or (``py:numpy.right_shift``, ``cpu``).  The size
of a call is its :class:`Work`: ``n`` units of work (the kernel's own
measure: elements, bytes or MACs, summed over the tiles the host splits the
call into), the number of tiles (hardware jobs), and the bytes moved.

A model predicts from, in order of preference:

1. **history** -- as StarPU's history-based models: the running mean of real
   runs per size bucket (an eighth of an octave of ``n`` and of tiles),
   scaled to the exact size by the fitted curve;
2. **fit** -- least squares ``seconds = a + b*n + c*(tiles - 1)`` over every
   recorded run (calibration and real runs), weighted to minimise the
   *relative* error so that small calls count as much as large ones, with
   coefficients kept >= 0;
3. for an FPGA board without runs of its own (``pynq``, ``serial:``): the
   **board projection** of the same kernel simulated on ``sim`` -- cycles
   (fitted like the time, from ``handle.last_cycles``) / clock, plus the
   :class:`TransferModel` (latency per job and direction + bytes / bandwidth)
   and a host overhead per job.  The clock is the build report's Fmax when
   one is given, else :data:`DEFAULT_CLOCK_HZ` (100 MHz).

On the ``sim`` device itself a run takes the simulator's wall time, which is
what the executor measures; the model predicts that time (so predictions
can be checked against real runs) and shows the board projection beside it
(``hetflow models``).

Contention: a run records its *overlap*, the fraction of its time during
which another device of the run was busy (see :mod:`~hetflow.sched.contention`).
History and fit are made of the runs that did not overlap (below
:data:`QUIET`); the runs that did give the model's *slowdown*
(:meth:`Model.slowdown`), the factor by which sharing the host stretches
the task, so a run's time is not mistaken for the task's time alone.

Models are stored per machine (host name) in ``perfmodels.json`` under
:func:`hetflow.sim.toolchain.cache_dir` (or the file ``$HETFLOW_PERFMODELS``), written atomically (temporary file
and rename).  A corrupt file gives a :class:`PerfModelWarning`, is kept as
``perfmodels.json.corrupt`` on the next save, and the models start empty.
"""

import json
import math
import os
import platform
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Work", "TransferModel", "Fit", "Model", "PerfModels", "PerfModelWarning",
           "DEFAULT_CLOCK_HZ", "default_path", "clock_from_report", "kernel_work",
           "function_work", "kernel_key", "SIM_DEVICE", "QUIET", "MAX_SLOWDOWN"]

FORMAT = "hetflow-perfmodels"
VERSION = 1
#: Clock of the board projection when no build report gives an Fmax.
DEFAULT_CLOCK_HZ = 100e6
#: Device name whose cycle counts stand for every FPGA board.
SIM_DEVICE = "sim"
#: Runs kept per model for the fit (the most recent ones).
MAX_SAMPLES = 256
#: A bucket's mean weighs at most this many runs, so it follows a machine that changes.
HISTORY_WINDOW = 32
#: Buckets per octave of work (8: buckets ~9% wide).
BUCKETS_PER_OCTAVE = 8
#: A run that overlapped another device's work for less than this fraction of its time
#: counts as a run alone (its time feeds history and fit).
QUIET = 0.05
#: Runs a model needs before its :meth:`Model.spread` is trusted.
MIN_SPREAD_RUNS = 3
#: Slowdowns are clipped to [1, MAX_SLOWDOWN] (sharing does not speed a task up; a
#: larger value is a measurement gone wrong, e.g. the machine paused).
MAX_SLOWDOWN = 20.0


class PerfModelWarning(UserWarning):
    """The stored models could not be read and were ignored."""


@dataclass(frozen=True)
class Work:
    """The size of one call.

    Attributes
    ----------
    n : float
        Units of work (elements, bytes, MACs: the kernel's ``work`` measure).
    tiles : int
        Hardware jobs the host splits the call into (1 for most calls).
    nbytes : int
        Bytes in (inputs) plus out (outputs).
    """

    n: float
    tiles: int = 1
    nbytes: int = 0

    def features(self):
        return (1.0, float(self.n), float(max(self.tiles, 1) - 1))


@dataclass(frozen=True)
class TransferModel:
    """Host <-> board data movement and per-job host overhead of a real board.

    The defaults are typical of a PYNQ-class board (AXI DMA over the
    HP ports, a Python driver): 20 us of latency per job and direction,
    400 MB/s, 50 us of host overhead (register writes, polling) per job.
    """

    latency_s: float = 20e-6
    bandwidth: float = 400e6
    overhead_s: float = 50e-6

    def seconds(self, work):
        jobs = max(work.tiles, 1)
        return jobs * (2 * self.latency_s + self.overhead_s) + work.nbytes / self.bandwidth


class Fit:
    """``y = a + b*n + c*(tiles - 1)`` by relative least squares, coefficients >= 0.

    Parameters
    ----------
    coef : sequence of 3 floats
        ``(a, b, c)``.
    """

    def __init__(self, coef):
        self.coef = tuple(float(c) for c in coef)

    def __call__(self, work):
        return sum(c * f for c, f in zip(self.coef, work.features()))

    def __repr__(self):
        a, b, c = self.coef
        return f"Fit({a:.3g} + {b:.3g}*n + {c:.3g}*(tiles-1))"

    @classmethod
    def from_samples(cls, works, values):
        """Fit ``values`` over ``works``; None without at least one positive value.

        Each row is divided by its value, so the fit minimises the sum of
        squared relative errors.  A coefficient that comes out negative is
        dropped and the rest refitted (an active set of size 3 at most).
        """
        rows = [(w.features(), v) for w, v in zip(works, values) if v > 0]
        if not rows:
            return None
        x = np.array([r[0] for r in rows], dtype=float)
        y = np.array([r[1] for r in rows], dtype=float)
        x /= y[:, None]
        target = np.ones(len(y))
        active = [i for i in range(3) if np.any(x[:, i] != 0)]
        while active:
            sol, *_ = np.linalg.lstsq(x[:, active], target, rcond=None)
            if (sol >= 0).all():
                coef = [0.0, 0.0, 0.0]
                for i, s in zip(active, sol):
                    coef[i] = float(s)
                return cls(coef)
            active.pop(int(np.argmin(sol)))
        return None


def _bucket(work):
    n = BUCKETS_PER_OCTAVE * math.log2(max(work.n, 0) + 1)
    t = BUCKETS_PER_OCTAVE * math.log2(max(work.tiles, 1))
    return f"{round(n)}:{round(t)}"


class Model:
    """Everything known about one task key on one device.

    Attributes
    ----------
    samples : list of dict
        Recent runs: ``n``, ``tiles``, ``nbytes``, ``seconds``, ``cycles``,
        ``overlap`` (fraction of the run during which another device was busy).
    history : dict
        Size bucket to ``{"count", "n", "tiles", "nbytes", "seconds"}`` running means
        of the runs alone (overlap below :data:`QUIET`).
    unit : str
        What ``n`` counts (``element``, ``byte``, ``MAC``).
    shared : int
        Runs recorded while another device was busy (not in ``history``).
    """

    def __init__(self, key, device, unit="element", samples=(), history=None, shared=0):
        self.key = key
        self.device = device
        self.unit = unit
        self.samples = list(samples)
        self.history = dict(history or {})
        self.shared = int(shared)
        self._fits = self._slowdown = self._spread = None

    def record(self, work, seconds, cycles=None, overlap=0.0):
        """Add one real run.

        Parameters
        ----------
        work : Work
        seconds : float
            Measured duration.
        cycles : int, optional
            Device cycles (``handle.last_cycles``) where the device counts them.
        overlap : float
            Fraction of the run during which another device was busy (0..1).
        """
        if not 0.0 <= overlap <= 1.0:
            raise ValueError(f"overlap {overlap!r} is out of range; allowed 0..1")
        self.samples.append({"n": work.n, "tiles": work.tiles, "nbytes": work.nbytes,
                             "seconds": float(seconds),
                             "cycles": None if cycles is None else int(cycles),
                             "overlap": float(overlap)})
        del self.samples[:-MAX_SAMPLES]
        self._fits = self._slowdown = self._spread = None
        if overlap >= QUIET:
            self.shared += 1        # evidence of slowdown, not of the time alone
            return
        b = self.history.setdefault(_bucket(work), {"count": 0, "n": 0.0, "tiles": 0.0,
                                                   "nbytes": 0.0, "seconds": 0.0})
        b["count"] += 1
        k = min(b["count"], HISTORY_WINDOW)
        for name, value in (("n", work.n), ("tiles", work.tiles), ("nbytes", work.nbytes),
                            ("seconds", seconds)):
            b[name] += (float(value) - b[name]) / k

    def _fit(self):
        if self._fits is None:
            works = [Work(s["n"], s["tiles"], s["nbytes"]) for s in self.samples]
            alone = [(w, s["seconds"]) for w, s in zip(works, self.samples)
                     if s["overlap"] < QUIET]
            # Only shared runs so far: their times, an upper bound, are better than nothing.
            alone = alone or [(w, s["seconds"]) for w, s in zip(works, self.samples)]
            seconds = Fit.from_samples([w for w, _ in alone], [t for _, t in alone])
            timed = [(w, s["cycles"]) for w, s in zip(works, self.samples) if s["cycles"]]
            cycles = Fit.from_samples([w for w, _ in timed], [c for _, c in timed]) \
                if timed else None
            self._fits = (seconds, cycles)
        return self._fits

    @property
    def fit(self):
        """:class:`Fit` of seconds, or None."""
        return self._fit()[0]

    @property
    def cycle_fit(self):
        """:class:`Fit` of device cycles, or None (devices without a cycle counter)."""
        return self._fit()[1]

    def predict(self, work):
        """Predicted seconds and where it comes from (``"history"``/``"fit"``), or (None, None)."""
        fit = self.fit
        b = self.history.get(_bucket(work))
        if b and b["count"]:
            seconds = b["seconds"]
            if fit is not None:
                at_mean = fit(Work(b["n"], round(b["tiles"]), b["nbytes"]))
                if at_mean > 0:
                    seconds *= fit(work) / at_mean
            return seconds, "history"
        if fit is not None:
            return fit(work), "fit"
        return None, None

    def slowdown(self):
        """The factor by which sharing the host stretches this task, from its shared runs.

        A run of duration ``t`` that overlapped a fraction ``f`` of its time
        (``f`` >= :data:`QUIET`), where the model predicts ``base`` alone,
        gives ``1 + (t / base - 1) / f``; the result is the median over the
        shared runs, clipped to ``[1, MAX_SLOWDOWN]``.

        Returns
        -------
        (float or None, int)
            The factor (None without shared runs or without a prediction
            alone) and how many shared runs it is made of.
        """
        if self._slowdown is None:
            shared = [s for s in self.samples if s["overlap"] >= QUIET]
            factors = []
            if any(s["overlap"] < QUIET for s in self.samples):
                for s in shared:
                    base, _ = self.predict(Work(s["n"], s["tiles"], s["nbytes"]))
                    if base and base > 0:
                        factors.append(1.0 + (s["seconds"] / base - 1.0) / s["overlap"])
            self._slowdown = ((min(max(float(np.median(factors)), 1.0), MAX_SLOWDOWN),
                               len(factors)) if factors else (None, len(shared)))
        return self._slowdown

    def spread(self):
        """How far this task's real runs stray from the model, relative.

        Each recorded run is compared with what the model predicts for it
        (its time alone, stretched by the slowdown for the fraction it
        overlapped); the result is twice the median of ``|measured /
        predicted - 1|`` -- the half-width of a uniform spread with that
        median deviation.  None with fewer than :data:`MIN_SPREAD_RUNS` runs.
        """
        if self._spread is None:
            factor = self.slowdown()[0] or 1.0
            deviations = []
            for s in self.samples:
                base, _ = self.predict(Work(s["n"], s["tiles"], s["nbytes"]))
                if base and base > 0:
                    expected = base * (1.0 + (factor - 1.0) * s["overlap"])
                    deviations.append(abs(s["seconds"] / expected - 1.0))
            self._spread = (2.0 * float(np.median(deviations))
                            if len(deviations) >= MIN_SPREAD_RUNS else None,)
        return self._spread[0]

    def board_seconds(self, work, clock_hz=DEFAULT_CLOCK_HZ, transfer=TransferModel()):
        """Projected time on a real board: cycles / clock + transfers + host overhead."""
        cycles = self.cycle_fit
        if cycles is None:
            return None
        return cycles(work) / clock_hz + transfer.seconds(work)

    def runs(self):
        """Every run recorded: alone (in ``history``) and shared."""
        return sum(b["count"] for b in self.history.values()) + self.shared

    def to_dict(self):
        return {"unit": self.unit, "samples": self.samples, "history": self.history,
                "shared": self.shared}

    @classmethod
    def from_dict(cls, key, device, data):
        samples = [s for s in data.get("samples", [])
                   if isinstance(s, dict) and {"n", "tiles", "nbytes", "seconds"} <= set(s)]
        for s in samples:
            s.setdefault("cycles", None)
            s.setdefault("overlap", 0.0)
        history = {k: v for k, v in (data.get("history") or {}).items()
                   if isinstance(v, dict) and {"count", "n", "tiles", "nbytes", "seconds"} <= set(v)}
        shared = data.get("shared", 0)
        shared = shared if isinstance(shared, int) and shared >= 0 else 0
        return cls(key, device, data.get("unit", "element"), samples, history, shared)


#: Environment variable naming another models file (tests, shared set-ups).
PATH_VARIABLE = "HETFLOW_PERFMODELS"


def default_path():
    """``$HETFLOW_PERFMODELS``, else ``perfmodels.json`` in hetflow's cache directory."""
    if os.environ.get(PATH_VARIABLE):
        return Path(os.environ[PATH_VARIABLE])
    from ..cache import cache_dir
    return cache_dir() / "perfmodels.json"


def clock_from_report(report):
    """The clock (Hz) a board build report says the design achieves, or None.

    ``report`` is a dict or the path of a JSON file with ``fmax_mhz`` (or
    ``fmax_hz``; ``{"fmax": {"achieved_mhz": ...}}`` also works).
    """
    if report is None:
        return None
    if not isinstance(report, dict):
        try:
            report = json.loads(Path(report).read_text())
        except (OSError, ValueError):
            return None
    fmax = report.get("fmax")
    if isinstance(fmax, dict):
        report = {**report, **fmax}
    for key, scale in (("fmax_hz", 1.0), ("achieved_hz", 1.0), ("fmax_mhz", 1e6),
                       ("achieved_mhz", 1e6)):
        value = report.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value) * scale
    return None


class PerfModels:
    """The performance models of this machine, loaded from and saved to a JSON file.

    Parameters
    ----------
    path : path-like, optional
        The file (default :func:`default_path`).  It need not exist.
    machine : str, optional
        Whose models to use (default: this host's name); models of other
        machines in the same file are kept untouched.
    clock_hz : float, optional
        Clock of the board projection (default: ``clock_from_report(report)``,
        else :data:`DEFAULT_CLOCK_HZ`).
    report : dict or path, optional
        A board build report with the achieved Fmax.
    transfer : TransferModel, optional
        Data movement of a real board.
    """

    def __init__(self, path=None, machine=None, clock_hz=None, report=None,
                 transfer=TransferModel()):
        self.path = Path(path) if path is not None else default_path()
        self.machine = machine or platform.node() or "localhost"
        reported = clock_from_report(report)
        self.clock_hz = float(clock_hz or reported or DEFAULT_CLOCK_HZ)
        self.clock_source = ("given" if clock_hz else "build report" if reported
                             else "default")
        self.transfer = transfer
        self.models = {}                 # (key, device) -> Model
        self._others = {}                # other machines' sections, kept as they are
        self._corrupt = None
        self._lock = threading.Lock()
        self._load()

    # ---- persistence --------------------------------------------------------------------

    def _load(self):
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            self._warn(f"cannot be read ({getattr(exc, 'strerror', None) or exc})")
            return
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            self._warn(f"is not valid JSON ({exc.msg} at line {exc.lineno})")
            return
        if not isinstance(data, dict) or data.get("format") != FORMAT \
                or not isinstance(data.get("machines"), dict):
            self._warn(f"is not a hetflow perf-model file (no \"format\": \"{FORMAT}\")")
            return
        if data.get("version") != VERSION:
            self._warn(f"has version {data.get('version')!r}; this hetflow reads {VERSION}")
            return
        machines = data["machines"]
        self._others = {m: v for m, v in machines.items() if m != self.machine}
        mine = machines.get(self.machine) or {}
        for key, devices in (mine.get("models") or {}).items():
            if not isinstance(devices, dict):
                continue
            for device, entry in devices.items():
                if isinstance(entry, dict):
                    self.models[(key, device)] = Model.from_dict(key, device, entry)

    def _warn(self, reason):
        self._corrupt = reason
        warnings.warn(PerfModelWarning(
            f"perf models file {self.path} {reason}; starting with no models "
            f"(it is kept as {self.path.name}.corrupt when models are next saved)"),
            stacklevel=3)

    def save(self):
        """Write every model atomically (a temporary file renamed over the old one)."""
        with self._lock:
            mine = {}
            for (key, device), model in sorted(self.models.items()):
                mine.setdefault(key, {})[device] = model.to_dict()
            data = {"format": FORMAT, "version": VERSION,
                    "machines": {**self._others, self.machine: {"models": mine}}}
            text = json.dumps(data, indent=1, sort_keys=True)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self._corrupt and self.path.exists():
                os.replace(self.path, self.path.with_name(self.path.name + ".corrupt"))
                self._corrupt = None
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w") as f:
                    f.write(text)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                os.unlink(tmp)
                raise

    # ---- models -------------------------------------------------------------------------

    def model(self, key, device, unit=None, create=False):
        """The :class:`Model` of (key, device), or None (created when ``create``)."""
        with self._lock:
            m = self.models.get((key, device))
            if m is None and create:
                m = self.models[(key, device)] = Model(key, device, unit or "element")
            elif m is not None and unit:
                m.unit = unit
            return m

    def record(self, key, device, work, seconds, cycles=None, unit=None, overlap=0.0):
        """Add a real run to the model of (key, device) (see :meth:`Model.record`)."""
        m = self.model(key, device, unit=unit, create=True)
        with self._lock:
            m.record(work, seconds, cycles, overlap)

    def predict(self, key, device, work, kind=None):
        """Predicted seconds of ``key`` on ``device`` for ``work``.

        Returns
        -------
        (float or None, str)
            The seconds and their source: ``"history"``, ``"fit"``,
            ``"board"`` (projected from the sim's cycles, for an FPGA device
            of kind ``"fpga"`` without runs of its own) or ``"none"``.
        """
        m = self.models.get((key, device))
        if m is not None:
            with self._lock:
                seconds, source = m.predict(work)
            if seconds is not None:
                return seconds, source
        if kind == "fpga" and device != SIM_DEVICE:
            seconds = self.board_seconds(key, work)
            if seconds is not None:
                return seconds, "board"
        return None, "none"

    def slowdown(self, key, device):
        """How much sharing the host stretches ``key`` on ``device``.

        Returns
        -------
        (float, str)
            The factor and its source: ``"measured"`` (this model's shared
            runs), ``"device"`` (the median of the measured factors of the
            other models of ``device``, for a task never run shared) or
            ``"none"`` (1.0: nothing measured on this device yet).
        """
        with self._lock:
            m = self.models.get((key, device))
            if m is not None:
                factor, _ = m.slowdown()
                if factor is not None:
                    return factor, "measured"
            others = [f for (k, d), o in self.models.items() if d == device and k != key
                      for f in [o.slowdown()[0]] if f is not None]
        if others:
            return float(np.median(others)), "device"
        return 1.0, "none"

    def spread(self, key, device):
        """:meth:`Model.spread` of ``key`` on ``device``, or None (no model, too few runs)."""
        with self._lock:
            m = self.models.get((key, device))
            return None if m is None else m.spread()

    def board_seconds(self, key, work):
        """Projected seconds of ``key`` on a real board, from its ``sim`` cycle counts."""
        m = self.models.get((key, SIM_DEVICE))
        if m is None:
            return None
        with self._lock:
            return m.board_seconds(work, self.clock_hz, self.transfer)

    def __len__(self):
        return len(self.models)

    def __iter__(self):
        return iter(sorted(self.models.values(), key=lambda m: (m.key, m.device)))


# ---- sizing a call ----------------------------------------------------------------------


def kernel_key(name, params):
    """Model name of a kernel configuration: ``fir(taps=16)``, ``gemm(cols=4, rows=2)``."""
    return f"{name}({', '.join(f'{k}={v}' for k, v in sorted(params.items()))})"


def _nbytes(value):
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    return 0


def _elements(value):
    if isinstance(value, np.ndarray):
        return value.size
    if isinstance(value, dict):
        return sum(_elements(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_elements(v) for v in value)
    return 0


def kernel_work(kernel_cls, params, args, kwargs):
    """Size a kernel call without running it; also the shapes of its result.

    The call is bound, split and prepared as a device would (so bad input
    fails here, with the kernel's own one-line error), and the result is
    built from zero-filled output streams.

    Returns
    -------
    (Work, str, object)
        The work, its unit, and a zero-filled stand-in for the result (an
        array, or a dict of arrays for several outputs).
    """
    from ..hw.errors import StimulusError
    names = [port.name for port in kernel_cls.inputs(params)]
    out_ports = {port.name: port for port in kernel_cls.outputs(params)}
    if len(args) > len(names):
        raise StimulusError(f"{kernel_cls.name}: takes {len(names)} input array(s) "
                            f"({', '.join(names)}), got {len(args)}")
    inputs, scalars = dict(zip(names, args)), {}
    for key, value in kwargs.items():
        (inputs if key in names else scalars)[key] = value
    inputs = {k: np.asarray(v) for k, v in inputs.items()}
    tiles, merge = kernel_cls.split(params, inputs, scalars)
    n, unit, outs, nbytes = 0, "element", [], _nbytes(list(inputs.values()))
    for t_in, t_sc in tiles:
        job = kernel_cls.prepare(params, dict(t_in), dict(t_sc))
        units, unit = kernel_cls.work(params, job)
        n += units
        streams = {name: np.zeros(count, dtype=out_ports[name].np_dtype)
                   for name, count in job.expect.items()}
        nbytes += sum(s.nbytes for s in streams.values())
        outs.append(kernel_cls.collect(params, job, streams))
    result = merge(outs)
    if len(out_ports) == 1:
        result = result[next(iter(out_ports))]
    return Work(n, max(len(tiles), 1), nbytes), unit, result


def function_work(args, kwargs, result):
    """Size of a function call: the elements of its array arguments."""
    values = list(args) + list(kwargs.values())
    return Work(max(_elements(values), 1), 1, _nbytes(values) + _nbytes(result)), "element"
