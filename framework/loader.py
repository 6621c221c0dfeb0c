"""Image loading: AArch64 ELF executables (program headers, entry, symbols) and raw images.

An ELF image is placed by its PT_LOAD program headers at their physical
addresses (as QEMU's loader does for ``-kernel``), with the part of each
segment beyond its file size (.bss) zero-filled, and starts at ``e_entry``.
A raw image is copied as it is to ``--load-addr`` and starts there. Any
other file is a kernel for the Linux boot protocol, placed where QEMU places
it: an arm64 Linux Image (the "ARM\x64" magic at offset 56) at RAM base +
text_offset (+ 2 MiB when text_offset is below 4 KiB, the room QEMU keeps
for its boot stub), anything else at RAM base + 0x80000.

The file is untrusted input: it is opened once (so a pipe or FIFO works),
and every size and offset in it is checked against the file and against
guest RAM before anything of that size is read or allocated.
"""

from __future__ import annotations

import bisect
import io
import os
import stat
import struct
from typing import IO

import attrs
from elftools.elf.elffile import ELFFile

from framework.errors import ArmnvError

ELF_MAGIC = b"\x7fELF"
ELF64_PHDR_SIZE = 56
# Without a RAM window to check against (tests, benchmarks), a segment may still not be
# larger than this; the machine always passes its RAM.
DEFAULT_LIMIT = 1 << 30
# An image read from a pipe has no size to check up front: stop reading past this.
MAX_STREAM_IMAGE = 1 << 30
# Where a kernel without --load-addr goes when the board's RAM is not given
DEFAULT_RAM_BASE = 0x4000_0000

# The arm64 Linux Image header (Documentation/arm64/booting.rst): text_offset at 8,
# image_size at 16, flags at 24, magic at 56; QEMU's offsets for the kernel it loads
IMAGE_MAGIC = b"ARM\x64"
IMAGE_MAGIC_OFFSET = 56
IMAGE_FLAG_BE = 1 << 0
RAW_KERNEL_OFFSET = 0x8_0000
BOOT_STUB_ROOM = 4 << 10


@attrs.define(frozen=True, slots=True)
class Segment:
    addr: int
    data: bytes


class SymbolTable(dict[int, str]):
    """Address -> name of the image's code and label symbols, with a containing-symbol lookup.

    A plain dict for exact lookups (``symbols.get(pc)``); `lookup` finds the
    symbol an address falls in, for traces and stop messages. `limits` maps a
    symbol's address to the end of the section that holds it.
    """

    def __init__(self, entries: dict[int, tuple[str, int]] | None = None, limits: dict[int, int] | None = None) -> None:
        entries = entries or {}
        super().__init__({addr: name for addr, (name, _) in entries.items()})
        self.sizes = {addr: size for addr, (_, size) in entries.items()}
        self.limits = dict(limits or {})
        self._sorted = sorted(entries)

    def lookup(self, addr: int) -> tuple[str, int] | None:
        """(name, offset) of the symbol containing `addr`, or None.

        A sized symbol (a C function) contains [value, value + size). An
        unsized one (an assembly label) runs up to the next symbol or the end
        of its section, whichever comes first; with neither known it names
        only its own address.
        """
        i = bisect.bisect_right(self._sorted, addr) - 1
        if i < 0:
            return None
        start = self._sorted[i]
        size = self.sizes[start]
        if size:
            end = start + size
        else:
            end = self.limits.get(start)
            if i + 1 < len(self._sorted):
                following = self._sorted[i + 1]
                end = following if end is None else min(end, following)
            # a label at the very end of its section still names its own address
            end = start + 1 if end is None else max(end, start + 1)
        if addr >= end:
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
    # "elf", "raw" (--load-addr, or a kernel without a Linux Image header) or "linux" (arm64 Image)
    kind: str = "elf"
    # the end of the memory the image claims: an Image's image_size may reach past its file
    end: int = 0

    @property
    def start(self) -> int:
        return min(seg.addr for seg in self.segments)

    @property
    def high(self) -> int:
        return max([self.end, *(seg.addr + len(seg.data) for seg in self.segments)])


def load_image(path: str, load_addr: int | None = None, *, ram: tuple[int, int] | None = None) -> Image:
    """Read `path`: a raw binary at `load_addr` when given, else an ELF or a Linux boot kernel.

    `ram` is the guest RAM window (base, size) every segment must fit in;
    without it no segment may exceed `DEFAULT_LIMIT`. Every problem with the
    file is an `ArmnvError` naming it (exit status 2 in the CLI).
    """
    window = _Window(ram)
    f, size = _open(path)
    with f:
        if load_addr is not None:
            return _load_raw(path, f, size, load_addr, window)
        head = _read(path, f, 4)
        if head != ELF_MAGIC:
            return _load_kernel(path, f, size, head, window)
        stream = f if size is not None else _read_stream(path, f, MAX_STREAM_IMAGE)
        try:
            return _load_elf(path, stream, window)
        except ArmnvError:
            raise
        except Exception as exc:  # pyelftools on hostile input: any error is a malformed file
            raise ArmnvError(f"{path}: malformed ELF file ({type(exc).__name__}: {exc})") from exc


