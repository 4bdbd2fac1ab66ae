"""The control/status register map of a kernel, as data.

The map is laid out once, here, from the kernel's metadata; the shell's RTL
decodes addresses from it and the exporters write it as JSON or a C header,
so host drivers never copy offsets by hand.

Every kernel has the same common block at the bottom of its window:

====== ========= ====== =====================================================
offset name      access meaning
====== ========= ====== =====================================================
0x00   ctrl      wo     write bit 0 = 1 to start a job (ignored while busy)
0x04   status    ro     bit 0 busy, bit 1 done (set when a job ends, cleared
                        by the next start)
0x08   len       rw     job length in elements (meaning per kernel)
0x0c   cycles_lo ro     clock cycles from start to done, low word
0x10   cycles_hi ro     high word
0x14   id        ro     kernel identifier (CRC-32 of the kernel name)
====== ========= ====== =====================================================

Kernel registers follow from 0x20, 32 bits each, arrays as consecutive words.
"""

import json
import zlib

from .spec import Register

__all__ = ["RegisterMap", "COMMON_REGISTERS", "KERNEL_BASE", "STATUS_BUSY", "STATUS_DONE"]

KERNEL_BASE = 0x20
STATUS_BUSY = 1 << 0
STATUS_DONE = 1 << 1

COMMON_REGISTERS = (
    Register("ctrl", 0x00, access="wo", doc="write 1 to bit 0 to start a job",
             fields=(("start", 0, 1),)),
    Register("status", 0x04, access="ro", doc="bit 0 busy, bit 1 done",
             fields=(("busy", 0, 1), ("done", 1, 1))),
    Register("len", 0x08, doc="job length in elements"),
    Register("cycles_lo", 0x0C, access="ro", doc="cycles from start to done, low word"),
    Register("cycles_hi", 0x10, access="ro", doc="cycles from start to done, high word"),
    Register("id", 0x14, access="ro", doc="CRC-32 of the kernel name"),
)


def kernel_id(name):
    """The value of a kernel's ``id`` register."""
    return zlib.crc32(name.encode())


class RegisterMap:
    """Register layout of one kernel instance.

    Parameters
    ----------
    kernel : str
        Kernel name (used for the id register and C macro prefixes).
    registers : iterable of Register
        Kernel-specific registers; offsets are assigned here in order.
    """

    def __init__(self, kernel, registers=()):
        self.kernel = kernel
        self.kernel_id = kernel_id(kernel)
        regs = list(COMMON_REGISTERS)
        offset = KERNEL_BASE
        seen = {r.name for r in regs}
        for reg in registers:
            if reg.name in seen:
                raise ValueError(f"{kernel}: register name {reg.name!r} is used twice")
            seen.add(reg.name)
            regs.append(Register(reg.name, offset, reg.count, reg.bits, reg.signed,
                                 reg.access, reg.doc, reg.fields, reg.array))
            offset += reg.size
        self.registers = tuple(regs)
        self._by_name = {r.name: r for r in regs}

    def __iter__(self):
        return iter(self.registers)

    def __getitem__(self, name):
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"{self.kernel}: no register {name!r}; registers are "
                           + ", ".join(self._by_name)) from None

    def __contains__(self, name):
        return name in self._by_name

    @property
    def size(self):
        """Size of the register window in bytes (a power of two)."""
        end = max(r.offset + r.size for r in self.registers)
        size = 64
        while size < end:
            size *= 2
        return size

    @property
    def addr_width(self):
        """Width of a word address into the window."""
        return (self.size // 4 - 1).bit_length()

    def offset(self, name, index=0):
        """Byte offset of ``name`` (element ``index`` of an array register)."""
        reg = self[name]
        if not 0 <= index < reg.count:
            raise IndexError(f"{self.kernel}: register {name!r} has {reg.count} "
                             f"element(s); index {index} is out of range")
        return reg.offset + 4 * index

    def word_writes(self, registers):
        """``[(word address, 32-bit value)]`` that write a job's ``registers``
        (name to an int, or a sequence for an array register), in their order."""
        writes = []
        for name, value in registers.items():
            values = value if isinstance(value, (list, tuple)) or hasattr(value, "ndim") \
                and value.ndim else [value]
            writes += [(self.offset(name, i) >> 2, int(v) & 0xFFFFFFFF)
                       for i, v in enumerate(values)]
        return writes

    def to_dict(self):
        return {
            "kernel": self.kernel,
            "id": self.kernel_id,
            "size": self.size,
            "data_width": 32,
            "registers": [
                {"name": r.name, "offset": r.offset, "count": r.count, "array": r.array,
                 "bits": r.bits,
                 "signed": r.signed, "access": r.access, "doc": r.doc,
                 "fields": [{"name": f, "lsb": lsb, "width": w} for f, lsb, w in r.fields]}
                for r in self.registers
            ],
        }

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def to_c_header(self):
        prefix = "HETFLOW_" + self.kernel.upper()
        guard = prefix + "_REGS_H"
        lines = [
            f"/* Register map of the hetflow kernel '{self.kernel}'. Generated; do not edit. */",
            f"#ifndef {guard}",
            f"#define {guard}",
            "",
            f"#define {prefix}_ID 0x{self.kernel_id:08x}u",
            f"#define {prefix}_WINDOW_SIZE 0x{self.size:x}u",
            "",
        ]
        for r in self.registers:
            name = f"{prefix}_{r.name.upper()}"
            comment = f"/* {r.access}, {r.bits} bits{', signed' if r.signed else ''}: {r.doc} */"
            lines.append(f"#define {name}_OFFSET 0x{r.offset:02x}u {comment}")
            if r.array:
                lines.append(f"#define {name}_COUNT {r.count}u")
            for f, lsb, w in r.fields:
                lines.append(f"#define {name}_{f.upper()}_MASK 0x{((1 << w) - 1) << lsb:x}u")
        lines += ["", f"#endif /* {guard} */", ""]
        return "\n".join(lines)
