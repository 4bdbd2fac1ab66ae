import numpy as np
import pytest

from hetflow.hw import (KernelNotFound, ParamError, StimulusError, get_kernel, kernel_names,
                        pack_beats, unpack_beats)
from hetflow.hw.regmap import RegisterMap, kernel_id
from hetflow.hw.spec import Param, Port, Register


def test_registry_lists_builtin_kernels():
    assert {"saxpy", "dot", "fir", "gemm", "conv2d", "crc32"} <= set(kernel_names())


def test_unknown_kernel_message():
    with pytest.raises(KernelNotFound, match=r"^unknown kernel 'nope'; known kernels: .*saxpy"):
        get_kernel("nope")


def test_module_path_errors():
    with pytest.raises(KernelNotFound,
                       match=r"^kernel 'no_such_mod:K': cannot import module 'no_such_mod'"):
        get_kernel("no_such_mod:K")
    with pytest.raises(KernelNotFound, match=r"^kernel 'numpy:Nope': module 'numpy' has no 'Nope'"):
        get_kernel("numpy:Nope")
    with pytest.raises(KernelNotFound, match=r"not a subclass of hetflow.hw.Kernel"):
        get_kernel("numpy:ndarray")


def test_param_validation_messages():
    saxpy = get_kernel("saxpy")
    assert saxpy.bind() == {"lanes": 1}
    assert saxpy.bind(lanes="4") == {"lanes": 4}
    with pytest.raises(ParamError, match=r"^saxpy: parameter 'lanes' = 3 is out of range; "
                                         r"allowed one of 1, 2, 4, 8$"):
        saxpy.bind(lanes=3)
    with pytest.raises(ParamError, match=r"^saxpy: unknown parameter 'taps'; parameters are: lanes$"):
        saxpy.bind(taps=2)
    with pytest.raises(ParamError, match=r"^saxpy: parameter 'lanes' = 'x' is not an integer"):
        saxpy.bind(lanes="x")
    with pytest.raises(ParamError, match=r"^fir: parameter 'taps' = 0 is out of range; allowed 1..64$"):
        get_kernel("fir").bind(taps=0)


def test_param_range():
    p = Param("n", 1, 1, 4)
    assert p.validate("k", 4) == 4
    with pytest.raises(ParamError, match=r"^k: parameter 'n' = 5 is out of range; allowed 1..4$"):
        p.validate("k", 5)
    with pytest.raises(ParamError, match=r"is not an integer"):
        p.validate("k", True)


def test_call_checks():
    saxpy = get_kernel("saxpy")
    p = saxpy.bind()
    x = np.arange(4, dtype=np.int32)
    with pytest.raises(StimulusError, match=r"^saxpy: input 'y' has dtype float64; expected int32 "
                                            r"\(convert with .astype\(np.int32\)\)$"):
        saxpy.prepare(p, {"x": x, "y": np.zeros(4)}, {"a": 1})
    with pytest.raises(StimulusError, match=r"^saxpy: inputs are x, y; missing y$"):
        saxpy.prepare(p, {"x": x}, {"a": 1})
    with pytest.raises(StimulusError, match=r"^saxpy: runtime scalars are: a; missing a$"):
        saxpy.prepare(p, {"x": x, "y": x}, {})
    with pytest.raises(StimulusError, match=r"^saxpy: scalar 'a' = 2147483648 does not fit int32"):
        saxpy.prepare(p, {"x": x, "y": x}, {"a": 2**31})
    with pytest.raises(StimulusError, match=r"^saxpy: input 'y' has 3 elements but 'x' has 4"):
        saxpy.prepare(p, {"x": x, "y": x[:3]}, {"a": 1})
    with pytest.raises(StimulusError, match=r"^saxpy: input 'x' must be a numpy array of int32, not list"):
        saxpy.prepare(p, {"x": [1, 2], "y": x}, {"a": 1})


def test_saxpy_golden_wraps():
    saxpy = get_kernel("saxpy")
    x = np.array([2**31 - 1, -2**31, 3], dtype=np.int32)
    y = np.array([1, -1, 4], dtype=np.int32)
    z = saxpy.golden(saxpy.bind(), {"x": x, "y": y}, {"a": 2})["z"]
    expected = [(2 * int(a) + int(b) + 2**31) % 2**32 - 2**31 for a, b in zip(x, y)]
    assert z.dtype == np.int32 and z.tolist() == expected


@pytest.mark.parametrize("dtype,lanes", [("int8", 4), ("int16", 3), ("int32", 2), ("uint8", 8),
                                         ("int64", 1), ("uint32", 1)])
