"""Values of command-line options: sizes and integers, with one-line errors for bad input."""

from __future__ import annotations

import re

from framework.errors import ArmnvError

_SIZE = re.compile(r"(\d+)([KMGT]?)B?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
MAX_MEMORY = 1 << 40


def parse_size(text: str) -> int:
    """``512M``, ``4G``, ``1024K``, ``65536``: a RAM size in bytes (K/M/G/T are powers of 1024)."""
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise ArmnvError(f"--memory: bad size {text!r} (examples: 512M, 4G, 1024K, 268435456)")
    size = int(m.group(1)) * _SIZE_UNITS[m.group(2).upper()]
    if size == 0 or size % 4096:
        raise ArmnvError(f"--memory: {text} is not a positive multiple of 4K")
    if size > MAX_MEMORY:
        raise ArmnvError(f"--memory: {text} is more than the board's 1T")
    return size


def parse_int(option: str, text: str) -> int:
    """A non-negative integer in C syntax (``0x4008_0000``, ``1000000``)."""
    try:
        value = int(text.strip(), 0)
    except ValueError:
        raise ArmnvError(f"{option}: not a number: {text!r}") from None
    if value < 0:
        raise ArmnvError(f"{option}: must not be negative: {text}")
    return value
