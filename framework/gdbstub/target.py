"""What a debugger sees of a machine: registers, memory, breakpoints and watchpoints.

Register numbers follow the target description this module writes: the
``org.gnu.gdb.aarch64.core`` registers (x0-x30, sp, pc, cpsr), the
``org.gnu.gdb.aarch64.fpu`` ones (v0-v31, fpsr, fpcr), then a feature of
system registers. Memory is read and written at virtual addresses through the
current translation regime, with the permissions of a read at the current EL
and PAN ignored (a debugger may patch read-only code); the translation is
made like an AT instruction's, so nothing is cached and no Access flag fault
is taken. Only RAM is reachable: reading a device register could change it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from framework.cpu.state import M64
from framework.errors import DebugStop
from framework.memory import PAGE
from framework.vmem import Access, TranslationFault

if TYPE_CHECKING:
    from framework.cpu.state import CPUState
    from framework.machine import Machine

CORE_FEATURE = "org.gnu.gdb.aarch64.core"
FPU_FEATURE = "org.gnu.gdb.aarch64.fpu"
SYSREG_FEATURE = "org.armnv.aarch64.sysregs"

# registers of the system-register feature, shown when the machine has them
SYSTEM_REGISTERS = (
    "CurrentEL",
    "SP_EL0",
    "SP_EL1",
    "SCTLR_EL1",
    "CPACR_EL1",
    "TCR_EL1",
    "TTBR0_EL1",
    "TTBR1_EL1",
    "MAIR_EL1",
    "VBAR_EL1",
    "ELR_EL1",
    "SPSR_EL1",
    "ESR_EL1",
    "FAR_EL1",
    "PAR_EL1",
    "TPIDR_EL1",
    "CONTEXTIDR_EL1",
    "HCR_EL2",
    "SCTLR_EL2",
    "CPTR_EL2",
    "TCR_EL2",
    "TTBR0_EL2",
    "TTBR1_EL2",
    "MAIR_EL2",
    "VBAR_EL2",
    "ELR_EL2",
    "SPSR_EL2",
    "ESR_EL2",
    "FAR_EL2",
    "HPFAR_EL2",
    "VTCR_EL2",
    "VTTBR_EL2",
    "TPIDR_EL2",
    "CNTHCTL_EL2",
    "CNTVOFF_EL2",
    "VNCR_EL2",
)

# the stack pointer of EL2 has no system-register encoding an EL2 guest may use; a debugger still shows it
SP_EL2 = "SP_EL2"

N_CORE = 34  # x0-x30, sp, pc, cpsr
FPU_FIRST = N_CORE
N_FPU = 34  # v0-v31, fpsr, fpcr
SYS_FIRST = FPU_FIRST + N_FPU

_VECTOR_TYPES = """\
    <vector id="v2d" type="ieee_double" count="2"/>
    <vector id="v2u" type="uint64" count="2"/>
    <vector id="v2i" type="int64" count="2"/>
    <vector id="v4f" type="ieee_single" count="4"/>
    <vector id="v4u" type="uint32" count="4"/>
    <vector id="v4i" type="int32" count="4"/>
    <vector id="v8u" type="uint16" count="8"/>
    <vector id="v8i" type="int16" count="8"/>
    <vector id="v16u" type="uint8" count="16"/>
    <vector id="v16i" type="int8" count="16"/>
    <union id="vnd"><field name="f" type="v2d"/><field name="u" type="v2u"/><field name="s" type="v2i"/></union>
    <union id="vns"><field name="f" type="v4f"/><field name="u" type="v4u"/><field name="s" type="v4i"/></union>
    <union id="vnh"><field name="u" type="v8u"/><field name="s" type="v8i"/></union>
    <union id="vnb"><field name="u" type="v16u"/><field name="s" type="v16i"/></union>
    <union id="vnq"><field name="u" type="uint128"/><field name="s" type="int128"/></union>
    <union id="aarch64v">
      <field name="d" type="vnd"/><field name="s" type="vns"/><field name="h" type="vnh"/>
      <field name="b" type="vnb"/><field name="q" type="vnq"/>
    </union>
"""


class MemoryFault(Exception):  # noqa: N818 - a debugger's access that failed, not a Python error
    """A debugger's memory access that cannot be made (no translation, not RAM)."""


@attrs.define(slots=True)
class Watchpoint:
    kind: str  # "watch" (writes), "rwatch" (reads), "awatch" (both): the stop reply's words
    addr: int
    length: int


