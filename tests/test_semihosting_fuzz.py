"""Robustness: no semihosting call, whatever its operation and arguments, escapes as a Python exception.

Hypothesis draws the operation number (the defined ones, reserved and random ones, with
random upper bits in x0), the parameter in x1 and the words of a parameter block, where
pointers land anywhere: the block itself, strings in RAM (console and feature-file names,
paths of real host files, random bytes), the end of RAM, the PL011, the GIC's region,
unbacked addresses and addresses beyond the PA size; lengths are small, as large as RAM,
or 2^40 and more. The call is made at EL2, at EL1, and at EL0 (as a host with E2H and TGE
too) with and without ``--semihosting-config userspace=on``; the guest's stdin holds
random bytes, stdout and stderr are captured.

What must hold: `Machine.run` returns, no host file is created, changed or removed (the run
happens in an empty working directory next to real files whose paths the guest may name),
no semihosting access reaches the UART, and an EL0 call without userspace=on does nothing
but take the UNDEFINED exception.

The examples are derandomized, so CI runs the same ones every time (300 by default);
``ARMNV_FUZZ_EXAMPLES=20000`` runs more.
"""

from __future__ import annotations

import functools
import io
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.devices import semihosting as sh
from framework.devices.semihosting import SemihostingConfig
from framework.testing import STOP_VECTORS, assemble, make_machine

M64 = (1 << 64) - 1
RAM_BASE = 0x4000_0000
RAM_SIZE = 16 << 20
RAM_END = RAM_BASE + RAM_SIZE
UART = 0x0900_0000
EXAMPLES = int(os.environ.get("ARMNV_FUZZ_EXAMPLES", "300"))
HCR_RW, HCR_TGE, HCR_E2H = 1 << 31, 1 << 27, 1 << 34
BLOCK_WORDS = 6
MAX_CALLS = 3

# The header holds HCR_EL2, SPSR_EL2 and the number of calls; each call is (x0, x1, result),
# written by the test, with a parameter block of its own. Every vector stops the machine with
# exit status 1.
PROGRAM = f"""
    adr x9, vectors
    msr vbar_el2, x9
    msr vbar_el1, x9
    adr x9, header
    ldr x10, [x9]
    msr hcr_el2, x10
    ldr x10, [x9, #8]
    msr spsr_el2, x10
    adr x10, caller
    msr elr_el2, x10
    isb
    eret
caller:
    adr x19, header
    ldr x20, [x19, #16]
    add x19, x19, #24
1:  cbz x20, 2f
    ldr x0, [x19]
    ldr x1, [x19, #8]
    hlt #0xf000
    str x0, [x19, #16]
    add x19, x19, #24
    sub x20, x20, #1
    b 1b
2:  b _armnv_exit
    .balign 8
header: .quad 0, 0, 0
calls: .skip {24 * MAX_CALLS}
blocks: .skip {8 * BLOCK_WORDS * MAX_CALLS}
names: .skip 4096
{STOP_VECTORS}
"""

# (name, SPSR_EL2 to drop to, HCR_EL2, userspace=on)
PLACES = [
    ("el2", 0x3C9, HCR_RW, False),
    ("el1", 0x3C5, HCR_RW, False),
    ("el0", 0x3C0, HCR_RW, True),
    ("el0-host", 0x3C0, HCR_RW | HCR_E2H | HCR_TGE, True),
    ("el0-refused", 0x3C0, HCR_RW, False),
    ("el0-host-refused", 0x3C0, HCR_RW | HCR_E2H | HCR_TGE, False),
]

DEFINED_OPS = sorted(sh.OPERATIONS)


@functools.cache
def image() -> str:
    return str(assemble(PROGRAM))


def symbols(m) -> dict[str, int]:
    return {name: addr for addr, name in m.symbols.items()}


# ---- what hypothesis draws -------------------------------------------------------------------------------

