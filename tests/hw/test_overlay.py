"""Overlay descriptions: TOML and Python, chains, the composed golden models, every error."""

import zlib

import numpy as np
import pytest

from hetflow.hw.overlay import Overlay, OverlayError, compose, derive_jobs, load_overlay, \
    parse_overlay
from hetflow.hw.overlay.tomlfile import key_lines

from ..conftest import PIPELINE_TOML as PIPELINE

HEAD = """\
[instances]
fir0 = { kernel = "fir", taps = 16 }
crc0 = { kernel = "crc32", lanes = 4 }
crc1 = { kernel = "crc32", lanes = 1 }
gemm0 = { kernel = "gemm", rows = 4, cols = 4 }
saxpy0 = { kernel = "saxpy", lanes = 1 }
saxpy1 = { kernel = "saxpy", lanes = 1 }
"""


def stream(source, sink, extra=""):
    return f'[[stream]]\nfrom = "{source}"\nto = "{sink}"\n{extra}'


def test_pipeline_file(tmp_path):
    path = tmp_path / "pipeline.toml"
    path.write_text(PIPELINE)
    overlay = load_overlay(path)
    assert overlay.name == "pipeline"
    assert list(overlay.instances) == ["fir0", "crc0", "gemm0"]
    assert overlay.instances["gemm0"].params == {"rows": 2, "cols": 4}
    (chain,) = overlay.chains.values()
    assert chain.name == "fir0_crc0"
    assert chain.order == ("fir0", "crc0")
    assert chain.inputs == (("fir0", "x"),)
    assert chain.outputs == (("crc0", "crc"),)
    assert overlay.streams[0].depth == 32 and overlay.streams[0].reinterpret
    assert overlay.chained("fir0") and not overlay.chained("gemm0")
    assert overlay.describe()["chains"] == {"fir0_crc0": ["fir0", "crc0"]}


def test_python_api_equals_file():
    overlay = Overlay("pipeline")
    overlay.add("fir0", "fir", taps=16)
    overlay.add("crc0", "crc32", lanes=4)
    overlay.add("gemm0", "gemm", rows=2, cols=4)
    overlay.connect("fir0.y", "crc0.data", depth=32, reinterpret=True)
    assert overlay.describe() == parse_overlay(PIPELINE).describe()


def test_single_kernel_is_the_trivial_overlay():
    overlay = Overlay.single("saxpy", lanes=2)
    assert list(overlay.instances) == ["saxpy"] and overlay.chains == {}


def test_chain_order_follows_the_streams_not_the_file():
    overlay = parse_overlay(HEAD + stream("saxpy1.z", "saxpy0.x"))
    assert overlay.chains["saxpy1_saxpy0"].order == ("saxpy1", "saxpy0")
    assert overlay.chains["saxpy1_saxpy0"].inputs == (("saxpy1", "x"), ("saxpy1", "y"),
                                                      ("saxpy0", "y"))


def test_compose_equals_numpy_and_zlib():
    overlay = parse_overlay(PIPELINE)
    chain = overlay.chains["fir0_crc0"]
    rng = np.random.default_rng(1)
    x = rng.integers(-2**15, 2**15, 1000, dtype=np.int16)
    h = rng.integers(-2**15, 2**15, 16, dtype=np.int16)
    out = compose(overlay, chain, {("fir0", "x"): x}, {"fir0": {"h": h}})
    y = (np.convolve(x.astype(np.int64), h.astype(np.int64))[:1000] & 0xFFFFFFFF)
    expected = zlib.crc32(y.astype(np.uint32).astype("<u4").tobytes())
    assert out == {("crc0", "crc"): np.array([expected], np.uint32)}
    jobs = derive_jobs(overlay, chain, {("fir0", "x"): x}, {"fir0": {"h": h}})
    assert jobs["crc0"].registers["len"] == 4000     # 1000 int32 as bytes
    assert jobs["crc0"].expect == {"crc": 1}


def test_derived_lengths_are_checked_as_a_board_call():
    overlay = Overlay()
    overlay.add("c", "crc32", lanes=4)
    overlay.add("s", "saxpy", lanes=1)
    overlay.connect("c.crc", "s.x", reinterpret=True)
    with pytest.raises(Exception, match="^s: saxpy: input 'y' has 3 elements but 'x' has 1"):
        derive_jobs(overlay, overlay.chains["c_s"], {("c", "data"): np.zeros(5, np.uint8),
                                                     ("s", "y"): np.zeros(3, np.int32)},
                    {"s": {"a": 1}})


def test_key_lines():
    lines = key_lines(PIPELINE)
    assert lines[("instances", "gemm0")] == 6
    assert lines[("stream", 0)] == 8 and lines[("stream", 0, "to")] == 10


