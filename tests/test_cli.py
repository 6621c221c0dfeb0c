"""The ``armnv`` console script, run as a user runs it: a subprocess of the installed executable."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import framework
from framework import plugins
from framework.testing import TOOLCHAIN_PREFIX, assemble, make_machine, stderr_lines
from framework.testing import armnv_cli as armnv

ROOT = Path(__file__).resolve().parent.parent
ARMNV = Path(sys.executable).parent / "armnv"
HELLO = ROOT / "examples" / "images" / "hello.elf"
HELLO_OUTPUT = b"Hello from armnv! (semihosting SYS_WRITE0)\nHello from the PL011 UART!\n"


def exit_with(status: int) -> str:
    """A guest body that exits through semihosting SYS_EXIT with `status`."""
    return f"""
    adr x1, exit_block
    mov x0, #0x18
    hlt #0xf000
    b .
    .balign 8
exit_block: .quad 0x20026, {status}
"""


# A guest that takes an SVC at EL2, returns from it with ERET, makes a PSCI call and exits.
# The vector table is at `vectors` (VBAR_EL2); an SVC from EL2h goes to its offset 0x200.
EXCEPTIONS = """
    adr x9, vectors
    msr vbar_el2, x9
svc_insn:
    svc #0x12
    movz x0, #0x8400, lsl #16
    smc #0
    b _armnv_exit
    .balign 2048
vectors:
    .skip 0x200
    eret
"""


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    if not ARMNV.exists():
        pytest.fail(f"{ARMNV} is missing: install armnv into the environment (pip install -e .)")
    raw_dir = tmp_path_factory.mktemp("raw")
    raw = raw_dir / "image.bin"
    pic = assemble(
        """
    adr x1, msg
    mov x0, #4
    hlt #0xf000
    b _armnv_exit
msg: .asciz "raw\\n"
    .balign 4
"""
    )
    subprocess.run([TOOLCHAIN_PREFIX + "objcopy", "-O", "binary", str(pic), str(raw)], check=True)
    not_aarch64 = raw_dir / "x86.elf"
    data = bytearray(HELLO.read_bytes())
    data[18:20] = (62).to_bytes(2, "little")  # e_machine = EM_X86_64
    not_aarch64.write_bytes(bytes(data))
    # not an ELF, so a raw kernel (the Linux boot protocol), but with nothing in it
    text = raw_dir / "notes.txt"
    text.write_text("")
    return {
        "exit3": assemble(exit_with(3)),
        "loop": assemble("spin:\n    b spin\n"),
        "wfi": assemble("    wfi\n"),
        "cpu_off": assemble("    movz x0, #0x8400, lsl #16\n    movk x0, #2\n    smc #0\n"),
        "mov": assemble("    mov x0, #5\n"),
        "exceptions": assemble(EXCEPTIONS),
        "cmdline": assemble(
            """
    adr x1, block
    mov x0, #0x15
    hlt #0xf000
    adr x1, buffer
    mov x0, #4
    hlt #0xf000
    b _armnv_exit
    .balign 8
block: .quad buffer, 256
buffer: .skip 256
"""
        ),
        "chatty": assemble(
            """
    mov x20, #2000
again:
    adr x1, line
    mov x0, #4
    hlt #0xf000
    sub x20, x20, #1
    cbnz x20, again
    b _armnv_exit
line: .asciz "a line of guest output that nobody reads\\n"
    .balign 4
