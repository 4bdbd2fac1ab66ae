"""A host script that runs unchanged on every device.

    hetflow run examples/saxpy_host.py --device cpu
    hetflow run examples/saxpy_host.py --device sim
"""

import zlib

import numpy as np

import hetflow

rng = np.random.default_rng(0)
x = rng.integers(-1000, 1000, 4096).astype(np.int32)
y = rng.integers(-1000, 1000, 4096).astype(np.int32)

with hetflow.open() as dev:
    saxpy = dev.kernel("saxpy", lanes=2)
    z = saxpy(x, y, a=7)
    assert np.array_equal(z, 7 * x + y)
    crc = int(dev.kernel("crc32")(z.view(np.uint8))[0])
    assert crc == zlib.crc32(z.tobytes())
    cycles = saxpy.last_cycles
    print(f"{dev.name}: saxpy of {len(x)} elements ok"
          + (f" in {cycles} cycles" if cycles is not None else "") + f", crc32 0x{crc:08x}")
