"""Task graphs as a host program builds them: kernel calls and Python functions.

A :class:`Graph` holds kernel calls and plain Python/NumPy functions whose
arguments may be the results of earlier tasks (:class:`TaskRef`, a
future-like handle); :class:`~hetflow.sched.executor.Executor` runs it::

    g = Graph()
    y = g.kernel("fir", taps=16)(x, h=h)        # a kernel call
    q = g.task(np.right_shift, y, 8)            # a NumPy step on its result
    crc = g.chain("pipeline.toml", "fir0_crc0")(x, h=h)   # an overlay's chain: one task

    @g.task
    def frames(y):
        return y.reshape(-1, 64)
    f = frames(q)

What a policy schedules is the :class:`~hetflow.sched.costgraph.CostGraph`
the executor derives from it (:meth:`~hetflow.sched.executor.Executor.plan`).
"""

import itertools
from dataclasses import dataclass, field, replace

from .costgraph import GraphError
from .work import kernel_key, leaves

__all__ = ["Graph", "Task", "TaskRef", "GraphError", "substitute"]


@dataclass(frozen=True, slots=True, repr=False)
class TaskRef:
    """The future result of a task in a :class:`Graph`; pass it to later tasks.

    After a run, ``report[ref]`` (:class:`~hetflow.sched.executor.RunReport`)
    is the task's value.  Two are equal when they name one task of one graph
    (a :class:`Graph` equals only itself).
    """

    graph: object
    name: str

    def __repr__(self):
        return f"<TaskRef {self.name}>"


@dataclass
class Task:
    """One node of a :class:`Graph`.

    Attributes
    ----------
    name : str
        Unique within the graph.
    kind : str
        ``"kernel"``, ``"chain"`` (an overlay's chain, :class:`~hetflow.overlays.ChainCall`)
        or ``"function"`` (runs on a CPU).
    kernel : str or None
        Registry name of the kernel.
    params : dict
        Validated elaboration parameters of the kernel.
    fn : callable or None
        The function of a function task.
    args, kwargs : tuple, dict
        Arguments; :class:`TaskRef` values (also inside lists, tuples and
        dicts) are replaced by the results of those tasks.
    deps : list of str
        Names of the tasks whose results this one needs, in first-use order.
    chain : ChainCall or None
        The chain of a chain task.
    """

    name: str
    kind: str
    kernel: str = None
    params: dict = field(default_factory=dict)
    fn: object = None
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    deps: list = field(default_factory=list)
    chain: object = None

    @property
    def key(self):
        """Name of this task's performance model: ``fir(taps=16)``, ``py:module.func`` or
        the chain's (:attr:`~hetflow.overlays.ChainCall.key`)."""
        if self.kind == "chain":
            return self.chain.key
        if self.kind == "kernel":
            return kernel_key(self.kernel, self.params)
        fn = self.fn
        module = getattr(fn, "__module__", None) or type(fn).__module__
        qual = getattr(fn, "__qualname__", None) or type(fn).__qualname__
        return f"py:{module}.{qual}"


def substitute(value, results):
    """``value`` with every :class:`TaskRef` replaced by ``results[ref.name]``."""
    if isinstance(value, TaskRef):
        return results[value.name]
    if isinstance(value, list):
        return [substitute(v, results) for v in value]
    if isinstance(value, tuple):
        return tuple(substitute(v, results) for v in value)
    if isinstance(value, dict):
        return {k: substitute(v, results) for k, v in value.items()}
    return value


class _Adder:
    """``graph.kernel(...)``, ``graph.chain(...)`` or ``graph.task(fn)``: calling it adds
    ``template`` (a :class:`Task` without arguments) with the call's arguments.

    ``name=`` names the task; without it the task is named after its kernel,
    chain or function (``fir``, ``fir_2`` ...), or ``name`` (``@graph.task(name="step")``).
    """

    def __init__(self, graph, template, name=None):
        self.graph, self.template, self.name = graph, template, name
        if template.fn is not None:
            self.__wrapped__ = template.fn
            self.__doc__ = getattr(template.fn, "__doc__", None)

    def __call__(self, *args, name=None, **kwargs):
        return self.graph._add(self.template, args, kwargs, name or self.name)

    def __repr__(self):
        return f"<{self.template.kind} {self.template.name} of {self.graph!r}>"