"""
        ),
        "raw": raw,
        "not_aarch64": not_aarch64,
        "text": text,
        "dir": raw_dir,
    }


# ---- running guests -------------------------------------------------------------------------------


def test_hello_demo_prints_both_lines_and_exits_0():
    proc = armnv("run", HELLO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == HELLO_OUTPUT
    assert proc.stderr == b""


def test_guest_exit_status_is_the_process_exit_status(images):
    proc = armnv("run", images["exit3"])
    assert proc.returncode == 3
    assert proc.stdout == b"" and proc.stderr == b""


def test_max_insns_stops_with_124_and_says_where(images):
    proc = armnv("run", images["loop"], "--max-insns", "1000")
    assert proc.returncode == 124
    lines = stderr_lines(proc)
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith("armnv: stopped: --max-insns reached at ")
    spin = 0x4008_0000  # the loop is the first instruction of _start
    assert f"PC {spin:#x} <spin>" in line or f"PC {spin:#x} <_start>" in line
    assert "EL2h" in line
    assert "after 1000 instructions" in line


def test_wfi_that_can_never_wake_stops_with_125(images):
    proc = armnv("run", images["wfi"])
    assert proc.returncode == 125
    lines = stderr_lines(proc)
    assert len(lines) == 1 and "WFI" in lines[0] and "PC 0x40080004" in lines[0]
    assert lines[0].startswith("armnv: stopped: ")


def test_psci_cpu_off_of_the_only_cpu_stops_with_125(images):
    proc = armnv("run", images["cpu_off"])
    assert proc.returncode == 125
    assert len(stderr_lines(proc)) == 1 and "CPU_OFF" in proc.stderr.decode()
    assert proc.stderr.startswith(b"armnv: stopped: ")


def test_append_is_the_semihosting_command_line(images):
    proc = armnv("run", images["cmdline"], "--append", "root=/dev/vda quiet")
    assert proc.returncode == 0
    assert proc.stdout == f"{images['cmdline']} root=/dev/vda quiet".encode()


def test_raw_image_at_load_addr(images):
    proc = armnv("run", images["raw"], "--load-addr", "0x40100000")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"raw\n"


def ram_probe(size: int) -> str:
    """A guest that finds the end of RAM where a `size`-byte RAM must end: the last doubleword
    holds what is stored there, the next access is a synchronous external abort (EC 0x25, FAR
    the address) taken to EL2. Exit 42 if both hold, 11 if the access past the end worked, 12 if
    the last doubleword did not hold its value, 13 if the abort was not the expected one."""
    end = 0x4000_0000 + size
    return f"""
    adr x9, vectors
    msr vbar_el2, x9
    ldr x10, ={end - 8:#x}
    ldr x11, =0x1122334455667788
    str x11, [x10]
    ldr x12, [x10]
    mov x0, #12
    cmp x11, x12
    b.ne done
    ldr x13, [x10, #8]
    mov x0, #11
done:
    adr x1, status
    str x0, [x1, #8]
    mov x0, #0x18
    hlt #0xf000
    .ltorg
    .balign 8
status: .quad 0x20026, 0
    .balign 2048
vectors:
    .skip 0x200
    mrs x14, esr_el2
    lsr x14, x14, #26
    mrs x15, far_el2
    ldr x16, ={end:#x}
    mov x0, #13
    cmp x14, #0x25
    b.ne done
    cmp x15, x16
    b.ne done
    mov x0, #42
    b done
"""


@pytest.mark.parametrize(
    ("option", "size"), [("64M", 64 << 20), ("4G", 4 << 30), ("1048576K", 1 << 30), ("268435456", 256 << 20)]
)
def test_memory_size_is_what_the_guest_gets(option, size):
    proc = armnv("run", assemble(ram_probe(size)), "--memory", option)
    assert (proc.returncode, proc.stderr) == (42, b"")


def test_memory_size_probe_sees_a_different_size():
    # the probe can fail: 64M of RAM is not what a 128M guest expects
    proc = armnv("run", assemble(ram_probe(128 << 20)), "--memory", "64M")
    assert proc.returncode == 13  # the store to the expected last doubleword aborts
    assert proc.stderr == b""


def test_stats_go_to_stderr_not_stdout():
    proc = armnv("run", HELLO, "--stats")
    assert proc.returncode == 0
    assert proc.stdout == HELLO_OUTPUT
    err = proc.stderr.decode()
    assert "instructions executed:" in err
    assert "blocks translated:" in err


def test_profile_goes_to_stderr():
    proc = armnv("run", HELLO, "--profile")
    assert proc.returncode == 0
    assert proc.stdout == HELLO_OUTPUT
    assert "cumulative" in proc.stderr.decode()


def test_guest_output_to_a_closed_pipe_is_not_an_error(images):
    with subprocess.Popen(
        [str(ARMNV), "run", str(images["chatty"])], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as p:
        assert p.stdout.read(10) == b"a line of "
        p.stdout.close()
        err = p.stderr.read()
        status = p.wait(timeout=120)
    assert status == 0
    assert err == b""


def test_guest_exit_statuses_that_armnv_also_uses_print_nothing(images):
    # armnv's own 2, 3, 123, 124, 125 and 130 always come with an "armnv: " line; a guest's never
    for status in (2, 3, 123, 124, 125, 130):
        proc = armnv("run", assemble(exit_with(status)))
        assert (proc.returncode, proc.stderr) == (status, b"")
    proc = armnv("run", images["loop"], "--max-insns", "10")
    assert proc.returncode == 124
    assert stderr_lines(proc)[-1].startswith("armnv: stopped: ")


def test_interrupt_in_a_tight_loop_reports_the_real_instruction_count(images):
    # the guest says hello, then spins in a one-instruction self-loop: the count must include
    # the iterations run before Ctrl-C, which the loop block keeps in a local until it returns
    guest = assemble(
        """
    adr x1, msg
    mov x0, #4
    hlt #0xf000
spin:
    b spin
msg: .asciz "spinning\\n"
    .balign 4
"""
    )
    with subprocess.Popen([str(ARMNV), "run", str(guest)], stdout=subprocess.PIPE, stderr=subprocess.PIPE) as p:
        assert p.stdout.readline() == b"spinning\n"
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        err = p.stderr.read().decode()
        status = p.wait(timeout=60)
    assert status == 130, err
    lines = err.splitlines()
    assert len(lines) == 1, lines
    m = re.fullmatch(r"armnv: stopped: interrupted at PC 0x4008000c <spin>, EL2h, after (\d+) instructions", lines[0])
    assert m is not None, lines
    # half a second of spinning: far more than the 3 instructions before the loop
    assert int(m.group(1)) > 10_000


def test_a_pc_past_the_last_symbol_is_a_bare_address():
    # the vectors are in RAM past the image, where nothing was loaded: zeros, UDF, and
    # every UDF taken to VBAR_EL2 + 0x200 again
    guest = assemble(
        """
    movz x9, #0x4020, lsl #16
    msr vbar_el2, x9
    br x9
"""
    )
    proc = armnv("run", guest, "--max-insns", "100")
    assert proc.returncode == 124
    assert stderr_lines(proc) == ["armnv: stopped: --max-insns reached at PC 0x40200200, EL2h, after 100 instructions"]


def test_image_from_a_fifo(tmp_path):
    fifo = tmp_path / "hello.fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as f:
            f.write(HELLO.read_bytes())

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    proc = armnv("run", fifo, timeout=60)
    writer.join(timeout=10)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == HELLO_OUTPUT


# ---- traces ---------------------------------------------------------------------------------------


def test_d_exec_traces_every_instruction(images):
    proc = armnv("run", images["mov"], "-d", "exec")
    assert proc.returncode == 0
    assert proc.stdout == b""
    lines = stderr_lines(proc)
    # movz x0, #5 = 0xd28000a0, in QEMU's disassembly-line layout
    assert lines[0] == "Trace EL2: 0x40080000:  d28000a0  mov      x0, #5"
    assert len(lines) == 4  # then the exit epilogue: mov, adr, hlt
    assert lines[3] == "Trace EL2: 0x4008000c:  d45e0000  hlt      #0xf000"


def test_d_in_asm_shows_translated_blocks(images):
    proc = armnv("run", images["mov"], "-d", "in_asm")
    assert proc.returncode == 0
    lines = stderr_lines(proc)
    assert lines[:3] == ["----------------", "IN: _start", "0x40080000:  d28000a0  mov      x0, #5"]


def test_d_int_logs_exceptions_like_qemu(images):
    proc = armnv("run", images["exceptions"], "-d", "int")
    assert proc.returncode == 0
    lines = stderr_lines(proc)
    svc_next = 0x4008_000C  # adr, msr, svc: the SVC's preferred return is the next instruction
    start = lines.index("Taking exception 2 [SVC] on CPU 0")
    assert lines[start + 1] == "...from EL2 to EL2"
    assert lines[start + 2] == "...with ESR 0x15/0x56000012"  # EC 0x15, IL, imm16 0x12
    assert lines[start + 3].startswith("...with SPSR 0x")
    assert lines[start + 4] == f"...with ELR {svc_next:#x}"
    assert lines[start + 5].startswith("...to EL2 PC 0x40080a00 ")  # VBAR_EL2 + 0x200 (current EL, SPx)
    assert f"Exception return from AArch64 EL2 to AArch64 EL2 PC {svc_next:#x}" in lines
    psci = lines.index("Taking exception 13 [Secure Monitor Call] on CPU 0")
    assert lines[psci + 2] == "...handled as PSCI call"
    assert "...handling as semihosting call 0x18" in lines


def test_one_insn_per_block(images):
    proc = armnv("run", images["exceptions"], "-d", "in_asm", "--one-insn-per-block")
    assert proc.returncode == 0
    blocks = proc.stderr.decode().split("----------------\n")[1:]
    assert len(blocks) > 5
    for block in blocks:
        # "IN: ..." and exactly one instruction line
        assert len([line for line in block.splitlines() if line.startswith("0x")]) == 1, block


def test_d_cpu_dumps_state_at_exceptions(images):
    proc = armnv("run", images["exceptions"], "-d", "cpu")
    assert proc.returncode == 0
    err = proc.stderr.decode()
    assert "PC=0000000040080a00" in err  # at the SVC vector
    assert "X00=" in err and "SP=" in err


def test_logs_go_to_the_d_file(images, tmp_path):
    log = tmp_path / "trace.log"
    proc = armnv("run", images["exceptions"], "-d", "int,in_asm", "-D", log, "--stats")
    assert proc.returncode == 0
    assert proc.stderr == b"" and proc.stdout == b""
    text = log.read_text()
    assert "Taking exception 2 [SVC] on CPU 0" in text
    assert "IN: _start" in text
    assert "instructions executed:" in text


def test_json_log_format(images):
    proc = armnv("run", images["exceptions"], "-d", "int,exec", "--log-format", "json", "--stats")
    assert proc.returncode == 0
    events = [json.loads(line) for line in stderr_lines(proc)]
    entry = next(e for e in events if e["event"] == "exception.entry")
    assert entry["esr"] == 0x56000012 and entry["from_el"] == 2 and entry["to_el"] == 2
    assert any(e["event"] == "exception.return" for e in events)
    assert any(e["event"] == "exec" and e["pc"] == 0x4008_0000 for e in events)
    stats = events[-1]
    assert stats["event"] == "stats" and stats["instructions"] > 0


def test_d_plugins_logs_registrations_in_order(images):
    proc = armnv("run", images["mov"], "-d", "plugins")
    assert proc.returncode == 0, proc.stderr
    registered = [line.split()[2].rstrip(":") for line in stderr_lines(proc) if line.startswith("plugins: registered")]
    # the registration order of a max machine: builtins first, each by entry-point name
    assert registered == [name for name, _ in make_machine().pm.list_name_plugin()]
    assert registered == sorted(registered)  # all builtins here: by entry-point name
    assert {"cpu_models", "mmu"} <= set(registered)


def test_d_help_lists_categories():
    proc = armnv("run", "-d", "help")
    assert proc.returncode == 0
    out = proc.stdout.decode()
    for name in ("int", "exec", "in_asm", "cpu", "mmu"):
        assert any(line.split()[0] == name for line in out.splitlines()[1:])


# ---- bad input: one line on stderr, status 2 -------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "/no/such/image.elf"], "no such file"),
        (["run", "{dir}"], "is a directory"),
        (["run", "{text}"], "empty image"),
        (["run", "{not_aarch64}"], "not an AArch64 ELF"),
        (["run", HELLO, "--cpu", "cortex-z99"], "unknown CPU model 'cortex-z99'"),
        (["run", HELLO, "--cpu", "max,warp=on"], "unknown feature 'warp'"),
        (["run", HELLO, "--cpu", "max,vhe=maybe"], "must be on or off"),
        (["run", HELLO, "--memory", "lots"], "--memory"),
        (["run", HELLO, "--memory", "100"], "--memory"),
        (["run", HELLO, "--load-addr", "here"], "--load-addr"),
        (["run", "{raw}", "--load-addr", "0x1000"], "outside RAM"),
        (["run", HELLO, "--load-addr", "0x40100000"], "--load-addr is for raw images"),
        (["run", HELLO, "--machine", "sbsa-ref"], "unknown machine 'sbsa-ref'"),
        (["run", HELLO, "-d", "int,bogus"], "unknown -d category 'bogus'"),
        (["run", HELLO, "--log-format", "xml"], "--log-format"),
        (["run", HELLO, "--max-insns", "many"], "--max-insns"),
        (["run", HELLO, "-D", "/no/such/dir/log.txt"], "-D"),
        (["run", HELLO, "--no-such-option"], "--no-such-option"),
        (["run"], "IMAGE"),
        (["frobnicate"], "frobnicate"),
        ([], "command"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_input_is_one_line_and_status_2(images, args, needle):
    resolved = [str(a).format(**{k: str(v) for k, v in images.items()}) for a in args]
    proc = armnv(*resolved)
    assert proc.returncode == 2, proc.stderr
    lines = stderr_lines(proc)
    assert len(lines) == 1, lines
    assert lines[0].startswith("armnv: error: ")
    assert needle in lines[0]
    assert proc.stdout == b""


def test_switching_off_an_unimplemented_feature_is_a_warning(images):
    # the guest runs and its exit status is the process's; one warning line per unimplemented feature
    proc = armnv("run", images["exit3"], "--cpu", "max,frobnicate=off,vhe=off,-warp")
    assert proc.returncode == 3, proc.stderr
    assert stderr_lines(proc) == [
        f"armnv: warning: --cpu: no installed plugin implements feature {name!r}, so {name}=off changes nothing"
        for name in ("frobnicate", "warp")
    ]
    assert proc.stdout == b""


def test_internal_error_reports_guest_state_and_status_3(tmp_path):
    # make semihosting SYS_WRITE0 itself fail, as a bug in armnv would
    script = (
        "from framework.devices import semihosting\n"
        "def broken(self, cpu, arg):\n"
        "    raise RuntimeError('simulated bug')\n"
        "semihosting.OPERATIONS[semihosting.SYS_WRITE0] = broken\n"
        "from framework.cli import main\n"
        f"main(['run', {str(HELLO)!r}])\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == 3
    err = proc.stderr.decode()
    assert "armnv: internal error: RuntimeError: simulated bug" in err
    # the HLT of main's SYS_WRITE0 call: PC, the instruction word, then the CPU dump
    assert "instruction d45e0000 (hlt #0xf000)" in err
    assert "<main+0x" in err
    assert "X00=0000000000000004" in err
    assert proc.stdout == b""


# ---- information commands --------------------------------------------------------------------------


def test_version():
    proc = armnv("--version")
    assert proc.returncode == 0
    assert proc.stdout.decode().strip() == f"armnv {framework.__version__}"


def test_cpus_lists_models_and_default_features():
    catalog = plugins.discover()
    proc = armnv("cpus")
    assert proc.returncode == 0
    out = proc.stdout.decode()
    for name, model in catalog.models.items():
        assert any(line.split()[:1] == [name] for line in out.splitlines()), name
        defaults = ", ".join(sorted(plugins.select_features(catalog, model, {})))
        assert defaults in out
    assert {"max", "neoverse-n2", "neoverse-v1"} <= set(catalog.models)


def test_cpus_verbose_shows_id_registers():
    proc = armnv("cpus", "--verbose")
    assert proc.returncode == 0
    # cpu-models.md: MIDR_EL1 of Neoverse N2 r0p3 and V1 r1p2
    out = proc.stdout.decode().lower()
    assert "0x410fd493" in out and "0x411fd402" in out


def test_features_table():
    catalog = plugins.discover()
    proc = armnv("features")
    assert proc.returncode == 0
    rows = proc.stdout.decode().splitlines()
    assert rows[0].split()[:3] == ["FEATURE", "PLUGIN", "REQUIRES"]
    by_name = {row.split()[0]: row for row in rows[1:]}
    assert set(by_name) == set(catalog.features)
    for name, feat in catalog.features.items():
        cells = by_name[name].split()
        assert cells[1] == feat.plugin
        assert cells[2] == (",".join(feat.requires) or "-")


def test_plugins_lists_origin_features_and_hooks():
    catalog = plugins.discover()
    proc = armnv("plugins")
    assert proc.returncode == 0
    out = proc.stdout.decode()
    for name, info in catalog.plugins.items():
        assert f"{name} ({info.origin}" in out
        for hook in info.hooks():
            assert hook in out
    assert "cpu_models (builtin" in out
    assert "armnv_cpu_models" in out
