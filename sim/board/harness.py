"""The C++ harness of the virtual board, generated per kernel, and its cached build.

The harness wraps the Verilated kernel in a process that owns an on-chip
memory model (a byte array, size given on the command line) and one DMA engine
per stream port, and serves the transaction protocol of
:mod:`hetflow.sim.board.protocol` on stdin/stdout.  Python is never on the
per-cycle path: one ``RUN`` request clocks the model until the kernel is done
or the cycle budget is spent.  Its pipes are buffered both ways: the responses
to a burst of requests leave together when the input runs dry (or before a
``RUN``).  Given a file descriptor after the memory size, it maps that file as
a staging area shared with the host, for :data:`STAGE_WRITE` / :data:`STAGE_READ`.

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
arguments) under ``cache_dir()/"board"/<kernel>-<hash>``; a build is made in a
temporary directory and renamed into place, so a failed build is never reused.
"""

import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ...hw.errors import HetflowError
from ...hw.verilog import to_verilog, top_name
from ..build import install_build
from ...cache import cache_dir
from ..runtime import RuntimeLibrary
from ..toolchain import find_simulator
from . import protocol as P
from .boardmap import Channel, channels

__all__ = ["generate", "build_board", "build_executable", "BoardBuild", "BoardBuildError", "channels", "Channel",
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


def _load(ch):
    """C++ statements driving ``<port>_data`` from ``src`` (a uint8_t pointer)."""
    name, width, nbytes = ch.port.name, ch.width, ch.nbytes
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


def _store(ch):
    """C++ statements copying ``<port>_data`` to ``dst`` (a uint8_t pointer)."""
    name, width, nbytes = ch.port.name, ch.width, ch.nbytes
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
    line ``done=D clocked=N cycles=K seconds=S`` to stdout: ``S`` is the
    std::chrono time of the DMA set-up, register writes and clocking, ``K`` the
    kernel's cycle counter.  Exit status: 0 when the job finished, 4 when the
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


def generate(kernel, main="protocol"):
    """C++ source of the harness for ``kernel`` (a Kernel instance).

    ``main`` is ``"protocol"`` (the virtual board process) or ``"bench"`` (the
    raw benchmark of :func:`encode_bench_job`); both share the memory, the DMA
    channels and the clock.
    """
    if main not in MAINS:
        raise HetflowError(f"harness main must be one of {', '.join(MAINS)}, not {main!r}")
    chans = channels(kernel)
    n = len(chans)
    status_word = kernel.map["status"].offset >> 2
    drive, sample, advance, strides = [], [], [], []
    for ch in chans:
        i, name = ch.index, ch.port.name
        strides.append(str(ch.stride))
        if not ch.output:
            drive.append(f"    if (ch[{i}].left) {{ top->{name}_valid = 1; "
                         f"const uint8_t* src = mem + ch[{i}].addr; {_load(ch)} }} "
                         f"else top->{name}_valid = 0;")
            sample.append(f"    const bool f{i} = top->{name}_valid && top->{name}_ready;")
        else:
            drive.append(f"    top->{name}_ready = ch[{i}].left != 0;")
            sample.append(f"    const bool f{i} = top->{name}_valid && top->{name}_ready;")
            sample.append(f"    if (f{i}) {{ uint8_t* dst = mem + ch[{i}].addr; {_store(ch)} }}")
        advance.append(f"    if (f{i}) {{ ch[{i}].addr += {ch.stride}; ch[{i}].left--; }}")
    opcodes = "\n".join(f"static const uint8_t OP_{op.name} = {op.code};"
                        for op in P.OPCODES.values())
    statuses = "\n".join(f"static const uint8_t ST_{s.name} = {s.code};"
                         for s in P.STATUS.values())
    src = _PRELUDE + (_PROTOCOL_MAIN if main == "protocol" else _BENCH_MAIN)
    for key, value in {
        "@HEADER@": _HEADERS[main],
        "@KERNEL@": kernel.name,
        "@NCHAN@": str(n),
        "@NCHAN1@": str(max(n, 1)),
        "@STRIDES@": ", ".join(strides) or "0",
        "@REGSIZE@": str(kernel.map.size),
        "@STATUS_WORD@": str(status_word),
        "@VERSION@": str(P.VERSION),
        "@OPCODES@": opcodes,
        "@STATUSES@": statuses,
        "@DRIVE@": "\n".join(drive),
        "@SAMPLE@": "\n".join(sample),
        "@ADVANCE@": "\n".join(advance),
        "@MAXPAYLOAD@": str(P.MAX_PAYLOAD),
        "@STAGE_OPCODES@": "\n".join(f"static const uint8_t OP_{op.name} = {op.code};"
                                     for op in (STAGE_WRITE, STAGE_READ)),
    }.items():
        src = src.replace(key, value)
    return src


_HEADERS = {
    "protocol": "// Virtual board harness for hetflow kernel '@KERNEL@'. Generated; do not edit.\n"
                "// Protocol: see hetflow/sim/board/protocol.py (frames are little-endian).",
    "bench": "// Raw benchmark of the virtual board of hetflow kernel '@KERNEL@'. Generated; "
             "do not edit.\n// Job file: see encode_bench_job in hetflow/sim/board/harness.py.",
}

# The memory, the DMA channels and the clock; a main follows.
_PRELUDE = r"""@HEADER@
#include "Vboard.h"
#include "verilated.h"
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include <unistd.h>
#include <signal.h>

@OPCODES@
@STATUSES@

static const unsigned NCHAN = @NCHAN@;
static const uint32_t STRIDE[@NCHAN1@] = {@STRIDES@};
static const uint32_t REG_SIZE = @REGSIZE@;
static const uint32_t STATUS_WORD = @STATUS_WORD@;
static const uint64_t MAX_PAYLOAD = @MAXPAYLOAD@ull;

struct Chan { uint32_t addr; uint32_t left; };

static Vboard* top;
static uint8_t* mem;
static uint64_t mem_size;
static Chan ch[@NCHAN1@];
static int out_fd = 1;

// ---- pipes ------------------------------------------------------------------------
// Both ways buffered: a burst of requests arrives in a few reads, and its responses
// leave together when the input runs dry (or before a RUN, which may take long), so
// a client that pipelines requests wakes once per burst, not once per request.

static uint8_t in_buf[1 << 16];
static size_t in_pos = 0, in_len = 0;
static std::vector<uint8_t> out_buf;

static void write_all(const void* buf, size_t n) {
    const uint8_t* p = static_cast<const uint8_t*>(buf);
    while (n) {
        ssize_t r = ::write(out_fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) std::exit(3);   // the client went away
        p += r; n -= (size_t)r;
    }
}

static void flush_out() {
    if (out_buf.empty()) return;
    write_all(out_buf.data(), out_buf.size());
    out_buf.clear();
}

// Blocks only after the answers so far have gone out: the client may wait for them.
static ssize_t read_some(void* buf, size_t n) {
    flush_out();
    for (;;) {
        ssize_t r = ::read(0, buf, n);
        if (r < 0 && errno == EINTR) continue;
        return r;
    }
}

static bool read_all(void* buf, size_t n) {
    uint8_t* p = static_cast<uint8_t*>(buf);
    while (n) {
        if (in_pos == in_len) {
            // A large payload goes straight to its place; small frames through the buffer.
            ssize_t r = n >= sizeof in_buf ? read_some(p, n) : read_some(in_buf, sizeof in_buf);
            if (r <= 0) return false;
            if (n >= sizeof in_buf) { p += r; n -= (size_t)r; continue; }
            in_pos = 0; in_len = (size_t)r;
        }
        size_t k = in_len - in_pos < n ? in_len - in_pos : n;
        std::memcpy(p, in_buf + in_pos, k);
        in_pos += k; p += k; n -= k;
    }
    return true;
}

static void put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
static void put64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t* p) { uint64_t v; std::memcpy(&v, p, 8); return v; }

static void respond(uint8_t status, const void* payload, uint32_t n) {
    uint8_t hdr[5];
    hdr[0] = status;
    put32(hdr + 1, n);
    out_buf.insert(out_buf.end(), hdr, hdr + 5);
    const uint8_t* p = static_cast<const uint8_t*>(payload);
    if (n < sizeof in_buf) { out_buf.insert(out_buf.end(), p, p + n); return; }
    flush_out();                  // a large payload straight from memory
    write_all(p, n);
}

static void error(uint8_t status, const std::string& msg) {
    respond(status, msg.data(), (uint32_t)msg.size());
}

static std::string hex(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)v);
    return buf;
}

// ---- the clock --------------------------------------------------------------------

static inline void cycle() {
@DRIVE@
    top->clk = 0;
    top->eval();
@SAMPLE@
    top->clk = 1;
    top->eval();
@ADVANCE@
}

static inline void csr_idle() {
    top->csr_w_stb = 0;
    top->csr_r_stb = 0;
}

static inline bool channels_done() {
    for (unsigned i = 0; i < NCHAN; i++)
        if (ch[i].left) return false;
    return true;
}

static void do_reset(uint32_t n) {
    for (unsigned i = 0; i < NCHAN; i++) ch[i].left = 0;
    csr_idle();
    top->rst = 1;
    for (uint32_t i = 0; i < n; i++) cycle();
    top->rst = 0;
    cycle();
}

// Both mains start the model the same way: idle bus, clock low, then a short reset.
static void start_model() {
    VerilatedContext* ctx = new VerilatedContext;
    ctx->fatalOnError(false);
    top = new Vboard{ctx};
    top->clk = 0;
    csr_idle();
    top->csr_addr = 0;
    top->csr_w_data = 0;
    top->eval();
    do_reset(4);
}

"""

_PROTOCOL_MAIN = r"""// ---- requests ---------------------------------------------------------------------

#include <sys/mman.h>
#include <sys/stat.h>

@STAGE_OPCODES@

// The staging area shared with the host (a file descriptor on the command line), or none.
static uint8_t* stage = nullptr;
static uint64_t stage_size = 0;

static bool check_stage(uint64_t off, uint64_t len) {
    if (!stage || off > stage_size || len > stage_size - off) {
        error(ST_BAD_ADDRESS, "staging range " + hex(off) + "+" + hex(len)
              + " is outside the staging area (" + hex(stage_size) + " bytes)");
        return false;
    }
    return true;
}

static bool check_len(uint32_t len, uint32_t want, const char* name) {
    if (len == want) return true;
    error(ST_BAD_LENGTH, std::string(name) + ": payload of " + std::to_string(len)
          + " bytes; expected " + std::to_string(want));
    return false;
}

static bool check_reg(uint32_t off) {
    if (off >= REG_SIZE) {
        error(ST_BAD_REGISTER, "register offset " + hex(off) + " is outside the register window (" + hex(REG_SIZE) + " bytes)");
        return false;
    }
    if (off & 3) {
        error(ST_BAD_REGISTER, "register offset " + hex(off) + " is not 4-aligned");
        return false;
    }
    return true;
}

static bool check_mem(uint64_t addr, uint64_t len) {
    if (addr > mem_size || len > mem_size - addr) {
        error(ST_BAD_ADDRESS, "memory range " + hex(addr) + "+" + hex(len)
              + " is outside the memory (" + hex(mem_size) + " bytes)");
        return false;
    }
    return true;
}

// Reads and drops ``n`` payload bytes, to stay in step with the client.
static bool discard(uint64_t n) {
    uint8_t sink[65536];
    while (n) {
        size_t k = n < sizeof sink ? (size_t)n : sizeof sink;
        if (!read_all(sink, k)) return false;
        n -= k;
    }
    return true;
}

// The clocking of RUN, the loop of the raw benchmark, in a function of its own: compiled
// apart from the request loop, it is optimised as tightly as the benchmark's.
static __attribute__((noinline)) bool clock_until_done(const uint64_t budget, uint64_t* ran) {
    // Poll the status register every cycle, as a host would (reads have no side effects).
    top->csr_addr = STATUS_WORD;
    top->csr_r_stb = 1;
    top->csr_w_stb = 0;
    uint64_t n = 0;
    bool done = false;
    while (n < budget) {
        cycle();
        n++;
        if ((top->csr_r_data & 2) && channels_done()) { done = true; break; }
    }
    csr_idle();
    *ran = n;
    return done;
}

int main(int argc, char** argv) {
    // Keep the protocol on a private descriptor; anything the model prints goes to stderr.
    out_fd = ::dup(1);
    ::dup2(2, 1);
    ::signal(SIGPIPE, SIG_IGN);
    mem_size = argc > 1 ? std::strtoull(argv[1], nullptr, 0) : (16u << 20);
    if (mem_size == 0 || mem_size > 0xFFFFFFFFull) {
        std::fprintf(stderr, "memory size must be 1..0xffffffff bytes\n");
        return 2;
    }
    mem = static_cast<uint8_t*>(std::calloc(mem_size, 1));
    if (!mem) { std::fprintf(stderr, "cannot allocate %llu bytes\n", (unsigned long long)mem_size); return 2; }
    if (argc > 2) {
        const int fd = std::atoi(argv[2]);
        struct stat st;
        void* area = MAP_FAILED;
        if (::fstat(fd, &st) == 0 && st.st_size > 0)
            area = ::mmap(nullptr, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (area == MAP_FAILED) {
            std::fprintf(stderr, "cannot map the staging area (descriptor %s): %s\n", argv[2], std::strerror(errno));
            return 2;
        }
        stage = static_cast<uint8_t*>(area);
        stage_size = (uint64_t)st.st_size;
    }
    // Fault in the memory (and map the staging area's pages, which the host has touched)
    // now, not during the first job's transfers; at most PREFAULT bytes of each.
    const uint64_t PREFAULT = 64ull << 20;
    std::memset(mem, 0, mem_size < PREFAULT ? mem_size : PREFAULT);
    for (uint64_t at = 0; stage && at < stage_size && at < PREFAULT; at += 4096)
        (void)*(volatile uint8_t*)(stage + at);

    start_model();

    std::vector<uint8_t> buf;
    std::vector<uint8_t> out;
    for (;;) {
        uint8_t hdr[5];
        if (!read_all(hdr, 5)) break;           // client closed the pipe: exit quietly
        const uint8_t op = hdr[0];
        const uint32_t len = get32(hdr + 1);
        uint64_t limit = mem_size + 64;
        if (len > limit || len > MAX_PAYLOAD) {
            // Too large to hold: discard it to stay in step with the client.
            if (!discard(len)) break;
            error(ST_TOO_LARGE, "payload of " + std::to_string(len) + " bytes is larger than the memory");
            continue;
        }
        if (op == OP_MEM_WRITE && len >= 4) {
            // The data goes straight into memory (or is discarded when out of range).
            uint8_t a[4];
            if (!read_all(a, 4)) break;
            const uint32_t addr = get32(a);
            if (check_mem(addr, len - 4)) {
                if (!read_all(mem + addr, len - 4)) break;
                respond(ST_OK, nullptr, 0);
            } else if (!discard(len - 4)) {
                break;
            }
            continue;
        }
        buf.resize(len);
        if (len && !read_all(buf.data(), len)) break;
        const uint8_t* p = buf.data();
        switch (op) {
        case OP_PING: {
            if (!check_len(len, 0, "PING")) break;
            uint8_t r[15];
            std::memcpy(r, "HFVB", 4);
            uint16_t v = @VERSION@;
            std::memcpy(r + 4, &v, 2);
            r[6] = (uint8_t)NCHAN;
            put32(r + 7, (uint32_t)mem_size);
            put32(r + 11, REG_SIZE);
            respond(ST_OK, r, 15);
            break;
        }
        case OP_RESET: {
            if (!check_len(len, 4, "RESET")) break;
            uint32_t n = get32(p);
            if (n == 0 || n > 1000000) { error(ST_BAD_LENGTH, "RESET: cycles must be 1..1000000, not " + std::to_string(n)); break; }
            do_reset(n);
            respond(ST_OK, nullptr, 0);
            break;
        }
        case OP_REG_WRITE: {
            if (!check_len(len, 8, "REG_WRITE") || !check_reg(get32(p))) break;
            top->csr_addr = get32(p) >> 2;
            top->csr_w_data = get32(p + 4);
            top->csr_w_stb = 1;
            top->csr_r_stb = 0;
            cycle();
            csr_idle();
            respond(ST_OK, nullptr, 0);
            break;
        }
        case OP_REG_READ: {
            if (!check_len(len, 4, "REG_READ") || !check_reg(get32(p))) break;
            top->csr_addr = get32(p) >> 2;
            top->csr_r_stb = 1;
            top->csr_w_stb = 0;
            cycle();                       // r_data is registered: valid after this edge
            csr_idle();
            uint8_t r[4];
            put32(r, (uint32_t)top->csr_r_data);
            respond(ST_OK, r, 4);
            break;
        }
        case OP_MEM_WRITE: {     // shorter than its address (longer ones are done above)
            check_len(len, 4, "MEM_WRITE");
            break;
        }
        case OP_MEM_READ: {
            if (!check_len(len, 8, "MEM_READ")) break;
            uint32_t addr = get32(p), n = get32(p + 4);
            if (!check_mem(addr, n)) break;
            respond(ST_OK, mem + addr, n);
            break;
        }
        case OP_DMA_SETUP: {
            if (!check_len(len, 9, "DMA_SETUP")) break;
            unsigned c = p[0];
            uint32_t addr = get32(p + 1), beats = get32(p + 5);
            if (c >= NCHAN) { error(ST_BAD_CHANNEL, "DMA channel " + std::to_string(c) + " does not exist (" + std::to_string(NCHAN) + " channels)"); break; }
            if (!check_mem(addr, (uint64_t)beats * STRIDE[c])) break;
            ch[c].addr = addr;
            ch[c].left = beats;
            respond(ST_OK, nullptr, 0);
            break;
        }
        case OP_RUN: {
            if (!check_len(len, 8, "RUN")) break;
            const uint64_t budget = get64(p);
            flush_out();                   // the answers so far need not wait for the run
            uint64_t n = 0;
            const uint8_t reason = clock_until_done(budget, &n) ? 0 : 1;
            uint8_t r[9];
            r[0] = reason;
            put64(r + 1, n);
            respond(ST_OK, r, 9);
            break;
        }
        case OP_STAGE_WRITE:
        case OP_STAGE_READ: {
            if (!check_len(len, 12, op == OP_STAGE_WRITE ? "STAGE_WRITE" : "STAGE_READ")) break;
            const uint32_t addr = get32(p), off = get32(p + 4), n = get32(p + 8);
            if (!check_mem(addr, n) || !check_stage(off, n)) break;
            if (op == OP_STAGE_WRITE) std::memcpy(mem + addr, stage + off, n);
            else std::memcpy(stage + off, mem + addr, n);
            respond(ST_OK, nullptr, 0);
            break;
        }
        case OP_QUIT: {
            if (!check_len(len, 0, "QUIT")) break;
            respond(ST_OK, nullptr, 0);
            flush_out();
            top->final();
            delete top;
            return 0;
        }
        default:
            error(ST_BAD_OPCODE, "unknown opcode " + hex(op));
        }
    }
    flush_out();
    top->final();
    delete top;
    return 0;
}
"""

_BENCH_MAIN = r"""// ---- raw benchmark: one job from a file, no protocol ------------------------------

#include <chrono>

struct Cursor {
    const uint8_t* p;
    size_t left;
    bool ok = true;
    const uint8_t* take(size_t n) {
        if (!ok || n > left) { ok = false; return nullptr; }
        const uint8_t* r = p; p += n; left -= n; return r;
    }
    uint32_t u32() { const uint8_t* q = take(4); return q ? get32(q) : 0; }
    uint64_t u64() { const uint8_t* q = take(8); return q ? get64(q) : 0; }
};

static bool in_memory(uint64_t addr, uint64_t len) {
    return addr <= mem_size && len <= mem_size - addr;
}

static void csr_write(uint32_t off, uint32_t value) {
    top->csr_addr = off >> 2;
    top->csr_w_data = value;
    top->csr_w_stb = 1;
    top->csr_r_stb = 0;
    cycle();
    csr_idle();
}

static uint32_t csr_read(uint32_t off) {
    top->csr_addr = off >> 2;
    top->csr_r_stb = 1;
    top->csr_w_stb = 0;
    cycle();                       // r_data is registered: valid after this edge
    csr_idle();
    return (uint32_t)top->csr_r_data;
}

static int bad_job(const char* path, const std::string& what) {
    std::fprintf(stderr, "job file %s: %s\n", path, what.c_str());
    return 2;
}

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s MEMORY_BYTES JOB_FILE OUTPUT_FILE\n", argv[0]);
        return 2;
    }
    mem_size = std::strtoull(argv[1], nullptr, 0);
    if (mem_size == 0 || mem_size > 0xFFFFFFFFull) {
        std::fprintf(stderr, "memory size must be 1..0xffffffff bytes, not %s\n", argv[1]);
        return 2;
    }
    mem = static_cast<uint8_t*>(std::calloc(mem_size, 1));
    if (!mem) { std::fprintf(stderr, "cannot allocate %llu bytes\n", (unsigned long long)mem_size); return 2; }

    std::vector<uint8_t> file;
    {
        FILE* f = std::fopen(argv[2], "rb");
        if (!f) return bad_job(argv[2], std::string("cannot open: ") + std::strerror(errno));
        uint8_t chunk[1 << 16];
        size_t n;
        while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) file.insert(file.end(), chunk, chunk + n);
        std::fclose(f);
    }
    Cursor c{file.data(), file.size()};
    const uint8_t* magic = c.take(4);
    if (!magic || std::memcmp(magic, "HFBJ", 4)) return bad_job(argv[2], "not a job file (no HFBJ magic)");
    const uint64_t budget = c.u64();
    const uint32_t cycles_lo = c.u32(), cycles_hi = c.u32();
    const uint32_t nwrites = c.u32();
    if (nwrites > c.left / 8) return bad_job(argv[2], "truncated");
    std::vector<std::pair<uint32_t, uint32_t>> writes(nwrites);
    for (auto& w : writes) { w.first = c.u32(); w.second = c.u32(); }
    Chan setup[@NCHAN1@] = {};
    for (unsigned i = 0; i < NCHAN; i++) {
        setup[i].addr = c.u32();
        setup[i].left = c.u32();
        if (c.ok && !in_memory(setup[i].addr, (uint64_t)setup[i].left * STRIDE[i]))
            return bad_job(argv[2], "DMA channel " + std::to_string(i) + " is outside the memory");
    }
    for (uint32_t n = c.u32(); c.ok && n; n--) {
        const uint32_t addr = c.u32(), len = c.u32();
        const uint8_t* data = c.take(len);
        if (data && !in_memory(addr, len)) return bad_job(argv[2], "load at " + hex(addr) + " is outside the memory");
        if (data) std::memcpy(mem + addr, data, len);
    }
    const uint32_t nsaves = c.u32();
    if (nsaves > c.left / 8) return bad_job(argv[2], "truncated");
    std::vector<std::pair<uint32_t, uint32_t>> saves(nsaves);
    for (auto& s : saves) {
        s.first = c.u32(); s.second = c.u32();
        if (c.ok && !in_memory(s.first, s.second)) return bad_job(argv[2], "save at " + hex(s.first) + " is outside the memory");
    }
    if (!c.ok) return bad_job(argv[2], "truncated");
    for (auto& w : writes)
        if (w.first >= REG_SIZE || (w.first & 3)) return bad_job(argv[2], "bad register offset " + hex(w.first));

    start_model();

    // Timed: DMA setup, register writes, start and the clocking, exactly as RUN does it.
    const auto t0 = std::chrono::steady_clock::now();
    for (unsigned i = 0; i < NCHAN; i++) ch[i] = setup[i];
    for (auto& w : writes) csr_write(w.first, w.second);
    top->csr_addr = STATUS_WORD;
    top->csr_r_stb = 1;
    top->csr_w_stb = 0;
    uint64_t n = 0;
    bool done = false;
    while (n < budget) {
        cycle();
        n++;
        if ((top->csr_r_data & 2) && channels_done()) { done = true; break; }
    }
    csr_idle();
    const auto t1 = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(t1 - t0).count();

    const uint64_t cycles = csr_read(cycles_lo) | ((uint64_t)csr_read(cycles_hi) << 32);
    FILE* out = std::fopen(argv[3], "wb");
    if (!out) { std::fprintf(stderr, "cannot write %s: %s\n", argv[3], std::strerror(errno)); return 2; }
    for (auto& s : saves)
        if (s.second && std::fwrite(mem + s.first, 1, s.second, out) != s.second) {
            std::fprintf(stderr, "cannot write %s: %s\n", argv[3], std::strerror(errno));
            std::fclose(out);
            return 2;
        }
    if (std::fclose(out) != 0) { std::fprintf(stderr, "cannot write %s\n", argv[3]); return 2; }
    std::printf("done=%d clocked=%llu cycles=%llu seconds=%.9f\n", done ? 1 : 0,
                (unsigned long long)n, (unsigned long long)cycles, seconds);
    top->final();
    delete top;
    return done ? 0 : 4;
}
"""


@dataclass(frozen=True)
class BoardBuild:
    """A built virtual board: ``executable``, its ``directory`` and whether it was ``cached``."""

    executable: Path
    directory: Path
    cached: bool
    seconds: float


def build_board(kernel, *, status=None, timeout=BUILD_TIMEOUT, main="protocol"):
    """Build (or reuse from the cache) the virtual board binary of ``kernel``.

    ``main="bench"`` builds the raw benchmark instead (see :func:`generate`).
    """
    what = "virtual board" if main == "protocol" else "raw benchmark"
    name = kernel.name if main == "protocol" else f"{kernel.name}-{main}"
    return build_executable(name=name, what=f"the {what} of {kernel.name}",
                            top=top_name(kernel), verilog_text=to_verilog(kernel),
                            cpp_text=generate(kernel, main), status=status, timeout=timeout)


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
