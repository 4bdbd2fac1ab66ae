"""Verification of a kernel's post-synthesis netlist, beside its RTL, against the golden model.

``verify_netlist("gemm", "icebreaker")`` verifies the kernel's RTL as
:func:`hetflow.sim.verify.verify` does, then the netlist the board's own
synthesis makes of the same Verilog (:mod:`hetflow.boards.netlist`) with the
same cases, seed and gap/back-pressure pattern, through the same cocotb bench
and golden model.  It passes when both pass and the netlist takes exactly the
RTL's cycles per unit of work: synthesis must change neither what the kernel
computes nor when.

What it catches is what RTL simulation cannot see: a kernel relying on a value
the Verilog leaves undefined (which the simulator fills one way and synthesis
another), a synthesis or cell-mapping bug, a cell model that disagrees.
"""

from dataclasses import dataclass, field
from pathlib import Path

from ..hw.errors import HetflowError
from ..sim.verify import DEFAULT_PAUSE, VerifyResult, verify
from .netlist import Netlist, NetlistTarget, cell_models

__all__ = ["verify_netlist", "NetlistResult"]


@dataclass
class NetlistResult:
    """Outcome of :func:`verify_netlist`.

    Attributes
    ----------
    kernel, board, family : str
    params : dict
    rtl : VerifyResult
        The kernel's RTL against the golden model.
    netlist : VerifyResult or None
        The netlist against the golden model (None when the RTL failed: the
        netlist is then not simulated).
    synthesis : Netlist or None
        What was simulated: cells, synthesis commands and seconds.
    compile_s : float
        Seconds compiling netlist and cell models (0 when cached).
    errors : list of str
        Why it fails beyond wrong values (RTL failing, cycles differing).
    """

    kernel: str
    params: dict
    board: str
    family: str
    rtl: VerifyResult
    netlist: VerifyResult = None
    synthesis: Netlist = None
    compile_s: float = 0.0
    errors: list = field(default_factory=list)

    @property
    def passed(self):
        return (self.rtl.passed and self.netlist is not None and self.netlist.passed
                and not self.errors)

    @property
    def mismatches(self):
        """The netlist's first wrong outputs (case, output, index, expected, got)."""
        return self.netlist.mismatches if self.netlist is not None else []

    def summary(self):
        """One line: PASS/FAIL, the kernel, the board, and cycles per unit of both."""
        params = "".join(f" {k}={v}" for k, v in self.params.items())
        head = (f"{'PASS' if self.passed else 'FAIL'} {self.kernel}{params}, {self.board} "
                f"netlist ({self.family})")
        rtl, net = self.rtl, self.netlist
        if net is None:
            return f"{head}: not simulated, the RTL fails ({rtl.failed_cases}/{rtl.cases} cases)"
        cycles = f"{_per_unit(net)} cycles/{net.unit} (RTL {_per_unit(rtl)})"
        if not net.passed:
            what = (f"{net.failed_cases}/{net.cases} cases failed, {net.mismatch_count} "
                    f"mismatching elements (RTL passed)")
            first = (f"; first: {net.mismatches[0]}" if net.mismatches
                     else f"; {net.errors[0]}" if net.errors else "")
            return f"{head}: {what}{first}, {cycles}, seed {net.seed}"
        if self.errors:
            return f"{head}: {self.errors[0]}, seed {net.seed}"
        return (f"{head}: RTL and netlist match the golden model in {net.cases} cases, "
                f"{cycles}, seed {net.seed}")

    def timings(self):
        """One line: the netlist's cells and where the time went."""
        net, syn = self.netlist, self.synthesis
        if net is None or syn is None:
            return "netlist: not built"
        cells = ", ".join(f"{n} {c}" for c, n in sorted(syn.cells.items(), key=lambda x: -x[1])
                          if not c.startswith("$"))
        synth = "cached" if syn.cached else f"{syn.synth_s:.1f} s"
        compile_ = "cached" if net.build_cached else f"{self.compile_s:.1f} s"
        return (f"netlist: {cells}; synthesis {synth}, compile {compile_}, simulation "
                f"{net.sim_s:.1f} s (RTL simulation {self.rtl.sim_s:.1f} s)")


def _per_unit(result):
    return f"{result.cycles_per_unit:.3f}" if result.cycles_per_unit is not None else "?"


def verify_netlist(kernel, board, params=None, *, sim="verilator", seed=1, count=20,
                   waves=False, workdir=None, pause=DEFAULT_PAUSE, status=None):
    """Verify ``kernel``'s RTL and its post-synthesis netlist for ``board``.

    Parameters
    ----------
    kernel : str or Kernel subclass
        Registry name, ``module:Class`` path, or the class itself.
    board : str
        A board of :func:`hetflow.boards.netlist.netlist_boards`.
    params, seed, count, waves, pause, status
        As for :func:`hetflow.sim.verify.verify`; both runs use the same.
    sim : str
        ``"verilator"`` (the only simulator netlists are run on).
    workdir : path-like, optional
        Runs go to ``WORKDIR/rtl`` and ``WORKDIR/netlist-BOARD`` (default: the
        hetflow cache).

    Returns
    -------
    NetlistResult
    """
    target = NetlistTarget(board)
    if sim != "verilator":
        raise HetflowError(f"netlists are simulated with verilator only, not '{sim}'; "
                           f"drop --sim {sim}")
    # A missing cell library is found before the RTL run, not after.
    cell_models(target.board.family)
    sub = (lambda name: Path(workdir) / name) if workdir is not None else (lambda name: None)
    common = dict(sim=sim, seed=seed, count=count, waves=waves, pause=pause, status=status)
    rtl = verify(kernel, params, workdir=sub("rtl"), **common)
    result = NetlistResult(rtl.kernel, rtl.params, target.board.name, target.board.family, rtl)
    if not rtl.passed:
        result.errors.append("the RTL fails against the golden model; the netlist was not "
                             "simulated")
        return result
    net = verify(kernel, params, workdir=sub(f"netlist-{target.board.name}"), target=target,
                 **common)
    result.netlist, result.synthesis, result.compile_s = net, target.netlist, target.compile_s
    if net.passed and net.cycles_per_unit != rtl.cycles_per_unit:
        result.errors.append(f"the netlist takes {_per_unit(net)} cycles/{net.unit}, the RTL "
                             f"{_per_unit(rtl)}")
    return result
