"""The design's manifest: what is on the fabric, in a ROM the host reads over any link.

A host that opens a board must know what the bitstream carries (instances,
kernels and parameters, register windows, DMA channels, chains) without
being told.  The SoC carries that description as data in a small ROM;
:func:`encode_manifest` makes its words and :func:`decode_manifest` reads
them back.  The words are::

    word 0   MAGIC ("HFMF", little-endian)
    word 1   bits 0-15: format VERSION; bits 16-31: payload bytes
    word 2   zlib.crc32 of the payload
    word 3.. the payload: zlib-compressed compact JSON, zero-padded to whole words

The JSON is whatever the SoC puts in (a dict); compressed, a three-instance
design's manifest takes a few hundred bytes, one block RAM on any family.
:class:`ManifestROM` serves the words on a read-only register bus.
"""

import json
import zlib

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In

from ..csr import CSRSignature
from ..errors import HetflowError

__all__ = ["encode_manifest", "decode_manifest", "manifest_words", "ManifestROM",
           "ManifestError", "MAGIC", "VERSION", "HEADER_WORDS"]

MAGIC = 0x464D4648         # b"HFMF"
VERSION = 1
HEADER_WORDS = 3
#: Largest payload the header's 16-bit length field can announce.
MAX_PAYLOAD = 0xFFFF


class ManifestError(HetflowError, ValueError):
    """A manifest that cannot be read: wrong magic, version, length or CRC."""


def encode_manifest(content):
    """The ROM words (a list of 32-bit ints) holding ``content`` (a JSON-able dict)."""
    payload = zlib.compress(json.dumps(content, sort_keys=True, separators=(",", ":"))
                            .encode(), 9)
    if len(payload) > MAX_PAYLOAD:
        raise ManifestError(f"the manifest compresses to {len(payload)} bytes; at most "
                            f"{MAX_PAYLOAD} fit its length field")
    padded = payload + bytes(-len(payload) % 4)
    body = [int.from_bytes(padded[i:i + 4], "little") for i in range(0, len(padded), 4)]
    return [MAGIC, VERSION | len(payload) << 16, zlib.crc32(payload)] + body


def manifest_words(header):
    """Words the whole manifest takes, from its first :data:`HEADER_WORDS` words."""
    magic, info, _ = header[:HEADER_WORDS]
    if magic != MAGIC:
        raise ManifestError(f"no manifest: word 0 is 0x{magic:08x}, not 0x{MAGIC:08x} "
                            f"(\"HFMF\"); the bitstream predates manifests or is not hetflow's")
    if info & 0xFFFF != VERSION:
        raise ManifestError(f"manifest format {info & 0xFFFF} is not the {VERSION} this "
                            f"hetflow reads; use the hetflow version that built the bitstream")
    return HEADER_WORDS + -(-(info >> 16) // 4)


def decode_manifest(words):
    """The dict :func:`encode_manifest` stored in ``words`` (as read from the ROM)."""
    total = manifest_words(words)
    if len(words) < total:
        raise ManifestError(f"manifest cut short: {len(words)} of {total} words")
    length, crc = words[1] >> 16, words[2]
    raw = b"".join(int(w).to_bytes(4, "little") for w in words[HEADER_WORDS:total])[:length]
    if zlib.crc32(raw) != crc:
        raise ManifestError(f"manifest CRC 0x{zlib.crc32(raw):08x} does not match 0x{crc:08x}: "
                            f"the words were read wrongly; read them again")
    try:
        return json.loads(zlib.decompress(raw))
    except (zlib.error, ValueError) as exc:
        raise ManifestError(f"manifest payload does not decode: {exc}") from None


class ManifestROM(wiring.Component):
    """The manifest's words on a read-only register bus.

    Parameters
    ----------
    words : list of int
        From :func:`encode_manifest`.

    Members
    -------
    bus : In(CSRSignature(addr_width))
        Reads return word ``addr`` from the cycle after ``r_stb`` until the
        next read (0 past the end); writes are ignored.
    """

    def __new__(cls, words):
        # Checked before the object exists, so a refused ROM leaves no unused elaboratable.
        if not words or any(not 0 <= int(w) < 1 << 32 for w in words):
            raise ManifestError("a ManifestROM takes the 32-bit words of encode_manifest()")
        return super().__new__(cls)

    def __init__(self, words):
        self.words = [int(w) for w in words]
        self.addr_width = max(1, (len(self.words) - 1).bit_length())
        super().__init__({"bus": In(CSRSignature(self.addr_width))})

    def elaborate(self, platform):
        m = Module()
        depth = 1 << self.addr_width
        m.submodules.rom = rom = Memory(shape=32, depth=depth,
                                        init=self.words + [0] * (depth - len(self.words)))
        port = rom.read_port()
        # A synchronous read port: data the cycle after the address, held while disabled.
        m.d.comb += [port.addr.eq(self.bus.addr), port.en.eq(self.bus.r_stb),
                     self.bus.r_data.eq(port.data)]
        return m
