"""Verilator's runtime objects, compiled by the first build and linked by the next."""

import subprocess

from hetflow.sim.board.harness import build_executable
from hetflow.sim.runtime import RuntimeLibrary
from hetflow.sim.toolchain import find_simulator

COUNTER = """\
module counter(input clk, output reg [7:0] q);
  initial q = 0;
  always @(posedge clk) q <= q + 8'd1;
endmodule
"""

MAIN = """\
#include <cstdio>
#include <cstdlib>
#include "Vboard.h"
#include "verilated.h"
int main(int argc, char** argv) {
    Vboard top;
    int n = argc > 1 ? std::atoi(argv[1]) : 0;
    for (int i = 0; i < n; i++) { top.clk = 0; top.eval(); top.clk = 1; top.eval(); }
    std::printf("q=%d\\n", (int)top.q);
    top.final();
    return 0;
}
"""


def _build(name, main):
    return build_executable(name=name, what=name, top="counter", verilog_text=COUNTER,
                            cpp_text=main)


def test_the_second_model_links_the_runtime_the_first_compiled(tmp_path, monkeypatch):
    monkeypatch.setenv("HETFLOW_CACHE", str(tmp_path / "cache"))
    first = _build("first", MAIN)
    runtime = list((tmp_path / "cache" / "verilator-runtime").glob("runtime-*.a"))
    assert len(runtime) == 1
    members = subprocess.run(["ar", "t", str(runtime[0])], capture_output=True,
                             text=True, check=True).stdout.split()
    assert "verilated.o" in members
    # A different main: a new build, which must link the archive, not compile the runtime.
    second = _build("second", MAIN.replace("q=%d", "count=%d"))
    log = (second.directory / "build.log").read_text()
    assert "verilated.cpp" not in log and "--whole-archive" in log
    for build, label in ((first, "q"), (second, "count")):
        out = subprocess.run([str(build.executable), "5"], capture_output=True, text=True,
                             check=True, timeout=30).stdout
        assert out.strip() == f"{label}=5"


def test_a_cache_path_make_cannot_carry_builds_the_runtime_every_time(tmp_path, monkeypatch):
    monkeypatch.setenv("HETFLOW_CACHE", str(tmp_path / "a cache"))
    library = RuntimeLibrary(find_simulator("verilator"), "flavour")
    assert not library.usable and library.make_vars() == []
    library.harvest(tmp_path)              # nothing to harvest from, nowhere to put it
    assert not (tmp_path / "a cache").exists()


def test_a_build_without_its_runtime_objects_is_not_harvested(tmp_path, monkeypatch):
    monkeypatch.setenv("HETFLOW_CACHE", str(tmp_path / "cache"))
    (tmp_path / "Vtop_classes.mk").write_text("VM_GLOBAL_FAST += \\\n  verilated \\\n\n")
    library = RuntimeLibrary(find_simulator("verilator"), "flavour")
    library.harvest(tmp_path)
    assert not library.available and library.make_vars() == []