class Graph:
    """A task graph of kernel calls and Python functions, built by a host program.

    Tasks are added in an order where every argument already exists, so a
    :class:`Graph` is acyclic by construction.  Run it with
    :class:`~hetflow.sched.executor.Executor`.
    """

    def __init__(self):
        self.tasks = {}
        self._counts = {}               # base name to the numbers it takes next

    def __repr__(self):
        return f"<Graph {len(self.tasks)} tasks>"

    def __len__(self):
        return len(self.tasks)

    def kernel(self, name, **params):
        """A kernel of the registry with elaboration parameters; call it to add a task.

        ``graph.kernel("fir", taps=16)(x, h=h)`` takes the arguments of
        ``device.kernel("fir", taps=16)(x, h=h)`` (arrays or :class:`TaskRef`)
        and returns a :class:`TaskRef`.  ``name=`` names the task.
        """
        from ..hw.registry import get_kernel
        kernel_cls = get_kernel(name)                  # one-line error if unknown
        return _Adder(self, Task(kernel_cls.name, "kernel", kernel_cls.name,
                                 kernel_cls.bind(**params)))

    def chain(self, overlay, name):
        """A chain of an overlay (an Overlay or its TOML file); call it to add one task.

        ``graph.chain("pipeline.toml", "fir0_crc0")(x, h=h)`` takes the arguments of
        ``dev.fir0_crc0(x, h=h)`` and runs as one task, on a device unit that
        carries the chain or on the cpu (the composed golden models).
        """
        from ..overlays import ChainCall
        chain = ChainCall(overlay, name)
        return _Adder(self, Task(chain.name, "chain", chain=chain))

    def task(self, fn=None, /, *args, name=None, **kwargs):
        """Add a function task, or wrap a function so that calling it adds one.

        ``graph.task(fn, *args, **kwargs)`` adds the task ``fn(*args, **kwargs)``
        and returns its :class:`TaskRef`.  ``graph.task(fn)`` (no arguments) and
        ``@graph.task`` / ``@graph.task(name="step")`` return a wrapper whose
        calls add tasks.  Function tasks run on a CPU device; they should be
        pure (the executor may call them on zero-filled arrays of the right
        shapes to learn the shapes of their results before a run).
        """
        if fn is None:
            return lambda f: self.task(f, name=name)
        if not callable(fn):
            raise GraphError(f"task: {fn!r} is not callable")
        base = getattr(fn, "__name__", None) or type(fn).__name__
        adder = _Adder(self, Task(base, "function", fn=fn), name=name)
        return adder(*args, **kwargs) if args or kwargs else adder

    def _add(self, template, args, kwargs, name=None):
        if name is not None:
            if not isinstance(name, str) or not name:
                raise GraphError(f"task name {name!r} must be a non-empty string")
            if name in self.tasks:
                raise GraphError(f"task name '{name}' is used twice in this graph")
        else:
            # fir, fir_2, fir_3 ...: readable in tables and Gantt charts.
            base = template.name
            names = (base if n == 1 else f"{base}_{n}"
                     for n in self._counts.setdefault(base, itertools.count(1)))
            name = next(n for n in names if n not in self.tasks)
        refs = [ref for ref in leaves([args, kwargs]) if isinstance(ref, TaskRef)]
        for ref in refs:
            if ref.graph is not self:
                raise GraphError(f"task result {ref.name!r} belongs to another graph")
        self.tasks[name] = replace(template, name=name, args=tuple(args), kwargs=dict(kwargs),
                                   deps=list(dict.fromkeys(ref.name for ref in refs)))
        return TaskRef(self, name)

    def ref(self, name):
        """The :class:`TaskRef` of task ``name``."""
        if name not in self.tasks:
            raise GraphError(f"no task '{name}' in this graph; tasks are: "
                             f"{', '.join(self.tasks) or 'none'}")
        return TaskRef(self, name)
