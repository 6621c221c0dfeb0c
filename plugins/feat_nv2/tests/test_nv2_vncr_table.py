"""NV2-04/NV2-05/NV2-09/NV2-17/NV2-19: every row of the VNCR table, in one guest per configuration.

The guest runs at EL1 with HCR_EL2.{NV, NV2} = {1, 1} and VNCR_EL2 at a page
of RAM whose slots hold a sentinel. For each row it writes a distinct value
through the row's accessor and reads it back; an exception is recorded by the
EL2 handler (ELR and ESR, tagged) and stepped over, an UNDEF at EL1 is passed
to EL2 by an HVC and recorded the same way. The test then finds each value at
VNCR base + offset, or the register's ordinary access, or the trap or UNDEF
the rules give, from the ID registers the guest sees.
"""

from __future__ import annotations

import pytest

from plugins.feat_nv.tests.guest import ESR_UNDEF, HCR_NV, HCR_NV1, HCR_NV2, HCR_RW, sysreg_esr, table_guest_start
from plugins.feat_nv2.tests.guest import SENTINEL, VNCR, exists, key_word, vncr_rows

RESULTS = 0x4061_0000  # (ELR, ESR) pairs of the exceptions, in order
READBACK = 0x4062_0000  # the value each row's last MRS returned
VALUES = 0x4063_0000  # the value each row writes
TAG = 1 << 63  # an exception taken to EL2 (an untagged ESR is an UNDEF taken to EL1)
STEP = 24  # bytes of guest code per row
RT_W, RT_R = 3, 5
CPACR_NO_TRAPS = 0x333_0000  # FPEN, ZEN and SMEN = 0b11: the FP/SVE/SME checks of NV2-08 stay quiet
# NV-21: the EL1 registers FEAT_NV traps with {NV, NV1} = {1, 1} when NV2 is off
NV1_TRAPPED = {"VBAR_EL1", "ELR_EL1", "SPSR_EL1", "SCXTNUM_EL1", "TFSR_EL1"}
# real EL1 registers whose whole 64 bits a guest may write without disturbing itself
FREE = {"FAR_EL1", "ELR_EL1"}


def value(i: int) -> int:
    return 0xC0DE_0000_0000_0000 | (i + 1) << 24 | (i + 1)


def outcome(m, row: dict, nv1: bool) -> str:
    """ "mem", "real", "trap" or "undef": what the rules say one access of the row does."""
    if not exists(m, row):
        return "undef"  # NV2-19 (with NV2 off, VNCR_EL2 itself: NV2-02)
    nv2 = "nv2" in m.features
    if row["op1"] in (4, 5):
        if nv2 and (row["nv1"] == "any" or row["nv1"] == str(int(nv1))):
            return "mem"  # NV2-04
        return "trap"  # NV2-04/NV2-09: FEAT_NV's EC 0x18 trap
    if nv2 and (row["nv1"] == "any" or nv1):
        return "mem"
    if nv1 and not nv2 and row["name"] in NV1_TRAPPED:
        return "trap"
    return "real"  # NV2-04: the guest VHE hypervisor's own "EL2" state in the EL1 register


def code(m, rows: list[dict], nv1: bool) -> list[int]:
    """Six instructions per row: value, clear, three accesses, store the value read back."""
    ldr, clear, nop, store = 0xF8408643, 0xAA1F03E5, 0xD503201F, 0xF8008665  # ldr x3,[x18],#8 …
    words = []
    for row in rows:
        if outcome(m, row, nv1) == "real" and row["name"] not in FREE:
            # write back what was read: a real SCTLR/TCR/VBAR/CPACR write could break the guest
            body = [key_word(row, True, RT_W), key_word(row, False, RT_W), key_word(row, True, RT_R)]
        else:
            body = [key_word(row, False, RT_W), key_word(row, True, RT_R), nop]
        words += [ldr, clear, *body, store]
    return words


def guest_source(words: list[int], nv2: bool) -> str:
    insns = "\n".join(f"    .inst {w:#010x}" for w in words)
    vncr = f"    ldr x0, ={VNCR:#x}\n    msr vncr_el2, x0\n" if nv2 else ""
    setup = f"    ldr x0, ={CPACR_NO_TRAPS:#x}\n    msr cpacr_el1, x0\n{vncr}"
    loads = f"    ldr x19, ={READBACK:#x}\n    ldr x18, ={VALUES:#x}\n"
    return (
        table_guest_start(RESULTS, setup=setup, loads=loads)
        + f"""
el1_code:
{insns}
    hvc #2
    .ltorg

    .balign 2048
vec1:
    .skip 0x200
    hvc #1

    .balign 2048
vec2:
    .skip 0x400
    mrs x10, esr_el2
    lsr x11, x10, #26
    cmp x11, #0x16
    b.eq hvc_call
    orr x10, x10, #{TAG:#x}
    mrs x11, elr_el2
    stp x11, x10, [x20], #16
    add x11, x11, #4
    msr elr_el2, x11
    eret
hvc_call:
    and x11, x10, #0xffff
    cmp x11, #2
    b.eq _armnv_exit
    mrs x10, esr_el1
    mrs x11, elr_el1
    stp x11, x10, [x20], #16
    add x11, x11, #4
    msr elr_el2, x11
    mov x10, #0x3c5
    msr spsr_el2, x10
    eret
"""
    )


