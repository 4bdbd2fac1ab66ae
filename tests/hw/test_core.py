"""A kernel's core on its own: instantiated and simulated without the shell."""

import numpy as np
import pytest
from amaranth.hdl import Fragment, signed
from amaranth.lib import wiring
from amaranth.sim import Simulator

from hetflow.hw import ControlSignature, ParamError, Port
from hetflow.hw.contract import validate_kernel_class
from hetflow.hw.core import stream_members
from hetflow.hw.errors import KernelDefinitionError
from hetflow.hw.kernels.dot import Dot, DotCore
from hetflow.hw.kernels.saxpy import Saxpy, SaxpyCore
from hetflow.hw.regbank import RegisterBank
from hetflow.hw.stimuli import random_ints


def test_the_core_signature_comes_from_the_description():
    core = SaxpyCore(Saxpy, lanes=2)
    members = core.signature.members
    assert set(members) == {"ctl", "x", "y", "z"}
    assert members["ctl"].flow == wiring.In and members["z"].flow == wiring.Out
    assert core.x.payload.shape().elem_shape == signed(32) and core.x.payload.shape().length == 2
    assert core.ctl.regs.a.shape() == signed(32)
    # The register bank drives exactly what the core receives.
    bank = RegisterBank(Saxpy.regmap(core.p))
    assert bank.signature.members["ctl"].signature == members["ctl"].signature
    assert ControlSignature(Saxpy.regmap(core.p)) == members["ctl"].signature
    Fragment.get(core, None), Fragment.get(bank, None)     # both elaborate on their own


@pytest.mark.parametrize("name,owner", [("ctl", "the core's control interface"),
                                        ("csr", "the shell's register bus")])
def test_a_port_cannot_take_a_member_name(name, owner):
    class Reserved(Saxpy):
        @classmethod
        def inputs(cls, p):
            return (Port(name, "int32"), Port("y", "int32"))

    with pytest.raises(KernelDefinitionError, match=rf"Reserved.inputs\(p\): a port cannot be "
                                                    rf"named '{name}'; {owner} has that name$"):
        validate_kernel_class(Reserved)
    with pytest.raises(ParamError, match=rf"^saxpy: a port cannot be named '{name}'; {owner} "
                                         rf"has that name$"):
        stream_members(Reserved, Reserved.bind())


def run_core(core, regs, inputs, ready_every=1, max_cycles=2000):
    """Drive ``core`` as the shell would: registers, a start pulse, busy, the streams."""
    sim = Simulator(core)
    sim.add_clock(1e-6)
    outputs = {port.name: [] for port in core.kernel_cls.outputs(core.p)}
    result = {}

    async def testbench(ctx):
        ctl = core.ctl
        for name, value in regs.items():
            if name == "len":
                ctx.set(ctl.length, value)
            else:
                ctx.set(getattr(ctl.regs, name), value)
        ctx.set(ctl.start, 1)
        await ctx.tick()
        ctx.set(ctl.start, 0)
        ctx.set(ctl.busy, 1)
        beats = {name: list(values) for name, values in inputs.items()}
        for cycle in range(max_cycles):
            for name, queue in beats.items():
                stream = getattr(core, name)
                ctx.set(stream.valid, bool(queue))
                if queue:
                    ctx.set(stream.payload, queue[0])
            for name in outputs:
                ctx.set(getattr(core, name).ready, cycle % ready_every == 0)
            finished = ctx.get(ctl.finish)
            taken = {name: ctx.get(getattr(core, name).ready) and bool(queue)
                     for name, queue in beats.items()}
            for name in outputs:
                stream = getattr(core, name)
                if ctx.get(stream.valid) and ctx.get(stream.ready):
                    outputs[name].append(ctx.get(stream.payload))
            await ctx.tick()
            for name, took in taken.items():
                if took:
                    beats[name].pop(0)
            if finished:
                result["cycles"] = cycle + 1
                break
        ctx.set(ctl.busy, 0)

    sim.add_testbench(testbench)
    sim.run()
    return outputs, result.get("cycles")


def test_saxpy_core_alone_equals_the_golden_model():
    rng = np.random.default_rng(3)
    n = 6
    x, y = random_ints(rng, "int32", n), random_ints(rng, "int32", n)
    core = SaxpyCore(Saxpy, lanes=2)
    outputs, cycles = run_core(core, {"len": n, "a": -7},
                               {"x": [list(map(int, x[i:i + 2])) for i in range(0, n, 2)],
                                "y": [list(map(int, y[i:i + 2])) for i in range(0, n, 2)]},
                               ready_every=2)
    assert cycles is not None, "finish never rose"
    got = np.array([lane for beat in outputs["z"] for lane in beat], np.int32)
    np.testing.assert_array_equal(got, Saxpy.golden(core.p, {"x": x, "y": y}, {"a": -7})["z"])


def test_dot_core_alone_sums_and_finishes_once():
    x = np.array([3, -4, 5, 32767], np.int16)
    y = np.array([-2, 6, 7, -32768], np.int16)
    core = DotCore(Dot)
    outputs, cycles = run_core(core, {"len": 4}, {"x": [[int(v)] for v in x],
                                                  "y": [[int(v)] for v in y]})
    assert cycles is not None
    assert [beat[0] for beat in outputs["out"]] == list(Dot.golden(core.p, {"x": x, "y": y},
                                                                   {})["out"])
