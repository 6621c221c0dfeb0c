"""A GDB remote stub for armnv (``armnv run --gdb tcp::1234``, ``-s``, ``-S``)."""

from framework.gdbstub.server import GdbServer, parse_address

__all__ = ["GdbServer", "parse_address"]