def _open(path: str) -> tuple[IO[bytes], int | None]:
    """The open file and its size, or None for a pipe (whose size is known only once read)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ArmnvError(f"{path}: no such file") from None
    except OSError as exc:
        raise ArmnvError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ArmnvError(f"{path}: is a directory")
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
        raise ArmnvError(f"{path}: not a regular file")
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by the caller's with-block
    except OSError as exc:
        raise ArmnvError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return f, (st.st_size if stat.S_ISREG(st.st_mode) else None)


def _read_stream(path: str, f: IO[bytes], limit: int, head: bytes = ELF_MAGIC) -> io.BytesIO:
    data = head + _read(path, f, limit - len(head) + 1)
    if len(data) > limit:
        raise ArmnvError(f"{path}: image read from a pipe is larger than {_size(limit)}")
    return io.BytesIO(data)


def _read(path: str, f: IO[bytes], n: int = -1) -> bytes:
    try:
        return f.read(n)
    except OSError as exc:
        raise ArmnvError(f"{path}: cannot read: {exc.strerror or exc}") from None


@attrs.define(frozen=True, slots=True)
class _Window:
    """Where segments may go: guest RAM, or anywhere in 64 bits with a size limit."""

    ram: tuple[int, int] | None

    def check(self, path: str, addr: int, size: int, what: str) -> None:
        if self.ram is None:
            if size > DEFAULT_LIMIT or addr + size > 1 << 64:
                raise ArmnvError(f"{path}: {what} at {addr:#x} is too large ({_size(size)})")
            return
        base, ram_size = self.ram
        if not (base <= addr and addr + size <= base + ram_size):
            end = base + ram_size
            raise ArmnvError(
                f"{path}: {what} at {addr:#x} (+{size:#x}) is outside RAM ({base:#x}-{end - 1:#x}, {_size(ram_size)})"
            )

    @property
    def total(self) -> int:
        return DEFAULT_LIMIT if self.ram is None else self.ram[1]


def _size(n: int) -> str:
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return f"{n} bytes"


def _load_raw(path: str, f: IO[bytes], size: int | None, load_addr: int, window: _Window) -> Image:
    if size is not None:
        window.check(path, load_addr, max(size, 1), "raw image")
        data = _read(path, f)
    else:
        room = window.total if window.ram is None else max(window.ram[0] + window.ram[1] - load_addr, 0)
        data = _read(path, f, room + 1)
        window.check(path, load_addr, max(len(data), 1), "raw image")
    if data[:4] == ELF_MAGIC:
        raise ArmnvError(f"{path}: is an ELF file; --load-addr is for raw images")
    if not data:
        raise ArmnvError(f"{path}: empty image")
    return Image(load_addr, (Segment(load_addr, data),), kind="raw")


def _load_kernel(path: str, f: IO[bytes], size: int | None, head: bytes, window: _Window) -> Image:
    """A non-ELF file without --load-addr: an arm64 Linux Image or a raw kernel, placed as QEMU does."""
    base = DEFAULT_RAM_BASE if window.ram is None else window.ram[0]
    if size is not None and size > window.total:
        raise ArmnvError(f"{path}: kernel of {size} bytes is larger than RAM ({_size(window.total)})")
    # no placement puts a kernel lower than this: reading more than what fits past it is pointless
    room = window.total - RAW_KERNEL_OFFSET
    data = head + _read(path, f, max(room + 1 - len(head), 0))
    if not data:
        raise ArmnvError(f"{path}: empty image")
    offset, claimed, kind = RAW_KERNEL_OFFSET, len(data), "raw"
    if len(data) > IMAGE_MAGIC_OFFSET + 4 and data[IMAGE_MAGIC_OFFSET : IMAGE_MAGIC_OFFSET + 4] == IMAGE_MAGIC:
        text_offset, image_size, flags = struct.unpack_from("<QQQ", data, 8)
        if flags & IMAGE_FLAG_BE:
            raise ArmnvError(f"{path}: big-endian arm64 Linux Image (header flags {flags:#x}): not supported")
        kind = "linux"
        # image_size 0 (kernels before 3.17): text_offset is not to be trusted, QEMU's default applies
        if image_size:
            offset = text_offset + (2 << 20 if text_offset < BOOT_STUB_ROOM else 0)
            claimed = max(image_size, len(data))
    addr = base + offset
    window.check(path, addr, claimed, "Linux Image" if kind == "linux" else "raw image")
    return Image(addr, (Segment(addr, data),), kind=kind, end=addr + claimed)


def _load_elf(path: str, stream: IO[bytes], window: _Window) -> Image:
    file_size = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    elf = ELFFile(stream)
    if elf["e_machine"] != "EM_AARCH64":
        raise ArmnvError(f"{path}: not an AArch64 ELF file (machine {elf['e_machine']})")
    if elf.elfclass != 64:
        raise ArmnvError(f"{path}: 32-bit (ILP32) AArch64 ELF files are not supported")
    if not elf.little_endian:
        raise ArmnvError(f"{path}: big-endian AArch64 images are not supported")
    count = elf.num_segments()
    phoff, phentsize = elf["e_phoff"], elf["e_phentsize"]
    if count and (phentsize < ELF64_PHDR_SIZE or phoff + (count - 1) * phentsize + ELF64_PHDR_SIZE > file_size):
        raise ArmnvError(
            f"{path}: malformed ELF file (program headers at {phoff:#x}: {count} x {phentsize} bytes "
            f"do not fit in the {file_size}-byte file)"
        )
    loads = []
    total = 0
    for seg in elf.iter_segments():
        if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
            continue
        addr, offset, filesz, memsz = seg["p_paddr"], seg["p_offset"], seg["p_filesz"], seg["p_memsz"]
        if filesz > memsz:
            raise ArmnvError(f"{path}: malformed ELF file (segment at {addr:#x}: file size > memory size)")
        if offset + filesz > file_size:
            raise ArmnvError(f"{path}: malformed ELF file (truncated segment at {addr:#x})")
        window.check(path, addr, memsz, "segment")
        # overlapping segments could otherwise add up to many times RAM
        total += memsz
        if total > window.total:
            raise ArmnvError(f"{path}: loadable segments add up to more than {_size(window.total)}")
        loads.append(seg)
    if not loads:
        raise ArmnvError(f"{path}: ELF file has no loadable segments")
    segments = []
    for seg in loads:
        body = seg.data()
        if len(body) != seg["p_filesz"]:
            raise ArmnvError(f"{path}: malformed ELF file (truncated segment at {seg['p_paddr']:#x})")
        # the tail past the file size is .bss: zero-filled, whatever RAM held before
        segments.append(Segment(seg["p_paddr"], body + bytes(seg["p_memsz"] - seg["p_filesz"])))
    return Image(elf["e_entry"], tuple(segments), _symbols(elf))


# A better name for the same address wins: a function over a label, a global over a local.
_TYPE_RANK = {"STT_FUNC": 2, "STT_NOTYPE": 0}
_BIND_RANK = {"STB_GLOBAL": 1, "STB_WEAK": 1, "STB_LOCAL": 0}


def _symbols(elf: ELFFile) -> SymbolTable:
    """The image's symbols; a damaged symbol table only costs the names, as with QEMU's loader."""
    try:
        return _read_symbols(elf)
    except Exception:
        return SymbolTable()


def _read_symbols(elf: ELFFile) -> SymbolTable:
    symtab = elf.get_section_by_name(".symtab")
    if symtab is None or symtab["sh_entsize"] == 0:
        return SymbolTable()
    section_end: dict[int, int] = {}
    best: dict[int, tuple[int, str, int, int]] = {}  # addr -> (rank, name, size, end of section)
    for sym in symtab.iter_symbols():
        kind = sym["st_info"]["type"]
        # "$x"/"$d" are AArch64 mapping symbols, not names; ABS symbols are constants
        if kind not in _TYPE_RANK or not sym.name or sym.name.startswith("$"):
            continue
        shndx = sym["st_shndx"]
        if not isinstance(shndx, int):  # SHN_UNDEF, SHN_ABS, SHN_COMMON...
            continue
        if shndx not in section_end:
            section = elf.get_section(shndx)
            section_end[shndx] = section["sh_addr"] + section["sh_size"]
        rank = _TYPE_RANK[kind] + _BIND_RANK.get(sym["st_info"]["bind"], 0)
        addr = sym["st_value"]
        if addr not in best or rank > best[addr][0]:
            best[addr] = (rank, sym.name, sym["st_size"], section_end[shndx])
    return SymbolTable(
        {addr: (name, size) for addr, (_, name, size, _) in best.items()},
        {addr: end for addr, (_, _, _, end) in best.items()},
    )