def test_pack_unpack_roundtrip(dtype, lanes):
    port = Port("p", dtype, lanes)
    info = np.iinfo(dtype)
    arr = np.array([info.min, info.max, 0, 1, info.max // 3, info.min // 5, 7], dtype=dtype)
    beats = pack_beats(port, arr)
    assert len(beats) == port.beats(len(arr))
    assert all(0 <= b < 2 ** port.width for b in beats)
    assert unpack_beats(port, beats, len(arr)).tolist() == arr.tolist()


def test_pack_layout_lane0_in_low_bits():
    port = Port("p", "int8", 2)
    assert pack_beats(port, np.array([1, -1], dtype=np.int8)) == [0xFF01]


def test_regmap_layout_and_exports():
    rm = RegisterMap("demo", [Register("a", signed=True, doc="gain"),
                              Register("h", count=3, bits=16, signed=True)])
    assert [r.name for r in rm] == ["ctrl", "status", "len", "cycles_lo", "cycles_hi", "id", "a", "h"]
    assert rm.offset("a") == 0x20 and rm.offset("h", 2) == 0x2C
    assert rm.size == 64 and rm.addr_width == 4
    with pytest.raises(IndexError, match=r"^demo: register 'h' has 3 element\(s\); index 3"):
        rm.offset("h", 3)
    with pytest.raises(KeyError, match=r"demo: no register 'b'"):
        rm.offset("b")
    d = rm.to_dict()
    assert d["id"] == kernel_id("demo") and d["registers"][7]["count"] == 3
    header = rm.to_c_header()
    assert "#define HETFLOW_DEMO_H_OFFSET 0x24u" in header
    assert "#define HETFLOW_DEMO_H_COUNT 3u" in header
    assert "#define HETFLOW_DEMO_STATUS_DONE_MASK 0x2u" in header
    with pytest.raises(ValueError, match=r"register name 'a' is used twice"):
        RegisterMap("demo", [Register("a"), Register("a")])


@pytest.mark.parametrize("name", ["saxpy", "dot", "fir", "gemm", "conv2d", "crc32"])
def test_every_kernel_describes_and_elaborates(name):
    from hetflow.hw.shell import Shell
    from hetflow.hw.verilog import to_verilog
    cls = get_kernel(name)
    info = cls.describe()
    assert info["name"] == name and info["inputs"] and info["outputs"]
    text = to_verilog(Shell(cls))
    assert f"module hetflow_{name}(" in text
    for port in ("csr_addr", "csr_w_stb", "csr_r_data", "clk", "rst"):
        assert port in text
    for port in cls.inputs(cls.bind()):
        assert f"{port.name}_valid" in text and f"{port.name}_data" in text
    assert "__" not in text.split(");")[0]   # no Verilator-mangled port names


@pytest.mark.parametrize("name", ["saxpy", "dot", "fir", "gemm", "conv2d", "crc32"])
def test_cases_match_golden_shapes(name):
    cls = get_kernel(name)
    p = cls.bind()
    cases = cls.cases(p, np.random.default_rng(0), 6)
    assert 1 <= len(cases) <= 6
    for inputs, scalars in cases:
        job = cls.prepare(p, dict(inputs), dict(scalars))
        golden = cls.golden(p, dict(inputs), dict(scalars))
        assert set(golden) == set(job.expect)


def test_params_key_caches_by_value():
    # Every cache of a kernel configuration keys on (kernel class, Params): equal
    # configurations must meet in one entry however they were spelled.
    import copy
    import pickle

    from hetflow.hw import Params

    gemm = get_kernel("gemm")
    p = gemm.bind(rows=2, cols=4)
    spelled = [gemm.bind(cols=4, rows=2),                       # keyword order
               gemm.bind(rows=np.int64(2), cols=np.uint8(4)),   # NumPy scalars
               gemm.bind(rows="2", cols="0x4"),                 # strings from --param
               gemm.bind(),                                     # the defaults
               Params(cols=4, rows=2),                          # built directly
               pickle.loads(pickle.dumps(p)), copy.deepcopy(p)]
    cache = {(gemm, p): "entry"}
    for q in spelled:
        assert type(q) is Params and q == p and hash(q) == hash(p), q
        assert cache[(gemm, q)] == "entry"
    assert all(type(v) is int for v in gemm.bind(rows=np.int64(2)).values())
    # A NumPy scalar equals and hashes like the int it holds, so even an unbound
    # Params with one finds the entry.
    assert cache[(gemm, Params(rows=np.int64(2), cols=np.int32(4)))] == "entry"
    # Different values, or the same values for another kernel, are other entries.
    assert (gemm, gemm.bind(rows=4)) not in cache
    saxpy, dot = get_kernel("saxpy"), get_kernel("dot")
    assert saxpy.bind() == dot.bind() and (saxpy, saxpy.bind()) != (dot, dot.bind())
    # The shell's own memo meets on the same key: one object for equal Params.
    assert gemm.memo("inputs", gemm.bind(cols=4, rows=2)) is gemm.memo("inputs", p)


def test_params_are_read_only():
    p = get_kernel("gemm").bind()
    for change in (lambda: p.__setitem__("rows", 4), lambda: p.__delitem__("rows"),
                   lambda: p.update(rows=4), lambda: p.pop("rows"), lambda: p.popitem(),
                   lambda: p.setdefault("x", 1), p.clear):
        with pytest.raises(TypeError, match=r"^Params are read-only .*Kernel.bind"):
            change()
    with pytest.raises(TypeError, match=r"^Params are read-only"):
        p |= {"rows": 4}
    assert p == {"rows": 2, "cols": 4}
