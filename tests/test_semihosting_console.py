"""Arm semihosting (specification 2.0) on the console: the calls a bare-metal program makes.

Expected values come from the Arm semihosting specification; host-safety and
hostile pointers are in test_semihosting.py.
"""

from __future__ import annotations

import errno
import io
import time

import pytest

M64 = (1 << 64) - 1
RAM_BASE = 0x4000_0000
ADP_STOPPED_APPLICATION_EXIT = 0x20026


def sh(op: int) -> str:
    """A semihosting call of operation `op` (its parameter already in x1)."""
    return f"mov x0, #{op:#x}\n    hlt #0xf000"


OPEN, CLOSE, WRITEC, WRITE0, WRITE, READ = (sh(op) for op in (0x01, 0x02, 0x03, 0x04, 0x05, 0x06))
ISERROR, ISTTY, FLEN, CLOCK, TIME, ERRNO = (sh(op) for op in (0x08, 0x09, 0x0C, 0x10, 0x11, 0x13))
GET_CMDLINE, HEAPINFO, ELAPSED, TICKFREQ = (sh(op) for op in (0x15, 0x16, 0x30, 0x31))

# ---- semihosting -------------------------------------------------------------------------------------


def test_semihosting_write0_writec_and_write(run_asm):
    m = run_asm(
        f"""
    adr x1, greeting
    {WRITE0}
    adr x1, bang
    {WRITEC}
    adr x1, open_tt_w
    {OPEN}
    mov x20, x0              // stdout handle
    adr x1, write_block
    str x20, [x1]
    {WRITE}
    mov x21, x0              // bytes not written
    b out
greeting: .asciz "hello "
bang: .ascii "!"
tt: .asciz ":tt"
msg: .ascii " world\\n"
    .balign 8
open_tt_w: .quad tt, 4, 3    // ":tt" opened "w": stdout
write_block: .quad 0, msg, 7
out:
"""
    )
    assert m.output == b"hello ! world\n"
    assert m.cpu.x[20] != 0
    assert m.cpu.x[21] == 0


def test_semihosting_console_handles_open_istty_close_and_errno(run_asm):
    m = run_asm(
        f"""
    adr x1, open_r
    {OPEN}
    mov x20, x0                 // stdin
    adr x1, open_a
    {OPEN}
    mov x21, x0                 // stderr
    adr x1, handle
    str x21, [x1]
    {ISTTY}
    mov x22, x0
    adr x1, handle
    {CLOSE}
    mov x23, x0
    adr x1, bad_handle
    {CLOSE}
    mov x24, x0
    {ERRNO}
    mov x25, x0
    adr x1, open_missing
    {OPEN}
    mov x26, x0
    {ERRNO}
    mov x27, x0
    b out
tt: .asciz ":tt"
missing: .asciz "/etc/passwd"
    .balign 8
open_r: .quad tt, 0, 3
open_a: .quad tt, 8, 3
open_missing: .quad missing, 0, 11
handle: .quad 0
bad_handle: .quad 0x7777
out:
"""
    )
    x = m.cpu.x
    assert x[20] not in (0, M64) and x[21] not in (0, M64) and x[20] != x[21]
    assert x[22] == 1  # ISTTY
    assert x[23] == 0  # CLOSE
    assert x[24] == M64 and x[25] == errno.EBADF
    # host files are not reachable from the guest
    assert x[26] == M64 and x[27] == errno.ENOENT


def test_semihosting_read_from_stdin(run_asm):
    def feed(m):
        m.devices["semihosting"].stdin = io.BytesIO(b"abc")

    m = run_asm(
        f"""
    adr x1, open_r
    {OPEN}
    adr x1, read_block
    str x0, [x1]
    {READ}
    mov x20, x0                // bytes not read
    adr x2, buffer
    ldr x21, [x2]
    b out
tt: .asciz ":tt"
    .balign 8
open_r: .quad tt, 0, 3
read_block: .quad 0, buffer, 8
buffer: .quad 0x5555555555555555
out:
""",
        setup=feed,
    )
    assert m.cpu.x[20] == 5
    assert m.cpu.x[21] == 0x5555_5555_5563_6261  # "abc", the rest of the buffer untouched


def test_semihosting_feature_file(run_asm):
    # semihosting 2.0: ":semihosting-features" holds "SHFB" and a byte with
    # SH_EXT_EXIT_EXTENDED (bit 0) and SH_EXT_STDOUT_STDERR (bit 1)
    m = run_asm(
        f"""
    adr x1, open_features
    {OPEN}
    mov x20, x0
    adr x1, handle
    str x20, [x1]
    {FLEN}
    mov x21, x0
    adr x1, read_block
    str x20, [x1]
    {READ}
    mov x22, x0                 // bytes not read
    adr x2, buffer
    ldr x23, [x2]
    adr x1, handle
    {CLOSE}
    mov x24, x0
    b out
name: .asciz ":semihosting-features"
    .balign 8
open_features: .quad name, 0, 21
handle: .quad 0
read_block: .quad 0, buffer, 8
buffer: .quad 0
out:
"""
    )
    x = m.cpu.x
    assert x[20] not in (0, M64)
    assert x[21] == 5
    assert x[22] == 3
    assert x[23].to_bytes(8, "little")[:5] == b"SHFB\x03"
    assert x[24] == 0


