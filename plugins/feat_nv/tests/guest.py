"""Helpers for the FEAT_NV tests: HCR_EL2 values, syndromes computed from the rules, guests.

Syndromes are built here from the ESR layout of the rules reference (syndromes
§4: EC 0x18, IL, Op0, Op2, Op1, CRn, Rt, CRm, Direction), independently of the
kernel's own builders, and checked against the worked values of NV-17/NV-21.
"""

from __future__ import annotations

import csv
from pathlib import Path

from plugins.mmu.tests.guest import program, run

HCR_RW = 1 << 31
HCR_TGE = 1 << 27
HCR_E2H = 1 << 34
HCR_TSC = 1 << 19
HCR_TIDCP = 1 << 20
HCR_NV = 1 << 42
HCR_NV1 = 1 << 43
HCR_AT = 1 << 44
HCR_NV2 = 1 << 45

EC_UNKNOWN = 0x00
EC_SMC = 0x17
EC_SYSREG = 0x18
EC_ERET = 0x1A
IL = 1 << 25
ESR_UNDEF = IL  # EC 0x00 with IL = 1


def sysreg_esr(op0: int, op1: int, crn: int, crm: int, op2: int, rt: int, read: bool) -> int:
    iss = op0 << 20 | op2 << 17 | op1 << 14 | crn << 10 | rt << 5 | crm << 1 | int(read)
    return EC_SYSREG << 26 | IL | iss


def el1(hcr: int = 0) -> dict[str, int]:
    """EL2 registers for a guest that runs at EL1 (RW = 1 plus `hcr`)."""
    return {"hcr_el2": HCR_RW | hcr}


def nv_run(run_asm, body: str, hcr: int = HCR_NV, *, cpu: str = "max", **kw):
    """Run `body` at EL1h with HCR_EL2 = RW | `hcr`; any exception stops the machine."""
    return run(run_asm, body, kw.pop("setup", lambda m: None), cpu=cpu, el=kw.pop("el", 1), el2=el1(hcr), **kw)


def trapped_to_el2(m) -> bool:
    return m.cpu.el == 2 and m.cpu.sr["ESR_EL2"] >> 26 != 0


def table_guest_start(results: int, *, setup: str = "", loads: str = "") -> str:
    """The start of a table guest: VBAR_EL2 = vec2, VBAR_EL1 = vec1, `setup` at EL2, HCR_EL2 from x21,
    x20 = `results`, `loads`, then ERET to `el1_code` at EL1h. The guest defines the labels."""
    return f"""
    adr x0, vec2
    msr vbar_el2, x0
    adr x0, vec1
    msr vbar_el1, x0
{setup}    msr hcr_el2, x21
    isb
    ldr x20, ={results:#x}
{loads}    mov x0, #0x3c5
    msr spsr_el2, x0
    adr x0, el1_code
    msr elr_el2, x0
    eret
"""


def encodings() -> list[dict[str, str]]:
    """The op1 = 4/5 encodings of the rules reference (NV-06 table), one dict per row."""
    path = Path(__file__).with_name("el2_encodings.csv")
    with path.open() as f:
        return list(csv.DictReader(f))


__all__ = ["encodings", "nv_run", "program", "run", "sysreg_esr"]
