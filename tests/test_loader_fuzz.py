"""Fuzzing the ELF loader with damaged headers: an image either loads or is one error line.

A valid small ELF has its header fields, program headers (offsets, sizes,
addresses, types) and random bytes rewritten by hypothesis. The loader must
then return an image whose segments lie in guest RAM, or raise `ArmnvError`
with one line naming the file, and never allocate more than the RAM it was
given. A few of the damaged images also go through the real ``armnv`` script.

The examples are derandomized (the same every run, as in CI); set
ARMNV_FUZZ_EXAMPLES to run more, from a random seed.
"""

from __future__ import annotations

import functools
import os
import random
import resource
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.errors import ArmnvError
from framework.loader import load_image
from framework.testing import TEXT_BASE, assemble

ARMNV = Path(sys.executable).parent / "armnv"
EXAMPLES = int(os.environ.get("ARMNV_FUZZ_EXAMPLES", "0"))
RAM = (TEXT_BASE - 0x1000, 1 << 20)  # a small window, so that any big allocation stands out
ALLOCATION_LIMIT = 8 << 20

# (offset, struct format) of the ELF64 header fields worth damaging
HEADER_FIELDS = {
    "ei_class": (4, "<B"),
    "ei_data": (5, "<B"),
    "e_type": (0x10, "<H"),
    "e_machine": (0x12, "<H"),
    "e_entry": (0x18, "<Q"),
    "e_phoff": (0x20, "<Q"),
    "e_shoff": (0x28, "<Q"),
    "e_phentsize": (0x36, "<H"),
    "e_phnum": (0x38, "<H"),
    "e_shentsize": (0x3A, "<H"),
    "e_shnum": (0x3C, "<H"),
    "e_shstrndx": (0x3E, "<H"),
}
# ELF64 program header fields, relative to the header
PHDR_FIELDS = {
    "p_type": (0x00, "<I"),
    "p_offset": (0x08, "<Q"),
    "p_paddr": (0x18, "<Q"),
    "p_filesz": (0x20, "<Q"),
    "p_memsz": (0x28, "<Q"),
}


@functools.cache
def seed_elf() -> bytes:
    # code, data and .bss, so there are several program headers and a symbol table to damage
    return assemble(
        """
    adr x1, value
    ldr x2, [x1]
    b _armnv_exit
    .data
value: .quad 42
    .bss
space: .skip 256
    .text
"""
    ).read_bytes()


def interesting(size: int) -> st.SearchStrategy[int]:
    """Values near the edges: file and RAM boundaries, powers of two, wrap-around."""
    file_len = len(seed_elf())
    edges = [0, 1, 8, 56, 64, file_len - 1, file_len, file_len + 1, RAM[0], RAM[0] + RAM[1] - 8]
    edges += [RAM[1], 4 << 30, 64 << 30, (1 << 63) - 1, 1 << 63]
    top = (1 << (8 * size)) - 1
    values = sorted({v & top for v in [*edges, top, top - 7]})
    return st.one_of(st.sampled_from(values), st.integers(0, top))


@st.composite
def damaged_elfs(draw: st.DrawFn) -> bytes:
    data = bytearray(seed_elf())
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phnum = struct.unpack_from("<H", data, 0x38)[0]
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["header", "phdr", "phdr", "bytes", "truncate"]))
        if kind == "header":
            offset, fmt = HEADER_FIELDS[draw(st.sampled_from(sorted(HEADER_FIELDS)))]
            value = draw(interesting(struct.calcsize(fmt)))
        elif kind == "phdr":
            rel, fmt = PHDR_FIELDS[draw(st.sampled_from(sorted(PHDR_FIELDS)))]
            offset = phoff + 56 * draw(st.integers(0, phnum - 1)) + rel
            value = draw(st.sampled_from([1, 2, 6, 0x6474E551])) if rel == 0 else draw(interesting(8))
        elif kind == "bytes":
            if not data:
                continue
            offset = draw(st.integers(0, len(data) - 1))
            data[offset] = draw(st.integers(0, 255))
            continue
        else:
            del data[draw(st.integers(0, len(data))) :]
            continue
        if offset + struct.calcsize(fmt) <= len(data):
            struct.pack_into(fmt, data, offset, value)
    return bytes(data)


def check_load(path: Path) -> None:
    """Load `path` into the RAM window: an image inside it, or one error line naming the file."""
    tracemalloc.start()
    try:
        image = load_image(str(path), ram=RAM)
    except ArmnvError as exc:
        message = str(exc)
        assert str(path) in message
        assert "\n" not in message
        return
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < ALLOCATION_LIMIT, f"the loader allocated {peak} bytes"
    base, size = RAM
    assert image.segments
    for seg in image.segments:
        assert base <= seg.addr and seg.addr + len(seg.data) <= base + size
    assert sum(len(seg.data) for seg in image.segments) <= size


@settings(
    max_examples=EXAMPLES or 300,
    derandomize=not EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(elf=damaged_elfs())
def test_fuzz_damaged_elf_headers_load_or_fail_cleanly(tmp_path, elf):
    path = tmp_path / "fuzz.elf"
    path.write_bytes(elf)
    check_load(path)


def test_fuzz_seed_image_loads():
    # the undamaged seed loads: the fuzzer starts from a valid image
    path = assemble("    nop\n")
    assert load_image(str(path), ram=RAM).entry == TEXT_BASE


def limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def test_fuzz_damaged_elfs_through_the_script(tmp_path):
    # a few damaged images, run as a user runs them: whatever happens, no traceback, and
    # a bad image is one error line with status 2
    rng = random.Random(EXAMPLES or 0x5EED)
    seed = seed_elf()
    phoff = struct.unpack_from("<Q", seed, 0x20)[0]
    for i in range(max(6, EXAMPLES // 50)):
        data = bytearray(seed)
        for _ in range(rng.randint(1, 3)):
            name, (rel, fmt) = rng.choice(sorted(PHDR_FIELDS.items()))
            value = rng.choice([0, 1, 0x1000, RAM[0], 1 << 32, 64 << 30, (1 << 63) - 1, rng.getrandbits(64)])
            struct.pack_into(fmt, data, phoff + rel, value & ((1 << (8 * struct.calcsize(fmt))) - 1))
        path = tmp_path / f"fuzz{i}.elf"
        path.write_bytes(data)
        proc = subprocess.run(
            [str(ARMNV), "run", str(path), "--max-insns", "20000"],
            capture_output=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            preexec_fn=limit_address_space,
        )
        err = proc.stderr.decode(errors="replace")
        assert "Traceback" not in err and proc.returncode != 3, (name, err)
        if proc.returncode == 2:
            lines = err.splitlines()
            assert len(lines) == 1 and lines[0].startswith("armnv: error: "), lines
