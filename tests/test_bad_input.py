"""Every user-facing failure of the ``armnv`` console script: one ``armnv: error:`` line, exit 2.

Each case runs the installed script as a user would (a subprocess, no terminal,
an address-space limit so that a big allocation fails loudly instead of
passing unnoticed) and checks the whole of stderr: exactly one line, starting
``armnv: error: ``, naming the problem, and never a Python traceback.
"""

from __future__ import annotations

import os
import resource
import struct
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from framework.testing import assemble

ROOT = Path(__file__).resolve().parent.parent
ARMNV = Path(sys.executable).parent / "armnv"
HELLO = ROOT / "examples" / "images" / "hello.elf"
RAM_BASE = 0x4000_0000
# Python, its libraries and the default 512 MiB of guest RAM fit well within this; a
# multi-gigabyte allocation driven by a size field of a hostile file does not.
ADDRESS_SPACE_LIMIT = 2 << 30

# ELF64 header and program header field offsets (System V ABI, ELF-64 Object File Format)
E_ENTRY, E_PHOFF, E_PHENTSIZE, E_PHNUM = 0x18, 0x20, 0x36, 0x38
P_OFFSET, P_PADDR, P_FILESZ, P_MEMSZ = 0x08, 0x18, 0x20, 0x28


def limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))


def armnv(*args: str, env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(ARMNV), *args],
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        preexec_fn=limit_address_space,
        env=env,
        **kw,
    )


def assert_one_error_line(proc: subprocess.CompletedProcess[bytes], needle: str) -> str:
    err = proc.stderr.decode(errors="replace")
    assert "Traceback" not in err, err
    assert proc.returncode == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("armnv: error: "), lines
    assert needle in lines[0], lines
    return lines[0]


# ---- images -----------------------------------------------------------------------------------


def small_elf() -> bytes:
    return assemble("    mov x0, #1\n").read_bytes()


def first_load_header(elf: bytes) -> int:
    """File offset of the first PT_LOAD program header."""
    phoff = struct.unpack_from("<Q", elf, E_PHOFF)[0]
    entsize, count = struct.unpack_from("<HH", elf, E_PHENTSIZE)
    for i in range(count):
        if struct.unpack_from("<I", elf, phoff + i * entsize)[0] == 1:
            return phoff + i * entsize
    raise AssertionError("no PT_LOAD")


def with_load_field(offset: int, value: int) -> Callable[[bytes], bytes]:
    def patch(elf: bytes) -> bytes:
        data = bytearray(elf)
        struct.pack_into("<Q", data, first_load_header(elf) + offset, value)
        return bytes(data)

    return patch


def with_header_field(offset: int, fmt: str, value: int) -> Callable[[bytes], bytes]:
    def patch(elf: bytes) -> bytes:
        data = bytearray(elf)
        struct.pack_into(fmt, data, offset, value)
        return bytes(data)

    return patch


def with_huge_segment(elf: bytes) -> bytes:
    data = bytearray(with_load_field(P_FILESZ, 1 << 40)(elf))
    struct.pack_into("<Q", data, first_load_header(elf) + P_MEMSZ, 1 << 40)
    return bytes(data)


ELF_CASES = {
    # (how to damage a valid image, what the error line names)
    "p_memsz-2^63-1": (with_load_field(P_MEMSZ, (1 << 63) - 1), "outside RAM"),
    "p_memsz-64G": (with_load_field(P_MEMSZ, 64 << 30), "outside RAM"),
    "p_memsz-4G": (with_load_field(P_MEMSZ, 4 << 30), "outside RAM"),
    "p_filesz-huge": (with_load_field(P_FILESZ, 1 << 62), "file size > memory size"),
    "p_filesz-and-p_memsz-huge": (with_huge_segment, "truncated segment"),
    "p_offset-huge": (with_load_field(P_OFFSET, (1 << 64) - 16), "truncated segment"),
    "p_paddr-below-ram": (with_load_field(P_PADDR, 0x1000), "outside RAM"),
    "p_paddr-wraps": (with_load_field(P_PADDR, (1 << 64) - 8), "outside RAM"),
    "e_phoff-huge": (with_header_field(E_PHOFF, "<Q", (1 << 63) + 5), "program headers"),
    "e_phoff-past-end": (with_header_field(E_PHOFF, "<Q", 1 << 20), "program headers"),
    "e_phentsize-small": (with_header_field(E_PHENTSIZE, "<H", 8), "program headers"),
    "e_phnum-many": (with_header_field(E_PHNUM, "<H", 0xFFFE), "program headers"),
    "e_entry-outside-ram": (with_header_field(E_ENTRY, "<Q", 0x1000), "entry point"),
    "e_entry-unaligned": (with_header_field(E_ENTRY, "<Q", 0x4008_0002), "entry point"),
    "truncated": (lambda elf: elf[:100], "malformed ELF"),
    "header-only": (lambda elf: elf[:64], "program headers"),
    "bad-class": (with_header_field(4, "<B", 7), "malformed ELF"),
}


