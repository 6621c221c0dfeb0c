"""Constants and the result check shared by the data-processing (register) tests."""

from __future__ import annotations

M32 = 0xFFFF_FFFF
M64 = (1 << 64) - 1
VALUES = (0, 1, 0x7FFF_FFFF, 0x8000_0000, M32, 0x7FFF_FFFF_FFFF_FFFF, 1 << 63, M64, 0x0123_4567_89AB_CDEF)
PAIRS = [(a, b) for a in VALUES for b in VALUES[::2]]


def check(outcomes, cases, expected) -> None:
    """expected: (x5, nzcv or None for "unchanged") per case."""
    bad = []
    for out, case, (x5, nzcv) in zip(outcomes, cases, expected, strict=True):
        got = (out.x5, out.nzcv)
        want = (x5, case.nzcv if nzcv is None else nzcv)
        if got != want:
            bad.append(
                f"{case.insn!r} x2={case.x2:#x} x3={case.x3:#x} x4={case.x4:#x} nzcv={case.nzcv:04b}: "
                f"got ({got[0]:#x}, {got[1]:04b}) want ({want[0]:#x}, {want[1]:04b})"
            )
    assert not bad, f"{len(bad)} of {len(cases)} cases wrong:\n" + "\n".join(bad[:20])


def regs(sf: int) -> str:
    return "x" if sf else "w"
