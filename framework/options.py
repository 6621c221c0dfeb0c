"""Values of command-line options: sizes and integers, with one-line errors for bad input."""

from __future__ import annotations

import re

import attrs

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


@attrs.define(frozen=True, slots=True)
class MachineOption:
    """``-M virt[,virtualization=on|off][,dumpdtb=FILE]``, QEMU's spelling."""

    name: str = "virt"
    virtualization: bool = True
    dumpdtb: str | None = None


_SWITCH = {"on": True, "off": False, "yes": True, "no": False, "true": True, "false": False}


def parse_machine(text: str) -> MachineOption:
    """The ``-M`` option: a board name, then ``key=value`` properties."""
    name, *props = (part.strip() for part in text.split(","))
    if name != "virt":
        raise ArmnvError(f"-M: unknown machine {name!r} (known: virt)")
    values: dict[str, bool | str] = {}
    for prop in props:
        key, sep, value = prop.partition("=")
        if key == "virtualization" and sep and value.lower() in _SWITCH:
            values["virtualization"] = _SWITCH[value.lower()]
        elif key == "dumpdtb" and sep and value:
            values["dumpdtb"] = value
        elif key in ("virtualization", "dumpdtb"):
            raise ArmnvError(f"-M: bad value for {key}: {prop!r} (virtualization=on|off, dumpdtb=FILE)")
        else:
            raise ArmnvError(f"-M: unknown property {prop!r} of virt (known: virtualization=on|off, dumpdtb=FILE)")
    return MachineOption(name, **values)  # type: ignore[arg-type]