def run_rows(run_asm, cpu: str, nv1: bool):
    from framework.testing import make_machine

    probe = make_machine(cpu)
    rows = vncr_rows()
    words = code(probe, rows, nv1)

    def setup(m):
        m.cpu.x[21] = HCR_RW | HCR_NV | HCR_NV2 | (HCR_NV1 if nv1 else 0)
        for off in range(0, 0x1000, 8):
            m.bus.write(VNCR + off, 8, SENTINEL | off)
        for i in range(len(rows)):
            m.bus.write(VALUES + 8 * i, 8, value(i))

    m = run_asm(guest_source(words, "nv2" in probe.features), cpu=cpu, setup=setup, max_insns=100_000)
    assert m.stop.kind == "exit", m.stop
    return m, rows


def expected_exceptions(m, rows: list[dict], nv1: bool, base: int) -> dict[int, int]:
    """ELR -> tagged ESR of every exception the rules give, for the code `code` laid out at `base`."""
    want = {}
    for i, row in enumerate(rows):
        kind = outcome(m, row, nv1)
        at = base + STEP * i + 8
        regs = (row["op0"], row["op1"], row["crn"], row["crm"], row["op2"])
        for n, (read, rt) in enumerate([(False, RT_W), (True, RT_R)]):
            if kind == "trap":
                want[at + 4 * n] = TAG | sysreg_esr(*regs, rt, read)
            elif kind == "undef":
                want[at + 4 * n] = ESR_UNDEF
    return want


CONFIGS = [(cpu, nv1) for cpu in ("max", "neoverse-n2", "neoverse-v1", "max,nv2=off") for nv1 in (False, True)]


@pytest.mark.parametrize(("cpu", "nv1"), CONFIGS, ids=[f"{c}-nv1={int(n)}" for c, n in CONFIGS])
def test_nv2_04_every_vncr_row_reaches_its_slot_the_register_a_trap_or_undef(run_asm, cpu, nv1):
    m, rows = run_rows(run_asm, cpu, nv1)
    base = next(addr for addr, name in m.symbols.items() if name == "el1_code")
    got = {}
    addr = RESULTS
    while (elr := m.bus.read(addr, 8)) != 0:
        got[elr] = m.bus.read(addr + 8, 8)
        addr += 16
    want = expected_exceptions(m, rows, nv1, base)
    wrong = [
        f"{rows[(a - base) // STEP]['name']} at {a:#x}: got {got.get(a, 0):#x}, want {want.get(a, 0):#x}"
        for a in sorted(set(got) | set(want))
        if got.get(a) != want.get(a)
    ]
    slots: dict[int, int] = {}
    for i, row in enumerate(rows):
        kind = outcome(m, row, nv1)
        readback = m.bus.read(READBACK + 8 * i, 8)
        if kind == "mem":
            slots[row["offset"]] = value(i)  # NV2-05: the raw 64 bits, no masking
            if readback != value(i):
                wrong.append(f"{row['name']}: read back {readback:#x}, wrote {value(i):#x}")
        elif kind == "real" and row["name"] in FREE and readback != value(i):
            wrong.append(f"{row['name']} (the real register): read back {readback:#x}")
        elif kind in ("trap", "undef") and readback != 0:
            wrong.append(f"{row['name']}: a {kind} gave {readback:#x}")
    for off in range(0, 0x1000, 8):
        want_slot = slots.get(off, SENTINEL | off)
        if (have := m.bus.read(VNCR + off, 8)) != want_slot:
            wrong.append(f"slot {off:#05x}: {have:#x}, want {want_slot:#x}")
    assert not wrong, "\n".join(wrong)
    if "nv2" in m.features:
        assert m.cpu.sr["VNCR_EL2"] == VNCR  # NV2-05: the slot of VNCR_EL2 is not the register


def test_nv2_17_offsets_are_distinct_aligned_and_pairs_share_a_slot():
    rows = vncr_rows()
    by_offset: dict[int, list[dict]] = {}
    for row in rows:
        assert row["offset"] % 8 == 0 and row["offset"] < 0x1000, row  # NV2-03: naturally aligned
        by_offset.setdefault(row["offset"], []).append(row)
    for off, group in by_offset.items():
        if len(group) == 1:
            assert group[0]["nv1"] == "any" or group[0]["op1"] == 4, group
        else:
            # a FOO_EL1 / FOO_EL12 pair: same CRn/CRm/op2, one redirected with NV1 = 1, the other with 0
            a, b = sorted(group, key=lambda r: r["op1"])
            assert (a["op1"], b["op1"], a["nv1"], b["nv1"]) in ((0, 5, "1", "0"), (3, 5, "1", "0")), off
            assert (a["crn"], a["crm"], a["op2"]) == (b["crn"], b["crm"], b["op2"])
    # the offsets Linux's vncr_mapping.h and the Arm ARM give (R_CSRPQ), for a sample of registers
    known = {"VTTBR_EL2": 0x20, "HCR_EL2": 0x78, "VNCR_EL2": 0xB0, "SCTLR_EL1": 0x110, "SP_EL1": 0x240}
    known |= {"ELR_EL1": 0x230, "SPSR_EL1": 0x160, "ICH_LR0_EL2": 0x400, "ICH_HCR_EL2": 0x4C0}
    assert {r["name"]: r["offset"] for r in rows if r["name"] in known} == known
