"""Cost graphs from JSON (hetflow schedule --graph): one-line errors naming the file."""

import pytest

from hetflow.bench.graphfile import graph_from_dict, load_graph
from hetflow.sched.costgraph import GraphError


def base(**changes):
    data = {"devices": ["cpu", "fpga"],
            "tasks": {"t1": {"cost": {"cpu": 1.0, "fpga": 2.0}},
                      "t2": {"cost": {"cpu": 1.0}},
                      "t3": {"cost": {"fpga": 1.0}}},
            "edges": [["t1", "t2", 0.5], ["t2", "t3"]]}
    data.update(changes)
    return data


BAD = [
    (base(edges=[["t1", "t2"], ["t2", "t3"], ["t3", "t1"]]),
     "g.json: cycle t1 -> t2 -> t3 -> t1; a task graph must be acyclic"),
    (base(edges=[["t2", "t3"], ["t3", "t2"], ["t1", "t2"]]),
     "g.json: cycle t2 -> t3 -> t2; a task graph must be acyclic"),
    (base(edges=[["t1", "t1"]]), "g.json: cycle t1 -> t1; a task graph must be acyclic"),
    (base(tasks={"t1": {"cost": {"gpu": 1.0}}}, edges=[]),
     "g.json: task 't1' has a cost on unknown device 'gpu'; devices are: cpu, fpga"),
    (base(tasks={"t1": {"cost": {}}}, edges=[]),
     "g.json: task 't1' has no cost on any device; give its seconds on at least one of: "
     "cpu, fpga"),
    (base(tasks={"t1": {}}, edges=[]),
     "g.json: task 't1' has no cost on any device; give its seconds on at least one of: "
     "cpu, fpga"),
    (base(tasks={"t1": {"cost": {"cpu": -1}}}, edges=[]),
     "g.json: task 't1' has a negative cost -1 on device 'cpu'; costs are seconds >= 0"),
    (base(tasks={"t1": {"cost": {"cpu": "fast"}}}, edges=[]),
     "g.json: task 't1' cost on device 'cpu' must be a finite number of seconds, not 'fast'"),
    (base(tasks={"t1": {"cost": {"cpu": True}}}, edges=[]),
     "g.json: task 't1' cost on device 'cpu' must be a finite number of seconds, not True"),
    (base(edges=[["t1", "t9", 1]]), "g.json: edge ['t1', 't9'] names unknown task 't9'"),
    (base(edges=[["t1", "t2", -1]]),
     "g.json: edge t1 -> t2 has a negative transfer cost -1; costs are seconds >= 0"),
    (base(edges=[["t1"]]),
     "g.json: edge #0 must be [source, target] or [source, target, seconds], not ['t1']"),
    (base(edges=[["t1", "t2"], ["t1", "t2"]]), "g.json: edge t1 -> t2 is given twice"),
    (base(devices=[]), "g.json: 'devices' must be a non-empty list of device names, not []"),
    (base(devices=["cpu", "cpu"]), "g.json: device 'cpu' is listed twice"),
    (base(devices=[{"name": "x", "kind": "gpu"}]),
     "g.json: device 'x' has unknown kind 'gpu'; allowed: cpu, fpga, other"),
    ({"devices": ["cpu"]}, "g.json: missing key 'tasks'; a graph has devices, tasks and edges"),
    ({"devices": ["cpu"], "tasks": {}}, "g.json: 'tasks' is empty; give at least one task"),
    ({"devices": ["cpu"], "tasks": {"a": {"cost": {"cpu": 1}}}, "extra": 1},
     "g.json: unknown key 'extra'; allowed: devices, tasks, edges"),
    (base(tasks={"t1": {"cost": {"cpu": 1}, "kernel": "fri"}}, edges=[]),
     "g.json: task 't1' names unknown kernel 'fri'; kernels are: "),
    (base(tasks={"t1": {"costs": {"cpu": 1}}}, edges=[]),
     "g.json: task 't1' has unknown key 'costs'; allowed: cost, kernel"),
    (base(tasks={"t1": [1]}, edges=[]),
     "g.json: task 't1' must be an object {\"cost\": {device: seconds}}, not [1]"),
    ([1, 2], "g.json: expected a JSON object with keys devices, tasks, edges, not list"),
]
#: Checked by the reader alone (BAD also goes through ``hetflow schedule``, in test_cli.py).
ENTRY_BAD = [
    (base(devices=["cpu", 3]), "g.json: device 3 must be a name or {\"name\": ..., \"kind\": ...}"),
    (base(devices=[{"name": "acc", "speed": 2}]),
     "g.json: device {'name': 'acc', 'speed': 2} has unknown key 'speed'; allowed: name, kind"),
    (base(devices=[{"kind": "fpga"}]),
     "g.json: device {'kind': 'fpga'} has no name; give {\"name\": ..., \"kind\": ...}"),
    (base(tasks=[["t1"]]), "g.json: 'tasks' must be an object mapping task names to "
                           "{\"cost\": {device: seconds}}, not list"),
    (base(tasks={"t1": {"cost": [1]}}, edges=[]),
     "g.json: task 't1': 'cost' must map device names to seconds, not [1]"),
    (base(tasks={"t1": {"cost": {"cpu": 1}, "kernel": 7}}, edges=[]),
     "g.json: task 't1': 'kernel' must be a kernel name, not 7"),
]


@pytest.mark.parametrize("data,message", BAD + ENTRY_BAD,
                         ids=[m.split(": ", 1)[1][:40] for _, m in BAD + ENTRY_BAD])
def test_bad_graph_is_one_line(data, message):
    with pytest.raises(GraphError) as info:
        graph_from_dict(data, source="g.json")
    text = str(info.value)
    assert "\n" not in text
    if message.endswith(": "):
        assert text.startswith(message)
    else:
        assert text == message


def test_good_graph():
    g = graph_from_dict(base(), source="g.json")
    assert g.tasks == ["t1", "t2", "t3"] and g.order == ["t1", "t2", "t3"]
    assert g.transfer("t1", "t2") == 0.5 and g.transfer("t2", "t3") == 0.0
    assert g.feasible("t2") == ["cpu"] and g.min_cost("t1") == 1.0
    assert [d.kind for d in g.devices] == ["cpu", "fpga"]


def test_device_kinds_from_names_and_objects():
    g = graph_from_dict(base(devices=["host", {"name": "acc", "kind": "fpga"}, {"name": "sim0"}],
                             tasks={"t": {"cost": {"host": 1.0}, "kernel": "fir"}}, edges=[]))
    assert [(d.name, d.kind) for d in g.devices] == [("host", "cpu"), ("acc", "fpga"),
                                                     ("sim0", "fpga")]


def test_load_graph_file_errors(tmp_path):
    with pytest.raises(GraphError, match=r"^graph file .*nope.json does not exist$"):
        load_graph(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"devices": ["cpu"],\n "tasks": {')
    with pytest.raises(GraphError) as info:
        load_graph(bad)
    assert str(info.value).startswith("bad.json: not valid JSON: ") and "line 2" in str(info.value)
