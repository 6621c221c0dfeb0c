"""Boot Debian's arm64 cloud kernel on armnv to a busybox shell: ``make linux``.

    python tools/linux.py [--cache DIR] [--kernel-deb DEB] [--busybox-deb DEB]
                          [--max-insns N] [--memory SIZE] [--append TEXT] [--stats]

Steps: get the two Debian packages (``linux-image-<version>-cloud-arm64`` and
``busybox-static``, arm64) with ``apt-get download`` into the cache directory,
or take them by path (``KERNEL_DEB``/``BUSYBOX_DEB`` or the options); read
them in Python (a .deb is an ar archive holding ``data.tar.xz``), so dpkg is
needed only to download; decompress ``/boot/vmlinuz-*`` (a gzip-compressed
arm64 Image); build an initramfs (newc cpio) with busybox and an ``/init``
script; boot it on armnv's virt board, whose device tree describes the
machine (``armnv run Image --initrd FILE --append TEXT``).

The init script mounts proc, sysfs and devtmpfs, runs ``uname -a`` and
``cat /proc/cpuinfo``, then starts an interactive busybox shell whose input
is the single line ``poweroff -f``: the shell prints its prompt (the moment
this tool reports the time to the shell), reads the line, and the kernel
powers the machine off through PSCI SYSTEM_OFF, so armnv stops with status 0.

Only the standard library and armnv are used. Exit status: the guest's
(0 after the power-off), 124 when --max-insns stops the boot first, 2 with
one ``linux: error: ...`` line when a package cannot be had or read.
"""

from __future__ import annotations

import argparse
import fcntl
import glob
import gzip
import io
import lzma
import os
import shlex
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "build" / "linux"
KERNEL_META = "linux-image-cloud-arm64:arm64"
BUSYBOX_PKG = "busybox-static:arm64"
PROMPT = b"/ # "
CONSOLE = "console=ttyAMA0 earlycon=pl011,0x9000000"

RAM_BASE = 0x4000_0000
ARM64_MAGIC = 0x644D5241  # "ARM\x64" at offset 56 of an arm64 Image header

INIT_SCRIPT = """\
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
uname -a
cat /proc/cpuinfo
export PS1='/ # '
echo 'poweroff -f' | sh -i
"""
APPLETS = ("sh", "mount", "uname", "cat", "echo", "poweroff", "ls", "dmesg")


class LinuxError(Exception):
    """A package that cannot be fetched or read: one ``linux: error:`` line, status 2."""


# ---- packages ------------------------------------------------------------------------------


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    if os.geteuid() != 0 and cmd[0] in ("dpkg", "apt-get") and shutil.which("sudo"):
        cmd = ["sudo", *cmd]
    try:
        done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=cwd)
    except FileNotFoundError:
        raise LinuxError(f"{cmd[0]} not found: give the packages by path (KERNEL_DEB=... BUSYBOX_DEB=...)") from None
    except subprocess.CalledProcessError as exc:
        last = (exc.stderr or exc.stdout or "").strip().splitlines()
        raise LinuxError(f"{' '.join(cmd)} failed: {last[-1] if last else exc.returncode}") from None
    return done.stdout


def _enable_arm64() -> None:
    """Let apt see arm64 packages; they are downloaded, never installed."""
    if "arm64" not in _run(["dpkg", "--print-foreign-architectures"]).split():
        _run(["dpkg", "--add-architecture", "arm64"])
    _run(["apt-get", "update", "-qq"])


def _kernel_package() -> str:
    """The versioned image package the cloud metapackage depends on (linux-image-6.1.0-N-cloud-arm64)."""
    for line in _run(["apt-cache", "depends", KERNEL_META]).splitlines():
        name = line.strip().removeprefix("Depends:").strip()
        if line.strip().startswith("Depends:") and name.startswith("linux-image-"):
            return name if ":" in name else name + ":arm64"
    raise LinuxError(f"apt-cache depends {KERNEL_META} names no linux-image package")


def _cached(cache: Path, pattern: str) -> Path | None:
    found = sorted(glob.glob(str(cache / pattern)))
    return Path(found[-1]) if found else None