@pytest.mark.parametrize("case", sorted(ELF_CASES))
def test_bad_elf_headers(tmp_path, case):
    damage, needle = ELF_CASES[case]
    image = tmp_path / "bad.elf"
    image.write_bytes(damage(small_elf()))
    line = assert_one_error_line(armnv("run", str(image)), needle)
    assert str(image) in line


# ---- option values and configuration ------------------------------------------------------------

OPTION_CASES = {
    "cpu-unknown-model": (["--cpu", "cortex-z99"], "unknown CPU model 'cortex-z99'"),
    "cpu-unknown-feature": (["--cpu", "max,warp=on"], "unknown feature 'warp'"),
    "cpu-feature-without-plugin": (["--cpu", "max,aarch32=on"], "unknown feature 'aarch32'"),
    "cpu-feature-the-model-lacks": (["--cpu", "neoverse-v1,bti=on"], "does not have feature 'bti'"),
    "cpu-conflicting-features": (["--cpu", "max,mmu=off,hafdbs=on"], "requires 'mmu', which is switched off"),
    "cpu-fixed-feature-off": (["--cpu", "max,idst=off"], "cannot be switched off"),
    "cpu-el2-on-without-virtualization": (["-M", "virt,virtualization=off", "--cpu", "max,el2=on"], "has no EL2"),
    "cpu-bad-value": (["--cpu", "max,vhe=maybe"], "must be on or off"),
    "cpu-no-value": (["--cpu", "max,vhe"], "expected FEATURE=on|off"),
    "cpu-twice": (["--cpu", "max,vhe=on,vhe=off"], "given twice"),
    "cpu-no-model": (["--cpu", ",vhe=on"], "missing CPU model name"),
    "memory-word": (["-m", "lots"], "--memory"),
    "memory-zero": (["-m", "0"], "--memory"),
    "memory-unaligned": (["-m", "4097"], "--memory"),
    "memory-negative": (["-m", "-1M"], "--memory"),
    "memory-too-big": (["-m", "2T"], "--memory"),
    "max-insns-word": (["--max-insns", "many"], "--max-insns"),
    "max-insns-negative": (["--max-insns", "-5"], "--max-insns"),
    "max-insns-float": (["--max-insns", "1e6"], "--max-insns"),
    "icount-too-big": (["-icount", "shift=11"], "-icount shift=11: the shift is a number of 0 to 10"),
    "icount-negative": (["--icount", "-1"], "-icount -1: the shift is a number of 0 to 10"),
    "icount-word": (["-icount", "fast"], "-icount fast: the shift is a number"),
    "icount-empty": (["-icount", "shift="], "-icount shift=: the shift is a number"),
    "icount-auto": (["-icount", "shift=auto"], "shift=auto follows the host's speed"),
    "icount-unknown-setting": (["-icount", "shift=2,rr=record"], "-icount shift=2,rr=record: unknown setting 'rr'"),
    "icount-twice": (["-icount", "shift=1,shift=2"], "-icount shift=1,shift=2: shift given twice"),
    "icount-sleep-on": (["-icount", "shift=2,sleep=on"], "sleep=on: waits are always skipped"),
    "icount-missing-value": (["-icount"], "-icount"),
    "debug-unknown": (["-d", "int,bogus"], "unknown -d category 'bogus'"),
    "log-format": (["--log-format", "xml"], "--log-format"),
    "load-addr-word": (["--load-addr", "here"], "--load-addr"),
    "load-addr-negative": (["--load-addr", "-1"], "--load-addr"),
    "load-addr-elf": (["--load-addr", "0x40100000"], "--load-addr is for raw images"),
    "machine": (["--machine", "sbsa-ref"], "unknown machine 'sbsa-ref'"),
    "machine-property": (["-M", "virt,secure=on"], "unknown property 'secure=on'"),
    "machine-virtualization-value": (["-M", "virt,virtualization=maybe"], "bad value for virtualization"),
    "machine-dumpdtb-empty": (["-M", "virt,dumpdtb="], "bad value for dumpdtb"),
    "dumpdtb-unwritable": (["-M", "virt,dumpdtb=/no/such/dir/x.dtb"], "/no/such/dir/x.dtb: cannot write"),
    "initrd-missing": (["--initrd", "/no/such/initrd"], "--initrd /no/such/initrd: no such file"),
    "initrd-directory": (["--initrd", "/"], "--initrd /: is a directory"),
    "dtb-missing": (["--dtb", "/no/such/tree.dtb"], "--dtb /no/such/tree.dtb: no such file"),
    "unknown-option": (["--no-such-option"], "--no-such-option"),
    "log-dir-missing": (["-D", "/no/such/dir/log.txt"], "-D /no/such/dir/log.txt: cannot open"),
}


