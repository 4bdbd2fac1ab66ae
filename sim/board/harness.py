"""The C++ harness of the virtual board, generated per design, and its cached build.

The harness wraps the Verilated design in a process that owns an on-chip
memory model (a byte array, size given on the command line) and one DMA engine
per channel of the design's :class:`~hetflow.link.boardmap.BoardMap`, and
serves the transaction protocol of
:mod:`hetflow.link.protocol` on stdin/stdout.  Python is never on the
per-cycle path: one ``RUN`` request clocks the model until the kernel is done
or the cycle budget is spent.  Its pipes are buffered both ways: the responses
to a burst of requests leave together when the input runs dry (or once a
``RUN`` has clocked ``HOLD_CYCLES``).  Given a file descriptor after the memory size, it maps that file as
a staging area shared with the host, for :data:`STAGE_WRITE` / :data:`STAGE_READ`.

A design is a kernel's Shell (the Verilated top is the shell) or an overlay
(the top is its :class:`~hetflow.hw.overlay.fabric.OverlayFabric`: one
register bus per instance).  For an overlay the harness decodes the register
space as the BoardMap says (instance windows, manifest words, holes reading 0)
and ``RUN`` waits for every instance started since the last ``RESET`` and for
every channel.  The C++ lives in the package's ``templates/`` (``board.cpp``:
memory, channels, clock; ``protocol.cpp`` / ``bench.cpp``: the mains;
``overlay.cpp``: an overlay's register space); :func:`generate` fills in the
design's fragments (the per-channel lines of the clock, the register bus).

``generate(kernel, main="bench")`` gives the same memory, DMA channels and
clock with a different ``main``: a raw benchmark that loads one job from a
file, clocks it to completion with no protocol and no Python, and prints how
long the clocking took (see :func:`encode_bench_job`).  ``hetflow bench sim``
compares the virtual board with it.

One clock cycle (``cycle()`` in the C++):

1. drive inputs: CSR strobes, ``p_valid``/``p_data`` of each input channel
   with beats left (data read from memory at the channel's address),
   ``p_ready`` of each output channel with beats left;
2. ``clk = 0; eval()`` settles combinational paths (ready may depend on valid);
3. sample handshakes: ``valid & ready`` of each port as they are just before
   the rising edge; an output beat's data is stored to memory now;
4. ``clk = 1; eval()`` is the rising edge; channels that fired advance.

Builds are cached by SHA-256 of (Verilog, harness C++, Verilator version and
arguments) under ``cache_dir()/"board"/<design>-<hash>``; a build is made in a
temporary directory and renamed into place, so a failed build is never reused.
"""

import hashlib
import os
import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ...hw.errors import HetflowError
from ...hw.verilog import to_verilog, top_name
from ..build import install_build
from ...cache import cache_dir
from ..runtime import RuntimeLibrary
from ..toolchain import find_simulator
from ...link import protocol as P
from ...link.boardmap import INSTANCE_STRIDE, MANIFEST_BASE, BoardMap, Channel, channels

__all__ = ["generate", "as_boardmap", "design_top", "build_board", "build_executable", "BoardBuild", "BoardBuildError", "channels", "Channel",
           "VERILATOR_ARGS", "BUILD_TIMEOUT", "MAINS", "encode_bench_job", "STAGE_WRITE",
           "STAGE_READ"]

#: Bump when the harness or the build changes incompatibly.
HARNESS_ABI = "1"
VERILATOR_ARGS = ["--cc", "--exe", "--build", "-O3", "-Wno-fatal", "--x-assign", "fast",
                  "--x-initial", "fast", "-CFLAGS", "-O2"]
BUILD_TIMEOUT = 900
BINARY = "board"
#: What the generated ``main`` does: serve the protocol, or run one job as a raw benchmark.
MAINS = ("protocol", "bench")

