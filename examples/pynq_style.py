"""A PYNQ host script, unmodified PYNQ API, run on hetflow's simulated Zynq.

On a PYNQ board the first line of ``main`` would be
``ol = pynq.Overlay("saxpy.bit")``; everything after it is plain PYNQ:
``pynq.allocate`` buffers, ``pynq.MMIO``, the IP's ``register_map`` and
``pynq.lib.dma.DMA`` channels.  Here ``hetflow.pynq_sim.overlay`` puts the
saxpy RTL (Verilator) with an AXI DMA model behind the same API.

saxpy has two input streams, so the design has two AXI DMA engines:
``axi_dma_0`` sends x, ``axi_dma_1`` sends y and receives z.  The kernel's AXI
wrapper ends z with TLAST after ``out_beats_z`` beats (``lanes`` elements each).

Run it::

    python examples/pynq_style.py [--n 4096] [--a -7] [--lanes 1]

It prints one line, ``PASS ...`` or ``FAIL ...``, and exits 0 or 1.
"""

import argparse
import sys
import zlib

import numpy as np
import pynq

import hetflow.pynq_sim
from hetflow.hw.registry import get_kernel


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096, help="vector length (default 4096)")
    parser.add_argument("--a", type=int, default=-7, help="scale factor, int32 (default -7)")
    parser.add_argument("--lanes", type=int, default=1, choices=(1, 2, 4, 8))
    args = parser.parse_args(argv)

    ol = hetflow.pynq_sim.overlay("saxpy", lanes=args.lanes)   # board: pynq.Overlay("saxpy.bit")
    ip = ol.hetflow_saxpy_0
    dma_x, dma_yz = ol.axi_dma_0, ol.axi_dma_1

    # The id register, read with a raw MMIO over the IP's address window.
    desc = ol.ip_dict["hetflow_saxpy_0"]
    mmio = pynq.MMIO(desc["phys_addr"], desc["addr_range"])
    if mmio.read(0x14) != zlib.crc32(b"saxpy"):
        print(f"FAIL: id register reads 0x{mmio.read(0x14):08x}, not crc32('saxpy')")
        return 1

    rng = np.random.default_rng(0)
    x = pynq.allocate(shape=(args.n,), dtype=np.int32)
    y = pynq.allocate(shape=(args.n,), dtype=np.int32)
    z = pynq.allocate(shape=(args.n,), dtype=np.int32)
    x[:] = rng.integers(-2**31, 2**31, args.n, dtype=np.int64)
    y[:] = rng.integers(-2**31, 2**31, args.n, dtype=np.int64)

    ip.register_map.len = args.n
    ip.register_map.a = args.a & 0xFFFFFFFF       # registers take the 32-bit pattern
    # The AXI wrapper raises TLAST on this beat of z, which ends the S2MM transfer.
    ip.register_map.out_beats_z = -(-args.n // args.lanes)
    dma_x.sendchannel.transfer(x)                 # transfer() flushes the buffer
    dma_yz.sendchannel.transfer(y)
    dma_yz.recvchannel.transfer(z)
    mmio.write(0x00, 1)                           # ctrl.start (same as ip.write(0x00, 1))
    dma_x.sendchannel.wait()
    dma_yz.sendchannel.wait()
    dma_yz.recvchannel.wait()                     # wait() invalidates z

    status = ip.register_map.status
    cycles = ip.register_map.cycles_hi[31:0] << 32 | ip.register_map.cycles_lo[31:0]
    golden = get_kernel("saxpy").golden(get_kernel("saxpy").bind(lanes=args.lanes),
                                        {"x": np.asarray(x), "y": np.asarray(y)},
                                        {"a": args.a})["z"]
    bad = np.flatnonzero(np.asarray(z) != golden)
    if not status.done or len(bad):
        where = f"first mismatch at {bad[0]}: {z[bad[0]]} != {golden[bad[0]]}" if len(bad) \
            else "status.done is 0"
        print(f"FAIL saxpy n={args.n}: {where}")
        return 1
    print(f"PASS saxpy n={args.n} a={args.a} lanes={args.lanes}: {args.n} elements equal "
          f"the golden model, {cycles} cycles, {dma_yz.recvchannel.transferred} bytes received")
    return 0


if __name__ == "__main__":
    sys.exit(main())
