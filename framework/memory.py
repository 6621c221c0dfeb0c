"""Guest virtual memory accesses: the software TLB fast path and the slow path.

Translated code reads RAM through typed views of the RAM buffer (`m8` … `m64`)
at `tlb[va >> 12] + va`, where a TLB entry is the host offset of the page minus
its virtual address. Everything else — a TLB miss, an unaligned or
page-crossing access, MMIO, faults, unprivileged and exclusive accesses —
comes through `read_slow` / `write_slow`, which translate (the MMU plugin's
hook, or the flat map when no MMU is enabled), fill the TLB when the page is
plain RAM, and take the architectural exception on a fault.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.arch import ESR_ISS
from framework.errors import BusError, ExceptionTaken

if TYPE_CHECKING:
    from framework.cpu.state import CPUState

# Access flags, above the 25 ISS bits a load/store passes for ISV syndromes.
ACC_UNPRIV = 1 << 32  # LDTR/STTR
ACC_EXCL = 1 << 33  # exclusive access: must be aligned
ACC_ATOMIC = 1 << 34  # atomic read-modify-write: must be aligned
ACC_FORCE_SLOW = 1 << 35  # never use the TLB fast path
ACC_ACQREL = 1 << 36
ACC_PAIR = 1 << 37
ACC_ALIGNED = ACC_EXCL | ACC_ATOMIC
ISS_MASK = ESR_ISS.mask

VIEW_NAMES = {1: "m8", 2: "m16", 4: "m32", 8: "m64"}
VIEW_SHIFT = {1: 0, 2: 1, 4: 2, 8: 3}
VIEW_FORMAT = {1: "B", 2: "H", 4: "I", 8: "Q"}

PAGE = 4096


def ram_views(buf) -> dict[str, memoryview]:
    """Typed views of a RAM buffer, by the names generated code uses."""
    mv = memoryview(buf)
    return {VIEW_NAMES[s]: mv.cast(VIEW_FORMAT[s]) for s in VIEW_NAMES}


def read_slow(cpu: CPUState, va: int, size: int, pc: int, acc: int) -> int:
    """Load `size` bytes at `va` (little-endian), taking any fault as an exception."""
    mem = cpu.machine.mem
    if va & (size - 1):
        mem.check_alignment(cpu, va, size, False, pc, acc)
        if (va & 0xFFF) + size > PAGE:
            lo_n = PAGE - (va & 0xFFF)
            lo = read_slow(cpu, va, lo_n, pc, acc) if lo_n in (1, 2, 4, 8) else _bytes_read(cpu, va, lo_n, pc, acc)
            hi = _bytes_read(cpu, va + lo_n, size - lo_n, pc, acc)
            return lo | (hi << (8 * lo_n))
    pa, ram_off = mem.translate_access(cpu, va, size, False, pc, acc)
    if ram_off is not None:
        return int.from_bytes(mem.ram_buf[ram_off : ram_off + size], "little")
    try:
        return mem.bus.read(pa, size) if size <= 8 else _bus_read_wide(mem.bus, pa, size)
    except BusError:
        mem.external_abort(cpu, va, pa, False, pc, acc)
        raise AssertionError("unreachable") from None


def write_slow(cpu: CPUState, va: int, size: int, value: int, pc: int, acc: int) -> None:
    """Store the low `size` bytes of value at `va`, taking any fault as an exception."""
    mem = cpu.machine.mem
    value &= (1 << (8 * size)) - 1
    if va & (size - 1):
        mem.check_alignment(cpu, va, size, True, pc, acc)
        if (va & 0xFFF) + size > PAGE:
            lo_n = PAGE - (va & 0xFFF)
            # translate both pages before writing anything, so a fault leaves memory unchanged
            mem.translate_access(cpu, va, 1, True, pc, acc)
            mem.translate_access(cpu, va + lo_n, 1, True, pc, acc)
            for i in range(size):
                write_slow(cpu, va + i, 1, value >> (8 * i), pc, acc)
            return
    pa, ram_off = mem.translate_access(cpu, va, size, True, pc, acc)
    if ram_off is not None:
        mem.ram_buf[ram_off : ram_off + size] = value.to_bytes(size, "little")
        mem.code_written(ram_off, size)
        return
    try:
        if size <= 8:
            mem.bus.write(pa, size, value)
        else:
            for i in range(0, size, 8):
                mem.bus.write(pa + i, 8, value >> (8 * i))
    except BusError:
        mem.external_abort(cpu, va, pa, True, pc, acc)


def _bytes_read(cpu: CPUState, va: int, n: int, pc: int, acc: int) -> int:
    value = 0
    for i in range(n):
        value |= read_slow(cpu, va + i, 1, pc, acc) << (8 * i)
    return value


def _bus_read_wide(bus, pa: int, size: int) -> int:
    value = 0
    for i in range(0, size, 8):
        value |= bus.read(pa + i, 8) << (8 * i)
    return value


__all__ = [
    "ACC_ACQREL",
    "ACC_ALIGNED",
    "ACC_ATOMIC",
    "ACC_EXCL",
    "ACC_FORCE_SLOW",
    "ACC_PAIR",
    "ACC_UNPRIV",
    "ExceptionTaken",
    "read_slow",
    "write_slow",
]