# symbolic words, resolved once the machine (and the host directory) exists
NAME, NAME_LEN, NAME2, NAME2_LEN, BLOCK = "NAME", "NAME_LEN", "NAME2", "NAME2_LEN", "BLOCK"


def weighted(*choices: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """One of the strategies, each `weight` times as likely as a weight of 1."""
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(0, len(table) - 1).flatmap(lambda i: table[i])


# the PL011 (its registers at small offsets), RAM's edges, the GIC's region, no memory, the PA limit
SPOTS = [UART, RAM_END, RAM_BASE, 0x0800_0000, 0x6000_0000, 0, 1 << 47, M64 & ~0xFFF]
near_spots = st.builds(
    lambda base, offset: (base + offset) & M64,
    st.sampled_from(SPOTS),
    st.one_of(st.integers(-16, 0x40), st.integers(-4096, 4096)),
)
pointers = weighted((3, near_spots), (2, st.sampled_from([BLOCK, NAME, NAME2])), (1, st.integers(0, M64)))
lengths = st.one_of(
    st.integers(0, 64),
    st.integers(0, 1 << 20),
    st.sampled_from([RAM_SIZE - 1, RAM_SIZE, RAM_SIZE + 1, 1 << 40, (1 << 40) + 5, 1 << 63, M64]),
)
handles = st.one_of(st.integers(0, 6), st.integers(0, M64))
words = st.one_of(
    pointers,
    lengths,
    st.sampled_from([NAME_LEN, NAME2_LEN]),
    handles,
    st.sampled_from([0x20026, 0x20023]),  # SYS_EXIT reasons
    st.integers(0, M64),
)
name_pointers = st.one_of(st.just(NAME), pointers)
name_lengths = st.one_of(st.just(NAME_LEN), lengths)

# the parameter block each operation reads (its x1 points to it); operations without one
# take a pointer or nothing in x1
TEMPLATES = {
    sh.SYS_OPEN: [name_pointers, st.one_of(st.integers(0, 11), st.integers(0, M64)), name_lengths],
    sh.SYS_CLOSE: [handles],
    sh.SYS_WRITE: [handles, pointers, lengths],
    sh.SYS_READ: [handles, pointers, lengths],
    sh.SYS_ISERROR: [words],
    sh.SYS_ISTTY: [handles],
    sh.SYS_SEEK: [handles, lengths],
    sh.SYS_FLEN: [handles],
    sh.SYS_TMPNAM: [pointers, words, lengths],
    sh.SYS_REMOVE: [name_pointers, name_lengths],
    sh.SYS_RENAME: [
        name_pointers,
        name_lengths,
        st.one_of(st.just(NAME2), pointers),
        st.one_of(st.just(NAME2_LEN), lengths),
    ],
    sh.SYS_SYSTEM: [name_pointers, name_lengths],
    sh.SYS_GET_CMDLINE: [pointers, lengths],
    sh.SYS_HEAPINFO: [pointers],
    sh.SYS_EXIT: [st.sampled_from([0x20026, 0x20023]), words],
    sh.SYS_EXIT_EXTENDED: [st.sampled_from([0x20026, 0x20023]), words],
}


def names(host: Path) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.sampled_from(
            [
                b":tt",
                b":semihosting-features",
                os.fsencode(host / "victim"),
                os.fsencode(host / "new-file"),
                b"relative-new-file",
                b"",
                b"touch " + os.fsencode(host / "by-system"),
            ]
        ),
        st.binary(max_size=40).filter(lambda b: b"\0" not in b),
    )


