"""``crc32``: CRC-32 (IEEE 802.3) of a byte stream, bit-exact with ``zlib.crc32``."""

import zlib

import numpy as np
from amaranth.hdl import Const, Module, Mux, Signal

from ..core import KernelCore
from ..kernel import Kernel
from ..spec import Param, Port
from ..stimuli import full, random_ints

__all__ = ["Crc32", "Crc32Core", "POLY", "crc32_byte_step"]

#: The IEEE 802.3 polynomial in reflected (LSB-first) form.
POLY = 0xEDB88320
_INIT = 0xFFFFFFFF


def crc32_byte_step(m, crc, byte, name):
    """The CRC-32 register after one more byte: ``crc`` (32-bit value) updated with ``byte``.

    Combinational logic added to ``m``: 8 shifts, LSB first, each XORing the
    polynomial in when the bit shifted out is 1 (initial value and final
    inversion are the caller's).  Every step is a named signal
    (``{name}_b0`` ...): an expression uses its operand twice, and Amaranth
    would expand nested expressions into a tree of 2**(8*bytes) nodes.
    """
    crc = crc ^ byte
    for bit in range(8):
        step = Signal(32, name=f"{name}_b{bit}")
        m.d.comb += step.eq((crc >> 1) ^ Mux(crc[0], Const(POLY, 32), 0))
        crc = step
    return crc


class Crc32Core(KernelCore):
    """The hardware of :class:`Crc32`.

    ``lanes`` bytes per cycle through the unrolled byte step of the reflected
    CRC-32; the result is one beat after the last byte.
    """

    def elaborate(self, platform):
        m = Module()
        ctl = self.ctl
        lanes = self.p.lanes
        data, out = self.data, self.crc

        crc = Signal(32, init=_INIT)
        remaining = Signal(32)          # bytes of the job not yet consumed

        # states[k] is the CRC after the first k bytes of the beat.
        states = [crc]
        for i in range(lanes):
            states.append(crc32_byte_step(m, states[-1], data.payload[i],
                                          f"crc_l{i}"))

        # Bytes of this beat that belong to the job: all lanes except on the last
        # beat, whose zero padding must not enter the CRC.
        take = Signal(range(lanes + 1))
        with m.If(remaining >= lanes):
            m.d.comb += take.eq(lanes)
        with m.Else():
            m.d.comb += take.eq(remaining)

        more = remaining != 0
        m.d.comb += data.ready.eq(ctl.busy & more)

        # The CRC no longer changes once all bytes are in, so the result can be
        # driven straight from the register while valid is held.
        m.d.comb += out.payload.eq(~crc)

        with m.If(ctl.start):
            m.d.sync += [crc.eq(_INIT), remaining.eq(ctl.length), out.valid.eq(0)]
        with m.Elif(data.valid & data.ready):
            m.d.sync += remaining.eq(remaining - take)
            with m.Switch(take):
                for k in range(1, lanes + 1):
                    with m.Case(k):
                        m.d.sync += crc.eq(states[k])
        with m.Elif(ctl.busy & ~more):
            # Offer the result until taken; busy falls the cycle after finish,
            # so the result is offered exactly once per job.
            with m.If(out.valid & out.ready):
                m.d.sync += out.valid.eq(0)
            with m.Else():
                m.d.sync += out.valid.eq(1)

        m.d.comb += ctl.finish.eq(out.valid & out.ready)
        return m


class Crc32(Kernel):
    """CRC-32 of ``len`` bytes, ``lanes`` bytes per cycle.

    The reflected CRC-32 of Ethernet, zip and PNG: polynomial 0xEDB88320,
    initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF, bytes processed LSB first.
    The result equals ``zlib.crc32(data)``; an empty stream (``len`` = 0)
    gives 0x00000000.

    Parameters
    ----------
    lanes : {1, 2, 4, 8}
        Bytes per input beat (default 4).

    Notes
    -----
    Stream layout: input ``data`` is uint8, ``lanes`` bytes per beat, byte
    ``i`` of the stream in lane ``i mod lanes``, ``ceil(len / lanes)`` beats;
    the host zero-pads the last one.  Output ``crc`` is one uint32 beat after
    the last input beat.  The ``len`` register holds the number of bytes.

    Resources: no multipliers (DSPs), no memories.  A 32-bit CRC register, a
    32-bit byte down-counter, and a combinational chain of ``lanes`` byte
    updates of 8 conditional XORs each (``lanes * 8`` XOR stages before
    synthesis flattens them), with a ``lanes + 1``-way mux that stops after
    the valid bytes of the last beat.

    Throughput: one beat per cycle, i.e. ``1 / lanes`` cycles per byte, plus
    about three cycles per job for start and the result beat.
    """

    name = "crc32"
    summary = "CRC-32 (IEEE 802.3, zlib.crc32) of a byte stream"
    core = Crc32Core
    params = (Param("lanes", 4, 1, 8, "bytes per cycle", choices=(1, 2, 4, 8)),)

    @classmethod
    def inputs(cls, p):
        return (Port("data", "uint8", p.lanes, "bytes to checksum"),)

    @classmethod
    def outputs(cls, p):
        return (Port("crc", "uint32", 1, "zlib.crc32 of the bytes"),)

    @classmethod
    def golden(cls, p, inputs, scalars):
        return {"crc": np.array([zlib.crc32(inputs["data"].tobytes())], dtype=np.uint32)}

    @classmethod
    def output_length(cls, p, n):
        return 1

    @classmethod
    def work(cls, p, job):
        return job.registers["len"], "byte"

    calibration_sizes = (16384, 65536, 262144, 1048576)

    @classmethod
    def throughput(cls, p):
        return float(p.lanes), "byte"

    @classmethod
    def cases(cls, p, rng, count):
        out = [np.zeros(0, dtype=np.uint8),                         # empty: crc 0
               random_ints(rng, "uint8", 1000),                     # long job
               np.frombuffer(b"123456789", dtype=np.uint8).copy(),  # the check value
               full("uint8", 3 * p.lanes + 1, "min"),
               full("uint8", 2 * p.lanes - 1, "max")]
        # Random lengths of 1..64 cover every remainder of len mod lanes.
        out += [random_ints(rng, "uint8", int(rng.integers(1, 64, endpoint=True)))
                for _ in range(count - len(out))]
        return [({"data": d}, {}) for d in out[:count]]
