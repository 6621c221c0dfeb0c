"""Arm semihosting 2.0 (A64: ``HLT #0xF000``): the console, the clock and exit, no host files.

The operation number is in w0, the parameter (usually the address of a block
of 64-bit words) in x1, the result goes to x0, and execution continues after
the HLT. Addresses are virtual addresses of the calling EL, read through the
current translation regime, so semihosting works with the MMU on and under
any HCR_EL2 setting (README "Board facts"). Like a debugger's accesses they
take no exception, and they reach guest RAM only: an address that does not
translate, or that translates to a device or to no memory at all, makes the
call fail with EFAULT, as on QEMU; no device register is read or written.

Calls are served at EL1 and EL2; at EL0 only with ``--semihosting-config
userspace=on`` (as on QEMU), otherwise an EL0 ``HLT #0xF000`` is an ordinary
HLT, which is UNDEFINED here (no halting debug).

Files: ``SYS_OPEN(":tt")`` is the console — stdin for modes 0-3 ("r"…),
stdout for 4-7 ("w"…), stderr for 8-11 ("a"…) — and
``":semihosting-features"`` is the read-only feature file of the 2.0
extensions (SYS_EXIT_EXTENDED and separate stdout/stderr are supported).
Host files are not reachable from the guest: any other name fails with ENOENT,
SYS_REMOVE and SYS_RENAME fail, SYS_SYSTEM and SYS_TMPNAM fail with ENOSYS.
A transfer holds at most `CHUNK` bytes of host memory at a time. docs/semihosting.md
has the whole contract.
"""

from __future__ import annotations

import errno
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING

import attrs

from framework.errors import ArmnvError, GuestStop
from framework.memory import PAGE
from framework.vmem import Access, TranslationFault

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
SYS_TMPNAM = 0x0D
SYS_REMOVE = 0x0E
SYS_RENAME = 0x0F
SYS_CLOCK = 0x10
SYS_TIME = 0x11
SYS_SYSTEM = 0x12
SYS_ERRNO = 0x13
SYS_GET_CMDLINE = 0x15
SYS_HEAPINFO = 0x16
SYS_EXIT = 0x18
SYS_EXIT_EXTENDED = 0x20
SYS_ELAPSED = 0x30
SYS_TICKFREQ = 0x31

ADP_STOPPED_APPLICATION_EXIT = 0x20026
# handles of the console; 0 is never a handle (some C libraries take it for an error)
STDIN, STDOUT, STDERR = 1, 2, 3
CONSOLE = (STDIN, STDOUT, STDERR)
FIRST_FILE_HANDLE = 4
# ":semihosting-features": magic "SHFB", then SH_EXT_EXIT_EXTENDED | SH_EXT_STDOUT_STDERR
FEATURES_FILE = b"SHFB\x03"
TICKS_PER_SECOND = 1_000_000_000  # SYS_ELAPSED counts virtual nanoseconds (framework.vclock)
CSTRING_LIMIT = 1 << 20
# the most guest bytes one step of a transfer copies: SYS_WRITE streams in steps of this size,
# SYS_READ reads at most this much per call
CHUNK = 1 << 16
M64 = (1 << 64) - 1
SPECIAL_FILES = (b":tt", b":semihosting-features")


@attrs.define(frozen=True, slots=True)
class SemihostingConfig:
    """Who may make semihosting calls (``--semihosting-config``, QEMU's spelling)."""

    enable: bool = True
    userspace: bool = False  # EL0 calls too


def parse_semihosting_config(text: str) -> SemihostingConfig:
    """``userspace=on``, ``enable=off``, ``on``: QEMU's ``-semihosting-config`` keys that apply here."""
    values = {"enable": True, "userspace": False}
    for i, item in enumerate(text.split(",")):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep and i == 0 and key in ("on", "off"):
            key, value = "enable", key  # QEMU's implied first key
        elif not sep:
            raise ArmnvError(f"--semihosting-config: {item.strip()!r} is not KEY=on|off")
        if key not in values:
            raise ArmnvError(f"--semihosting-config: unknown key {key!r} (known: {', '.join(values)})")
        if value not in ("on", "off"):
            raise ArmnvError(f"--semihosting-config: {key}={value}: the value must be on or off")
        values[key] = value == "on"
    return SemihostingConfig(**values)


def host_bytes(text: str) -> bytes:
    """A host string as the bytes it came from (command-line arguments that are not UTF-8 included)."""
    try:
        return os.fsencode(text)  # undoes the decoding of sys.argv
    except UnicodeEncodeError:  # a lone surrogate no decoding produced
        return text.encode("utf-8", "replace")


class GuestFault(Exception):  # noqa: N818 - becomes EFAULT, never leaves this module
    """A parameter address that does not translate to guest RAM."""


