"""Cost graphs: validation with one-line errors, kinds, order (the JSON form is
hetflow.bench.graphfile's, tested in tests/sw/test_bench_graphfile.py)."""

import pytest

from hetflow.sched.costgraph import CostGraph, DeviceSpec, GraphError

DEVICES = ["cpu", "fpga"]
TASKS = {"t1": {"cpu": 1.0, "fpga": 2.0}, "t2": {"cpu": 1.0}, "t3": {"fpga": 1.0}}

BAD = [
    ((DEVICES, TASKS, [["t1", "t2"], ["t2", "t3"], ["t3", "t1"]]),
     "g: cycle t1 -> t2 -> t3 -> t1; a task graph must be acyclic"),
    ((DEVICES, TASKS, [("t1", "t1")]), "g: cycle t1 -> t1; a task graph must be acyclic"),
    ((DEVICES, {"t1": {"gpu": 1.0}}, []),
     "g: task 't1' has a cost on unknown device 'gpu'; devices are: cpu, fpga"),
    ((DEVICES, {"t1": {}}, []),
     "g: task 't1' has no cost on any device; give its seconds on at least one of: cpu, fpga"),
    ((DEVICES, {"t1": 2.0}, []), "g: task 't1' must map device names to seconds, not 2.0"),
    ((DEVICES, {"t1": {"cpu": float("nan")}}, []),
     "g: task 't1' cost on device 'cpu' must be a finite number of seconds, not nan"),
    ((DEVICES, {"t1": {"cpu": -1}}, []),
     "g: task 't1' has a negative cost -1 on device 'cpu'; costs are seconds >= 0"),
    ((DEVICES, {"": {"cpu": 1}}, []), "g: task name '' must be a non-empty string"),
    ((DEVICES, [], []), "g: 'tasks' must map task names to {device: seconds}, not list"),
    ((DEVICES, {}, []), "g: 'tasks' is empty; give at least one task"),
    ((DEVICES, TASKS, "t1 t2"), "g: 'edges' must be a list of [source, target, seconds], not str"),
    ((DEVICES, TASKS, [("t1", "t2", float("inf"))]),
     "g: edge t1 -> t2: transfer cost must be a finite number of seconds, not inf"),
    (("cpu", TASKS, []), "g: 'devices' must be a non-empty list of device names, not 'cpu'"),
    (([7], TASKS, []), "g: device 7 must be a name or a DeviceSpec"),
    (([""], TASKS, []), "g: a device name is empty"),
    (([DeviceSpec("x", "gpu")], TASKS, []),
     "g: device 'x' has unknown kind 'gpu'; allowed: cpu, fpga, other"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[m.split(": ", 1)[1][:40] for _, m in BAD])
def test_bad_graph_is_one_line(args, message):
    with pytest.raises(GraphError) as info:
        CostGraph(*args, source="g")
    assert str(info.value) == message


def test_device_kinds_from_names_and_explicit():
    g = CostGraph(["cpu0", "host", "sim", "pynq", "serial:/dev/ttyUSB1", "fpga1", "gpu0",
                   DeviceSpec("acc", "fpga"), DeviceSpec("big", "cpu")],
                  {"t": {"cpu0": 1.0}})
    assert [d.kind for d in g.devices] == ["cpu", "cpu", "fpga", "fpga", "fpga", "fpga",
                                           "other", "fpga", "cpu"]


def test_topological_order_follows_listing_where_edges_allow():
    g = CostGraph(["cpu"], {"c": {"cpu": 1}, "a": {"cpu": 1}, "b": {"cpu": 1}},
                  [["b", "c"], ["a", "b"]])
    assert g.order == ["a", "b", "c"]
    assert g.transfer("a", "b") == 0.0 and g.feasible("a") == ["cpu"] and g.min_cost("a") == 1
