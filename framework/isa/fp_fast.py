"""Host-float fast paths for the commonest double-precision operations.

Python floats are IEEE binary64 rounded to nearest-even, so when FPCR selects that mode and
the operands and the result are normal numbers, the host's FADD/FSUB/FMUL result is the
architecture's, and FZ and DN cannot matter (no denormal, no NaN). What is left is the
inexact flag, computed exactly: the rounding error of a sum by TwoSum (exact in binary64),
of a product from the integer significands. Everything else (other modes, zeros,
denormals, infinities, NaNs, overflow, underflow) falls back to `fpcore`. Conversions
between doubles and 64-bit integers have the same kind of shortcut. The fallbacks are the
helpers of `fp_scalar.fp_helper`, so flags and results are the same either way.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from framework.arch import FPCR_RMODE
from framework.isa import fpcore

_Q = struct.Struct("<Q")
_D = struct.Struct("<d")
_RMODE = FPCR_RMODE.mask
_FRAC = (1 << 52) - 1
_IMPLICIT = 1 << 52


def _float(bits: int) -> float:
    return _D.unpack(_Q.pack(bits))[0]


def _bits(x: float) -> int:
    return _Q.unpack(_D.pack(x))[0]


def _normal(bits: int) -> bool:
    return 0 < (bits >> 52) & 0x7FF < 0x7FF


def add_sub(slow: Callable[..., int], negate: bool) -> Callable[..., int]:
    def h(cpu: Any, a: int, b: int) -> int:
        if not cpu.fpcr & _RMODE and _normal(a) and _normal(b):
            x, y = _float(a), _float(b)
            if negate:
                y = -y
            s = x + y
            r = _bits(s)
            if _normal(r):
                bb = s - x
                if (x - (s - bb)) + (y - bb) != 0.0:
                    cpu.fpsr |= fpcore.IXC
                return r
        return slow(cpu, a, b)

    h.__name__ = slow.__name__
    return h


def mul(slow: Callable[..., int]) -> Callable[..., int]:
    def h(cpu: Any, a: int, b: int) -> int:
        if not cpu.fpcr & _RMODE and _normal(a) and _normal(b):
            r = _bits(_float(a) * _float(b))
            if _normal(r):
                p = ((a & _FRAC) | _IMPLICIT) * ((b & _FRAC) | _IMPLICIT)
                if p & ((1 << (p.bit_length() - 53)) - 1):
                    cpu.fpsr |= fpcore.IXC
                return r
        return slow(cpu, a, b)

    h.__name__ = slow.__name__
    return h


def int_to_double(slow: Callable[..., int], width: int, unsigned: bool) -> Callable[..., int]:
    """SCVTF/UCVTF Dd, <R>n: integers below 2**53 in magnitude convert exactly."""
    sign = 1 << (width - 1)

    def h(cpu: Any, value: int) -> int:
        v = value if unsigned or not value & sign else value - (sign << 1)
        if -(1 << 53) < v < 1 << 53:
            return _bits(float(v))  # exact: no flags, +0 for 0
        return slow(cpu, value)

    h.__name__ = slow.__name__
    return h


def double_to_int_rz(slow: Callable[..., int], width: int, unsigned: bool) -> Callable[..., int]:
    """FCVTZS/FCVTZU <R>d, Dn: a normal double well inside the range truncates on the host."""
    limit = 1 << (width - 1)

    def h(cpu: Any, a: int) -> int:
        if _normal(a):
            x = _float(a)
            if -limit < x < limit and (x >= 0.0 or not unsigned):
                i = int(x)
                if i != x:
                    cpu.fpsr |= fpcore.IXC
                return i & ((1 << width) - 1)
        return slow(cpu, a)

    h.__name__ = slow.__name__
    return h


def muladd(slow: Callable[..., int]) -> Callable[..., int]:
    """FMADD and its negated forms: when the product is exact, the fused result is one rounded sum."""

    def h(cpu: Any, c: int, a: int, b: int) -> int:
        if not cpu.fpcr & _RMODE and _normal(a) and _normal(b) and _normal(c):
            p = ((a & _FRAC) | _IMPLICIT) * ((b & _FRAC) | _IMPLICIT)
            if not p & ((1 << (p.bit_length() - 53)) - 1):
                prod = _float(a) * _float(b)
                if _normal(_bits(prod)):
                    z = _float(c)
                    s = prod + z
                    r = _bits(s)
                    if _normal(r):
                        bb = s - prod
                        if (prod - (s - bb)) + (z - bb) != 0.0:
                            cpu.fpsr |= fpcore.IXC
                        return r
        return slow(cpu, c, a, b)

    h.__name__ = slow.__name__
    return h