@st.composite
def one_call(draw) -> dict:
    op = draw(weighted((6, st.sampled_from(DEFINED_OPS)), (1, st.integers(0, 0x40)), (1, st.integers(0, 0xFFFF_FFFF))))
    high = draw(st.one_of(st.just(0), st.integers(0, 0xFFFF_FFFF)))
    template = TEMPLATES.get(op)
    if template is not None and draw(st.booleans()):  # a well-formed block, with wild values
        block = [draw(slot) for slot in template]
        x1 = BLOCK
    else:
        block = []
        x1 = draw(st.one_of(st.just(BLOCK), pointers))
    block += draw(st.lists(words, min_size=BLOCK_WORDS - len(block), max_size=BLOCK_WORDS - len(block)))
    return {"x0": op | high << 32, "x1": x1, "block": block}


@st.composite
def programs(draw, host: Path) -> dict:
    return {
        "place": draw(st.sampled_from(PLACES)),
        "calls": draw(st.lists(one_call(), min_size=1, max_size=MAX_CALLS)),
        "names": (draw(names(host)), draw(names(host))),
        "stdin": draw(st.binary(max_size=64)),
    }


# ---- running one call --------------------------------------------------------------------------------------


class Sink:
    """The guest's stdout: counts the bytes, keeps none (a write may be as long as RAM)."""

    def __init__(self) -> None:
        self.count = 0

    def write(self, data: bytes) -> int:
        self.count += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def quads(values: list[int]) -> bytes:
    return b"".join(v.to_bytes(8, "little") for v in values)


def run_program(p: dict) -> None:
    _, spsr, hcr, userspace = p["place"]
    m = make_machine(memory=RAM_SIZE, semihosting=SemihostingConfig(userspace=userspace))
    m.load(image())
    m.stdout = Sink()
    semihosting = m.devices["semihosting"]
    semihosting.stdin = io.BytesIO(p["stdin"])
    semihosting.stderr = io.BytesIO()
    at = symbols(m)
    name1, name2 = p["names"]
    m.bus.write_bytes(at["names"], name1 + b"\0")
    m.bus.write_bytes(at["names"] + 2048, name2 + b"\0")
    resolve = {NAME: at["names"], NAME2: at["names"] + 2048, NAME_LEN: len(name1), NAME2_LEN: len(name2)}
    table = []
    for i, c in enumerate(p["calls"]):
        resolve[BLOCK] = at["blocks"] + 8 * BLOCK_WORDS * i
        m.bus.write_bytes(resolve[BLOCK], quads([resolve[w] if isinstance(w, str) else w for w in c["block"]]))
        table += [c["x0"], resolve[c["x1"]] if isinstance(c["x1"], str) else c["x1"], 0]
    m.bus.write_bytes(at["header"], quads([hcr, spsr, len(p["calls"])]))
    m.bus.write_bytes(at["calls"], quads(table))
    uart_before = dict(m.devices["pl011"].regs)

    stop = m.run(5_000)  # any Python exception here is the bug this test looks for

    assert m.devices["pl011"].regs == uart_before
    if spsr == 0x3C0 and not userspace:
        # an ordinary HLT: UNDEFINED, taken to EL1 (EL2 for a host), then the vector's exit
        target = 2 if hcr & HCR_TGE else 1
        assert m.cpu.sr[f"ESR_EL{target}"] == 0x0200_0000
        assert (stop.kind, stop.exit_code) == ("exit", 1)
        assert m.stdout.count == 0 and semihosting.stderr.getvalue() == b""
        assert semihosting.stdin.tell() == 0


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_random_semihosting_calls_are_safe_and_leave_host_files_alone(data):
    with tempfile.TemporaryDirectory(prefix="armnv-fuzz-") as tmp:
        host = Path(tmp)
        (host / "victim").write_bytes(b"host file")
        workdir = host / "cwd"
        workdir.mkdir()
        p = data.draw(programs(host))
        cwd = os.getcwd()
        os.chdir(workdir)
        try:
            run_program(p)
        finally:
            os.chdir(cwd)
        assert sorted(p.name for p in host.iterdir()) == ["cwd", "victim"]
        assert (host / "victim").read_bytes() == b"host file"
        assert list(workdir.iterdir()) == []
