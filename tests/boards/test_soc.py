"""The board SoC's gateware (memory + DMA + kernel behind the host bus) in amaranth.sim.

Every job goes through the host bus exactly as a bridge would drive it: memory
writes, DMA set-up, kernel registers, start, polling, memory reads; the
outputs are compared with the golden model.
"""

import gc
import sys
import warnings

import numpy as np
import pytest
from amaranth.hdl import Fragment

from hetflow.boards.bridge import FrameBridge
from hetflow.boards.dma import INPUT_DEPTH, beat_stride, channels, input_depth
from hetflow.boards.soc import SOC_ID, SOC_MAP, SoC
from hetflow.boards.socsim import SocSimulation, run_job
from hetflow.hw.errors import ParamError
from hetflow.hw.registry import get_kernel
from hetflow.hw.shell import Shell
from hetflow.link import protocol


def _check(name, params, memory="bram", cases=3, seed=1, host_noise=False, size=16 * 1024):
    kernel_cls = get_kernel(name)
    p = kernel_cls.bind(**params)
    rng = np.random.default_rng(seed)
    for inputs, scalars in kernel_cls.cases(p, rng, 6)[:cases]:
        calls, _ = kernel_cls.split(p, inputs, scalars)
        call_inputs, call_scalars = calls[0]
        job = kernel_cls.prepare(p, call_inputs, call_scalars)
        outputs, cycles, info = run_job(Shell(kernel_cls, **p), job, memory=memory,
                                        memory_size=size, host_noise=host_noise)
        got = kernel_cls.collect(p, job, outputs)
        want = kernel_cls.golden(p, call_inputs, call_scalars)
        for key in want:
            np.testing.assert_array_equal(np.asarray(got[key]), np.asarray(want[key]),
                                          err_msg=f"{name} {params} output {key}")
        assert cycles > 0
        assert info["id"] == SOC_ID
        assert info["channels"] == len(channels(kernel_cls, p))
        assert info["memory_size"] == size


def test_saxpy_job_through_the_soc_equals_golden():
    kernel_cls = get_kernel("saxpy")
    p = kernel_cls.bind()
    rng = np.random.default_rng(7)
    x = rng.integers(-2**31, 2**31, 50, dtype=np.int64).astype(np.int32)
    y = rng.integers(-2**31, 2**31, 50, dtype=np.int64).astype(np.int32)
    job = kernel_cls.prepare(p, {"x": x, "y": y}, {"a": -3})
    outputs, cycles, info = run_job(Shell(kernel_cls, **p), job)
    np.testing.assert_array_equal(outputs["z"],
                                  kernel_cls.golden(p, {"x": x, "y": y}, {"a": -3})["z"])
    # Three memory words per element through one memory port: at least 3 cycles each.
    assert 3 * 50 - 2 * INPUT_DEPTH <= cycles <= 3 * 50 + 20
    assert info["kernel_id"] == kernel_cls.regmap(p).kernel_id


@pytest.mark.parametrize("memory", ["bram", "spram"])
def test_saxpy_on_both_memories(memory):
    _check("saxpy", {}, memory=memory, size=64 * 1024 if memory == "spram" else 16 * 1024)


def test_spram_upper_bank():
    """128 KiB of SPRAM: a job placed in the second pair of blocks."""
    kernel_cls = get_kernel("saxpy")
    p = kernel_cls.bind()
    sim = SocSimulation(Shell(kernel_cls, **p), memory="spram", memory_size=128 * 1024)
    x = np.arange(20, dtype=np.int32)
    job = kernel_cls.prepare(p, {"x": x, "y": x}, {"a": 2})
    base = 64 * 1024
    sim.layout = lambda job, _orig=sim.layout: {k: (ch, a + base, b)
                                                 for k, (ch, a, b) in _orig(job).items()}
    outputs, _, _ = sim.run(job)
    np.testing.assert_array_equal(outputs["z"], 3 * x)


def test_gemm_tile_uses_every_lane():
    _check("gemm", {"rows": 2, "cols": 4}, cases=4)


def test_wide_and_narrow_beats():
    # 256-bit beats (8 words each), 3-byte beats (stride 4, zero padding), 1-byte beats.
    _check("saxpy", {"lanes": 8}, cases=2)
    _check("gemm", {"rows": 3, "cols": 3}, cases=2)
    _check("crc32", {"lanes": 1}, cases=3)
    _check("crc32", {"lanes": 2}, cases=2)


def test_fir_dot_conv2d():
    _check("fir", {"taps": 4}, cases=2)
    _check("dot", {}, cases=2)
    _check("conv2d", {"max_width": 8}, cases=2)


def test_host_memory_reads_while_the_dma_runs():
    """The host port wins the memory; the DMA waits and still moves every beat."""
    _check("saxpy", {}, cases=2, host_noise=True)
    _check("gemm", {}, cases=2, host_noise=True)


def test_every_input_channel_keeps_two_beats_ahead():
    def depths(name, **params):
        k = get_kernel(name)
        chans = channels(k, k.bind(**params))
        return [input_depth(chans, ch) for ch in chans if not ch.output]
    assert depths("crc32", lanes=1) == [INPUT_DEPTH] == [2]
    assert depths("crc32", lanes=8) == [2]
    assert depths("saxpy") == [2, 2]
    assert depths("fir") == [2]


def test_beat_stride_matches_the_virtual_board():
    for width in (1, 7, 8, 9, 16, 17, 24, 32, 33, 64, 96, 128, 256, 512):
        assert beat_stride(width) == protocol.beat_stride(width)


def test_soc_rejects_bad_memory():
    kernel = Shell(get_kernel("saxpy"))
    with pytest.raises(ParamError) as e:
        SoC(kernel, memory="dram")
    assert str(e.value) == "SoC memory must be one of bram, spram, not 'dram'"
    with pytest.raises(ParamError) as e:
        SoC(kernel, memory_size=3000)
    assert str(e.value) == ("SoC memory_size = 3000 is out of range; allowed a power of two "
                            "from 1024 to 1048576 bytes")
    with pytest.raises(ParamError) as e:
        SoC(kernel, memory="spram", memory_size=32 * 1024)
    assert str(e.value) == "SPRAM memory_size = 32768 is not available; allowed 65536 or 131072 bytes"
    Fragment.get(kernel, None)              # refused by every SoC, the kernel is still ours


def test_refused_soc_and_bridge_leave_no_unused_elaboratable():
    """Both check their parameters in ``__new__``, before Amaranth tracks the object, so a
    caught ParamError leaves no "created but never used" warning behind; an unused valid
    one still warns, at the caller's line."""
    kernel = Shell(get_kernel("saxpy"))
    soc = SoC(kernel)
    Fragment.get(soc, None)                 # Amaranth warns about unused objects only after this
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ParamError):
            SoC(kernel, memory_size=3000)
        with pytest.raises(ParamError):
            FrameBridge(strides=[], memory_size=4096, register_size=64)
        with pytest.raises(ParamError):
            FrameBridge.for_soc(soc, idle_cycles=3)
        line = sys._getframe().f_lineno + 1
        SoC(kernel)
        gc.collect()
    unused = [w for w in caught if "created but never used" in str(w.message)]
    assert [(w.filename, w.lineno) for w in unused] == [(__file__, line)]


def test_soc_map_addresses():
    assert SOC_MAP.dma_reg(0, "ADDR") == 0x1040
    assert SOC_MAP.dma_reg(2, "BEATS") == 0x1040 + 4 * (4 * 2 + 1)
    assert SOC_MAP.to_dict()["mem_base"] == 0x100000
