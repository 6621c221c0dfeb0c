"""Image loading: ELF program headers, .bss, entry point, symbols; raw images at --load-addr; bad files."""

from __future__ import annotations

import os
import struct
import subprocess
import threading
import tracemalloc
from pathlib import Path

import pytest

from framework.errors import ArmnvError
from framework.loader import Segment, SymbolTable, load_image
from framework.testing import EPILOGUE, STACK_TOP, TEXT_BASE, TOOLCHAIN_PREFIX, assemble, make_machine

# _start is not the first instruction of .text: the entry point is e_entry, not the image base.
# .data (page-aligned by the test linker script) holds initialised words, .bss 64 zero bytes.
PROGRAM = """
    .text
helper:
    mov x0, #2
    ret
    .global _start
_start:
    mov x0, #1
    adr x2, table
    ldr x3, [x2]
    ldr x4, [x2, #8]
    adr x5, scratch
    ldr x6, [x5]
    ldr x7, [x5, #56]
    b _armnv_exit

    .data
    .balign 8
table:
    .quad 0x1122334455667788, 0x99aabbccddeeff00

    .bss
    .balign 8
scratch:
    .skip 64
"""


@pytest.fixture(scope="module")
def program() -> Path:
    return assemble(PROGRAM + "\n    .text\n" + EPILOGUE, wrap=False)


def symbol_address(m, name: str) -> int:
    return next(addr for addr, n in m.symbols.items() if n == name)


def test_elf_entry_point_and_segments(program):
    image = load_image(str(program))
    # helper is two instructions, so _start (ENTRY) is 8 bytes into .text
    assert image.entry == TEXT_BASE + 8
    text = next(s for s in image.segments if s.addr == TEXT_BASE)
    assert int.from_bytes(text.data[8:12], "little") == 0xD2800020  # mov x0, #1
    data = next(s for s in image.segments if s.addr <= TEXT_BASE + 0x1000 < s.addr + len(s.data))
    off = TEXT_BASE + 0x1000 - data.addr
    assert data.data[off : off + 16] == struct.pack("<QQ", 0x1122334455667788, 0x99AABBCCDDEEFF00)
    # the .bss tail of the segment is there and zero
    assert len(data.data) - off >= 16 + 64
    assert data.data[off + 16 : off + 16 + 64] == bytes(64)


def test_elf_runs_from_its_entry_point_with_data_and_zeroed_bss(program):
    m = make_machine()
    scratch_guess = TEXT_BASE + 0x1000 + 16
    # RAM that held something before the load: .bss must still read as zero
    m.bus.write_bytes(scratch_guess, b"\xff" * 64)
    entry = m.load(str(program))
    m.cpu.x[31] = STACK_TOP
    assert entry == m.cpu.pc == TEXT_BASE + 8
    assert symbol_address(m, "scratch") == scratch_guess
    stop = m.run(1000)
    assert stop.kind == "exit"
    assert m.cpu.x[0] == 0x18  # the exit call: helper (x0 = 2) never ran before it
    assert m.cpu.x[3] == 0x1122334455667788
    assert m.cpu.x[4] == 0x99AABBCCDDEEFF00
    assert m.cpu.x[6] == 0 and m.cpu.x[7] == 0


def test_elf_symbols(program):
    m = make_machine()
    m.load(str(program))
    assert m.symbols[TEXT_BASE] == "helper"
    assert m.symbols[TEXT_BASE + 8] == "_start"
    assert not any(name.startswith("$") for name in m.symbols.values())  # no mapping symbols
    assert m.symbols.describe(TEXT_BASE + 8) == "_start"
    assert m.symbols.describe(TEXT_BASE + 12) == "_start+0x4"
    assert m.symbols.lookup(TEXT_BASE + 4) == ("helper", 4)


