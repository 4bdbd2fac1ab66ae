"""The manifest ROM: words round-trip, the ROM serves them on its bus, bad words are named."""

import pytest
from amaranth.sim import Simulator

from hetflow.hw.overlay import Overlay
from hetflow.hw.overlay.manifest import ManifestError, ManifestROM, decode_manifest, \
    encode_manifest, manifest_words


def content():
    ov = Overlay("pipeline")
    ov.add("fir0", "fir", taps=16)
    ov.add("crc0", "crc32", lanes=4)
    ov.add("gemm0", "gemm", rows=2, cols=4)
    ov.connect("fir0.y", "crc0.data", reinterpret=True)
    return ov.describe()


def test_round_trip_and_size():
    words = encode_manifest(content())
    assert decode_manifest(words) == content()
    assert manifest_words(words[:3]) == len(words)
    assert len(words) * 4 < 512          # one iCE40 block RAM


def test_rom_serves_the_words():
    words = encode_manifest(content())
    rom = ManifestROM(words)
    got = []

    async def bench(ctx):
        for addr in range(len(words) + 2):
            ctx.set(rom.bus.addr, addr)
            ctx.set(rom.bus.r_stb, 1)
            await ctx.tick()
            ctx.set(rom.bus.r_stb, 0)
            await ctx.tick()                 # held while no read is asked for
            got.append(ctx.get(rom.bus.r_data))

    sim = Simulator(rom)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got[:len(words)] == words
    assert decode_manifest(got) == content()


def test_bad_words_are_named():
    words = encode_manifest(content())
    with pytest.raises(ManifestError, match=r'^no manifest: word 0 is 0x43534648, not '
                                            r'0x464d4648 \("HFMF"\); the bitstream predates '):
        decode_manifest([0x43534648] + words[1:])
    with pytest.raises(ManifestError, match="^manifest format 9 is not the 1 this hetflow "
                                            "reads; use the hetflow version"):
        decode_manifest([words[0], words[1] + 8] + words[2:])
    with pytest.raises(ManifestError, match=r"^manifest cut short: 5 of \d+ words$"):
        decode_manifest(words[:5])
    flipped = words[:3] + [words[3] ^ 1] + words[4:]
    with pytest.raises(ManifestError, match="^manifest CRC 0x[0-9a-f]{8} does not match "
                                            "0x[0-9a-f]{8}: the words were read wrongly"):
        decode_manifest(flipped)
    with pytest.raises(ManifestError, match=r"^a ManifestROM takes the 32-bit words of "
                                            r"encode_manifest\(\)$"):
        ManifestROM([1 << 32])
