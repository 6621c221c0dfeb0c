"""Arm semihosting (A64: ``HLT #0xF000``), console only.

The operation number is in w0, the parameter (usually the address of a block
of 64-bit words) in x1, the result goes to x0, and execution continues after
the HLT. Addresses are virtual addresses of the calling EL, read through the
current translation regime, so semihosting works with the MMU on and under
any HCR_EL2 setting (README "Board facts").

Only the console is a file: ``SYS_OPEN(":tt")`` gives stdin (modes 0-3),
stdout (4-7) or stderr (8-11); other names fail with ENOENT.
"""

from __future__ import annotations

import errno
import sys
import time
from typing import TYPE_CHECKING

from framework.errors import GuestStop
from framework.memory import read_slow, write_slow

if TYPE_CHECKING:
    from framework.cpu.state import CPUState
    from framework.machine import Machine

SYS_OPEN = 0x01
SYS_CLOSE = 0x02
SYS_WRITEC = 0x03
SYS_WRITE0 = 0x04
SYS_WRITE = 0x05
SYS_READ = 0x06
SYS_READC = 0x07
SYS_ISERROR = 0x08
SYS_ISTTY = 0x09
SYS_SEEK = 0x0A
SYS_FLEN = 0x0C
SYS_CLOCK = 0x10
SYS_TIME = 0x11
SYS_ERRNO = 0x13
SYS_GET_CMDLINE = 0x15
SYS_HEAPINFO = 0x16
SYS_EXIT = 0x18
SYS_EXIT_EXTENDED = 0x20
SYS_ELAPSED = 0x30
SYS_TICKFREQ = 0x31

ADP_STOPPED_APPLICATION_EXIT = 0x20026
STDIN, STDOUT, STDERR = 1, 2, 3  # handles (non-zero: 0 would look like an error to some C libraries)
M64 = (1 << 64) - 1


