"""What is known about one task on one device: its runs, their history and fit, its slowdown.

A :class:`Model` predicts the seconds of a call of a given size
(:class:`~hetflow.sched.work.Work`) from, in order of preference:

1. **history** -- as StarPU's history-based models: the running mean of real
   runs per size bucket (an eighth of an octave of ``n`` and of tiles),
   scaled to the exact size by the fitted curve;
2. **fit** -- least squares ``seconds = a + b*n + c*(tiles - 1)`` over every
   recorded run (calibration and real runs), weighted to minimise the
   *relative* error so that small calls count as much as large ones, with
   coefficients kept >= 0.

A run records its *overlap*, the fraction of its time during which another
device of the run was busy (:mod:`~hetflow.sched.contention`).  History and
fit are made of the runs that did not overlap (below :data:`QUIET`); the
runs that did give the model's *slowdown* (:meth:`Model.slowdown`), so a
run's time is not mistaken for the task's time alone.
"""

import math
from functools import cached_property

import numpy as np

from .work import Work

__all__ = ["Fit", "Model", "QUIET", "MAX_SLOWDOWN"]

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
        squared relative errors, over coefficients >= 0 (non-negative least
        squares, :func:`scipy.optimize.nnls`).
        """
        rows = [(w.features(), v) for w, v in zip(works, values) if v > 0]
        if not rows:
            return None
        from scipy.optimize import nnls
        x, y = (np.array(column, dtype=float) for column in zip(*rows))
        coef, _ = nnls(x / y[:, None], np.ones(len(y)))
        return cls(coef)


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
        self._slowdown = None

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
        self._slowdown = None
        for made in ("fit", "cycle_fit"):      # made again from the runs when next asked for
            vars(self).pop(made, None)
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

    @cached_property
    def fit(self):
        """:class:`Fit` of seconds, or None."""
        # Only shared runs so far: their times, an upper bound, are better than nothing.
        runs = [s for s in self.samples if s["overlap"] < QUIET] or self.samples
        return Fit.from_samples([Work(s["n"], s["tiles"], s["nbytes"]) for s in runs],
                                [s["seconds"] for s in runs])

    @cached_property
    def cycle_fit(self):
        """:class:`Fit` of device cycles, or None (devices without a cycle counter)."""
        timed = [s for s in self.samples if s["cycles"]]
        return Fit.from_samples([Work(s["n"], s["tiles"], s["nbytes"]) for s in timed],
                                [s["cycles"] for s in timed])

    def predict(self, work):
        """Predicted seconds and where it comes from (``"history"``/``"fit"``), or
        ``(None, "none")``."""
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
        return None, "none"

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
        samples = [{"cycles": None, "overlap": 0.0, **s} for s in data.get("samples", [])
                   if isinstance(s, dict) and {"n", "tiles", "nbytes", "seconds"} <= set(s)]
        history = {k: v for k, v in (data.get("history") or {}).items()
                   if isinstance(v, dict) and {"count", "n", "tiles", "nbytes", "seconds"} <= set(v)}
        shared = data.get("shared", 0)
        shared = shared if isinstance(shared, int) and shared >= 0 else 0
        return cls(key, device, data.get("unit", "element"), samples, history, shared)