@pytest.mark.parametrize("case", sorted(OPTION_CASES))
def test_bad_option_values(case):
    args, needle = OPTION_CASES[case]
    proc = armnv("run", str(HELLO), *args)
    assert_one_error_line(proc, needle)
    assert proc.stdout == b""


def test_raw_image_outside_ram(tmp_path):
    raw = tmp_path / "image.bin"
    raw.write_bytes(b"\x1f\x20\x03\xd5" * 4)
    assert_one_error_line(armnv("run", str(raw), "--load-addr", "0x1000"), "outside RAM")
    assert_one_error_line(armnv("run", str(raw), "--load-addr", hex(RAM_BASE + (512 << 20) - 8)), "outside RAM")


def test_initrd_that_does_not_fit_in_ram(tmp_path):
    # 1 MiB of RAM: the initrd goes at RAM base + 512K (half of RAM), past the image
    initrd = tmp_path / "initrd"
    initrd.write_bytes(bytes(1 << 20))
    assert_one_error_line(armnv("run", str(HELLO), "-m", "1M", "--initrd", str(initrd)), "do not fit in RAM")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "not a flattened device tree"),
        (b"hello, this is not a device tree at all; not at all\n", "not a flattened device tree"),
        (b"\xd0\x0d\xfe\xed" + (1 << 20).to_bytes(4, "big") + bytes(40), "malformed device tree (totalsize"),
        (b"\xd0\x0d\xfe\xed" + (48).to_bytes(4, "big") + bytes(40), "malformed device tree"),
    ],
    ids=["empty", "text", "truncated", "garbage-header"],
)
def test_garbage_dtb(tmp_path, content, needle):
    dtb = tmp_path / "tree.dtb"
    dtb.write_bytes(content)
    line = assert_one_error_line(armnv("run", str(HELLO), "--dtb", str(dtb), "--append", "x"), needle)
    assert str(dtb) in line


def test_non_elf_kernel_too_big_for_ram(tmp_path):
    raw = tmp_path / "kernel.bin"
    raw.write_bytes(b"\x1f\x20\x03\xd5" * (1 << 18))  # 1 MiB: RAM's size, but placed at RAM + 512K
    assert_one_error_line(armnv("run", str(raw), "-m", "1M"), "outside RAM")
    assert_one_error_line(armnv("run", str(raw), "-m", "512K"), "larger than RAM (512K)")


def test_big_endian_linux_image(tmp_path):
    header = struct.pack("<IIQQQQQQ", 0x14000010, 0, 0, 4096, 1, 0, 0, 0) + b"ARM\x64" + bytes(4)
    image = tmp_path / "Image"
    image.write_bytes(header + bytes(64))
    assert_one_error_line(armnv("run", str(image)), "big-endian arm64 Linux Image")


@pytest.mark.parametrize(
    ("image", "needle"),
    [("/no/such/image.elf", "no such file"), ("/dev/zero", "not a regular file"), ("/", "is a directory")],
)
def test_unusable_image_paths(image, needle):
    assert_one_error_line(armnv("run", image), needle)


# ---- outputs ---------------------------------------------------------------------------------------


def test_log_file_on_a_full_device():
    proc = armnv("run", str(HELLO), "-d", "int", "-D", "/dev/full")
    assert_one_error_line(proc, "-D /dev/full: cannot write: No space left on device")


def test_stats_to_a_log_file_on_a_full_device():
    proc = armnv("run", str(HELLO), "--stats", "-D", "/dev/full")
    assert_one_error_line(proc, "-D /dev/full: cannot write")


def test_guest_output_to_a_full_device():
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            [str(ARMNV), "run", str(HELLO)],
            stdout=full,
            stderr=subprocess.PIPE,
            timeout=120,
            preexec_fn=limit_address_space,
        )
    assert_one_error_line(proc, "stdout: cannot write the guest's output (No space left on device)")


