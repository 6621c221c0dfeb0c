"""Shared helpers of the load/store tests: a scratch buffer, a recording vector table, byte helpers."""

from __future__ import annotations

BUF = 0x4010_0000


M64 = (1 << 64) - 1


PATTERN = bytes(range(0x80, 0xC0))


RAM_END = 0x6000_0000


VECTORS = """
    .balign 2048
vectors:
    .rept 16
    adr x28, .
    mov x0, #0x18
    adr x1, vec_exit_block
    hlt #0xf000
    b .
    .balign 128
    .endr
    .balign 8
vec_exit_block:
    .quad 0x20026, 1
"""


def with_vectors(body: str) -> str:
    return f"""
    adr x9, vectors
    msr vbar_el2, x9
{body}
    b _armnv_exit
{VECTORS}
"""


def fill(data: bytes, at: int = BUF):
    def setup(m):
        m.bus.write_bytes(at, data)

    return setup


def sym(m, name: str) -> int:
    return next(addr for addr, n in m.symbols.items() if n == name)


def le(data: bytes, off: int, n: int) -> int:
    return int.from_bytes(data[off : off + n], "little")