@pytest.mark.parametrize(
    ("op", "reason", "subcode", "expected"),
    [
        (0x18, ADP_STOPPED_APPLICATION_EXIT, 0, 0),
        (0x18, ADP_STOPPED_APPLICATION_EXIT, 42, 42),
        (0x20, ADP_STOPPED_APPLICATION_EXIT, 7, 7),  # SYS_EXIT_EXTENDED
        (0x18, 0x20023, 0, 1),  # ADP_Stopped_RunTimeErrorUnknown: not a normal exit
    ],
)
def test_semihosting_exit_status(run_asm, op, reason, subcode, expected):
    m = run_asm(
        f"""
    adr x1, block
    {sh(op)}
    mov x9, #1                  // never reached
    b out
    .balign 8
block: .quad {reason:#x}, {subcode}
out:
"""
    )
    assert m.stop.kind == "exit"
    assert m.stop.exit_code == expected
    assert m.cpu.x[9] == 0


def test_semihosting_get_cmdline_uses_append(run_asm):
    m = run_asm(
        f"""
    adr x1, block
    {GET_CMDLINE}
    mov x20, x0
    adr x2, block
    ldr x21, [x2, #8]          // length written back
    adr x1, buffer
    {WRITE0}
    adr x1, small
    {GET_CMDLINE}
    mov x22, x0
    b out
    .balign 8
block: .quad buffer, 64
small: .quad buffer, 4
buffer: .skip 64
out:
""",
        image_name="prog.elf",
        append="console=uart quiet",
    )
    assert m.cpu.x[20] == 0
    assert m.output == b"prog.elf console=uart quiet"
    assert m.cpu.x[21] == len(b"prog.elf console=uart quiet")
    assert m.cpu.x[22] == M64  # does not fit in 4 bytes


def test_semihosting_heapinfo_describes_ram(run_asm):
    m = run_asm(
        f"""
    adr x1, block
    {HEAPINFO}
    mov x20, x0
    adr x2, info
    ldr x21, [x2]
    ldr x22, [x2, #8]
    ldr x23, [x2, #16]
    ldr x24, [x2, #24]
    b out
    .balign 8
block: .quad info
info: .quad 0, 0, 0, 0
out:
""",
        memory=256 << 20,
    )
    heap_base, heap_limit, stack_base, stack_limit = (m.cpu.x[i] for i in range(21, 25))
    ram_end = RAM_BASE + (256 << 20)
    assert m.cpu.x[20] == 0
    assert RAM_BASE <= heap_base < heap_limit <= ram_end
    assert stack_limit < stack_base <= ram_end
    assert heap_limit <= stack_base


def test_semihosting_elapsed_counts_instructions(run_asm):
    # each call sits at the same place in a block of its own (after a branch target), so the
    # difference does not depend on how the translator groups instructions into blocks
    m = run_asm(
        f"""
    adr x1, t0
    b 1f
1:  {ELAPSED}
    nop
    nop
    nop
    adr x1, t1
    b 2f
2:  {ELAPSED}
    adr x2, t0
    ldr x20, [x2]
    ldr x21, [x2, #8]
    {TICKFREQ}
    mov x22, x0
    b out
    .balign 8
t0: .quad 0
t1: .quad 0
out:
"""
    )
    # from one call to the next: hlt, 3 NOPs, adr, b, mov x0
    assert m.cpu.x[21] - m.cpu.x[20] == 7
    assert m.cpu.x[22] not in (0, M64)  # SYS_TICKFREQ: a positive frequency


def test_semihosting_time_clock_iserror(run_asm):
    before = int(time.time())
    m = run_asm(
        f"""
    {TIME}
    mov x20, x0
    {CLOCK}
    mov x21, x0
    adr x1, negative
    {ISERROR}
    mov x22, x0
    adr x1, zero
    {ISERROR}
    mov x23, x0
    b out
    .balign 8
negative: .quad -1
zero: .quad 0
out:
"""
    )
    assert before <= m.cpu.x[20] <= int(time.time()) + 1
    assert 0 <= m.cpu.x[21] < 100 * 60  # centiseconds since the start
    assert m.cpu.x[22] != 0
    assert m.cpu.x[23] == 0


def test_semihosting_bad_pointer_is_efault_not_an_exception(run_asm):
    m = run_asm(
        f"""
    movz x1, #0x6000, lsl #16  // neither RAM nor a device
    {WRITE0}
    mov x20, x0
    {ERRNO}
    mov x21, x0
"""
    )
    assert m.stop.kind == "exit"
    assert m.cpu.x[20] == M64
    assert m.cpu.x[21] == errno.EFAULT
    assert m.cpu.sr["ESR_EL2"] == 0
    assert m.output == b""


def test_semihosting_unknown_operation_returns_minus_one(run_asm):
    m = run_asm(f"    {sh(0x77)}\n    mov x20, x0\n")
    assert m.stop.kind == "exit"
    assert m.cpu.x[20] == M64
