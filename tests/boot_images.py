"""The device-tree guest (tests/guests/fdtinfo) built in each boot form: ELF, raw binary, arm64 Image.

Built with the flags of `examples/build.py` (freestanding, general registers
only), linked at the address each form is loaded at.
"""

from __future__ import annotations

import importlib.util
import struct
import subprocess
from pathlib import Path

from elftools.elf.elffile import ELFFile

from framework.testing import TOOLCHAIN_PREFIX

ROOT = Path(__file__).resolve().parent.parent
SOURCES = Path(__file__).resolve().parent / "guests" / "fdtinfo"
IMAGE_HEADER_SIZE = 64

LINKER_SCRIPT = """\
ENTRY(_start)
SECTIONS
{{
    . = {base:#x};
    .text : {{ *(.text.boot) *(.text*) }}
    .rodata : {{ *(.rodata*) }}
    . = ALIGN(16);
    .data : {{ *(.data*) }}
    .bss : {{ . = ALIGN(16); __bss_start = .; *(.bss*) *(COMMON) . = ALIGN(16); __bss_end = .; }}
    /DISCARD/ : {{ *(.comment) *(.note*) *(.eh_frame*) }}
}}
"""


def _flags() -> tuple[tuple[str, ...], tuple[str, ...]]:
    spec = importlib.util.spec_from_file_location("armnv_examples_build", ROOT / "examples" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CFLAGS, module.LDFLAGS


def build_elf(out: Path, base: int) -> Path:
    """The guest as an ELF executable linked at `base`."""
    cflags, ldflags = _flags()
    script = out / f"link-{base:x}.ld"
    script.write_text(LINKER_SCRIPT.format(base=base))
    elf = out / f"fdtinfo-{base:x}.elf"
    cmd = [TOOLCHAIN_PREFIX + "gcc", *cflags, *ldflags, "-T", str(script), "-o", str(elf)]
    cmd += [str(SOURCES / "start.S"), str(SOURCES / "fdtinfo.c")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"building the guest failed:\n{proc.stderr}"
    return elf


def build_raw(out: Path, base: int) -> Path:
    """The guest as a raw binary to be loaded at `base` (objcopy -O binary)."""
    elf = build_elf(out, base)
    raw = elf.with_suffix(".bin")
    proc = subprocess.run([TOOLCHAIN_PREFIX + "objcopy", "-O", "binary", str(elf), str(raw)], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    return raw


def build_linux_image(out: Path, load: int, text_offset: int) -> Path:
    """The guest behind an arm64 Linux Image header, to be loaded at `load` (= RAM base + placement).

    The header (Documentation/arm64/booting.rst): code0 a branch over the
    64-byte header, code1 0, text_offset, image_size (everything up to the end
    of .bss), flags 0b0010 (little-endian, 4K pages, 2 MiB-aligned base),
    three reserved words, the magic "ARM\\x64" at 56, a reserved word.
    """
    body = build_raw(out, load + IMAGE_HEADER_SIZE)
    with open(body.with_suffix(".elf"), "rb") as f:
        end = max(seg["p_vaddr"] + seg["p_memsz"] for seg in ELFFile(f).iter_segments() if seg["p_type"] == "PT_LOAD")
    branch = 0x1400_0000 | (IMAGE_HEADER_SIZE // 4)
    header = struct.pack("<IIQQQQQQ", branch, 0, text_offset, end - load, 0b0010, 0, 0, 0) + b"ARM\x64" + bytes(4)
    assert len(header) == IMAGE_HEADER_SIZE
    image = out / f"Image-{load:x}"
    image.write_bytes(header + body.read_bytes())
    return image