def fetch(cache: Path = CACHE, kernel_deb: str | None = None, busybox_deb: str | None = None) -> tuple[Path, Path]:
    """The kernel and busybox packages: given, cached, or downloaded with apt-get into `cache`."""
    kernel = Path(kernel_deb) if kernel_deb else _cached(cache, "linux-image-*-cloud-arm64_*_arm64.deb")
    busybox = Path(busybox_deb) if busybox_deb else _cached(cache, "busybox-static_*_arm64.deb")
    for path in (kernel, busybox):
        if path is not None and not path.is_file():
            raise LinuxError(f"{path}: no such file")
    if kernel is None or busybox is None:
        cache.mkdir(parents=True, exist_ok=True)
        # apt drops privileges to _apt for downloads, which must be able to write the cache
        os.chmod(cache, 0o777)
        # one download at a time (test workers share the cache): the others find its packages
        with open(cache / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return _download(cache, kernel, busybox)
    return kernel, busybox


def _download(cache: Path, kernel: Path | None, busybox: Path | None) -> tuple[Path, Path]:
    kernel = kernel or _cached(cache, "linux-image-*-cloud-arm64_*_arm64.deb")
    busybox = busybox or _cached(cache, "busybox-static_*_arm64.deb")
    if kernel is None or busybox is None:
        _enable_arm64()
        wanted = ([_kernel_package()] if kernel is None else []) + ([BUSYBOX_PKG] if busybox is None else [])
        print(f"downloading {' '.join(wanted)} into {cache}", file=sys.stderr)
        _run(["apt-get", "download", "-qq", *wanted], cwd=cache)
        kernel = kernel or _cached(cache, "linux-image-*-cloud-arm64_*_arm64.deb")
        busybox = busybox or _cached(cache, "busybox-static_*_arm64.deb")
    if kernel is None or busybox is None:
        raise LinuxError(f"apt-get download left no package in {cache}")
    return kernel, busybox


def deb_files(path: Path, wanted: Callable[[str], bool]) -> dict[str, bytes]:
    """The files of a .deb's data archive whose names (without the leading ./) `wanted` accepts.

    A .deb is an ar archive: "!<arch>\\n", then members of a 60-byte header (name,
    dates, mode, decimal size) and their data padded to an even length.
    """
    blob = path.read_bytes()
    if not blob.startswith(b"!<arch>\n"):
        raise LinuxError(f"{path}: not a Debian package (no ar header)")
    pos = 8
    while pos + 60 <= len(blob):
        name = blob[pos : pos + 16].decode("ascii", "replace").strip().rstrip("/")
        size = int(blob[pos + 48 : pos + 58].decode("ascii").strip() or 0)
        data = blob[pos + 60 : pos + 60 + size]
        pos += 60 + size + (size & 1)
        if name.startswith("data.tar"):
            return _tar_files(path, data, wanted)
    raise LinuxError(f"{path}: no data.tar member")


def _tar_files(path: Path, data: bytes, wanted: Callable[[str], bool]) -> dict[str, bytes]:
    try:
        if data.startswith(b"\xfd7zXZ"):
            data = lzma.decompress(data)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            out = {}
            for member in tar:
                name = member.name.removeprefix("./")
                if member.isfile() and wanted(name):
                    extracted = tar.extractfile(member)
                    if extracted is not None:
                        out[name] = extracted.read()
            return out
    except (tarfile.TarError, lzma.LZMAError, EOFError) as exc:
        raise LinuxError(f"{path}: cannot read its data archive ({exc})") from None


def kernel_image(deb: Path) -> tuple[str, bytes]:
    """The kernel release and its uncompressed arm64 Image, from the image package."""
    files = deb_files(deb, lambda n: n.startswith("boot/vmlinuz-"))
    if not files:
        raise LinuxError(f"{deb}: no /boot/vmlinuz-* in the package")
    name, blob = sorted(files.items())[-1]
    image = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
    if len(image) < 64 or struct.unpack_from("<I", image, 56)[0] != ARM64_MAGIC:
        raise LinuxError(f"{deb}: {name} is not an arm64 Image")
    return name.removeprefix("boot/vmlinuz-"), image


def busybox_binary(deb: Path) -> bytes:
    files = deb_files(deb, lambda n: n == "bin/busybox")
    if "bin/busybox" not in files:
        raise LinuxError(f"{deb}: no /bin/busybox in the package")
    return files["bin/busybox"]


# ---- initramfs -----------------------------------------------------------------------------

S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR = 0o040000, 0o100000, 0o120000, 0o020000


def _newc(ino: int, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> bytes:
    """One newc cpio entry: "070701", thirteen 8-digit hex fields, name and data each padded to 4."""
    encoded = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, 2 if mode & S_IFDIR else 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
    head = b"070701" + b"".join(b"%08X" % f for f in fields) + encoded
    head += b"\0" * (-len(head) % 4)
    return head + data + b"\0" * (-len(data) % 4)


def initramfs(busybox: bytes, init: str = INIT_SCRIPT) -> bytes:
    """A newc cpio archive: busybox, its applet links, /init and the console device node."""
    entries: list[tuple[str, int, bytes, tuple[int, int]]] = [
        (d, S_IFDIR | 0o755, b"", (0, 0)) for d in ("bin", "dev", "proc", "sys", "tmp", "root")
    ]
    # the kernel opens /dev/console for init before anything can mount devtmpfs
    entries.append(("dev/console", S_IFCHR | 0o600, b"", (5, 1)))
    entries.append(("bin/busybox", S_IFREG | 0o755, busybox, (0, 0)))
    entries += [(f"bin/{a}", S_IFLNK | 0o777, b"busybox", (0, 0)) for a in APPLETS]
    entries.append(("init", S_IFREG | 0o755, init.encode(), (0, 0)))
    out = b"".join(_newc(i + 1, n, m, d, r) for i, (n, m, d, r) in enumerate(entries))
    out += _newc(0, "TRAILER!!!", 0)
    return out + b"\0" * (-len(out) % 512)


# ---- booting -------------------------------------------------------------------------------


@dataclass
class Console:
    """The guest's output, passed on to `out`, with the host time and instruction count of the shell prompt."""

    out: io.RawIOBase | io.BufferedIOBase | None
    icount: Callable[[], int]
    start: float = field(default_factory=time.perf_counter)
    text: bytearray = field(default_factory=bytearray)
    prompt_at: tuple[float, int] | None = None
    # (host seconds, instructions) at the end of each line: where the boot spends its time
    line_ends: list[tuple[float, int]] = field(default_factory=list)

    def write(self, data: bytes) -> int:
        self.text += data
        if b"\n" in data:
            now = (time.perf_counter() - self.start, self.icount())
            self.line_ends += [now] * data.count(b"\n")
        if self.prompt_at is None and PROMPT in self.text[-len(data) - len(PROMPT) :]:
            self.prompt_at = (time.perf_counter() - self.start, self.icount())
        if self.out is not None:
            self.out.write(data)
            if b"\n" in data:
                self.out.flush()
        return len(data)

    def flush(self) -> None:
        if self.out is not None:
            self.out.flush()


@dataclass
class Boot:
    status: str  # "exit", "max-insns", ...
    exit_code: int
    instructions: int
    seconds: float
    console: Console


def image_load_address(image: bytes) -> int:
    """Where the Image goes: a 2 MiB-aligned base plus its header's text_offset (arm64 booting.rst)."""
    text_offset, image_size = struct.unpack_from("<QQ", image, 8)
    if image_size == 0:  # kernels before 3.17: text_offset is 0x80000
        text_offset = 0x80000
    return RAM_BASE + 0x20_0000 + text_offset


def boot(
    image: bytes,
    initrd: bytes,
    *,
    append: str = CONSOLE,
    memory: int = 512 << 20,
    max_insns: int | None = None,
    out: io.RawIOBase | io.BufferedIOBase | None = None,
    stats: bool = False,
    debug: frozenset[str] = frozenset(),
    one_insn_per_block: bool = False,
) -> Boot:
    """Boot `image` with `initrd` as ``armnv run Image --initrd FILE --append TEXT`` does: the board's tree."""
    from framework.machine import Machine, MachineConfig

    console = Console(out, icount=lambda: 0)
    config = MachineConfig(
        memory=memory, image_name="Image", append=append, debug=debug, one_insn_per_block=one_insn_per_block
    )
    machine = Machine(config, stdout=console)  # type: ignore[arg-type]
    console.icount = lambda: machine.cpu.icount
    # the board's loader reads files, as `armnv run` gives it
    with tempfile.TemporaryDirectory(prefix="armnv-linux-") as tmp:
        image_path, initrd_path = Path(tmp) / "Image", Path(tmp) / "initramfs.cpio"
        image_path.write_bytes(image)
        initrd_path.write_bytes(initrd)
        machine.load(str(image_path), initrd=str(initrd_path))
    cpu = machine.cpu
    t0 = time.perf_counter()
    console.start = t0
    stop = machine.run(max_insns)
    seconds = time.perf_counter() - t0
    if stats:
        print("\n".join(machine.stats.lines(cpu.icount, seconds)), file=sys.stderr)
    return Boot(stop.kind, stop.exit_code, cpu.icount, seconds, console)


def cli_command(image: Path, initrd: Path, append: str, memory_mib: int) -> list[str]:
    """The same boot as an ``armnv run`` command line."""
    return ["armnv", "run", str(image), "--initrd", str(initrd), "--append", append, "-m", f"{memory_mib}M"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="linux.py", description="Boot Debian's arm64 kernel on armnv to a busybox shell.")
    p.add_argument("--cache", default=str(CACHE), help="where packages and the built files go (build/linux)")
    p.add_argument("--kernel-deb", default=os.environ.get("KERNEL_DEB"), help="the linux-image package, by path")
    p.add_argument("--busybox-deb", default=os.environ.get("BUSYBOX_DEB"), help="the busybox-static package, by path")
    p.add_argument("--max-insns", type=int, default=None, help="stop after N instructions")
    p.add_argument("--memory", type=int, default=512, help="RAM in MiB (512)")
    p.add_argument("--append", default="", help="more kernel command-line arguments")
    p.add_argument("--stats", action="store_true", help="armnv's counters at the end")
    p.add_argument("-d", dest="debug", default="", help="armnv debug log categories (-d unimp,int)")
    args = p.parse_args(argv)
    cache = Path(args.cache)
    try:
        kernel_deb, busybox_deb = fetch(cache, args.kernel_deb, args.busybox_deb)
        release, image = kernel_image(kernel_deb)
        cpio = initramfs(busybox_binary(busybox_deb))
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "Image").write_bytes(image)
        (cache / "initramfs.cpio").write_bytes(cpio)
    except (LinuxError, OSError) as exc:
        print(f"linux: error: {exc}", file=sys.stderr)
        return 2
    append = f"{CONSOLE} {args.append}".strip()
    print(f"booting Linux {release} ({len(image) >> 20} MiB Image, {len(cpio) >> 10} KiB initramfs)", file=sys.stderr)
    print(
        "  same as: " + shlex.join(cli_command(cache / "Image", cache / "initramfs.cpio", append, args.memory)),
        file=sys.stderr,
    )
    result = boot(
        image,
        cpio,
        append=append,
        memory=args.memory << 20,
        max_insns=args.max_insns,
        out=sys.stdout.buffer,
        stats=args.stats,
        debug=frozenset(filter(None, args.debug.split(","))),
    )
    mips = result.instructions / result.seconds / 1e6 if result.seconds else 0.0
    if result.console.prompt_at is not None:
        secs, insns = result.console.prompt_at
        print(f"linux: shell prompt after {secs:.1f} s of host time, {insns:,} instructions", file=sys.stderr)
    else:
        print("linux: no shell prompt", file=sys.stderr)
    print(
        f"linux: {result.status} after {result.seconds:.1f} s, {result.instructions:,} instructions ({mips:.2f} MIPS)",
        file=sys.stderr,
    )
    if result.status in ("exit", "poweroff"):
        return result.exit_code & 0xFF
    return 124 if result.status == "max-insns" else 1


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
