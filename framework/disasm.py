"""Disassembly for traces (capstone), with a plain fallback when capstone is absent."""

from __future__ import annotations

import functools


@functools.cache
def _capstone():
    try:
        import capstone
    except ImportError:
        return None
    md = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    md.detail = False
    return md


# traces disassemble the same loop bodies over and over
@functools.lru_cache(maxsize=1 << 16)
def disassemble(word: int, pc: int = 0) -> str:
    """``"mnemonic operands"`` for the A64 instruction `word` at `pc` (branch targets are absolute)."""
    md = _capstone()
    if md is None:
        return f".inst {word:#010x}"
    for insn in md.disasm(word.to_bytes(4, "little"), pc, 1):
        return f"{insn.mnemonic} {insn.op_str}".strip()
    return f".inst {word:#010x} (undefined)"
