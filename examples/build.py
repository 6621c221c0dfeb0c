#!/usr/bin/env python3
"""Build every example guest into ``examples/images/<name>.elf``, reproducibly.

An example is a directory of ``examples/`` holding C (``*.c``) and assembly
(``*.S``, ``*.s``) sources and, optionally, a ``link.ld`` linker script (the
default one links at 0x4008_0000, where armnv and QEMU's virt board run
bare-metal images). All examples are compiled with the same fixed flags.

The output must not depend on where or when it is built, so the committed
images can be checked against their sources: the compiler runs inside the
example's directory on relative, sorted file names; no build ID, no debug
information (which would record paths), no timestamps.

    python examples/build.py                 # all examples into examples/images/
    python examples/build.py --out DIR hello  # one example, elsewhere

Only the standard library is used, so any Python 3 can run it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
DEFAULT_OUT = EXAMPLES / "images"
SOURCE_SUFFIXES = (".c", ".S", ".s")
CROSS = os.environ.get("ARMNV_CROSS", "aarch64-linux-gnu-")

# Freestanding code for the virt board. Distribution compilers switch on
# hardening by default (PIE, stack protector, branch protection, unwind
# tables); each is turned off explicitly so the flags alone define the image.
CFLAGS = (
    "-O2",
    "-pipe",
    "-march=armv8-a",
    "-ffreestanding",
    "-nostdlib",
    "-mgeneral-regs-only",
    "-mstrict-align",
    "-fno-pie",
    "-no-pie",
    "-static",
    "-fno-stack-protector",
    "-mbranch-protection=none",
    "-fno-asynchronous-unwind-tables",
    "-fno-unwind-tables",
    "-fno-ident",
    "-Wall",
    "-Werror",
)
LDFLAGS = ("-Wl,--build-id=none", "-Wl,-z,noexecstack")

DEFAULT_LINKER_SCRIPT = """\
ENTRY(_start)
PHDRS { text PT_LOAD FLAGS(5); data PT_LOAD FLAGS(6); }
SECTIONS
{
    . = 0x40080000;
    .text : { *(.text.boot) *(.text*) } :text
    .rodata : { *(.rodata*) } :text
    . = ALIGN(4096);
    .data : { *(.data*) } :data
    .bss : { *(.bss*) *(COMMON) } :data
    /DISCARD/ : { *(.comment) *(.note*) *(.eh_frame*) }
}
"""


def examples() -> list[str]:
    """Names of the example directories (those holding sources), sorted."""
    names = []
    for d in sorted(EXAMPLES.iterdir()):
        if d.is_dir() and d != DEFAULT_OUT and any(p.suffix in SOURCE_SUFFIXES for p in d.iterdir()):
            names.append(d.name)
    return names


def build(name: str, out_dir: Path) -> Path:
    """Compile and link example `name` into out_dir/<name>.elf; return the image path."""
    src_dir = EXAMPLES / name
    sources = sorted(p.name for p in src_dir.iterdir() if p.suffix in SOURCE_SUFFIXES)
    if not sources:
        raise SystemExit(f"build.py: {name}: no sources in {src_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}.elf"
    with tempfile.TemporaryDirectory() as tmp:
        script = src_dir / "link.ld"
        if not script.exists():
            script = Path(tmp, "link.ld")
            script.write_text(DEFAULT_LINKER_SCRIPT)
        # one object per source under a fixed name: the assembler records the object's
        # name in the symbol table when the source is preprocessed through a temp file
        objects = [str(Path(tmp, src + ".o")) for src in sources]
        staged = Path(tmp, f"{name}.elf")
        commands = [[CROSS + "gcc", *CFLAGS, "-c", "-o", obj, src] for src, obj in zip(sources, objects, strict=True)]
        commands.append([CROSS + "gcc", *CFLAGS, *LDFLAGS, "-T", str(script), "-o", str(staged), *objects])
        for cmd in commands:
            proc = subprocess.run(cmd, cwd=src_dir, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"build.py: {name}: {' '.join(cmd)}\n{proc.stderr}")
        # the image is replaced in one step, so a reader never sees half of it
        partial = target.with_name(f".{target.name}.partial")
        shutil.copyfile(staged, partial)
        os.replace(partial, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the example guest images.")
    parser.add_argument("names", nargs="*", help="examples to build (default: all)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: examples/images)")
    args = parser.parse_args(argv)
    if shutil.which(CROSS + "gcc") is None:
        print(f"build.py: {CROSS}gcc not found (install the AArch64 cross toolchain)", file=sys.stderr)
        return 1
    known = examples()
    for name in args.names:
        if name not in known:
            print(f"build.py: unknown example {name!r} (known: {', '.join(known)})", file=sys.stderr)
            return 2
    for name in args.names or known:
        path = build(name, args.out.resolve())
        print(f"built {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
