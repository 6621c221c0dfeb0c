"""Shared helpers of the load/store tests: a scratch buffer, a recording vector table, byte helpers."""

from __future__ import annotations

from framework.testing import STOP_VECTORS, with_stop_vectors

BUF = 0x4010_0000


M64 = (1 << 64) - 1


PATTERN = bytes(range(0x80, 0xC0))


RAM_END = 0x6000_0000


VECTORS = STOP_VECTORS
with_vectors = with_stop_vectors


def fill(data: bytes, at: int = BUF):
    def setup(m):
        m.bus.write_bytes(at, data)

    return setup


def sym(m, name: str) -> int:
    return next(addr for addr, n in m.symbols.items() if n == name)


def le(data: bytes, off: int, n: int) -> int:
    return int.from_bytes(data[off : off + n], "little")
