"""The register bank alone, in amaranth.sim: the common block's contract and typed registers."""

import zlib

from amaranth.sim import Simulator

from hetflow.hw.control import register_layout
from hetflow.hw.regbank import RegisterBank
from hetflow.hw.regmap import RegisterMap
from hetflow.hw.spec import Register

MAP = RegisterMap("t", (Register("a", signed=True), Register("h", count=3, bits=16, signed=True),
                        Register("n", bits=8)))


def word(name, index=0):
    return MAP.offset(name, index) >> 2


def run(bench):
    dut = RegisterBank(MAP)
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def testbench(ctx):
        async def write(name, value, index=0):
            ctx.set(dut.csr.addr, word(name, index))
            ctx.set(dut.csr.w_data, value & 0xFFFFFFFF)
            ctx.set(dut.csr.w_stb, 1)
            await ctx.tick()
            ctx.set(dut.csr.w_stb, 0)

        async def read(name, index=0, addr=None):
            ctx.set(dut.csr.addr, word(name, index) if addr is None else addr)
            ctx.set(dut.csr.r_stb, 1)
            await ctx.tick()
            ctx.set(dut.csr.r_stb, 0)
            return ctx.get(dut.csr.r_data)

        await bench(ctx, dut, write, read)
    sim.add_testbench(testbench)
    sim.run()


def test_the_kernel_registers_are_typed_as_declared():
    layout = register_layout(MAP)
    assert set(layout.members) == {"a", "h", "n"}
    assert layout.members["a"].signed and layout.members["a"].width == 32
    assert layout.members["h"].length == 3 and layout.members["h"].elem_shape.signed
    assert register_layout(RegisterMap("empty")) is None


def test_writes_reads_and_sign_extension():
    async def bench(ctx, dut, write, read):
        await write("a", -5)
        await write("h", -2, index=1)
        await write("n", 0x1FF)                       # 8 bits kept
        assert ctx.get(dut.ctl.regs.a) == -5
        assert ctx.get(dut.ctl.regs.h[1]) == -2
        assert ctx.get(dut.ctl.regs.n) == 0xFF
        assert await read("a") == 0xFFFFFFFB
        assert await read("h", index=1) == 0xFFFFFFFE  # signed 16 bits read back as 32
        assert await read("id") == zlib.crc32(b"t")
        assert await read("status") == 0
        assert await read(None, addr=0x3F) == 0        # unmapped
    run(bench)


def test_a_job_start_busy_finish_done_and_cycles():
    async def bench(ctx, dut, write, read):
        await write("len", 7)
        assert ctx.get(dut.ctl.length) == 7
        ctx.set(dut.csr.addr, word("ctrl"))
        ctx.set(dut.csr.w_data, 1)
        ctx.set(dut.csr.w_stb, 1)
        assert ctx.get(dut.ctl.start) == 1                 # combinational pulse
        await ctx.tick()
        ctx.set(dut.csr.w_stb, 0)
        assert ctx.get(dut.ctl.start) == 0 and ctx.get(dut.ctl.busy) == 1
        await write("a", 99)                           # ignored while busy
        await write("ctrl", 1)                         # no second start
        assert ctx.get(dut.ctl.regs.a) == 0
        await ctx.tick().repeat(3)
        ctx.set(dut.ctl.finish, 1)
        await ctx.tick()
        ctx.set(dut.ctl.finish, 0)
        assert ctx.get(dut.ctl.busy) == 0
        assert await read("status") == 0b10            # done
        assert await read("cycles_lo") == 6 and await read("cycles_hi") == 0
        await write("ctrl", 0)                         # bit 0 clear: no start
        assert ctx.get(dut.ctl.busy) == 0
    run(bench)
