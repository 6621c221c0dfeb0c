"""Debian's arm64 cloud kernel boots on armnv to its first log lines (the full boot is `make linux`).

The packages come from the cache `make linux` fills (build/linux), or are
downloaded into it with apt-get by the same code (tools/linux.py): the test
needs them and fails, never skips, when they cannot be had. The boot is
bounded by an instruction count, so the test takes well under a minute.
"""

from __future__ import annotations

import importlib.util
import os
import re
import struct
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# the kernel prints its command line after about 17.3 million instructions; the bound leaves room
BOOT_INSNS = 20_000_000


def _linux_tool():
    spec = importlib.util.spec_from_file_location("armnv_linux_tool", ROOT / "tools" / "linux.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


linux = _linux_tool()


@pytest.fixture(scope="module")
def kernel_and_initrd() -> tuple[bytes, bytes]:
    kernel_deb, busybox_deb = linux.fetch(
        linux.CACHE, os.environ.get("KERNEL_DEB") or None, os.environ.get("BUSYBOX_DEB") or None
    )
    _, image = linux.kernel_image(kernel_deb)
    return image, linux.initramfs(linux.busybox_binary(busybox_deb))


def test_linux_kernel_prints_its_first_log_lines(kernel_and_initrd):
    image, initrd = kernel_and_initrd
    append = linux.CONSOLE + " armnv.test=1"
    result = linux.boot(
        image,
        initrd,
        append=append,
        max_insns=BOOT_INSNS,
        one_insn_per_block=os.environ.get("ARMNV_ENGINE") == "single",
    )
    log = result.console.text.decode(errors="replace")
    assert result.status == "max-insns", log
    # the boot CPU's MPIDR_EL1 affinity is 0 on the virt board, its MIDR_EL1 the model's
    assert "Booting Linux on physical CPU 0x0000000000" in log, log
    # the device tree: model, PSCI through SMC (the CPU starts at EL2 with no EL3), memory, command line
    assert "Machine model: linux,dummy-virt" in log, log
    assert "psci: PSCIv1.1 detected in firmware." in log, log
    assert "node   0: [mem 0x0000000040000000-0x000000005fffffff]" in log, log
    assert f"Kernel command line: {append}" in log, log
    # started at EL2 with FEAT_VHE, the kernel runs at EL2 with HCR_EL2.E2H set
    assert "CPU features: detected: Virtualization Host Extensions" in log, log
    assert "CPU features: detected: GIC system register CPU interface" in log, log
    assert "alternatives: applying boot alternatives" in log, log
    assert not re.search(r"Unable to handle|Internal error|Kernel panic|BUG:", log), log


def test_linux_image_loads_at_its_header_text_offset(kernel_and_initrd):
    image, _ = kernel_and_initrd
    # arm64 booting.rst: the Image header holds text_offset at byte 8 and the magic "ARM\x64" at 56
    assert image[56:60] == b"ARM\x64"
    text_offset = struct.unpack_from("<Q", image, 8)[0]
    assert linux.image_load_address(image) == 0x4020_0000 + text_offset


def test_linux_initramfs_is_newc_with_init_console_and_busybox(kernel_and_initrd):
    _, initrd = kernel_and_initrd
    entries = {}
    pos = 0
    while True:
        assert initrd[pos : pos + 6] == b"070701"
        fields = [int(initrd[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, rdev, namesize = fields[1], fields[6], (fields[9], fields[10]), fields[11]
        name = initrd[pos + 110 : pos + 110 + namesize - 1].decode()
        data_at = (pos + 110 + namesize + 3) & ~3
        if name == "TRAILER!!!":
            break
        entries[name] = (mode, initrd[data_at : data_at + size], rdev)
        pos = (data_at + size + 3) & ~3
    assert entries["dev/console"][0] == 0o020600 and entries["dev/console"][2] == (5, 1)
    assert entries["init"][0] == 0o100755 and entries["init"][1].startswith(b"#!/bin/sh\n")
    busybox = entries["bin/busybox"][1]
    # an AArch64 ELF executable: ELFCLASS64, little-endian, e_machine 183 (EM_AARCH64)
    assert busybox[:5] == b"\x7fELF\x02" and busybox[5] == 1 and struct.unpack_from("<H", busybox, 18)[0] == 183
    assert entries["bin/sh"] == (0o120777, b"busybox", (0, 0))