class Semihosting:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.errno = 0
        self.start = time.monotonic()
        self.open_handles = {STDIN, STDOUT, STDERR}

    # ---- guest memory through the current translation regime -------------------------------
    def _word(self, cpu: CPUState, addr: int, pc: int) -> int:
        return read_slow(cpu, addr & M64, 8, pc, 0)

    def _bytes(self, cpu: CPUState, addr: int, n: int, pc: int) -> bytes:
        return bytes(read_slow(cpu, (addr + i) & M64, 1, pc, 0) for i in range(n))

    def _cstring(self, cpu: CPUState, addr: int, pc: int, limit: int = 1 << 20) -> bytes:
        out = bytearray()
        while len(out) < limit:
            b = read_slow(cpu, (addr + len(out)) & M64, 1, pc, 0)
            if b == 0:
                break
            out.append(b)
        return bytes(out)

    def _put(self, cpu: CPUState, addr: int, data: bytes, pc: int) -> None:
        for i, b in enumerate(data):
            write_slow(cpu, (addr + i) & M64, 1, b, pc, 0)

    def _out(self, handle: int, data: bytes) -> None:
        if handle == STDERR:
            self.machine.flush_output()
            sys.stderr.buffer.write(data)
            sys.stderr.flush()
        else:
            self.machine.stdout.write(data)

    # ---- the call ------------------------------------------------------------------------------
    def call(self, cpu: CPUState, pc: int) -> None:
        op = cpu.x[0] & 0xFFFFFFFF
        arg = cpu.x[1]
        handler = _OPS.get(op)
        if handler is None:
            if "guest_errors" in self.machine.debug:
                self.machine.logger.msg("semihosting.unknown", op=op, pc=pc)
            result = -1
        else:
            result = handler(self, cpu, arg, pc)
        if result is not None:
            cpu.x[0] = result & M64

    def sys_open(self, cpu: CPUState, arg: int, pc: int) -> int:
        name_ptr, mode, length = (self._word(cpu, arg + 8 * i, pc) for i in range(3))
        name = self._bytes(cpu, name_ptr, length, pc)
        if name != b":tt":
            self.errno = errno.ENOENT
            return -1
        return STDIN if mode < 4 else STDOUT if mode < 8 else STDERR

    def sys_close(self, cpu: CPUState, arg: int, pc: int) -> int:
        handle = self._word(cpu, arg, pc)
        if handle not in self.open_handles:
            self.errno = errno.EBADF
            return -1
        return 0

    def sys_writec(self, cpu: CPUState, arg: int, pc: int) -> None:
        self._out(STDOUT, self._bytes(cpu, arg, 1, pc))
        return None

    def sys_write0(self, cpu: CPUState, arg: int, pc: int) -> None:
        self._out(STDOUT, self._cstring(cpu, arg, pc))
        return None

    def sys_write(self, cpu: CPUState, arg: int, pc: int) -> int:
        handle, ptr, length = (self._word(cpu, arg + 8 * i, pc) for i in range(3))
        if handle not in (STDOUT, STDERR):
            self.errno = errno.EBADF
            return length
        self._out(handle, self._bytes(cpu, ptr, length, pc))
        return 0  # bytes not written

    def sys_read(self, cpu: CPUState, arg: int, pc: int) -> int:
        handle, ptr, length = (self._word(cpu, arg + 8 * i, pc) for i in range(3))
        if handle != STDIN:
            self.errno = errno.EBADF
            return -1
        self.machine.flush_output()
        data = sys.stdin.buffer.read1(length) if length else b""
        self._put(cpu, ptr, data, pc)
        return length - len(data)

    def sys_readc(self, cpu: CPUState, arg: int, pc: int) -> int:
        self.machine.flush_output()
        data = sys.stdin.buffer.read(1)
        return data[0] if data else -1

    def sys_iserror(self, cpu: CPUState, arg: int, pc: int) -> int:
        value = self._word(cpu, arg, pc)
        return int(value >> 63)

    def sys_istty(self, cpu: CPUState, arg: int, pc: int) -> int:
        return 1 if self._word(cpu, arg, pc) in self.open_handles else 0

    def sys_seek(self, cpu: CPUState, arg: int, pc: int) -> int:
        self.errno = errno.ESPIPE
        return -1

    def sys_flen(self, cpu: CPUState, arg: int, pc: int) -> int:
        return 0

    def sys_clock(self, cpu: CPUState, arg: int, pc: int) -> int:
        return int((time.monotonic() - self.start) * 100)

    def sys_time(self, cpu: CPUState, arg: int, pc: int) -> int:
        return int(time.time())

    def sys_errno(self, cpu: CPUState, arg: int, pc: int) -> int:
        return self.errno

    def sys_get_cmdline(self, cpu: CPUState, arg: int, pc: int) -> int:
        ptr, size = self._word(cpu, arg, pc), self._word(cpu, arg + 8, pc)
        cmdline = (self.machine.config.append or self.machine.config.image_name).encode()
        if len(cmdline) + 1 > size:
            return -1
        self._put(cpu, ptr, cmdline + b"\0", pc)
        write_slow(cpu, (arg + 8) & M64, 8, len(cmdline), pc, 0)
        return 0

    def sys_heapinfo(self, cpu: CPUState, arg: int, pc: int) -> int:
        block = self._word(cpu, arg, pc)
        ram = self.machine.bus.ram
        end = ram.base + ram.size
        # heap in the upper half of RAM, stack at its top (as QEMU does for bare-metal images)
        heap_base = ram.base + ram.size // 2
        values = (heap_base, end - (1 << 20), end, end - (1 << 20))
        for i, v in enumerate(values):
            write_slow(cpu, (block + 8 * i) & M64, 8, v, pc, 0)
        return 0

    def sys_exit(self, cpu: CPUState, arg: int, pc: int) -> None:
        reason, subcode = self._word(cpu, arg, pc), self._word(cpu, arg + 8, pc)
        code = subcode & 0xFF if reason == ADP_STOPPED_APPLICATION_EXIT else 1
        raise GuestStop(code, "exit")

    def sys_elapsed(self, cpu: CPUState, arg: int, pc: int) -> int:
        write_slow(cpu, arg & M64, 8, cpu.icount, pc, 0)
        return 0

    def sys_tickfreq(self, cpu: CPUState, arg: int, pc: int) -> int:
        return 1_000_000_000  # SYS_ELAPSED counts instructions, one per virtual nanosecond


_OPS = {
    SYS_OPEN: Semihosting.sys_open,
    SYS_CLOSE: Semihosting.sys_close,
    SYS_WRITEC: Semihosting.sys_writec,
    SYS_WRITE0: Semihosting.sys_write0,
    SYS_WRITE: Semihosting.sys_write,
    SYS_READ: Semihosting.sys_read,
    SYS_READC: Semihosting.sys_readc,
    SYS_ISERROR: Semihosting.sys_iserror,
    SYS_ISTTY: Semihosting.sys_istty,
    SYS_SEEK: Semihosting.sys_seek,
    SYS_FLEN: Semihosting.sys_flen,
    SYS_CLOCK: Semihosting.sys_clock,
    SYS_TIME: Semihosting.sys_time,
    SYS_ERRNO: Semihosting.sys_errno,
    SYS_GET_CMDLINE: Semihosting.sys_get_cmdline,
    SYS_HEAPINFO: Semihosting.sys_heapinfo,
    SYS_EXIT: Semihosting.sys_exit,
    SYS_EXIT_EXTENDED: Semihosting.sys_exit,
    SYS_ELAPSED: Semihosting.sys_elapsed,
    SYS_TICKFREQ: Semihosting.sys_tickfreq,
}
