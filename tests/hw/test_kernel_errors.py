"""Mistakes in a user's kernel are one clear line naming the file and the problem."""

import json
import os
import subprocess
import sys

import pytest

from hetflow.hw import KernelNotFound, get_kernel
from hetflow.hw.contract import validate_kernel_class
from hetflow.hw.errors import ElaborationError, KernelDefinitionError
from hetflow.hw.shell import Shell
from hetflow.hw.verilog import to_verilog

from ..conftest import ROOT, install_kernel_plugin

# A good kernel to break one piece at a time (a copy of the clamp example, shortened).
GOOD = '''
import numpy as np
from amaranth.hdl import Module, Mux
from hetflow.hw import Kernel, KernelCore, Param, Port, Register
from hetflow.hw.kernels.pipeline import elementwise
from hetflow.hw.stimuli import lengths, random_ints


class GoodCore(KernelCore):
    def elaborate(self, platform):
        m = Module()
        lo = self.ctl.regs.lo

        def compute(x):
            return [Mux(x[i] < lo, lo, x[i])[:16]
                    for i in range(self.p.lanes)]

        elementwise(m, self.ctl, [self.x], self.y, self.p.lanes, compute)
        return m


class Good(Kernel):
    name = "good"
    core = GoodCore
    params = (Param("lanes", 1, 1, 2, "elements per cycle"),)
    scalars = ("lo",)

    @classmethod
    def inputs(cls, p):
        return (Port("x", "int16", p.lanes),)

    @classmethod
    def outputs(cls, p):
        return (Port("y", "int16", p.lanes),)

    @classmethod
    def registers(cls, p):
        return (Register("lo", bits=16, signed=True),)

    @classmethod
    def golden(cls, p, inputs, scalars):
        return {"y": np.maximum(inputs["x"], np.int16(scalars["lo"]))}

    @classmethod
    def cases(cls, p, rng, count):
        return [({"x": random_ints(rng, "int16", n)}, {"lo": 0}) for n in lengths(rng, count)]
'''