def test_symbol_table_lookup_rules():
    table = SymbolTable(
        {0x1000: ("func", 0x10), 0x2000: ("label", 0), 0x3000: ("last", 0), 0x5000: ("alone", 0)},
        limits={0x1000: 0x4000, 0x2000: 0x4000, 0x3000: 0x4000},
    )
    assert table.lookup(0xFFF) is None
    assert table.lookup(0x1000) == ("func", 0)
    assert table.lookup(0x100F) == ("func", 0xF)
    assert table.lookup(0x1010) is None  # past the end of a sized symbol
    assert table.lookup(0x2FFC) == ("label", 0xFFC)  # an unsized label runs to the next symbol
    assert table.lookup(0x3100) == ("last", 0x100)  # ... or to the end of its section
    assert table.lookup(0x4000) is None
    assert table.lookup(0xFFFF_FFFF_FFFF_FFF8) is None
    assert table.lookup(0x5000) == ("alone", 0)  # no section known: only its own address
    assert table.lookup(0x5004) is None
    assert table.describe(0x1010) == ""
    assert table[0x2000] == "label"


def test_addresses_past_the_last_symbol_of_a_section_have_no_name():
    # the exit block is the last label of .text; the section ends with its two quads
    elf = assemble("    nop\n")
    symbols = load_image(str(elf)).symbols
    block = next(addr for addr, name in symbols.items() if name == "_armnv_exit_block")
    assert symbols.describe(block + 8) == "_armnv_exit_block+0x8"
    assert symbols.describe(block + 16) == ""
    assert symbols.describe(block + 0x10_0000) == ""
    assert symbols.describe(0xFFFF_FFFF_FFFF_FFF8) == ""


def raw_binary(tmp_path: Path, source: str) -> Path:
    elf = assemble(source)
    out = tmp_path / "image.bin"
    subprocess.run([TOOLCHAIN_PREFIX + "objcopy", "-O", "binary", str(elf), str(out)], check=True)
    return out


def test_raw_image_runs_at_its_load_address(tmp_path):
    # position-independent code: adr yields where it was really loaded
    raw = raw_binary(tmp_path, "    adr x20, .\n")
    m = make_machine()
    entry = m.load(str(raw), 0x4010_0000)
    m.cpu.x[31] = STACK_TOP
    assert entry == m.cpu.pc == 0x4010_0000
    assert m.bus.read(0x4010_0000, 4) == int.from_bytes(raw.read_bytes()[:4], "little")
    stop = m.run(1000)
    assert stop.kind == "exit"
    assert m.cpu.x[20] == 0x4010_0000


# ---- bad files ----------------------------------------------------------------------------------


def elf32_aarch64() -> bytes:
    """A minimal ELF32 executable for AArch64 (ILP32): header and one PT_LOAD of 4 bytes."""
    ident = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack("<HHIIIIIHHHHHH", 2, 183, 1, TEXT_BASE, 52, 0, 0, 52, 32, 1, 40, 0, 0)
    phdr = struct.pack("<IIIIIIII", 1, 84, TEXT_BASE, TEXT_BASE, 4, 4, 5, 4)
    return header + phdr + b"\x1f\x20\x03\xd5"


def patched(program: Path, offset: int, data: bytes) -> bytes:
    image = bytearray(program.read_bytes())
    image[offset : offset + len(data)] = data
    return bytes(image)


