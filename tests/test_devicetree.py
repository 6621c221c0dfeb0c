"""The board's device tree, decoded with dtc: what it describes, and only that; dumpdtb and --dtb.

Expected node names, compatibles and interrupt specifiers are those of QEMU's
virt board (``qemu-system-aarch64 -M virt,gic-version=3,virtualization=on,
dumpdtb=...``) and of the bindings: GIC PPI n is ``<1 (n-16) 4>``; the timer
lists the secure physical (INTID 29), non-secure physical (30), virtual (27),
EL2 physical (26) and EL2 virtual (28) timers in that order.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from boot_images import build_elf

from framework.testing import make_machine

ARMNV = Path(sys.executable).parent / "armnv"
ROOT = Path(__file__).resolve().parent.parent
HELLO = ROOT / "examples" / "images" / "hello.elf"


@pytest.fixture(scope="module", autouse=True)
def _dtc():
    if shutil.which("dtc") is None:
        pytest.fail("dtc (device-tree-compiler) is not installed; run `make test`")


def armnv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ARMNV), *args], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def decode(dtb: Path) -> dict[str, dict[str, str]]:
    """dtc's source form of `dtb` as {node path: {property: value text}} (value "" when empty)."""
    proc = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", str(dtb)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    nodes: dict[str, dict[str, str]] = {}
    stack: list[str] = []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.endswith("{"):
            name = line[:-1].strip()
            stack.append("" if name == "/" else name)
            nodes["/".join(stack) or "/"] = {}
        elif line == "};":
            stack.pop()
        elif line.endswith(";") and stack:
            key, _, value = line[:-1].partition(" = ")
            nodes["/".join(stack) or "/"][key] = value
    return nodes


def dump(tmp_path: Path, *args: str) -> dict[str, dict[str, str]]:
    out = tmp_path / "board.dtb"
    proc = armnv("dumpdtb", str(out), *args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == proc.stderr == ""
    return decode(out)


def cells(text: str) -> list[int]:
    return [int(c, 0) for c in re.findall(r"0x[0-9a-f]+|\d+", text)]


def test_dumpdtb_describes_the_board(tmp_path):
    tree = dump(tmp_path, "-m", "256M", "--append", "console=ttyAMA0 earlycon")
    root = tree["/"]
    assert (cells(root["#address-cells"]), cells(root["#size-cells"])) == ([2], [2])
    assert root["compatible"] == '"linux,dummy-virt"'
    assert cells(tree["/memory@40000000"]["reg"]) == [0, 0x4000_0000, 0, 256 << 20]
    assert tree["/memory@40000000"]["device_type"] == '"memory"'

    cpu = tree["/cpus/cpu@0"]
    assert cpu["device_type"] == '"cpu"' and cpu["enable-method"] == '"psci"'
    assert cells(cpu["reg"]) == [0]
    assert [name for name in tree if name.startswith("/cpus/cpu@")] == ["/cpus/cpu@0"]

    psci = tree["/psci"]
    assert psci["method"] == '"smc"'  # the CPU starts at EL2: the firmware answers SMC
    assert "arm,psci-1.0" in psci["compatible"] and "arm,psci-0.2" in psci["compatible"]

    uart = tree["/pl011@9000000"]
    assert uart["compatible"] == '"arm,pl011\\0arm,primecell"'
    assert cells(uart["reg"]) == [0, 0x0900_0000, 0, 0x1000]
    clock = tree["/apb-pclk"]
    assert cells(uart["clocks"]) == cells(clock["phandle"]) * 2
    assert clock["compatible"] == '"fixed-clock"' and cells(clock["clock-frequency"]) == [24_000_000]

    gic = tree["/intc@8000000"]
    assert gic["compatible"] == '"arm,gic-v3"' and "interrupt-controller" in gic
    assert cells(gic["#interrupt-cells"]) == [3]
    # distributor 64 KiB, one redistributor (RD_base + SGI_base, 2 x 64 KiB) for the one CPU
    assert cells(gic["reg"]) == [0, 0x0800_0000, 0, 0x1_0000, 0, 0x080A_0000, 0, 0x2_0000]
    assert cells(gic["interrupts"]) == [1, 9, 4]  # maintenance interrupt, PPI 25
    assert cells(root["interrupt-parent"]) == cells(gic["phandle"])
    assert not [name for name in tree if "its@" in name]  # no ITS exists
    assert cells(uart["interrupts"]) == [0, 1, 4]

    timer = tree["/timer"]
    assert timer["compatible"] == '"arm,armv8-timer\\0arm,armv7-timer"'
    assert cells(timer["interrupts"]) == [1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4, 1, 12, 4]

    chosen = tree["/chosen"]
    assert chosen["stdout-path"] == '"/pl011@9000000"'
    assert chosen["bootargs"] == '"console=ttyAMA0 earlycon"'
    assert "linux,initrd-start" not in chosen


def test_only_what_exists_is_described(tmp_path):
    # QEMU's virt has these too; armnv does not, so the tree does not name them
    tree = dump(tmp_path)
    for absent in ("virtio_mmio", "pcie", "flash", "fw-cfg", "pl031", "pl061", "pmu", "its", "platform-bus"):
        assert not [name for name in tree if absent in name], absent
    assert set(tree) == {
        "/",
        "/apb-pclk",
        "/cpus",
        "/cpus/cpu@0",
        "/memory@40000000",
        "/psci",
        "/intc@8000000",
        "/pl011@9000000",
        "/timer",
        "/chosen",
    }


def test_without_the_gic_no_interrupts_are_described(tmp_path):
    tree = dump(tmp_path, "--cpu", "max,gicv3=off")
    assert not [name for name in tree if name.startswith("/intc")]
    assert "interrupt-parent" not in tree["/"]
    assert "interrupts" not in tree["/pl011@9000000"]
    assert "interrupts" not in tree["/timer"]


def test_without_el2_psci_is_hvc_and_no_el2_interrupts(tmp_path):
    tree = dump(tmp_path, "-M", "virt,virtualization=off")
    assert tree["/psci"]["method"] == '"hvc"'
    assert cells(tree["/timer"]["interrupts"]) == [1, 13, 4, 1, 14, 4, 1, 11, 4]
    assert "interrupts" not in tree["/intc@8000000"]


def test_run_dumpdtb_writes_the_tree_the_guest_gets_and_does_not_run(tmp_path):
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"z" * 3000)
    out = tmp_path / "run.dtb"
    proc = armnv("run", "-M", f"virt,dumpdtb={out}", "--initrd", str(initrd), "--append", "quiet", str(HELLO))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""  # the guest did not run
    chosen = decode(out)["/chosen"]
    start = 0x4000_0000 + (128 << 20)
    assert cells(chosen["linux,initrd-start"]) == [0, start]
    assert cells(chosen["linux,initrd-end"]) == [0, start + 3000]
    assert chosen["bootargs"] == '"quiet"'
    # the same bytes the machine puts in RAM for the guest
    m = make_machine(append="quiet")
    m.load(str(HELLO), initrd=str(initrd))
    lo, hi = m.boot_layout.dtb
    assert m.bus.read_bytes(lo, hi - lo) == out.read_bytes()