BROKEN = '''

class NoName(Good):
    name = None


class NoGolden(Kernel):
    name = "no_golden"
    core = GoodCore

    @classmethod
    def inputs(cls, p):
        return (Port("x", "int16"),)

    @classmethod
    def outputs(cls, p):
        return (Port("y", "int16"),)

    @classmethod
    def cases(cls, p, rng, count):
        return []


class GoldenNotClassmethod(Good):
    name = "golden_self"

    def golden(self, p, inputs, scalars):
        return {}


class InputsWrongArguments(Good):
    name = "inputs_args"

    @classmethod
    def inputs(cls):
        return ()


class ScalarsNotTuple(Good):
    name = "scalars_str"
    scalars = ("lo")


class FloatPort(Good):
    name = "float_port"

    @classmethod
    def outputs(cls, p):
        return (Port("y", "float32", p.lanes),)


class InputsRaise(Good):
    name = "inputs_raise"

    @classmethod
    def inputs(cls, p):
        return (Port("x", "int16", p.lanez),)


class BadDefault(Good):
    name = "bad_default"
    params = (Param("lanes", 0, 1, 2),)


class OldApi(Good):
    name = "old_api"
    core = None

    def elaborate_core(self, m, ctl):
        pass


class NoCore(Good):
    name = "no_core"
    core = None


class CoreNotAComponent(Good):
    name = "core_module"
    core = Module


class CoreWithoutHardware(KernelCore):
    pass


class EmptyCore(Good):
    name = "empty_core"
    core = CoreWithoutHardware


class BugCore(KernelCore):
    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.z.ready.eq(1)
        return m


class ElaborationBug(Good):
    name = "elab_bug"
    core = BugCore
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """``userk.py`` with a good kernel and broken ones, importable as ``userk``."""
    path = tmp_path / "userk.py"
    path.write_text(GOOD + BROKEN)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield path
    sys.modules.pop("userk", None)


def line_of(path, text):
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_good_kernel_passes(user_module):
    assert get_kernel("userk:Good").name == "good"
    assert "module hetflow_good" in to_verilog(Shell(get_kernel("userk:Good")))


@pytest.mark.parametrize("cls,anchor,problem", [
    ("NoName", "class NoName", "class NoName has no 'name'; set a class attribute such as "
                               "name = \"noname\""),
    ("NoGolden", "class NoGolden", "class NoGolden does not define golden() (the NumPy golden "
                                   "model); every kernel defines name, core, inputs, outputs, "
                                   "golden, cases"),
    ("GoldenNotClassmethod", "def golden(self", "GoldenNotClassmethod.golden must be a "
                                                "@classmethod golden(cls, p, inputs, scalars)"),
    ("InputsWrongArguments", "def inputs(cls):", "InputsWrongArguments.inputs takes inputs(cls); "
                                                 "hetflow calls it as inputs(cls, p)"),
    ("ScalarsNotTuple", "class ScalarsNotTuple", "ScalarsNotTuple.scalars = 'lo' must be a tuple "
                                                 "of str (a one-element tuple needs a comma"),
    ("FloatPort", "class FloatPort", "FloatPort.outputs(p): port 'y' has dtype 'float32'; "
                                     "allowed integer dtypes"),
    ("InputsRaise", "p.lanez", "InputsRaise.inputs(p) raised AttributeError: lanez"),
    ("OldApi", "def elaborate_core", "OldApi.elaborate_core(m, ctl) is no longer called: move "
                                     "its body into elaborate(self, platform) of a "
                                     "hetflow.hw.KernelCore subclass (m = Module() ... return m; "
                                     "self.ctl for ctl, self.p and the ports as before) and set "
                                     "core = that class"),
    ("NoCore", "class NoCore", "NoCore.core = None; set core = a hetflow.hw.KernelCore subclass "
                               "whose elaborate() builds the hardware"),
    ("CoreNotAComponent", "class CoreNotAComponent",
     "CoreNotAComponent.core = <class 'amaranth.hdl._dsl.Module'>; set core = a "
     "hetflow.hw.KernelCore subclass"),
    ("EmptyCore", "class CoreWithoutHardware", "CoreWithoutHardware does not define "
                                               "elaborate(self, platform), the hardware"),
    ("BadDefault", "class BadDefault", "the default parameters of BadDefault are invalid: "
                                       "bad_default: parameter 'lanes' = 0 is out of range"),
])
def test_bad_kernel_class_is_one_line_with_file_and_line(user_module, cls, anchor, problem):
    with pytest.raises(KernelDefinitionError) as info:
        get_kernel(f"userk:{cls}")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"kernel 'userk:{cls}': {user_module}:"
                              f"{line_of(user_module, anchor)}: "), message
    assert problem in message, message
    # A KernelNotFound too, so listing kernels skips a broken plugin instead of stopping.
    assert isinstance(info.value, KernelNotFound)


def test_class_passed_directly_is_checked(user_module):
    import userk
    with pytest.raises(KernelDefinitionError, match=r"^.*userk\.py:\d+: NoCore\.core = None; "
                                                    r"set core = a hetflow\.hw\.KernelCore"):
        Shell(userk.NoCore)
    with pytest.raises(KernelDefinitionError, match=r"^kernel class NoGolden: .*userk\.py:\d+: "):
        get_kernel(userk.NoGolden)
    with pytest.raises(KernelDefinitionError, match=r"^.*userk\.py:\d+: class NoName has no"):
        validate_kernel_class(userk.NoName)


def test_elaboration_error_names_the_line(user_module):
    kernel = Shell(get_kernel("userk:ElaborationBug"))    # the class itself is fine
    with pytest.raises(ElaborationError) as info:
        to_verilog(kernel)
    assert str(info.value) == (
        f"{user_module}:{line_of(user_module, 'self.z.ready')}: kernel 'elab_bug' "
        f"(BugCore) failed to elaborate: AttributeError: 'BugCore' object has "
        f"no attribute 'z'")


def test_a_description_is_not_the_hardware(user_module):
    good = get_kernel("userk:Good")
    with pytest.raises(TypeError) as info:
        good(lanes=2)
    assert str(info.value) == (
        "Good is a kernel description and is not instantiated: the hardware in its shell is "
        "hetflow.hw.Shell(Good, lanes=2), the core alone Good.core(Good, lanes=2)")


def test_a_core_written_for_flat_payloads_is_told_what_to_change(fixtures_on_path):
    kernel = Shell(get_kernel("faulty_kernels:FlatPayloadSaxpy"))
    with pytest.raises(ElaborationError) as info:
        to_verilog(kernel)
    message = str(info.value)
    assert "faulty_kernels.py:" in message and "kernel 'flat_payload_saxpy'" in message
    assert message.endswith(
        "AttributeError: View with an array layout does not have fields; stream payloads are "
        "data.ArrayLayout views of the port's dtype: write payload[i] for lane i (already "
        "typed) instead of slicing bits, or payload.as_value() for the flat bits")
    assert "\n" not in message


def test_import_errors_name_the_line(tmp_path, monkeypatch):
    (tmp_path / "syntaxk.py").write_text("x = 1\ndef broken(:\n    pass\n")
    (tmp_path / "namek.py").write_text("import numpy\n\nvalue = undefined_name\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(KernelNotFound, match=rf"^kernel 'syntaxk:K': importing 'syntaxk' failed "
                                             rf"at {tmp_path}/syntaxk.py:2: SyntaxError: "):
        get_kernel("syntaxk:K")
    with pytest.raises(KernelNotFound, match=rf"^kernel 'namek:K': importing 'namek' failed at "
                                             rf"{tmp_path}/namek.py:3: NameError: name "
                                             rf"'undefined_name' is not defined$"):
        get_kernel("namek:K")
    with pytest.raises(KernelNotFound, match=r"^kernel 'namek:' is not of the form module:Class"):
        get_kernel("namek:")


def cli(*args, env):
    return subprocess.run([sys.executable, "-m", "hetflow.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=300, env={**os.environ, **env})


def test_cli_reports_one_line(user_module):
    env = {"PYTHONPATH": str(user_module.parent)}
    proc = cli("verify", "userk:NoGolden", env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"hetflow verify: error: kernel 'userk:NoGolden': {user_module}:"
        f"{line_of(user_module, 'class NoGolden')}: class NoGolden does not define golden() "
        f"(the NumPy golden model); every kernel defines name, core, inputs, outputs, golden, "
        f"cases"]
    proc = cli("export", "userk:ElaborationBug", "--format", "verilog", env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "failed to elaborate: AttributeError" in lines[0], proc.stderr
    assert f"{user_module}:{line_of(user_module, 'self.z.ready')}" in lines[0]


def test_broken_entry_point_kernel_does_not_hide_the_others(user_module, tmp_path):
    """An installed plugin whose class is broken: ``hetflow kernels`` warns and lists the rest."""
    install_kernel_plugin(tmp_path, "userk", "0.1",
                          {"good": "userk:Good", "no_golden": "userk:NoGolden"})
    proc = cli("kernels", "--json", env={"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 1
    names = {k["name"] for k in json.loads(proc.stdout)}
    assert {"good", "saxpy"} <= names and "no_golden" not in names
    warning, = proc.stderr.strip().splitlines()
    assert warning.startswith(f"hetflow kernels: warning: kernel 'no_golden' (userk:NoGolden): "
                              f"{user_module}:")
    assert "does not define golden()" in warning


def test_builtin_kernels_keep_the_contract():
    from hetflow.hw import all_kernels
    assert len(all_kernels()) >= 6
