"""Booting an image the way QEMU's virt board boots ``-kernel``: image, initrd, device tree, registers.

With RAM at B (0x4000_0000) of size S:

* the image: an ELF by its program headers; an arm64 Linux Image at
  B + text_offset (+ 2 MiB when text_offset < 4 KiB); any other file at
  B + 0x80000, or at ``--load-addr`` (`framework.loader`);
* the initrd (``--initrd``) at B + min(S / 2, 128 MiB), or just past the
  image if that reaches further, rounded up to 4 KiB;
* the device tree: for an ELF at B when it fits below the image's lowest
  segment (the bare-metal convention of QEMU's virt); otherwise, and for
  every other image, at the first 2 MiB boundary at or after the initrd's
  end (where the initrd would start when there is none);
* the CPU starts at the image's entry point with x0 = the device tree's
  address and x1 = x2 = x3 = 0, at EL2h (EL1h without EL2), MMU off,
  DAIF masked. QEMU runs a few instructions of a boot stub at B to get
  there; armnv sets the registers itself, so B is free RAM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from framework.errors import ArmnvError

if TYPE_CHECKING:
    from framework.loader import Image
    from framework.machine import Machine

PAGE = 4 << 10
DTB_ALIGN = 2 << 20
INITRD_MAX_OFFSET = 128 << 20
MAX_INITRD = 1 << 30


@attrs.define(frozen=True, slots=True)
class BootLayout:
    """Where everything went: the image, the initrd range and the device tree."""

    kind: str  # "elf", "raw" or "linux", as `framework.loader.Image.kind`
    entry: int
    image: tuple[int, int]  # [start, end)
    initrd: tuple[int, int] | None
    dtb: tuple[int, int]


def initrd_start(ram_base: int, ram_size: int, image_high: int) -> int:
    """QEMU's initrd address: far enough into RAM that a kernel decompressing itself does not reach it."""
    start = max(ram_base + min(ram_size // 2, INITRD_MAX_OFFSET), image_high)
    return -(-start // PAGE) * PAGE


def dtb_address(image: Image, ram_base: int, dtb_size: int, after: int) -> int:
    """The device tree's address: RAM base for an ELF that leaves room there, else `after` 2 MiB-aligned."""
    if image.kind == "elf":
        low, high = image.start, image.high
        if low >= ram_base + dtb_size or high <= ram_base:
            return ram_base
    return -(-after // DTB_ALIGN) * DTB_ALIGN


def read_file(path: str, what: str, limit: int) -> bytes:
    """A whole input file (``--initrd``, ``--dtb``), or a one-line error."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise ArmnvError(f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise ArmnvError(f"{what} {path}: is a directory") from None
    except OSError as exc:
        raise ArmnvError(f"{what} {path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise ArmnvError(f"{what} {path}: larger than {limit >> 20} MiB")
    return data


def plan(
    machine: Machine, image: Image, *, initrd: bytes | None = None, dtb: bytes | None = None, dtb_path: str = ""
) -> tuple[BootLayout, bytes]:
    """Place `image`, `initrd` and the device tree (the user's `dtb`, or the board's) in RAM."""
    from framework import devicetree

    ram = machine.bus.ram
    end = ram.base + ram.size
    initrd_range = None
    after = initrd_start(ram.base, ram.size, image.high)
    if initrd is not None:
        start = after
        if start + len(initrd) > end:
            raise ArmnvError(
                f"--initrd: {len(initrd)} bytes at {start:#x} do not fit in RAM ({ram.base:#x}-{end - 1:#x});"
                " give more memory with -m"
            )
        initrd_range = (start, start + len(initrd))
        after = start + len(initrd)
    bootargs = machine.config.append
    if dtb is None:
        blob = devicetree.build_dtb(machine, initrd=initrd_range)
    else:
        blob = devicetree.user_dtb(dtb_path, dtb, bootargs=bootargs, initrd=initrd_range)
    where = dtb_address(image, ram.base, len(blob), after)
    if where + len(blob) > end:
        raise ArmnvError(f"the device tree ({len(blob)} bytes) does not fit in RAM at {where:#x}; give more memory")
    layout = BootLayout(image.kind, image.entry, (image.start, image.high), initrd_range, (where, where + len(blob)))
    return layout, blob


def boot(machine: Machine, image: Image, *, initrd: bytes | None = None, dtb: bytes | None = None,
         dtb_path: str = "") -> BootLayout:  # fmt: skip
    """Write the image, initrd and device tree into RAM and set the boot registers."""
    layout, blob = plan(machine, image, initrd=initrd, dtb=dtb, dtb_path=dtb_path)
    for seg in image.segments:
        machine.write_phys(seg.addr, seg.data)
    if initrd is not None and layout.initrd is not None:
        machine.write_phys(layout.initrd[0], initrd)
    machine.write_phys(layout.dtb[0], blob)
    cpu = machine.cpu
    cpu.x[0] = layout.dtb[0]
    cpu.x[1] = cpu.x[2] = cpu.x[3] = 0
    cpu.pc = image.entry
    return layout


def write_file(path: str, data: bytes) -> None:
    """Write an output file (``dumpdtb``), or a one-line error."""
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise ArmnvError(f"{path}: cannot write: {exc.strerror or exc}") from None


def dump_board_dtb(path: str, *, cpu: str, memory: int, append: str, virtualization: bool) -> None:
    """``armnv dumpdtb``: the tree of a board built from these options, written to `path`."""
    from framework.devicetree import build_dtb
    from framework.machine import Machine, MachineConfig

    config = MachineConfig(cpu=cpu, memory=memory, append=append, virtualization=virtualization)
    machine = Machine(config, stdout=_NoOutput())
    try:
        write_file(path, build_dtb(machine))
    finally:
        machine.close()


class _NoOutput:
    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass
