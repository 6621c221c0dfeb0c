"""Booting as QEMU's virt boots ``-kernel``: image placement, initrd, device tree in x0, PSCI conduit.

The guest (tests/guests/fdtinfo) is a freestanding C program that knows
nothing of the board: it parses the device tree it finds in x0 and prints
what it learnt on the UART that /chosen/stdout-path names, then powers off
with PSCI SYSTEM_OFF over the conduit the tree names. The addresses expected
below are those of QEMU's Linux boot protocol (docs/booting.md): RAM at
0x4000_0000; initrd at RAM + min(RAM / 2, 128 MiB); device tree at the next
2 MiB boundary after the initrd, or at the RAM base for an ELF.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from boot_images import build_elf, build_linux_image, build_raw

from framework.testing import make_machine, toolchain_available

RAM = 0x4000_0000
M128 = 128 << 20
BOOTARGS = "console=ttyAMA0 root=/dev/ram rdinit=/sbin/init"


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    if not toolchain_available():
        pytest.fail("the GNU cross toolchain is not installed; run `make test`")
    out = tmp_path_factory.mktemp("boot")
    return {
        "elf": build_elf(out, 0x4008_0000),
        "raw": build_raw(out, 0x4008_0000),
        "raw-at": build_raw(out, 0x4010_0000),
        # text_offset 0 (every kernel since 5.8): RAM + 2 MiB, past QEMU's boot stub
        "image": build_linux_image(out, RAM + 0x20_0000, 0),
        # the old text_offset of 0x80000 is honoured as it is
        "image-80000": build_linux_image(out, RAM + 0x8_0000, 0x8_0000),
    }


def boot(path: Path, *, load_addr: int | None = None, initrd: Path | None = None, dtb: Path | None = None, **config):
    m = make_machine(**config)
    m.load(str(path), load_addr, initrd=str(initrd) if initrd else None, dtb=str(dtb) if dtb else None)
    stop = m.run(2_000_000)
    return m, stop, bytes(m.stdout.data).decode()


def report(dtb: int, memory: int, *, el: int = 2, psci: str = "smc", bootargs: str = BOOTARGS) -> str:
    return (
        f"dtb {dtb:#x}\nregs 0x0 0x0 0x0\nel {el:#x}\nmemory {RAM:#x} {memory:#x}\nuart 0x9000000\n"
        f"psci {psci}\nbootargs {bootargs}\n"
    )


@pytest.mark.parametrize(
    ("form", "load_addr", "entry", "dtb"),
    [
        ("elf", None, 0x4008_0000, RAM),  # bare-metal: at the RAM base, below the image
        ("raw", None, 0x4008_0000, RAM + M128 // 2),  # 128 MiB of RAM: initrd slot at 64 MiB
        ("raw-at", 0x4010_0000, 0x4010_0000, RAM + M128 // 2),
        ("image", None, 0x4020_0000, RAM + M128 // 2),
        ("image-80000", None, 0x4008_0000, RAM + M128 // 2),
    ],
)
def test_guest_finds_the_board_in_the_device_tree(images, form, load_addr, entry, dtb):
    m, stop, out = boot(images[form], load_addr=load_addr, memory=M128, append=BOOTARGS)
    assert stop.kind == "poweroff", out
    assert out == report(dtb, M128)
    assert m.boot_layout.entry == entry
    assert m.boot_layout.dtb[0] == dtb


def test_initrd_is_loaded_and_described_in_chosen(images, tmp_path):
    data = b"initramfs contents"
    initrd = tmp_path / "initrd"
    initrd.write_bytes(data)
    _, stop, out = boot(images["image"], initrd=initrd, append=BOOTARGS)
    assert stop.kind == "poweroff", out
    # 512 MiB of RAM: the initrd at RAM + 128 MiB, the tree at the next 2 MiB boundary after it
    start = RAM + (128 << 20)
    tail = f"initrd {start:#x} {start + len(data):#x}\ninitrd data {data.decode()}\n"
    assert out == report(start + (2 << 20), 512 << 20) + tail


def test_initrd_on_a_small_board_goes_at_half_of_ram(images, tmp_path):
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"x" * 5000)
    m, stop, out = boot(images["image"], initrd=initrd, memory=8 << 20)
    assert stop.kind == "poweroff", out
    assert m.boot_layout.initrd == (RAM + (4 << 20), RAM + (4 << 20) + 5000)
    assert m.boot_layout.dtb[0] == RAM + (6 << 20)


def test_initrd_never_overlaps_the_image(images, tmp_path):
    # 8 MiB of RAM: half of it is RAM + 4 MiB, but an Image at RAM + 2 MiB whose header claims
    # 3 MiB (image_size, offset 16: its .bss may reach past the file) ends at RAM + 5 MiB
    data = bytearray(images["image"].read_bytes())
    data[16:24] = (3 << 20).to_bytes(8, "little")
    image = tmp_path / "Image"
    image.write_bytes(bytes(data))
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"y" * 100)
    m, stop, out = boot(image, initrd=initrd, memory=8 << 20)
    assert stop.kind == "poweroff", out
    start = RAM + (5 << 20)
    assert m.boot_layout.initrd == (start, start + 100)
    assert m.boot_layout.dtb[0] == RAM + (6 << 20)
    assert f"initrd {start:#x} {start + 100:#x}\ninitrd data {'y' * 100}\n" in out


def test_psci_over_hvc_when_the_guest_starts_at_el1(images):
    # -M virt,virtualization=off: no EL2, start at EL1, the tree names HVC and HVC powers off
    m, stop, out = boot(images["image"], memory=M128, append=BOOTARGS, virtualization=False)
    assert stop.kind == "poweroff", out
    assert out == report(RAM + M128 // 2, M128, el=1, psci="hvc")
    assert "el2" not in m.features


def test_el2_off_on_the_cpu_is_the_same_board(images):
    _, stop, out = boot(images["elf"], cpu="max,el2=off", memory=M128, append=BOOTARGS)
    assert stop.kind == "poweroff", out
    assert out == report(RAM, M128, el=1, psci="hvc")


def test_gic_off_still_boots(images):
    _, stop, out = boot(images["raw"], cpu="max,gicv3=off", memory=M128, append=BOOTARGS)
    assert stop.kind == "poweroff", out
    assert out == report(RAM + M128 // 2, M128)


def test_boot_registers_and_entry_state(images):
    m = make_machine(memory=M128)
    m.load(str(images["image"]))
    cpu = m.cpu
    assert (cpu.pc, cpu.x[0], cpu.x[1], cpu.x[2], cpu.x[3]) == (0x4020_0000, RAM + M128 // 2, 0, 0, 0)
    assert (cpu.el, cpu.spsel) == (2, 1)
    assert m.bus.read_bytes(cpu.x[0], 4) == b"\xd0\x0d\xfe\xed"
