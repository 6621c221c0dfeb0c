"""Cache maintenance instructions (DC, IC) as system-instruction rows.

armnv models no caches, so maintenance by VA or by set/way has no effect and
needs no translation, with two exceptions:
  - DC ZVA zeroes a naturally aligned block of DCZID_EL0 size (64 bytes on
    every model, cpu-models.md §3). It is a store, so a fault is a data abort
    with WnR = 1 (CM = 0), and FAR holds the address in the register, as for
    every data-cache instruction. Device memory (MMU off: anything but RAM, as
    in the kernel's flat map; MMU on: a Device attribute) takes an Alignment
    fault, since the block may not be zeroed there; a Normal mapping of an
    address with no memory behind it takes a synchronous external abort;
  - IC IALLU and IC IALLUIS drop every translated block. Stores already drop
    the blocks whose bytes they change (`Engine.code_written`), so IC IVAU
    only looks again at the page of its address: blocks there whose bytes no
    longer match memory go (what no store path told the engine about), the
    others stay, so a patch-and-run loop retranslates only what it patched.
    An address that does not translate drops everything (nothing is taken:
    maintenance to a VA has no architectural effect here).
Who may execute them (EL0 enables UCI/DZE, HCR_EL2.TPCP/TPU/TSW/TDZ/TOCU/
TICAB) is decided in `framework.cpu.traps`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.cpu import syndrome as syn
from framework.cpu.sysregs import SysReg, reg
from framework.errors import BusError
from framework.memory import PAGE
from framework.vmem import Access, TranslationFault

if TYPE_CHECKING:
    from framework.cpu.state import CPUState

DCZ_BLOCK = 64


def _no_effect(cpu: CPUState, value: int) -> None:
    pass


def _dc_zva(cpu: CPUState, value: int) -> None:
    mem = cpu.machine.mem
    pc = cpu.pc
    try:
        tr = mem.translate(cpu, value & ~(DCZ_BLOCK - 1), mem.access_for(cpu, True, 0))
    except TranslationFault as fault:
        mem.data_abort(cpu, value, fault, True, pc, 0)
    if tr.device:
        mem.data_abort(cpu, value, TranslationFault(syn.FSC_ALIGNMENT), True, pc, 0)
    ram_off = mem.bus.ram_offset(tr.pa, DCZ_BLOCK)
    if ram_off is not None:
        mem.ram_buf[ram_off : ram_off + DCZ_BLOCK] = bytes(DCZ_BLOCK)
        mem.code_written(ram_off, DCZ_BLOCK)
        return
    try:  # a device mapped as Normal memory sees the stores
        for offset in range(0, DCZ_BLOCK, 8):
            mem.bus.write(tr.pa + offset, 8, 0)
    except BusError:
        mem.external_abort(cpu, value, tr.pa, True, pc, 0)


def _invalidate_code(cpu: CPUState, value: int) -> None:
    cpu.machine.engine.flush_all_code()


def _ic_ivau(cpu: CPUState, value: int) -> None:
    machine = cpu.machine
    try:
        tr = machine.mem.translate(cpu, value, Access(el=cpu.el))
    except TranslationFault:
        machine.engine.flush_all_code()
        return
    ram_off = machine.bus.ram_offset(tr.pa & ~(PAGE - 1), PAGE)
    if ram_off is not None:
        machine.engine.code_written(ram_off, PAGE)


# (name, op1, CRm, op2, operation); all are op0 = 1, CRn = 7, write-only (SYS)
CACHE_INSTRUCTIONS = (
    ("IC IALLUIS", 0, 1, 0, _invalidate_code),
    ("IC IALLU", 0, 5, 0, _invalidate_code),
    ("IC IVAU", 3, 5, 1, _ic_ivau),
    ("DC IVAC", 0, 6, 1, _no_effect),
    ("DC ISW", 0, 6, 2, _no_effect),
    ("DC CSW", 0, 10, 2, _no_effect),
    ("DC CISW", 0, 14, 2, _no_effect),
    ("DC ZVA", 3, 4, 1, _dc_zva),
    ("DC CVAC", 3, 10, 1, _no_effect),
    ("DC CVAU", 3, 11, 1, _no_effect),
    ("DC CVAP", 3, 12, 1, _no_effect),
    ("DC CVADP", 3, 13, 1, _no_effect),
    ("DC CIVAC", 3, 14, 1, _no_effect),
)


def cache_instructions() -> list[SysReg]:
    return [
        reg(name, 1, op1, 7, crm, op2, access="WO", write=op, read=None, storage=None)
        for name, op1, crm, op2, op in CACHE_INSTRUCTIONS
    ]


__all__ = ["CACHE_INSTRUCTIONS", "DCZ_BLOCK", "cache_instructions"]