def test_guest_output_to_a_closed_stdout():
    proc = subprocess.run(
        ["sh", "-c", 'exec "$0" run "$1" >&-', str(ARMNV), str(HELLO)], capture_output=True, timeout=120
    )
    assert_one_error_line(proc, "stdout: cannot write the guest's output (stdout is closed)")


@pytest.mark.parametrize("command", [["cpus", "--verbose"], ["features"], ["plugins"], ["--version"]])
def test_information_commands_to_a_full_device_or_closed_stdout(command):
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([str(ARMNV), *command], stdout=full, stderr=subprocess.PIPE, timeout=120)
    assert_one_error_line(proc, "stdout: cannot write (No space left on device)")
    proc = subprocess.run(["sh", "-c", 'exec "$0" "$@" >&-', str(ARMNV), *command], capture_output=True, timeout=120)
    assert_one_error_line(proc, "stdout: cannot write (stdout is closed)")


def test_log_file_that_is_the_image_is_refused_and_the_image_kept(tmp_path):
    image = tmp_path / "guest.elf"
    image.write_bytes(HELLO.read_bytes())
    proc = armnv("run", "-D", str(image), str(image))
    assert_one_error_line(proc, f"-D {image}: is the image itself")
    assert image.read_bytes() == HELLO.read_bytes()
    # the same file under another name too
    link = tmp_path / "link.elf"
    link.symlink_to(image)
    assert_one_error_line(armnv("run", "-D", str(link), str(image)), "is the image itself")
    assert image.read_bytes() == HELLO.read_bytes()


# ---- third-party plugins -------------------------------------------------------------------------


@attrs.define
class Distribution:
    """A throwaway installed distribution: a module and a *.dist-info with `armnv` entry points."""

    name: str
    entry_points: dict[str, str]
    module: str = ""
    source: str = ""

    def install(self, site: Path) -> None:
        info = site / f"{self.name.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {self.name}\nVersion: 1.0\n")
        lines = "".join(f"{k} = {v}\n" for k, v in self.entry_points.items())
        (info / "entry_points.txt").write_text("[armnv]\n" + lines)
        if self.module:
            (site / f"{self.module}.py").write_text(textwrap.dedent(self.source))


PLUGIN_CASES = {
    "entry-point-to-a-missing-module": (
        Distribution("broken-plugin", {"broken": "no_such_module_for_armnv:plugin"}),
        ["run", str(HELLO)],
        "plugin 'broken' (no_such_module_for_armnv:plugin) failed to load",
    ),
    "entry-point-to-a-missing-attribute": (
        Distribution("broken-attr", {"brokenattr": "armnv_test_empty:nothing"}, "armnv_test_empty", "X = 1\n"),
        ["cpus"],
        "plugin 'brokenattr'",
    ),
    "module-that-raises-on-import": (
        Distribution("raising", {"raising": "armnv_test_raising"}, "armnv_test_raising", "raise ImportError('no')\n"),
        ["features"],
        "plugin 'raising' (armnv_test_raising) failed to load: no",
    ),
    "hook-that-raises-while-declaring": (
        Distribution(
            "declaring",
            {"declaring": "armnv_test_declaring"},
            "armnv_test_declaring",
            """
            from framework import hookimpl

            @hookimpl
            def armnv_features():
                raise RuntimeError("cannot declare")
            """,
        ),
        ["features"],
        "plugin 'declaring' (declaring 1.0) failed: RuntimeError: cannot declare",
    ),
    "hook-that-raises-during-machine-build": (
        Distribution(
            "boom-plugin",
            {"boom": "armnv_test_boom"},
            "armnv_test_boom",
            """
            from framework import hookimpl

            @hookimpl
            def armnv_machine_built(machine):
                raise RuntimeError("kaboom")
            """,
        ),
        ["run", str(HELLO)],
        "plugin 'boom' (boom-plugin 1.0) failed while building the machine: RuntimeError: kaboom",
    ),
}


@pytest.mark.parametrize("case", sorted(PLUGIN_CASES))
def test_broken_third_party_plugins(tmp_path, case):
    dist, args, needle = PLUGIN_CASES[case]
    dist.install(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    proc = armnv(*args, env=env)
    assert_one_error_line(proc, needle)
    assert proc.stdout == b""


def test_a_working_third_party_plugin_is_found_the_same_way(tmp_path):
    # the harness above really installs a plugin: a well-behaved one is listed
    Distribution("quiet-plugin", {"quiet": "armnv_test_quiet"}, "armnv_test_quiet", "X = 1\n").install(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = armnv("plugins", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "quiet (quiet-plugin 1.0: armnv_test_quiet)" in proc.stdout.decode()
