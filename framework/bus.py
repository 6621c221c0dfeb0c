"""Physical address space: RAM and MMIO regions.

RAM is one anonymous mmap per region: the host kernel hands out zero pages on
first touch, so `--memory 4G` costs nothing until the guest uses it. The
engine reaches RAM bytes directly through typed memoryviews of the buffer
(`ram_views`); everything else comes here.
"""

from __future__ import annotations

import mmap
from typing import Protocol

import attrs

from framework.errors import BusError


class Device(Protocol):
    """An MMIO device: offsets are relative to the region base."""

    def read(self, offset: int, size: int) -> int: ...

    def write(self, offset: int, size: int, value: int) -> None: ...


@attrs.define(slots=True, eq=False)
class RamRegion:
    base: int
    size: int
    buf: mmap.mmap

    @classmethod
    def allocate(cls, base: int, size: int) -> RamRegion:
        return cls(base, size, mmap.mmap(-1, size))

    def contains(self, pa: int, size: int = 1) -> bool:
        return self.base <= pa and pa + size <= self.base + self.size


@attrs.define(slots=True, eq=False)
class MmioRegion:
    base: int
    size: int
    device: Device
    name: str

    def contains(self, pa: int) -> bool:
        return self.base <= pa < self.base + self.size


@attrs.define(slots=True, eq=False)
class Bus:
    """The machine's physical address space."""

    ram: RamRegion | None = None
    mmio: list[MmioRegion] = attrs.field(factory=list)

    def add_ram(self, base: int, size: int) -> RamRegion:
        self.ram = RamRegion.allocate(base, size)
        return self.ram

    def add_device(self, base: int, size: int, device: Device, name: str) -> None:
        self.mmio.append(MmioRegion(base, size, device, name))

    def find_device(self, pa: int) -> MmioRegion | None:
        for region in self.mmio:
            if region.contains(pa):
                return region
        return None

    def ram_offset(self, pa: int, size: int = 1) -> int | None:
        """Offset of `pa` in the RAM buffer, or None if [pa, pa+size) is not all RAM."""
        ram = self.ram
        if ram is not None and ram.contains(pa, size):
            return pa - ram.base
        return None

    def read(self, pa: int, size: int) -> int:
        off = self.ram_offset(pa, size)
        if off is not None:
            return int.from_bytes(self.ram.buf[off : off + size], "little")
        region = self.find_device(pa)
        if region is None:
            raise BusError(pa)
        return region.device.read(pa - region.base, size)

    def write(self, pa: int, size: int, value: int) -> None:
        off = self.ram_offset(pa, size)
        if off is not None:
            self.ram.buf[off : off + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
            return
        region = self.find_device(pa)
        if region is None:
            raise BusError(pa)
        region.device.write(pa - region.base, size, value)

    def read_bytes(self, pa: int, length: int) -> bytes:
        off = self.ram_offset(pa, length)
        if off is None:
            return bytes(self.read(pa + i, 1) for i in range(length))
        return bytes(self.ram.buf[off : off + length])

    def write_bytes(self, pa: int, data: bytes) -> None:
        off = self.ram_offset(pa, len(data))
        if off is None:
            for i, b in enumerate(data):
                self.write(pa + i, 1, b)
            return
        self.ram.buf[off : off + len(data)] = data
