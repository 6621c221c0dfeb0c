"""Image loading: AArch64 ELF executables (program headers, entry, symbols) and raw images."""

from __future__ import annotations

import os

import attrs
from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from framework.errors import ArmnvError

EM_AARCH64 = 183


@attrs.define(frozen=True, slots=True)
class Segment:
    addr: int
    data: bytes


@attrs.define(frozen=True, slots=True)
class Image:
    entry: int
    segments: tuple[Segment, ...]
    symbols: dict[int, str]


def load_image(path: str, load_addr: int | None = None) -> Image:
    """Read `path`: an ELF unless `load_addr` is given, in which case a raw binary placed there."""
    if not os.path.exists(path):
        raise ArmnvError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ArmnvError(f"{path}: is a directory")
    with open(path, "rb") as f:
        data = f.read()
    if load_addr is not None:
        return Image(load_addr, (Segment(load_addr, data),), {})
    if data[:4] != b"\x7fELF":
        raise ArmnvError(f"{path}: not an ELF file (use --load-addr for a raw image)")
    return _load_elf(path)


def _load_elf(path: str) -> Image:
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            if elf["e_machine"] != "EM_AARCH64" or elf.elfclass != 64:
                raise ArmnvError(f"{path}: not an AArch64 ELF (machine {elf['e_machine']}, ELF{elf.elfclass})")
            if not elf.little_endian:
                raise ArmnvError(f"{path}: big-endian images are not supported")
            segments = []
            for seg in elf.iter_segments():
                if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
                    continue
                body = seg.data() + bytes(seg["p_memsz"] - seg["p_filesz"])
                segments.append(Segment(seg["p_paddr"], body))
            symbols: dict[int, str] = {}
            symtab = elf.get_section_by_name(".symtab")
            if symtab is not None:
                for sym in symtab.iter_symbols():
                    if (
                        sym.name
                        and sym["st_info"]["type"] in ("STT_FUNC", "STT_NOTYPE")
                        and sym["st_shndx"] != "SHN_UNDEF"
                    ):
                        symbols.setdefault(sym["st_value"], sym.name)
            if not segments:
                raise ArmnvError(f"{path}: ELF has no loadable segments")
            return Image(elf["e_entry"], tuple(segments), symbols)
    except ELFError as exc:
        raise ArmnvError(f"{path}: malformed ELF ({exc})") from exc