@attrs.define(slots=True)
class MemoryFile:
    """A read-only file held in memory (the feature file)."""

    data: bytes
    pos: int = 0


class Semihosting:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.errno = 0
        self.start = time.monotonic()
        self.files: dict[int, MemoryFile] = {}
        # where SYS_READ/SYS_READC read from and stderr writes go; None: the process's own
        self.stdin: IO[bytes] | None = None
        self.stderr: IO[bytes] | None = None
        config = machine.config.semihosting
        self.lowest_el = 0 if config.userspace else 1
        self.enabled = config.enable

    def serves(self, el: int) -> bool:
        """Whether an HLT #0xF000 at `el` is a semihosting call (else it is an ordinary HLT)."""
        return self.enabled and el >= self.lowest_el

    # ---- guest memory, as a debugger sees it -----------------------------------------------
    def _pa(self, cpu: CPUState, va: int, write: bool) -> int:
        try:
            # PAN does not apply: the host, not the guest's EL, makes the access
            return self.machine.mem.translate(cpu, va & M64, Access(write=write, el=cpu.el, pan=False)).pa
        except TranslationFault:
            raise GuestFault from None

    def spans(self, cpu: CPUState, va: int, n: int, write: bool) -> Iterator[tuple[int, int]]:
        """The RAM (offset, length) runs that hold [va, va + n), in order, each at most CHUNK bytes.

        Translation is lazy, one page at a time: a page that is not RAM raises GuestFault
        after the runs before it have been produced.
        """
        ram = self.machine.bus.ram
        start = size = done = 0
        while done < n:
            piece = min(n - done, PAGE - ((va + done) & (PAGE - 1)))
            off = self._pa(cpu, va + done, write) - ram.base
            if not 0 <= off <= ram.size - piece:
                if size:
                    yield start, size
                raise GuestFault
            if size and off == start + size and size + piece <= CHUNK:
                size += piece
            else:
                if size:
                    yield start, size
                start, size = off, piece
            done += piece
        if size:
            yield start, size

    def read(self, cpu: CPUState, va: int, n: int) -> bytes:
        if n > self.machine.bus.ram.size:
            raise GuestFault  # a length no buffer can have: do not walk the address space for it
        buf = self.machine.bus.ram.buf
        return b"".join(buf[off : off + size] for off, size in list(self.spans(cpu, va, n, False)))

    def word(self, cpu: CPUState, va: int, index: int = 0) -> int:
        return int.from_bytes(self.read(cpu, va + 8 * index, 8), "little")

    def cstring(self, cpu: CPUState, va: int) -> bytes:
        out = bytearray()
        while len(out) < CSTRING_LIMIT:
            chunk = self.read(cpu, va + len(out), PAGE - ((va + len(out)) & (PAGE - 1)))
            end = chunk.find(0)
            if end >= 0:
                return bytes(out + chunk[:end])
            out += chunk
        return bytes(out)

    def write(self, cpu: CPUState, va: int, data: bytes) -> None:
        # translate every page first: a fault leaves guest memory untouched
        self._fill(list(self.spans(cpu, va, len(data), True)), data)

    def _fill(self, spans: list[tuple[int, int]], data: bytes) -> None:
        """Copy `data` into RAM runs (as many bytes as both have); the guest may run what we wrote."""
        mem = self.machine.mem
        done = 0
        for off, size in spans:
            part = data[done : done + size]
            if not part:
                break
            mem.ram_buf[off : off + len(part)] = part
            mem.code_written(off, len(part))
            done += len(part)

    def put_word(self, cpu: CPUState, va: int, value: int) -> None:
        self.write(cpu, va, (value & M64).to_bytes(8, "little"))

    # ---- the call ------------------------------------------------------------------------------
    def call(self, cpu: CPUState, pc: int) -> None:
        """Perform the semihosting call of the HLT #0xF000 at `pc`."""
        op = cpu.x[0] & 0xFFFF_FFFF
        machine = self.machine
        if machine.log_int:
            machine.logger.msg("semihosting.call", el=cpu.el, op=op, arg=cpu.x[1], pc=pc)
        handler = OPERATIONS.get(op)
        if handler is None:
            if "guest_errors" in machine.debug:
                machine.logger.msg("semihosting.unknown", op=op, pc=pc)
            result: int | None = -1
        else:
            try:
                result = handler(self, cpu, cpu.x[1])
            except GuestFault:
                self.errno = errno.EFAULT
                result = -1
        if result is not None:
            cpu.x[0] = result & M64

    def fail(self, code: int, result: int = -1) -> int:
        self.errno = code
        return result

    def _out(self, handle: int, data: bytes) -> bool:
        """Write to the guest's stdout or stderr; False if the host stream refused the bytes."""
        try:
            if handle == STDERR:
                self.machine.flush_output()  # keep the order of the two streams
                stream = self.stderr if self.stderr is not None else getattr(sys.stderr, "buffer", None)
                if stream is None:
                    return False
                stream.write(data)
                stream.flush()
            else:
                self.machine.stdout.write(data)
        except (OSError, ValueError):  # a closed or failing host stream is the guest's I/O error
            return False
        return True

    def _stdin(self) -> IO[bytes] | None:
        if self.stdin is not None:
            return self.stdin
        return getattr(sys.stdin, "buffer", None)

    def _read_stdin(self, n: int) -> bytes:
        self.machine.flush_output()  # a prompt must be visible before the guest waits
        stream = self._stdin()
        if stream is None or n == 0:
            return b""
        try:
            return stream.read1(min(n, CHUNK))
        except (OSError, ValueError):
            return b""

    # ---- operations (x1 = parameter; the result goes to x0, None leaves x0 alone) ---------------
    def sys_open(self, cpu: CPUState, arg: int) -> int:
        name_ptr, mode, length = (self.word(cpu, arg, i) for i in range(3))
        name = self.read(cpu, name_ptr, min(length, CSTRING_LIMIT))
        if name == b":tt":
            return STDIN if mode < 4 else STDOUT if mode < 8 else STDERR
        if name == b":semihosting-features":
            if mode > 1:  # "r" and "rb" only
                return self.fail(errno.EACCES)
            handle = max(self.files, default=FIRST_FILE_HANDLE - 1) + 1
            self.files[handle] = MemoryFile(FEATURES_FILE)
            return handle
        return self.fail(errno.ENOENT)

    def sys_close(self, cpu: CPUState, arg: int) -> int:
        handle = self.word(cpu, arg)
        if handle in CONSOLE:
            return 0  # the console stays open: every ":tt" open shares it
        if self.files.pop(handle, None) is None:
            return self.fail(errno.EBADF)
        return 0

    def sys_writec(self, cpu: CPUState, arg: int) -> None:
        self._out(STDOUT, self.read(cpu, arg, 1))

    def sys_write0(self, cpu: CPUState, arg: int) -> None:
        self._out(STDOUT, self.cstring(cpu, arg))

    def sys_write(self, cpu: CPUState, arg: int) -> int:
        handle, ptr, length = (self.word(cpu, arg, i) for i in range(3))
        if handle not in (STDOUT, STDERR):
            return self.fail(errno.EBADF, length)
        if length > self.machine.bus.ram.size:
            return self.fail(errno.EFAULT, length)  # more than any buffer can hold: refuse before writing
        # streamed: the host holds one CHUNK of the buffer at a time, however long it is
        buf = self.machine.bus.ram.buf
        written = 0
        try:
            for off, size in self.spans(cpu, ptr, length, False):
                if not self._out(handle, buf[off : off + size]):
                    return self.fail(errno.EIO, length - written)
                written += size
        except GuestFault:
            return self.fail(errno.EFAULT, length - written)
        return 0  # the number of bytes not written

    def sys_read(self, cpu: CPUState, arg: int) -> int:
        handle, ptr, length = (self.word(cpu, arg, i) for i in range(3))
        file = self.files.get(handle)
        if file is None and handle != STDIN:
            return self.fail(errno.EBADF, length)
        # the destination first, so that a bad buffer consumes no input: as much of it as is RAM,
        # up to one CHUNK (a shorter read is a partial success the guest repeats)
        spans: list[tuple[int, int]] = []
        try:
            for span in self.spans(cpu, ptr, min(length, CHUNK), True):
                spans.append(span)
        except GuestFault:
            if not spans:
                return self.fail(errno.EFAULT, length)
        room = sum(size for _, size in spans)
        if file is not None:
            data = file.data[file.pos : file.pos + room]
            file.pos += len(data)
        else:
            data = self._read_stdin(room)
        self._fill(spans, data)
        return length - len(data)  # the number of bytes not read: `length` means end of file

    def sys_readc(self, cpu: CPUState, arg: int) -> int:
        data = self._read_stdin(1)
        return data[0] if data else -1

    def sys_iserror(self, cpu: CPUState, arg: int) -> int:
        return int(self.word(cpu, arg) >> 63)  # a negative status

    def sys_istty(self, cpu: CPUState, arg: int) -> int:
        return int(self.word(cpu, arg) in CONSOLE)

    def sys_seek(self, cpu: CPUState, arg: int) -> int:
        handle, pos = self.word(cpu, arg), self.word(cpu, arg, 1)
        file = self.files.get(handle)
        if file is None:
            return self.fail(errno.ESPIPE if handle in CONSOLE else errno.EBADF)
        if pos > len(file.data):
            return self.fail(errno.EINVAL)
        file.pos = pos
        return 0

    def sys_flen(self, cpu: CPUState, arg: int) -> int:
        handle = self.word(cpu, arg)
        file = self.files.get(handle)
        if file is None:
            return self.fail(errno.ESPIPE if handle in CONSOLE else errno.EBADF)
        return len(file.data)

    # host files are out of the guest's reach: these fail without looking at the host
    def sys_remove(self, cpu: CPUState, arg: int) -> int:
        name = self.read(cpu, self.word(cpu, arg), min(self.word(cpu, arg, 1), CSTRING_LIMIT))
        return self.fail(errno.EACCES if name in SPECIAL_FILES else errno.ENOENT)

    def sys_rename(self, cpu: CPUState, arg: int) -> int:
        old = self.read(cpu, self.word(cpu, arg), min(self.word(cpu, arg, 1), CSTRING_LIMIT))
        new = self.read(cpu, self.word(cpu, arg, 2), min(self.word(cpu, arg, 3), CSTRING_LIMIT))
        return self.fail(errno.EACCES if old in SPECIAL_FILES or new in SPECIAL_FILES else errno.ENOENT)

    def sys_system(self, cpu: CPUState, arg: int) -> int:
        return self.fail(errno.ENOSYS)  # no host command ever runs for the guest

    def sys_tmpnam(self, cpu: CPUState, arg: int) -> int:
        return self.fail(errno.ENOSYS)  # there are no host files to name

    def sys_clock(self, cpu: CPUState, arg: int) -> int:
        return int((time.monotonic() - self.start) * 100)  # centiseconds since the start

    def sys_time(self, cpu: CPUState, arg: int) -> int:
        return int(time.time())

    def sys_errno(self, cpu: CPUState, arg: int) -> int:
        return self.errno

    def sys_get_cmdline(self, cpu: CPUState, arg: int) -> int:
        ptr, size = self.word(cpu, arg), self.word(cpu, arg, 1)
        config = self.machine.config
        # as on QEMU: the image name, then the --append text (a C runtime makes argv of it),
        # byte for byte as the host gave them, UTF-8 or not
        cmdline = b" ".join(host_bytes(part) for part in (config.image_name, config.append) if part)
        if len(cmdline) + 1 > size:
            return self.fail(errno.E2BIG)
        self.write(cpu, ptr, cmdline + b"\0")
        self.put_word(cpu, arg + 8, len(cmdline))
        return 0

    def sys_heapinfo(self, cpu: CPUState, arg: int) -> int:
        block = self.word(cpu, arg)
        ram = self.machine.bus.ram
        end = ram.base + ram.size
        # heap in the upper half of RAM, a 1 MiB stack at its top
        heap_base, stack_limit = ram.base + ram.size // 2, end - (1 << 20)
        for i, value in enumerate((heap_base, stack_limit, end, stack_limit)):
            self.put_word(cpu, block + 8 * i, value)
        return 0

    def sys_exit(self, cpu: CPUState, arg: int) -> None:
        # A64: x1 points to {reason, subcode}; only an application exit carries a status
        reason, subcode = self.word(cpu, arg), self.word(cpu, arg, 1)
        code = subcode & 0xFFFF_FFFF if reason == ADP_STOPPED_APPLICATION_EXIT else 1
        raise GuestStop(code, "exit")

    def sys_elapsed(self, cpu: CPUState, arg: int) -> int:
        self.put_word(cpu, arg, self.machine.clock.now(cpu))
        return 0

    def sys_tickfreq(self, cpu: CPUState, arg: int) -> int:
        return TICKS_PER_SECOND


OPERATIONS: dict[int, Callable[[Semihosting, CPUState, int], int | None]] = {
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
    SYS_TMPNAM: Semihosting.sys_tmpnam,
    SYS_REMOVE: Semihosting.sys_remove,
    SYS_RENAME: Semihosting.sys_rename,
    SYS_CLOCK: Semihosting.sys_clock,
    SYS_TIME: Semihosting.sys_time,
    SYS_SYSTEM: Semihosting.sys_system,
    SYS_ERRNO: Semihosting.sys_errno,
    SYS_GET_CMDLINE: Semihosting.sys_get_cmdline,
    SYS_HEAPINFO: Semihosting.sys_heapinfo,
    SYS_EXIT: Semihosting.sys_exit,
    SYS_EXIT_EXTENDED: Semihosting.sys_exit,
    SYS_ELAPSED: Semihosting.sys_elapsed,
    SYS_TICKFREQ: Semihosting.sys_tickfreq,
}
