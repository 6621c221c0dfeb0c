"""Image loading: AArch64 ELF executables (program headers, entry, symbols) and raw images.

An ELF image is placed by its PT_LOAD program headers at their physical
addresses (as QEMU's loader does for ``-kernel``), with the part of each
segment beyond its file size (.bss) zero-filled, and starts at ``e_entry``.
A raw image is copied as it is to ``--load-addr`` and starts there.
"""

from __future__ import annotations

import bisect
import os
import struct

import attrs
from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from framework.errors import ArmnvError

ELF_MAGIC = b"\x7fELF"


@attrs.define(frozen=True, slots=True)
class Segment:
    addr: int
    data: bytes


class SymbolTable(dict[int, str]):
    """Address -> name of the image's code and label symbols, with a containing-symbol lookup.

    A plain dict for exact lookups (``symbols.get(pc)``); `lookup` finds the
    symbol an address falls in, for traces and stop messages.
    """

    def __init__(self, entries: dict[int, tuple[str, int]] | None = None) -> None:
        entries = entries or {}
        super().__init__({addr: name for addr, (name, _) in entries.items()})
        self.sizes = {addr: size for addr, (_, size) in entries.items()}
        self._sorted = sorted(entries)

    def lookup(self, addr: int) -> tuple[str, int] | None:
        """(name, offset) of the symbol containing `addr`, or None.

        A sized symbol (a C function) contains [value, value + size); an
        unsized one (an assembly label) runs up to the next symbol.
        """
        i = bisect.bisect_right(self._sorted, addr) - 1
        if i < 0:
            return None
        start = self._sorted[i]
        size = self.sizes[start]
        end = start + size if size else (self._sorted[i + 1] if i + 1 < len(self._sorted) else None)
        if end is not None and addr >= end:
            return None
        return self[start], addr - start

    def describe(self, addr: int) -> str:
        """``name`` or ``name+0x10`` for `addr`, or "" when no symbol contains it."""
        found = self.lookup(addr)
        if found is None:
            return ""
        name, offset = found
        return f"{name}+{offset:#x}" if offset else name


@attrs.define(frozen=True, slots=True)
class Image:
    entry: int
    segments: tuple[Segment, ...]
    symbols: SymbolTable = attrs.field(factory=SymbolTable)


def load_image(path: str, load_addr: int | None = None) -> Image:
    """Read `path`: an ELF unless `load_addr` is given, in which case a raw binary placed there.

    Every problem with the file is an `ArmnvError` naming it (exit status 2 in the CLI).
    """
    if not os.path.exists(path):
        raise ArmnvError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ArmnvError(f"{path}: is a directory")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ArmnvError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if load_addr is not None:
        if data[:4] == ELF_MAGIC:
            raise ArmnvError(f"{path}: is an ELF file; --load-addr is for raw images")
        if not data:
            raise ArmnvError(f"{path}: empty image")
        return Image(load_addr, (Segment(load_addr, data),))
    if data[:4] != ELF_MAGIC:
        raise ArmnvError(f"{path}: not an ELF file (use --load-addr ADDR for a raw image)")
    try:
        return _load_elf(path)
    except (ELFError, struct.error, ValueError, EOFError) as exc:
        raise ArmnvError(f"{path}: malformed ELF file ({exc})") from exc


def _load_elf(path: str) -> Image:
    with open(path, "rb") as f:
        elf = ELFFile(f)
        if elf["e_machine"] != "EM_AARCH64":
            raise ArmnvError(f"{path}: not an AArch64 ELF file (machine {elf['e_machine']})")
        if elf.elfclass != 64:
            raise ArmnvError(f"{path}: 32-bit (ILP32) AArch64 ELF files are not supported")
        if not elf.little_endian:
            raise ArmnvError(f"{path}: big-endian AArch64 images are not supported")
        segments = []
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
                continue
            body = seg.data()
            if len(body) != seg["p_filesz"] or seg["p_filesz"] > seg["p_memsz"]:
                raise ArmnvError(f"{path}: malformed ELF file (truncated segment at {seg['p_paddr']:#x})")
            # the tail past the file size is .bss: zero-filled, whatever RAM held before
            segments.append(Segment(seg["p_paddr"], body + bytes(seg["p_memsz"] - seg["p_filesz"])))
        if not segments:
            raise ArmnvError(f"{path}: ELF file has no loadable segments")
        return Image(elf["e_entry"], tuple(segments), _symbols(elf))


# A better name for the same address wins: a function over a label, a global over a local.
_TYPE_RANK = {"STT_FUNC": 2, "STT_NOTYPE": 0}
_BIND_RANK = {"STB_GLOBAL": 1, "STB_WEAK": 1, "STB_LOCAL": 0}


def _symbols(elf: ELFFile) -> SymbolTable:
    symtab = elf.get_section_by_name(".symtab")
    if symtab is None:
        return SymbolTable()
    best: dict[int, tuple[int, str, int]] = {}  # addr -> (rank, name, size)
    for sym in symtab.iter_symbols():
        kind = sym["st_info"]["type"]
        # "$x"/"$d" are AArch64 mapping symbols, not names; ABS symbols are constants
        if kind not in _TYPE_RANK or not sym.name or sym.name.startswith("$"):
            continue
        if sym["st_shndx"] in ("SHN_UNDEF", "SHN_ABS"):
            continue
        rank = _TYPE_RANK[kind] + _BIND_RANK.get(sym["st_info"]["bind"], 0)
        addr = sym["st_value"]
        if addr not in best or rank > best[addr][0]:
            best[addr] = (rank, sym.name, sym["st_size"])
    return SymbolTable({addr: (name, size) for addr, (_, name, size) in best.items()})