@pytest.mark.parametrize(
    ("make", "load_addr", "message"),
    [
        (lambda d, p: None, None, "no such file"),
        (lambda d, p: d, None, "is a directory"),
        (lambda d, p: b"", None, "empty image"),
        (lambda d, p: patched(p, 18, struct.pack("<H", 62)), None, "not an AArch64 ELF file (machine EM_X86_64)"),
        (lambda d, p: patched(p, 18, struct.pack("<H", 40)), None, "not an AArch64 ELF file (machine EM_ARM)"),
        (lambda d, p: elf32_aarch64(), None, "32-bit"),
        (lambda d, p: p.read_bytes()[:200], None, "malformed ELF"),
        (lambda d, p: p.read_bytes(), 0x4008_0000, "is an ELF file"),
        (lambda d, p: b"", 0x4008_0000, "empty image"),
    ],
    ids=[
        "missing",
        "directory",
        "empty-kernel",
        "x86-64",
        "arm32",
        "elf32",
        "truncated",
        "elf-with-load-addr",
        "empty-raw",
    ],
)
def test_bad_images_are_reported(tmp_path, program, make, load_addr, message):
    content = make(tmp_path, program)
    if content is None:
        path = tmp_path / "missing.elf"
    elif isinstance(content, Path):
        path = content
    else:
        path = tmp_path / "image"
        path.write_bytes(content)
    with pytest.raises(ArmnvError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        load_image(str(path), load_addr)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


RAM_WINDOW = (TEXT_BASE, 1 << 20)


def load_header(elf: bytes) -> int:
    """File offset of the first PT_LOAD program header (ELF64: e_phoff at 0x20, p_type first)."""
    phoff = struct.unpack_from("<Q", elf, 0x20)[0]
    entsize, count = struct.unpack_from("<HH", elf, 0x36)
    return next(phoff + i * entsize for i in range(count) if struct.unpack_from("<I", elf, phoff + i * entsize)[0] == 1)


@pytest.mark.parametrize("memsz", [4 << 30, 64 << 30, (1 << 63) - 1, (1 << 64) - 1])
def test_segment_sizes_are_checked_against_ram_before_anything_is_allocated(tmp_path, program, memsz):
    data = bytearray(program.read_bytes())
    struct.pack_into("<Q", data, load_header(data) + 0x28, memsz)  # p_memsz
    path = tmp_path / "big.elf"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        with pytest.raises(ArmnvError, match="outside RAM"):
            load_image(str(path), ram=RAM_WINDOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_without_a_ram_window_a_segment_is_still_bounded(tmp_path, program):
    data = bytearray(program.read_bytes())
    struct.pack_into("<Q", data, load_header(data) + 0x28, 64 << 30)
    path = tmp_path / "big.elf"
    path.write_bytes(data)
    with pytest.raises(ArmnvError, match="too large"):
        load_image(str(path))


def elf64_aarch64(segments: list[tuple[int, bytes, int]], entry: int) -> bytes:
    """A minimal ELF64 AArch64 executable: one PT_LOAD per (paddr, file bytes, memsz), no sections."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack("<HHIQQQIHHHHHH", 2, 183, 1, entry, 64, 0, 0, 64, 56, len(segments), 64, 0, 0)
    offset = 64 + 56 * len(segments)
    phdrs, bodies = b"", b""
    for paddr, body, memsz in segments:
        phdrs += struct.pack("<IIQQQQQQ", 1, 5, offset + len(bodies), paddr, paddr, len(body), memsz, 4)
        bodies += body
    return header + phdrs + bodies


def test_a_handmade_elf_loads(tmp_path):
    # the builder below is checked once against the loader's happy path
    path = tmp_path / "two.elf"
    path.write_bytes(elf64_aarch64([(TEXT_BASE, b"\x1f\x20\x03\xd5", 8), (TEXT_BASE + 0x1000, b"", 16)], TEXT_BASE))
    image = load_image(str(path), ram=RAM_WINDOW)
    assert image.entry == TEXT_BASE
    assert image.segments == (
        Segment(TEXT_BASE, b"\x1f\x20\x03\xd5" + bytes(4)),
        Segment(TEXT_BASE + 0x1000, bytes(16)),
    )


def test_overlapping_segments_cannot_add_up_to_more_than_ram(tmp_path):
    # each 768 KiB segment fits in the 1 MiB of RAM; the two together do not
    path = tmp_path / "overlap.elf"
    path.write_bytes(elf64_aarch64([(TEXT_BASE, b"", 768 << 10)] * 2, TEXT_BASE))
    with pytest.raises(ArmnvError, match="add up to more than 1M"):
        load_image(str(path), ram=RAM_WINDOW)


def test_image_from_a_fifo_is_read_once(tmp_path, program):
    fifo = tmp_path / "image.fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        # a second open by the loader would wait for a writer that never comes
        with open(fifo, "wb") as f:
            f.write(program.read_bytes())

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    result: list[object] = []
    reader = threading.Thread(target=lambda: result.append(load_image(str(fifo))), daemon=True)
    reader.start()
    reader.join(timeout=30)
    assert not reader.is_alive(), "the loader hangs on a FIFO"
    (image,) = result
    assert image.entry == TEXT_BASE + 8
    assert image.segments == load_image(str(program)).segments


def test_segment_outside_ram_is_reported():
    elf = assemble("    nop\n", base=0x1000_0000)
    m = make_machine()
    with pytest.raises(ArmnvError, match="outside RAM"):
        m.load(str(elf))
