"""The Python task-graph API: dependencies, names, errors."""

import numpy as np
import pytest

from hetflow.hw.errors import HetflowError, KernelNotFound, ParamError
from hetflow.sched.graph import Graph, GraphError, TaskRef


def test_graph_api_builds_dependencies_and_names():
    g = Graph()
    x = np.arange(64, dtype=np.int16)
    y = g.kernel("fir", taps=4)(x, h=np.ones(4, np.int16))
    y2 = g.kernel("fir", taps=4)(x, h=np.ones(4, np.int16))

    @g.task
    def add(a, b):
        return a + b

    s = add(y, y2)
    t = g.task(np.sum, s, name="total")
    both = g.task(lambda pair: pair[0], [s, {"k": t}])
    assert list(g.tasks) == ["fir", "fir_2", "add", "total", "<lambda>"]
    assert g.tasks["add"].deps == ["fir", "fir_2"]
    assert g.tasks["<lambda>"].deps == ["add", "total"]
    assert g.tasks["fir"].key == "fir(taps=4)" and g.tasks["total"].key.endswith(".sum")
    assert isinstance(both, TaskRef) and g.ref("total") == t
    # A name taken by hand is skipped; a result passed twice is one dependency.
    g.task(np.sum, y, name="sum_2")
    g.task(np.sum, y)
    g.task(np.add, y, [y, {"again": y}])
    g.task(np.sum, y)
    assert list(g.tasks)[5:] == ["sum_2", "sum", "add_2", "sum_3"]
    assert g.tasks["add_2"].deps == ["fir"]


def test_graph_api_errors():
    g, other = Graph(), Graph()
    with pytest.raises(KernelNotFound):
        g.kernel("fri")
    with pytest.raises(ParamError, match="fir: parameter 'taps' = 99 is out of range"):
        g.kernel("fir", taps=99)
    g.task(np.sum, np.ones(3), name="a")
    with pytest.raises(GraphError, match=r"^task name 'a' is used twice in this graph$"):
        g.task(np.sum, np.ones(3), name="a")
    foreign = other.task(np.sum, np.ones(3))
    with pytest.raises(GraphError, match=r"^task result 'sum' belongs to another graph$"):
        g.task(np.sum, foreign)
    with pytest.raises(GraphError, match=r"^task: 3 is not callable$"):
        g.task(3, 4)
    with pytest.raises(GraphError, match=r"^task: 3 is not callable$"):
        g.task(name="step")(3)
    with pytest.raises(GraphError, match=r"^no task 'zz' in this graph; tasks are: a$"):
        g.ref("zz")
    assert isinstance(GraphError("x"), HetflowError)
