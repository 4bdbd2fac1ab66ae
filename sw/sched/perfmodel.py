"""Performance models: how long a kernel call or a function takes on a device.

:class:`PerfModels` holds one :class:`~hetflow.sched.taskmodel.Model` per (task
key, device name), for example (``fir(taps=16)``, ``sim``) or
(``py:numpy.right_shift``, ``cpu``): history and fit of its real runs, and
its slowdown when the devices share the host.

On the ``sim`` device a run takes the simulator's wall time, which is what the
executor measures and the model predicts.  A board that is not attached gets
its models from the simulated board and its build: ``hetflow calibrate --board
DIR`` records each call's time predicted by :mod:`hetflow.boardtime` under the
board's device name (:mod:`~hetflow.sched.calibrate`).

Models are stored per machine (host name) in ``perfmodels.json`` under
:func:`hetflow.cache.cache_dir` (or the file ``$HETFLOW_PERFMODELS``), written
atomically (temporary file and rename).  A corrupt file gives a
:class:`PerfModelWarning`, is kept as ``perfmodels.json.corrupt`` on the next
save, and the models start empty.
"""

import json
import os
import platform
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np

from .taskmodel import Model

__all__ = ["PerfModels", "PerfModelWarning", "default_path"]

FORMAT = "hetflow-perfmodels"
VERSION = 1


class PerfModelWarning(UserWarning):
    """The stored models could not be read and were ignored."""


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
        mine = machines.get(self.machine, {})
        if not isinstance(mine, dict) or not isinstance(mine.get("models", {}), dict):
            self._warn(f"has a section for machine {self.machine!r} that is not "
                       f"{{\"models\": {{...}}}}")
            return
        self.models = {(key, device): Model.from_dict(key, device, entry)
                       for key, devices in mine.get("models", {}).items()
                       if isinstance(devices, dict)
                       for device, entry in devices.items() if isinstance(entry, dict)}

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

    def model(self, key, device):
        """The :class:`Model` of (key, device), or None."""
        with self._lock:
            return self.models.get((key, device))

    def record(self, key, device, work, seconds, cycles=None, unit=None, overlap=0.0):
        """Add a real run to the model of (key, device), created by its first run
        (see :meth:`Model.record`); ``unit`` says what ``work.n`` counts."""
        with self._lock:
            m = self.models.setdefault((key, device), Model(key, device, unit or "element"))
            m.unit = unit or m.unit
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
            return m.predict(work)

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