class Target:
    """Registers, memory, breakpoints and watchpoints of `machine` as the stub presents them."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.cpu = machine.cpu
        names = [name for name in SYSTEM_REGISTERS if name in machine.sysregs]
        names.insert(names.index("SP_EL1") + 1 if "SP_EL1" in names else 0, SP_EL2)
        self.sysreg_names = names
        self.breakpoints: dict[int, set[str]] = {}  # PC -> kinds ("sw", "hw") inserted there
        self.watchpoints: list[Watchpoint] = []
        # the watchpoint access that stopped the guest last: (kind, data address)
        self.watch_hit: tuple[str, int] | None = None

    # ---- target description --------------------------------------------------------------
    def register_count(self) -> int:
        return SYS_FIRST + len(self.sysreg_names)

    def target_xml(self) -> str:
        core = [f'    <reg name="x{i}" bitsize="64" type="int" regnum="{i}"/>' for i in range(31)]
        core += [
            '    <reg name="sp" bitsize="64" type="data_ptr"/>',
            '    <reg name="pc" bitsize="64" type="code_ptr"/>',
            '    <reg name="cpsr" bitsize="32" type="int"/>',
        ]
        fpu = [f'    <reg name="v{i}" bitsize="128" type="aarch64v"/>' for i in range(32)]
        fpu += ['    <reg name="fpsr" bitsize="32" type="int"/>', '    <reg name="fpcr" bitsize="32" type="int"/>']
        system = [
            f'    <reg name="{name.lower()}" bitsize="64" type="int" group="system"/>' for name in self.sysreg_names
        ]
        return "\n".join(
            [
                '<?xml version="1.0"?>',
                '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
                '<target version="1.0">',
                "  <architecture>aarch64</architecture>",
                f'  <feature name="{CORE_FEATURE}">',
                *core,
                "  </feature>",
                f'  <feature name="{FPU_FEATURE}">',
                _VECTOR_TYPES.rstrip("\n"),
                *fpu,
                "  </feature>",
                f'  <feature name="{SYSREG_FEATURE}">',
                *system,
                "  </feature>",
                "</target>",
                "",
            ]
        )

    # ---- registers ---------------------------------------------------------------------------
    def register_size(self, n: int) -> int:
        """Size in bytes of register `n` (ValueError: no such register)."""
        if not 0 <= n < self.register_count():
            raise ValueError(f"no register {n}")
        if n == 33 or n in (FPU_FIRST + 32, FPU_FIRST + 33):
            return 4
        if FPU_FIRST <= n < FPU_FIRST + 32:
            return 16
        return 8

    def read_register(self, n: int) -> int:
        cpu = self.cpu
        self.register_size(n)  # validates n
        if n < 32:
            return cpu.x[n]
        if n == 32:
            return cpu.pc
        if n == 33:
            return cpu.pstate_bits() & 0xFFFFFFFF
        if n < FPU_FIRST + 32:
            return cpu.v[n - FPU_FIRST]
        if n == FPU_FIRST + 32:
            return cpu.fpsr
        if n == FPU_FIRST + 33:
            return cpu.fpcr
        return self._read_sysreg(self.sysreg_names[n - SYS_FIRST])

    def write_register(self, n: int, value: int) -> None:
        """Set register `n` (ValueError: no such register, or not writable with that value)."""
        cpu = self.cpu
        value &= (1 << (8 * self.register_size(n))) - 1
        if n < 32:
            cpu.x[n] = value
        elif n == 32:
            cpu.pc = value
        elif n == 33:
            self._write_cpsr(value)
        elif n < FPU_FIRST + 32:
            cpu.v[n - FPU_FIRST] = value
        elif n == FPU_FIRST + 32:
            cpu.fpsr = value
        elif n == FPU_FIRST + 33:
            cpu.fpcr = value
        else:
            self._write_sysreg(self.sysreg_names[n - SYS_FIRST], value)

    def _write_cpsr(self, value: int) -> None:
        el = (value >> 2) & 3
        if value & 0x10 or el > 2 or (value & 2):
            raise ValueError(f"cpsr {value:#x} is not an AArch64 EL0-EL2 mode")
        self.cpu.set_pstate_bits(value)
        self.machine.pstate_changed()

    def _read_sysreg(self, name: str) -> int:
        cpu = self.cpu
        if name == SP_EL2:
            return cpu.read_sp_el(2)
        r = self.machine.sysregs[name]
        if r.read is not None:
            return r.read(cpu) & M64
        return cpu.sr.get(r.slot, 0)

    def _write_sysreg(self, name: str, value: int) -> None:
        cpu = self.cpu
        if name == SP_EL2:
            cpu.write_sp_el(2, value)
            return
        r = self.machine.sysregs[name]
        if r.access == "RO":
            raise ValueError(f"{name} is read-only")
        if r.write is not None:
            r.write(cpu, value)
        else:
            old = cpu.sr.get(r.slot, 0)
            cpu.sr[r.slot] = (old & ~r.wmask) | (value & r.wmask) | r.res1
        if r.config:
            self.machine.config_changed(r)

    # ---- memory ------------------------------------------------------------------------------
    def translate(self, va: int) -> int:
        """The PA of virtual `va` in the current regime (MemoryFault: no translation)."""
        cpu = self.cpu
        try:
            return self.machine.mem.translate(cpu, va & M64, Access(el=cpu.el, at=True, pan=False)).pa
        except TranslationFault as fault:
            raise MemoryFault(f"{va:#x} does not translate (fault status {fault.fsc:#x})") from None

    def _ram_offset(self, pa: int, length: int) -> int:
        off = self.machine.bus.ram_offset(pa, length)
        if off is None:
            raise MemoryFault(f"{pa:#x} is not RAM")
        return off

    def read_physical(self, pa: int, length: int) -> bytes:
        off = self._ram_offset(pa, length)
        return bytes(self.machine.bus.ram.buf[off : off + length])

    def read_virtual(self, va: int, length: int) -> bytes:
        out = bytearray()
        for addr, n in _pages(va, length):
            out += self.read_physical(self.translate(addr), n)
        return bytes(out)

    def write_virtual(self, va: int, data: bytes) -> None:
        # translate every page first, so a write that fails leaves memory unchanged
        parts = []
        pos = 0
        for addr, n in _pages(va, len(data)):
            pa = self.translate(addr)
            self._ram_offset(pa, n)
            parts.append((pa, data[pos : pos + n]))
            pos += n
        for pa, chunk in parts:
            self.machine.write_phys(pa, chunk)  # drops translated code on those pages

    # ---- breakpoints and watchpoints ---------------------------------------------------------
    def insert_breakpoint(self, addr: int, kind: str) -> None:
        self.breakpoints.setdefault(addr & M64, set()).add(kind)
        self._breakpoints_changed()

    def remove_breakpoint(self, addr: int, kind: str) -> None:
        kinds = self.breakpoints.get(addr & M64)
        if kinds is not None:
            kinds.discard(kind)
            if not kinds:
                del self.breakpoints[addr & M64]
        self._breakpoints_changed()

    def _breakpoints_changed(self) -> None:
        self.machine.engine.set_breakpoints(frozenset(self.breakpoints))

    def insert_watchpoint(self, kind: str, addr: int, length: int) -> None:
        if length <= 0:
            raise ValueError("a watchpoint needs a length")
        self.watchpoints.append(Watchpoint(kind, addr & M64, length))
        self._watchpoints_changed()

    def remove_watchpoint(self, kind: str, addr: int, length: int) -> None:
        wp = Watchpoint(kind, addr & M64, length)
        if wp in self.watchpoints:
            self.watchpoints.remove(wp)
        self._watchpoints_changed()

    def _watchpoints_changed(self) -> None:
        mem = self.machine.mem
        if self.watchpoints:
            if mem.watch is None:
                mem.watch = self.check_access
                mem.flush_tlbs()  # from now on every data access takes the slow path
        else:
            mem.watch = None

    def check_access(self, cpu: CPUState, va: int, size: int, write: bool, pc: int) -> None:
        """Stop before the instruction at `pc` if its access hits a watchpoint."""
        if self.machine.engine.resume_at == (cpu.icount, pc):
            return  # the instruction the debugger resumes at, which stopped here before
        for wp in self.watchpoints:
            overlaps = va < wp.addr + wp.length and wp.addr < va + size
            if overlaps and wp.kind != ("rwatch" if write else "watch"):
                self.watch_hit = (wp.kind, max(va, wp.addr))
                raise DebugStop(pc, "watchpoint")

    def clear(self) -> None:
        """Forget every breakpoint and watchpoint (the debugger detached)."""
        self.breakpoints.clear()
        self.watchpoints.clear()
        self._breakpoints_changed()
        self._watchpoints_changed()


def _pages(va: int, length: int):
    """(address, length) pieces of [va, va + length) that do not cross a page."""
    while length > 0:
        n = min(length, PAGE - (va & (PAGE - 1)))
        yield va & M64, n
        va += n
        length -= n
