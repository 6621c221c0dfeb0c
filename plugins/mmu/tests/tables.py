"""Build VMSAv8-64 translation tables in guest RAM from a test's setup function.

    def setup(m):
        t = Tables(m, TABLES)          # 4 KiB granule, 39-bit input: start at level 1
        t.map(0x4000_0000, 0x4000_0000, level=2, attrs=RW_EL1 | NORMAL)   # a 2 MiB block
        t.map(0x4060_0000, 0x4060_0000, attrs=RO_EL1 | NORMAL)            # a 4 KiB page

Descriptor values are composed from the constants below; `entry(va, level)`
gives the address of a descriptor so a test (or its guest) can change it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from framework.machine import Machine

# Where the tests keep their tables and data (the image is at 0x4008_0000, its stack below 0x4018_0000)
TABLES = 0x4040_0000
S2_TABLES = 0x4050_0000
DATA = 0x4060_0000

# Block/page descriptor fields (stage 1)
VALID = 1
TABLE = 0b11
PAGE = 0b11
BLOCK = 0b01
AF = 1 << 10
SH_INNER = 3 << 8
AP_RW_EL1 = 0 << 6
AP_RW_ALL = 1 << 6
AP_RO_EL1 = 2 << 6
AP_RO_ALL = 3 << 6
NG = 1 << 11
DBM = 1 << 51
CONTIG = 1 << 52
PXN = 1 << 53
UXN = 1 << 54  # XN in the EL2 regime


def attr_index(i: int) -> int:
    return i << 2


# MAIR with Normal WB RWA at index 0, Device-nGnRnE at 1, Normal NC at 2, Device-nGnRE at 3
MAIR = 0x04_44_00_FF
NORMAL = attr_index(0) | SH_INNER | AF
DEVICE = attr_index(1) | AF
NORMAL_NC = attr_index(2) | SH_INNER | AF

# Stage-2 descriptor fields
S2AP_RO = 1 << 6
S2AP_WO = 2 << 6
S2AP_RW = 3 << 6
S2_NORMAL = (0xF << 2) | SH_INNER | AF  # MemAttr 0b1111: Normal WB
S2_DEVICE = (0x0 << 2) | AF  # Device-nGnRnE
S2_XN = 2 << 53

GRANULE_SHIFT = {4096: 12, 16384: 14, 65536: 16}


class Tables:
    """One set of translation tables (stage 1 or stage 2) for one granule and input size."""

    def __init__(
        self, m: Machine, base: int, *, granule: int = 4096, inputsize: int = 39, start_level: int | None = None
    ):
        self.m = m
        self.shift = GRANULE_SHIFT[granule]
        self.stride = self.shift - 3
        self.inputsize = inputsize
        if start_level is None:
            start_level = 3 - (inputsize - self.shift - 1) // self.stride
        self.start = start_level
        self.size = granule
        self.next = base
        self.root = self.alloc(self.table_bytes(start_level))

    def table_bytes(self, level: int) -> int:
        if level == self.start:
            return max(8 << (self.inputsize - self.level_shift(level)), 64)
        return self.size

    def level_shift(self, level: int) -> int:
        return self.shift + (3 - level) * self.stride

    def alloc(self, nbytes: int | None = None) -> int:
        nbytes = nbytes or self.size
        addr = (self.next + self.size - 1) & ~(self.size - 1)
        self.next = addr + max(nbytes, self.size)
        self.m.bus.write_bytes(addr, bytes(max(nbytes, self.size)))
        return addr

    def index(self, va: int, level: int) -> int:
        bits = self.inputsize - self.level_shift(level) if level == self.start else self.stride
        return (va >> self.level_shift(level)) & ((1 << bits) - 1)

    def entry(self, va: int, level: int) -> int:
        """Address of the descriptor for `va` at `level` (tables above it are created as needed)."""
        table = self.root
        for lvl in range(self.start, level):
            addr = table + 8 * self.index(va, lvl)
            desc = self.m.bus.read(addr, 8)
            if desc & 3 != 3:
                nxt = self.alloc()
                self.m.bus.write(addr, 8, nxt | TABLE)
                desc = nxt | TABLE
            table = desc & ((1 << 48) - 1) & ~(self.size - 1)
        return table + 8 * self.index(va, level)

    def table_entry(self, va: int, level: int) -> int:
        """Address of the table descriptor at `level` that leads to `va` (for APTable/XNTable)."""
        self.entry(va, level + 1)
        return self.entry(va, level)

    def map(self, va: int, pa: int, *, level: int = 3, attrs: int = 0) -> int:
        """Write a page (level 3) or block descriptor; return its address."""
        addr = self.entry(va, level)
        kind = PAGE if level == 3 else BLOCK
        self.m.bus.write(addr, 8, pa | attrs | kind)
        return addr

    def set(self, addr: int, desc: int) -> None:
        self.m.bus.write(addr, 8, desc)

    def get(self, addr: int) -> int:
        return self.m.bus.read(addr, 8)