def test_user_dtb_replaces_the_board_tree(tmp_path):
    # round trip: dump the board's tree, change the memory node with dtc, give it back with --dtb;
    # the guest reports what the user's tree says, with /chosen updated from --append
    dtb = tmp_path / "board.dtb"
    assert armnv("dumpdtb", str(dtb)).returncode == 0
    source = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", str(dtb)], capture_output=True, text=True).stdout
    source = source.replace("reg = <0x00 0x40000000 0x00 0x20000000>;", "reg = <0x00 0x40000000 0x00 0x1000000>;")
    assert "0x1000000>" in source
    mine = tmp_path / "mine.dtb"
    proc = subprocess.run(["dtc", "-I", "dts", "-O", "dtb", "-o", str(mine)], input=source, text=True)
    assert proc.returncode == 0
    guest = build_elf(tmp_path, 0x4008_0000)
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"ramdisk")
    run = armnv("run", "--dtb", str(mine), "--append", "from the user", "--initrd", str(initrd), str(guest))
    assert run.returncode == 0, run.stderr
    assert "memory 0x40000000 0x1000000\n" in run.stdout
    assert "bootargs from the user\n" in run.stdout
    start = 0x4000_0000 + (128 << 20)  # 512 MiB of RAM on the board, whatever the user's tree says
    assert f"initrd {start:#x} {start + 7:#x}\ninitrd data ramdisk\n" in run.stdout


def test_user_dtb_is_given_as_it_is_without_append_or_initrd(tmp_path):
    dtb = tmp_path / "board.dtb"
    assert armnv("dumpdtb", str(dtb), "--append", "kept").returncode == 0
    m = make_machine()
    m.load(str(HELLO), dtb=str(dtb))
    lo, hi = m.boot_layout.dtb
    assert lo == 0x4000_0000 == m.cpu.x[0]
    assert m.bus.read_bytes(lo, hi - lo) == dtb.read_bytes()


def test_bootargs_keep_bytes_that_are_not_text():
    # arguments that are not UTF-8 reach Python as surrogate escapes; the guest gets the bytes
    m = make_machine(append=os.fsdecode(b"caf\xe9 x=\x80\x01"))
    m.load(str(HELLO))
    lo, hi = m.boot_layout.dtb
    blob = m.bus.read_bytes(lo, hi - lo)
    # FDT_PROP, length 10 (the 9 bytes and their NUL), name offset, the value
    assert re.search(rb"\x00\x00\x00\x03\x00\x00\x00\x0a.{4}caf\xe9 x=\x80\x01\x00", blob, re.DOTALL)