#: The virtual board's own requests, beyond the protocol: a memory transfer through a
#: staging area the host shares with the process (``u32 address, u32 offset, u32 length``;
#: empty response), so that large transfers skip the pipes.  Executed in order with the
#: other requests, like the ``MEM_WRITE`` / ``MEM_READ`` they stand for.
STAGE_WRITE = P.Opcode(0x41, "STAGE_WRITE", "<III", "<")
STAGE_READ = P.Opcode(0x42, "STAGE_READ", "<III", "<")



class BoardBuildError(HetflowError, RuntimeError):
    """Verilator failed to build the virtual board of a kernel."""


def _load(ch, name):
    """C++ statements driving ``<name>_data`` from ``src`` (a uint8_t pointer)."""
    width, nbytes = ch.width, ch.nbytes
    if width <= 64:
        ctype = "uint64_t" if width > 32 else "uint32_t"
        return (f"{{ {ctype} v = 0; std::memcpy(&v, src, {nbytes}); "
                f"top->{name}_data = v; }}")
    lines = []
    for w in range(-(-width // 32)):
        n = min(4, nbytes - 4 * w)
        lines.append(f"{{ uint32_t v = 0; std::memcpy(&v, src + {4 * w}, {n}); "
                     f"top->{name}_data[{w}] = v; }}")
    return " ".join(lines)


def _store(ch, name):
    """C++ statements copying ``<name>_data`` to ``dst`` (a uint8_t pointer)."""
    width, nbytes = ch.width, ch.nbytes
    pad = ch.stride - nbytes
    tail = f" std::memset(dst + {nbytes}, 0, {pad});" if pad else ""
    if width <= 64:
        ctype = "uint64_t" if width > 32 else "uint32_t"
        return f"{{ {ctype} v = top->{name}_data; std::memcpy(dst, &v, {nbytes});{tail} }}"
    lines = []
    for w in range(-(-width // 32)):
        n = min(4, nbytes - 4 * w)
        lines.append(f"{{ uint32_t v = top->{name}_data[{w}]; "
                     f"std::memcpy(dst + {4 * w}, &v, {n}); }}")
    return "{ " + " ".join(lines) + tail + " }"


def encode_bench_job(budget, cycles_offsets, writes, dma, loads, saves):
    """Bytes of a job file for the raw benchmark main (``generate(kernel, main="bench")``).

    ``writes`` is a list of ``(offset, value)``, ``dma`` one ``(address, beats)``
    per channel, ``loads`` a list of ``(address, bytes)``, ``saves`` a list of
    ``(address, length)``.  The file (every integer little-endian)::

        b"HFBJ"
        u64 budget                           cycles before the job counts as hung
        u32 cycles_lo, u32 cycles_hi         byte offsets of the cycle counter registers
        u32 n, n x (u32 offset, u32 value)   register writes in order (the last starts the job)
        channels x (u32 address, u32 beats)  every DMA channel, inputs first, then outputs
        u32 n, n x (u32 address, u32 length, length bytes)   memory loaded before the run
        u32 n, n x (u32 address, u32 length)                 memory saved after the run

    The benchmark's command line is ``board MEMORY_BYTES JOB_FILE OUTPUT_FILE``.
    It writes the saved ranges to ``OUTPUT_FILE`` one after another and one
    line ``done=D clocked=N cycles=K seconds=S cpu_seconds=C`` to stdout: ``S`` is the
    std::chrono time of the DMA set-up, register writes and clocking, ``C`` the
    process's CPU time over the same part, ``K`` the kernel's cycle counter.  Exit status: 0 when the job finished, 4 when the
    budget ran out, 2 on a bad command line or job file.
    """
    parts = [b"HFBJ", struct.pack("<QII", budget, *cycles_offsets),
             struct.pack("<I", len(writes))]
    parts += [struct.pack("<II", off, value & 0xFFFFFFFF) for off, value in writes]
    parts += [struct.pack("<II", address, beats) for address, beats in dma]
    parts.append(struct.pack("<I", len(loads)))
    for address, data in loads:
        parts += [struct.pack("<II", address, len(data)), bytes(data)]
    parts.append(struct.pack("<I", len(saves)))
    parts += [struct.pack("<II", address, length) for address, length in saves]
    return b"".join(parts)


def _template(name):
    return resources.files(__package__).joinpath("templates", name).read_text()


def _fill(text, fields):
    """``text`` with each ``@KEY@`` replaced; a line holding only an empty field goes."""
    for key, value in fields.items():
        if not value:
            text = text.replace(f"@{key}@\n", "")
        text = text.replace(f"@{key}@", value)
    left = re.search(r"@[A-Z_0-9]+@", text)
    if left:
        raise HetflowError(f"harness template field {left.group(0)} has no value")
    return text


def _sections(name):
    """The fragments of template ``name``: ``{field: text}`` of its ``//== FIELD ==`` sections
    (the text before the first section is the file's comment)."""
    parts = re.split(r"^//== ([A-Z_]+) ==\n", _template(name), flags=re.M)[1:]
    return {key: body.rstrip("\n") for key, body in zip(parts[::2], parts[1::2])}


def _csr_idle(prefixes):
    """Register buses idle, and their address and data cleared (one pair of lines a bus)."""
    return {
        "CSR_IDLE": "\n".join(f"    top->{p}csr_w_stb = 0;\n    top->{p}csr_r_stb = 0;"
                              for p in prefixes),
        "CSR_CLEAR": "\n".join(f"    top->{p}csr_addr = 0;\n    top->{p}csr_w_data = 0;"
                               for p in prefixes),
    }


def _single_fields():
    return {**_csr_idle([""]), **_sections("single.cpp")}


def _overlay_fields(board):
    units = list(board.units.values())
    prefixes = [f"{u.name}_" for u in units]
    bus, r_data, done = [], [], []
    for k, (unit, p) in enumerate(zip(units, prefixes)):
        bus.append(f"    case {k}: top->{p}csr_addr = word; top->{p}csr_w_data = value; "
                   f"top->{p}csr_w_stb = write; top->{p}csr_r_stb = !write; break;")
        r_data.append(f"    case {k}: return (uint32_t)top->{p}csr_r_data;")
        done.append(f"    if (started[{k}]) {{ if (!(top->{p}csr_r_data & 2)) return false; "
                    f"any = true; }}")
    fields = {**_csr_idle(prefixes), **_sections("overlay.cpp")}
    words = board.manifest
    fields["DESIGN"] = _fill(fields["DESIGN"] + "\n", {
        "INSTANCE_STRIDE": f"0x{INSTANCE_STRIDE:x}",
        "MANIFEST_BASE": f"0x{MANIFEST_BASE:x}",
        "NUNIT": str(len(units)),
        "UNIT_SIZES": ", ".join(str(u.size) for u in units),
        "UNIT_CTRLS": ", ".join(str(u.kernel.map["ctrl"].offset) for u in units),
        "UNIT_STATUS_WORDS": ", ".join(str(u.kernel.map["status"].offset >> 2) for u in units),
        "MANIFEST_LEN": str(len(words)),
        "MANIFEST": ", ".join(f"0x{w:08x}u" for w in words),
        "UNIT_BUS": "\n".join(bus),
        "UNIT_R_DATA": "\n".join(r_data),
        "UNIT_DONE": "\n".join(done),
    }).rstrip("\n")
    return fields


def as_boardmap(design):
    """The :class:`BoardMap` of ``design`` (a BoardMap, an Overlay or a kernel's Shell)."""
    return design if isinstance(design, BoardMap) else BoardMap(design)


def generate(design, main="protocol"):
    """C++ source of the harness for ``design`` (a kernel's Shell, an Overlay or a BoardMap).

    ``main`` is ``"protocol"`` (the virtual board process) or ``"bench"`` (the
    raw benchmark of :func:`encode_bench_job`, single kernels only); both share
    the memory, the DMA channels and the clock.  The C++ is the package's
    ``templates/*.cpp`` with this design's fragments filled in.
    """
    if main not in MAINS:
        raise HetflowError(f"harness main must be one of {', '.join(MAINS)}, not {main!r}")
    from ...hw.overlay import Overlay
    overlay = design if isinstance(design, Overlay) else getattr(design, "overlay", None)
    if main == "bench" and overlay is not None:
        raise HetflowError(f"the raw benchmark runs a single kernel; {overlay.name} is an "
                           f"overlay of {len(overlay.instances)} instances")
    board = as_boardmap(design)
    single = board.overlay is None
    chans = board.channels
    prefix = {name: "" if single else f"{name}_" for name in board.units}
    drive, sample, advance, strides = [], [], [], []
    for ch in chans:
        i, name = ch.index, prefix[ch.unit] + ch.port.name
        strides.append(str(ch.stride))
        if not ch.output:
            drive.append(f"    if (ch[{i}].left) {{ top->{name}_valid = 1; "
                         f"const uint8_t* src = mem + ch[{i}].addr; {_load(ch, name)} }} "
                         f"else top->{name}_valid = 0;")
            sample.append(f"    const bool f{i} = top->{name}_valid && top->{name}_ready;")
        else:
            drive.append(f"    top->{name}_ready = ch[{i}].left != 0;")
            sample.append(f"    const bool f{i} = top->{name}_valid && top->{name}_ready;")
            sample.append(f"    if (f{i}) {{ uint8_t* dst = mem + ch[{i}].addr; "
                          f"{_store(ch, name)} }}")
        advance.append(f"    if (f{i}) {{ ch[{i}].addr += {ch.stride}; ch[{i}].left--; }}")
    first = next(iter(board.units.values()))
    fields = {
        "WHAT": "kernel" if single else "overlay",
        "KERNEL": board.name,
        "NCHAN": str(len(chans)),
        "NCHAN1": str(max(len(chans), 1)),
        "STRIDES": ", ".join(strides) or "0",
        "REGSIZE": str(board.register_space),
        "STATUS_WORD": str(first.kernel.map["status"].offset >> 2),
        "VERSION": str(P.VERSION),
        "OPCODES": "\n".join(f"static const uint8_t OP_{op.name} = {op.code};"
                             for op in P.OPCODES.values()),
        "STATUSES": "\n".join(f"static const uint8_t ST_{s.name} = {s.code};"
                              for s in P.STATUS.values()),
        "DRIVE": "\n".join(drive),
        "SAMPLE": "\n".join(sample),
        "ADVANCE": "\n".join(advance),
        "MAXPAYLOAD": str(P.MAX_PAYLOAD),
        "STAGE_OPCODES": "\n".join(f"static const uint8_t OP_{op.name} = {op.code};"
                                   for op in (STAGE_WRITE, STAGE_READ)),
    }
    fields.update(_single_fields() if single else _overlay_fields(board))
    prelude = _template("board.cpp").split("@@CUT@@\n", 1)[1]
    text = _template(f"{main}.cpp").replace("@PRELUDE@\n", prelude + "\n")
    return _fill(text, fields)


@dataclass
class BoardBuild:
    """A built virtual board: ``executable``, its ``directory``, whether it was ``cached``
    and, from :func:`build_board`, the design's ``board`` (a BoardMap)."""

    executable: Path
    directory: Path
    cached: bool
    seconds: float
    board: object = None


def design_top(design):
    """``(board, top, verilog_text)``: the BoardMap of ``design`` and the Verilog it runs.

    For an overlay the top is its :class:`~hetflow.hw.overlay.fabric.OverlayFabric`
    and the BoardMap is made from the fabric's own shells (so that every shell
    made is elaborated); a BoardMap given as it is keeps its shells.
    """
    from ...hw.overlay import Overlay
    if isinstance(design, (Overlay, BoardMap)) and (
            not isinstance(design, BoardMap) or design.overlay is not None):
        from ...hw.overlay.fabric import OverlayFabric
        overlay = design if isinstance(design, Overlay) else design.overlay
        fabric = OverlayFabric(overlay)
        board = design if isinstance(design, BoardMap) else BoardMap(overlay, fabric.shells)
        top = "hetflow_overlay_" + re.sub(r"\W", "_", board.name)
        return board, top, to_verilog(fabric, name=top)
    board = as_boardmap(design)
    kernel = next(iter(board.units.values())).kernel
    return board, top_name(kernel), to_verilog(kernel)


def build_board(design, *, status=None, timeout=BUILD_TIMEOUT, main="protocol"):
    """Build (or reuse from the cache) the virtual board binary of ``design``.

    ``design`` is a kernel's Shell, an Overlay or a :class:`BoardMap` (see
    :func:`design_top`).  ``main="bench"`` builds the raw benchmark instead
    (see :func:`generate`).  Returns a :class:`BoardBuild` whose ``board`` is
    the design's BoardMap.
    """
    board, top, verilog_text = design_top(design)
    cpp = generate(board, main)
    what = "virtual board" if main == "protocol" else "raw benchmark"
    name = board.name if main == "protocol" else f"{board.name}-{main}"
    if board.overlay is not None:
        name = f"overlay-{name}"
    built = build_executable(name=name, what=f"the {what} of {board.name}", top=top,
                             verilog_text=verilog_text, cpp_text=cpp, status=status,
                             timeout=timeout)
    built.board = board
    return built


def build_executable(*, name, what, top, verilog_text, cpp_text, status=None,
                     timeout=BUILD_TIMEOUT):
    """Verilate ``verilog_text`` (top module ``top``) with the C++ ``main`` of ``cpp_text``.

    The model class is ``Vboard``.  The binary is cached under
    ``cache_dir()/"board"/<name>-<hash>`` by SHA-256 of both texts, the
    Verilator version and arguments; ``what`` names the build in messages.
    """
    import time

    sim = find_simulator("verilator")
    key = hashlib.sha256("\0".join(
        [HARNESS_ABI, verilog_text, cpp_text, sim.version, " ".join(VERILATOR_ARGS)]
    ).encode()).hexdigest()[:16]
    root = cache_dir() / "board"
    final = root / f"{name}-{key}"
    exe = final / BINARY
    if (final / "BUILD_OK").exists() and exe.exists():
        return BoardBuild(exe, final, True, 0.0)

    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=root))
    start = time.monotonic()
    try:
        (tmp / f"{top}.v").write_text(verilog_text)
        (tmp / "harness.cpp").write_text(cpp_text)
        sim.apply()
        env = dict(os.environ)
        env.update(sim.env)
        runtime = RuntimeLibrary(sim, "board", *VERILATOR_ARGS)
        env["MAKEFLAGS"] = " ".join([sim.makeflags(os.environ.get("MAKEFLAGS")),
                                     *runtime.make_vars()])
        argv = [sim.executable, *VERILATOR_ARGS, "--top-module", top, "--prefix", "Vboard",
                "--Mdir", "obj_dir", "-o", BINARY, "-j", str(os.cpu_count() or 1),
                f"{top}.v", "harness.cpp"]
        if status:
            status(f"building {what} with Verilator {sim.version} "
                   f"(first time for these parameters)")
        log = tmp / "build.log"
        try:
            with open(log, "wb") as out:
                proc = subprocess.run(argv, cwd=tmp, env=env, stdout=out,
                                      stderr=subprocess.STDOUT, timeout=timeout)
            failed = proc.returncode != 0 and f"exit status {proc.returncode}"
        except subprocess.TimeoutExpired:
            failed = f"timed out after {timeout} s"
        except OSError as exc:
            failed = str(exc)
        built = tmp / "obj_dir" / BINARY
        if failed or not built.exists():
            kept = root / f"failed-{final.name}.log"
            if log.exists():
                shutil.copyfile(log, kept)
            tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log.exists() else []
            raise BoardBuildError(f"verilator failed to build {what} "
                                  f"({failed or 'no binary'}); log: {kept}"
                                  + ("\n" + "\n".join(tail) if tail else ""))
        runtime.harvest(tmp / "obj_dir")
        shutil.move(str(built), str(tmp / BINARY))
        shutil.rmtree(tmp / "obj_dir", ignore_errors=True)
        install_build(tmp, final, key)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    seconds = time.monotonic() - start
    if status:
        status(f"built {what} in {seconds:.1f} s")
    return BoardBuild(exe, final, False, seconds)
