"""Performance models: how long a kernel call or a function takes on a device.

One :class:`Model` per (task key, device name), for example
(``fir(taps=16)``, ``sim``) or (``py:numpy.right_shift``, ``cpu``), indexed by
the size of a call (:class:`~hetflow.sched.work.Work`).  A model predicts from,
in order of preference:

1. **history** -- as StarPU's history-based models: the running mean of real
   runs per size bucket (an eighth of an octave of ``n`` and of tiles),
   scaled to the exact size by the fitted curve;
2. **fit** -- least squares ``seconds = a + b*n + c*(tiles - 1)`` over every
   recorded run (calibration and real runs), weighted to minimise the
   *relative* error so that small calls count as much as large ones, with
   coefficients kept >= 0.

On the ``sim`` device a run takes the simulator's wall time, which is what the
executor measures and the model predicts.  A board that is not attached gets
its models from the simulated board and its build: ``hetflow calibrate --board
DIR`` records each call's time predicted by :mod:`hetflow.boardtime` under the
board's device name (:mod:`~hetflow.sched.calibrate`).

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
from pathlib import Path

import numpy as np

from .work import Work

__all__ = ["Fit", "Model", "PerfModels", "PerfModelWarning", "default_path", "QUIET",
           "MAX_SLOWDOWN"]

FORMAT = "hetflow-perfmodels"
VERSION = 1
#: Runs kept per model for the fit (the most recent ones).
MAX_SAMPLES = 256
#: A bucket's mean weighs at most this many runs, so it follows a machine that changes.
HISTORY_WINDOW = 32
#: Buckets per octave of work (8: buckets ~9% wide).
BUCKETS_PER_OCTAVE = 8
#: A run that overlapped another device's work for less than this fraction of its time
#: counts as a run alone (its time feeds history and fit).
QUIET = 0.05
#: Slowdowns are clipped to [1, MAX_SLOWDOWN] (sharing does not speed a task up; a
#: larger value is a measurement gone wrong, e.g. the machine paused).
MAX_SLOWDOWN = 20.0


class PerfModelWarning(UserWarning):
    """The stored models could not be read and were ignored."""


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
        self._fits = self._slowdown = None

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
        self._fits = self._slowdown = None
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


class PerfModels:
    """The performance models of this machine, loaded from and saved to a JSON file.

    Parameters
    ----------
    path : path-like, optional
        The file (default :func:`default_path`).  It need not exist.
    machine : str, optional
        Whose models to use (default: this host's name); models of other
        machines in the same file are kept untouched.
    """

    def __init__(self, path=None, machine=None):
        self.path = Path(path) if path is not None else default_path()
        self.machine = machine or platform.node() or "localhost"
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

    def predict(self, key, device, work):
        """Predicted seconds of ``key`` on ``device`` for ``work``.

        Returns
        -------
        (float or None, str)
            The seconds and their source: ``"history"``, ``"fit"`` or ``"none"``.
        """
        m = self.models.get((key, device))
        if m is None:
            return None, "none"
        with self._lock:
            seconds, source = m.predict(work)
        return (seconds, source) if seconds is not None else (None, "none")

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

    def __len__(self):
        return len(self.models)

    def __iter__(self):
        return iter(sorted(self.models.values(), key=lambda m: (m.key, m.device)))