ERRORS = {
    "unknown kernel": ('[instances]\nfir0 = { kernel = "firr" }\n',
                       "p.toml:2: instance 'fir0': unknown kernel 'firr'; known kernels: "),
    "bad parameter": ('[instances]\nfir0 = { kernel = "fir", taps = 999 }\n',
                      "p.toml:2: instance 'fir0': fir: parameter 'taps' = 999 is out of range; "
                      "allowed 1..64"),
    "unknown parameter": ('[instances]\nfir0 = { kernel = "fir", tapz = 9 }\n',
                          "p.toml:2: instance 'fir0': fir: unknown parameter 'tapz'; "
                          "parameters are: taps"),
    "no kernel": ('[instances]\n\nfir0 = { taps = 9 }\n',
                  "p.toml:3: instance 'fir0' must be a table with a kernel name: "
                  'fir0 = { kernel = "fir", taps = 16 }'),
    "reserved name": ('[instances]\nkernel = { kernel = "fir" }\n',
                      "p.toml:2: instance name 'kernel' is taken by the device API; choose "
                      "another (reserved: "),
    "unknown top key": ('name = "a"\ninstance = 3\n',
                        "p.toml:2: unknown key 'instance'; an overlay file has name, "
                        "instances, stream"),
    "no instances": ('name = "x"\n', "p.toml:1: overlay 'x' has no instances; add one"),
    "bad name": ('name = "my overlay"\n[instances]\nfir0 = { kernel = "fir" }\n',
                 "p.toml:1: name = 'my overlay' must be an identifier"),
    "not TOML": ('[instances]\nfir0 = { kernel = "fir", \n', "p.toml:2: not valid TOML: "),
    "unknown instance": (HEAD + stream("fir9.y", "crc0.data"),
                         "p.toml:9: stream from = 'fir9.y': no instance 'fir9'; instances are: "
                         "fir0, crc0, crc1, gemm0, saxpy0, saxpy1"),
    "unknown port": (HEAD + stream("fir0.q", "crc0.data"),
                     "p.toml:9: stream from = 'fir0.q': fir has no port 'q'; its ports are: "
                     "x (input), y (output)"),
    "output into output": (HEAD + stream("fir0.y", "crc0.crc"),
                           "p.toml:10: stream to = 'crc0.crc': crc0.crc is an output; a stream "
                           "goes from an output to an input"),
    "from an input": (HEAD + stream("fir0.x", "crc0.data"),
                      "p.toml:9: stream from = 'fir0.x': fir0.x is an input; a stream goes "
                      "from an output to an input"),
    "not a port": (HEAD + stream("fir0", "crc0.data"),
                   "p.toml:9: stream from = 'fir0' must name a port as 'instance.port', "
                   "e.g. 'fir0.y'"),
    "element types": (HEAD + stream("fir0.y", "crc0.data"),
                      "p.toml:8: stream fir0.y -> crc0.data: element types differ, fir0.y is "
                      "int32 and crc0.data is uint8; add reinterpret = true to take the bytes "
                      "of int32 as uint8"),
    "beat widths": (HEAD + stream("fir0.y", "crc1.data", "reinterpret = true\n"),
                    "p.toml:8: stream fir0.y -> crc1.data: beats differ, fir0.y is 32 bits "
                    "(1 x int32) and crc1.data is 8 bits (1 x uint8); choose parameters that "
                    "make them equal"),
    "input fed twice": (HEAD + stream("saxpy0.z", "saxpy1.x") + stream("fir0.y", "saxpy1.x"),
                        "p.toml:13: stream fir0.y -> saxpy1.x: input saxpy1.x is already fed "
                        "(saxpy0.z -> saxpy1.x); an input takes one stream"),
    "output used twice": (HEAD + stream("saxpy0.z", "saxpy1.x") + stream("saxpy0.z", "saxpy1.y"),
                          "p.toml:12: stream saxpy0.z -> saxpy1.y: output saxpy0.z is already "
                          "connected (saxpy0.z -> saxpy1.x); an output feeds one input"),
    "loop": (HEAD + stream("saxpy0.z", "saxpy1.x") + stream("saxpy1.z", "saxpy0.x"),
             "p.toml:11: stream saxpy1.z -> saxpy0.x closes a loop (saxpy0 -> saxpy1 -> "
             "saxpy0); streams must not lead back to an instance"),
    "underivable": (HEAD + stream("saxpy0.z", "gemm0.a", "reinterpret = true\n"),
                    "p.toml:10: stream saxpy0.z -> gemm0.a: the chain cannot derive gemm0's "
                    "job from a stream of int8 elements: its prepare refuses a 1-D stream "
                    "(gemm: a has shape (12,); this tile needs (4, K) (rows=4)); chain into an "
                    "input the kernel takes as a 1-D array (saxpy, dot, fir, crc32 do), or "
                    "call gemm0 on its own"),
    "depth": (HEAD + stream("fir0.y", "crc0.data", "reinterpret = true\ndepth = 0\n"),
              "p.toml:12: stream fir0.y -> crc0.data: depth = 0 must be a whole number of "
              "beats from 1 to 4096"),
    "unknown stream key": (HEAD + stream("fir0.y", "crc0.data", "fifo = 3\n"),
                           "p.toml:11: unknown key 'fifo' in a stream; a stream has from, to, "
                           "depth, reinterpret"),
    "stream without to": (HEAD + '[[stream]]\nfrom = "fir0.y"\n',
                          "p.toml:8: stream has no 'to'; give both, e.g. from = \"fir0.y\" and "
                          "to = \"crc0.data\""),
}


@pytest.mark.parametrize("case", ERRORS)
def test_errors_name_file_line_and_fix(case):
    text, message = ERRORS[case]
    with pytest.raises(OverlayError) as info:
        parse_overlay(text, source="p.toml")
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(OverlayError, match=r"^overlay file .*nope.toml does not exist$"):
        load_overlay(tmp_path / "nope.toml")


def test_python_errors_have_no_file():
    overlay = Overlay()
    overlay.add("fir0", "fir")
    with pytest.raises(OverlayError, match="^instance 'fir0' is defined twice; give each "
                                           r"instance its own name \(fir0, fir1, ...\)$"):
        overlay.add("fir0", "fir")
    with pytest.raises(OverlayError, match="^instance name '2x' is not a Python identifier"):
        overlay.add("2x", "fir")
    with pytest.raises(OverlayError, match="^stream fir0.y -> fir0.x: reinterpret = 'yes' must "
                                           "be true or false$"):
        overlay.connect("fir0.y", "fir0.x", reinterpret="yes")
