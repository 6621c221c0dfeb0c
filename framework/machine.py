"""Machine: a CPU, a bus, devices and plugins, built from a MachineConfig.

The board is QEMU's ``virt`` with EL2 and without EL3: RAM at 0x4000_0000,
PL011 at 0x0900_0000, GICv3 distributor at 0x0800_0000 and redistributors at
0x080A_0000 (from the GIC plugin), PSCI over SMC, semihosting on HLT #0xF000.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import IO, Any

import attrs

from framework import plugins
from framework.bus import Bus
from framework.cpu.exceptions import HCR_TGE, illegal_state
from framework.cpu.interrupts import Interrupts
from framework.cpu.regdefs import base_registers
from framework.cpu.state import CPUState
from framework.cpu.sysregs import Registry, SysReg
from framework.cpu.traps import describe_hcr
from framework.devices.semihosting import SemihostingConfig
from framework.devices.timer import GenericTimer
from framework.engine import NEVER, Engine, StopReason
from framework.errors import ArmnvError
from framework.loader import SymbolTable
from framework.log import make_logger
from framework.stats import Stats
from framework.vmem import MemorySystem

RAM_BASE = 0x4000_0000
UART_BASE = 0x0900_0000
GICD_BASE = 0x0800_0000
GICR_BASE = 0x080A_0000

# HCR_EL2 bits of the base architecture (Armv8.0 [33:0] + E2H for VHE)
HCR_BASE_MASK = (1 << 34) - 1 | (1 << 34)
HCR_E2H = 1 << 34


@attrs.define(frozen=True, slots=True)
class MachineConfig:
    cpu: str = "max"
    machine: str = "virt"
    memory: int = 512 * 1024 * 1024
    debug: frozenset[str] = frozenset()
    log_format: str = "console"
    log_file: str | None = None
    append: str = ""
    image_name: str = "armnv"
    one_insn_per_block: bool = False
    # who may make semihosting calls (EL1 and EL2 always, EL0 with userspace=on)
    semihosting: SemihostingConfig = attrs.field(factory=SemihostingConfig)


class Machine:
    def __init__(self, config: MachineConfig | None = None, *, stdout: IO[bytes] | None = None) -> None:
        self.config = config = config or MachineConfig()
        if config.machine != "virt":
            raise ArmnvError(f"unknown machine {config.machine!r} (known: virt)")
        self.stdout = stdout if stdout is not None else sys.stdout.buffer
        self.stats = Stats()
        self.debug = set(config.debug)
        self._log_stream = open(config.log_file, "w") if config.log_file else sys.stderr  # noqa: SIM115
        self.logger = make_logger(config.log_format, self._log_stream)
        self.log_int = "int" in self.debug or "cpu" in self.debug

        # ---- plugins and features
        self.catalog = plugins.discover()
        model_name, overrides = plugins.parse_cpu_option(config.cpu)
        model = self.catalog.models.get(model_name)
        if model is None:
            known = ", ".join(sorted(self.catalog.models)) or "none"
            raise ArmnvError(f"unknown CPU model {model_name!r} (known: {known})")
        self.model = model
        self.features = plugins.select_features(self.catalog, model, overrides)
        # ID register values after the feature rule (fields of disabled features lowered)
        self.id_regs = plugins.resolve_id_registers(self.catalog, model, self.features).values
        self.pm = plugins.machine_manager(self.catalog, self.features)
        self.hook = self.pm.hook

        # ---- board
        self.bus = Bus()
        self.bus.add_ram(RAM_BASE, config.memory)
        self.cpu = CPUState(machine=self)
        self.hcr_wmask, self.hcr_res1 = self._hcr_mask()
        self.sysregs = Registry(base_registers(self))
        # pluggy calls the latest-registered plugin first: apply in registration order so later ones win
        for contributed in reversed(self.hook.armnv_sysregs(machine=self)):
            for r in contributed or []:
                self.sysregs.replace(r)
        self.interrupts = Interrupts(self)
        self.timer = GenericTimer(self)
        self.mem = MemorySystem(self)
        self.mem.pa_bits = self._pa_bits()
        self.mem.has_translate_hook = self._implemented("armnv_translate")
        self.engine = Engine(self, max_block=1 if config.one_insn_per_block or "nochain" in self.debug else 64)
        self.engine.trace_exec = "exec" in self.debug
        self.engine.trace_in_asm = "in_asm" in self.debug
        from framework.devices import build_board_devices

        self.devices = build_board_devices(self)
        self.devices["timer"] = self.timer
        self.hook.armnv_devices(machine=self)

        self.sysreg_hooks = self._implemented("armnv_sysreg_access")
        self.exception_entry_hooks = self._implemented("armnv_exception_entry")
        self._entry_pstate_hooks = self._implemented("armnv_entry_pstate")
        self._current_el_hooks = self._implemented("armnv_current_el")
        self._unpriv_hooks = self._implemented("armnv_unprivileged_el")
        self._eret_hooks = self._implemented("armnv_eret")
        from framework.cpu.exceptions import restorable_bits

        self.restorable_pstate = restorable_bits(self)
        self.reset()
        self.hook.armnv_machine_built(machine=self)
        self.symbols = SymbolTable()
        self.start_time = 0.0
        self.run_time = 0.0

    # ---- build helpers ----------------------------------------------------------------
    def _implemented(self, hook_name: str) -> bool:
        return bool(getattr(self.hook, hook_name).get_hookimpls())

    def _hcr_mask(self) -> tuple[int, int]:
        mask = HCR_BASE_MASK if "vhe" in self.features else HCR_BASE_MASK & ~HCR_E2H
        for bits in self.hook.armnv_hcr_bits(machine=self):
            mask |= bits or 0
        # cpu-models.md §7: RW is RAO/WI on models whose EL1 is AArch64-only (model data)
        res1 = self.model.extra.get("HCR_EL2.res1", 0)
        return mask & ~res1, res1

    def id_value(self, name: str) -> int:
        """The value a guest reads from ID register `name` (0 if the model has none)."""
        return self.id_regs.get(name, 0)

    def _pa_bits(self) -> int:
        parange = self.id_value("ID_AA64MMFR0_EL1") & 0xF
        return {0: 32, 1: 36, 2: 40, 3: 42, 4: 44, 5: 48, 6: 52}.get(parange, 48)

    def reset(self) -> None:
        cpu = self.cpu
        self.sysregs.reset(cpu)
        sr = cpu.sr
        sr["MIDR_EL1"] = self.id_value("MIDR_EL1")
        sr["MPIDR_EL1"] = self.id_value("MPIDR_EL1") or 0x80000000
        sr["VPIDR_EL2"] = sr["MIDR_EL1"]
        sr["VMPIDR_EL2"] = sr["MPIDR_EL1"]
        sr["HCR_EL2"] = self.hcr_res1
        for name in ("SPSR_EL1", "SPSR_EL2", "ELR_EL1", "ELR_EL2", "ESR_EL1", "ESR_EL2", "FAR_EL1", "FAR_EL2"):
            sr.setdefault(name, 0)
        cpu.el = 2
        cpu.spsel = 1
        cpu.daif = 0x3C0
        cpu.icount = 0
        self.mem.switch(cpu)

    # ---- loading and running -------------------------------------------------------------
    def load(self, path: str, load_addr: int | None = None) -> int:
        """Load an ELF (or a raw image at load_addr); return the entry point and set the PC."""
        from framework.loader import load_image

        image = load_image(path, load_addr)
        for seg in image.segments:
            self.write_phys(seg.addr, seg.data)
        self.symbols = image.symbols
        self.cpu.pc = image.entry
        return image.entry

    def write_phys(self, pa: int, data: bytes) -> None:
        if self.bus.ram_offset(pa, max(len(data), 1)) is None:
            raise ArmnvError(f"image segment at {pa:#x} (+{len(data):#x}) is outside RAM")
        self.bus.write_bytes(pa, data)
        self.engine.code_written(pa - self.bus.ram.base, max(len(data), 1))

    def run(self, max_insns: int | None = None) -> StopReason:
        t0 = time.perf_counter()
        try:
            return self.engine.run(max_insns)
        finally:
            self.run_time += time.perf_counter() - t0
            self.stats.blocks_translated = self.engine.translated
            self.flush_output()

    def flush_output(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self.stdout.flush()

    # ---- the run loop's slow path ----------------------------------------------------------
    def service(self, engine: Engine) -> StopReason | None:
        """Called when cpu.icount reaches cpu.deadline: limits, interrupts, WFI, PSTATE.IL."""
        cpu = self.cpu
        interrupts = self.interrupts
        while True:
            if cpu.icount >= engine.limit:
                return StopReason("max-insns")
            interrupts.poll(cpu)
            if interrupts.take_pending(cpu) or not cpu.halted:
                break
            # in WFI: any pending interrupt wakes it, masked or not; else skip ahead to the next event
            if interrupts.any_pending(cpu):
                cpu.halted = False
                break
            event = interrupts.next_event(cpu)
            if event >= NEVER:
                return StopReason("wfi", message="WFI with interrupts that can never arrive")
            if event <= cpu.icount:  # an event source that is already due: let it be seen by running on
                cpu.halted = False
                break
            cpu.icount = min(event, engine.limit)
        if cpu.il:
            # PSTATE.IL (an illegal exception return): the next instruction takes EC 0x0E
            illegal_state(cpu)
        cpu.deadline = min(engine.limit, interrupts.next_event(cpu))
        return None

    # ---- events from the CPU ----------------------------------------------------------------
    def pstate_changed(self, *, may_unmask: bool = True) -> None:
        """EL, SP or PAN changed (exception entry/return, MSR): new memory context.

        The run loop looks for interrupts again only when one may have become takeable:
        never after an exception entry (it masks DAIF and raises the EL), and otherwise
        only when something is pending at all.
        """
        self.mem.switch(self.cpu)
        if may_unmask and self.interrupts.maybe_pending(self.cpu):
            self.engine.kick()

    def config_changed(self, r: SysReg) -> None:
        """A translation/mode control register was written: drop cached translations."""
        self.mem.config_written(self.cpu, r)
        self.mem.switch(self.cpu)
        self.engine.kick()
        self.hook.armnv_config_changed(cpu=self.cpu, reg=r)

    def adjust_saved_pstate(self, from_el: int, target_el: int, spsr: int, esr: int | None) -> int:
        new = self.hook.armnv_exception_entry(cpu=self.cpu, from_el=from_el, target_el=target_el, spsr=spsr, esr=esr)
        return spsr if new is None else new

    def entry_pstate(self, cpu: CPUState, target_el: int) -> None:
        """Feature rules for PSTATE on exception entry (syndromes.md §10)."""
        sctlr = cpu.sr[f"SCTLR_EL{target_el}"]
        if "ssbs" in self.features:
            cpu.ssbs = (sctlr >> 44) & 1
        if "nmi" in self.features:
            cpu.allint = 0 if (sctlr >> 62) & 1 else 1
        if self._entry_pstate_hooks:
            self.hook.armnv_entry_pstate(cpu=cpu, target_el=target_el)

    def current_el(self, cpu: CPUState) -> int:
        if self._current_el_hooks:
            el = self.hook.armnv_current_el(cpu=cpu)
            if el is not None:
                return el
        return cpu.el

    def unprivileged_el(self, cpu: CPUState) -> int:
        """The EL whose permissions LDTR/STTR check (pan.md §5)."""
        if self._unpriv_hooks:
            el = self.hook.armnv_unprivileged_el(cpu=cpu)
            if el is not None:
                return el
        if cpu.el == 1:
            return 1 if cpu.uao else 0
        if cpu.el == 2:
            e2h_tge = cpu.sr["HCR_EL2"] >> 27 & 1 and cpu.sr["HCR_EL2"] >> 34 & 1
            return 2 if cpu.uao or not e2h_tge else 0
        return 0

    def eret(self, cpu: CPUState, pc: int) -> int | None:
        if self._eret_hooks:
            return self.hook.armnv_eret(cpu=cpu, pc=pc)
        return None

    def msr_immediate(self, cpu: CPUState, op1: int, op2: int, crm: int) -> bool:
        return bool(self.hook.armnv_msr_immediate(cpu=cpu, op1=op1, op2=op2, crm=crm))

    def sctlr_a(self, cpu: CPUState) -> bool:
        """SCTLR_ELx.A of the current translation regime (alignment checking)."""
        el = cpu.el
        if el == 0:
            hcr = cpu.sr["HCR_EL2"]
            el = 2 if hcr & HCR_TGE and hcr >> 34 & 1 else 1
        return bool(cpu.sr[f"SCTLR_EL{max(el, 1)}"] & 2)

    # ---- logging -------------------------------------------------------------------------------
    def log_exception(self, from_el, target_el, vector, esr, return_pc, spsr, far) -> None:
        from framework.cpu.exceptions import HCR_AMO, HCR_FMO, HCR_IMO, KIND_NAMES

        cpu = self.cpu
        # an interrupt taken to EL1 while HCR_EL2 routes the physical one to EL2 is virtual
        route = {0x080: HCR_IMO, 0x100: HCR_FMO, 0x180: HCR_AMO}.get(vector, 0)
        self.logger.msg(
            "exception.entry",
            kind=KIND_NAMES[vector],
            virtual=bool(target_el == 1 and cpu.sr["HCR_EL2"] & route),
            from_el=from_el,
            to_el=target_el,
            esr=esr,
            far=far,
            spsr=spsr,
            elr=return_pc,
            pc=cpu.pc,
            pstate=cpu.pstate_bits(),
            **self.log_fields("exception.entry"),
        )
        if "cpu" in self.debug:
            self.logger.msg("cpu.dump", text=self.cpu_dump())

    def log_fields(self, event: str) -> dict[str, Any]:
        """Extra fields plugins add to a log event (hook armnv_log_fields)."""
        fields: dict[str, Any] = {}
        for extra in self.hook.armnv_log_fields(cpu=self.cpu, event=event):
            fields.update(extra or {})
        return fields

    def log_return(self, from_el: int, to_el: int, pc: int, spsr: int) -> None:
        self.logger.msg(
            "exception.return", from_el=from_el, to_el=to_el, pc=pc, spsr=spsr, **self.log_fields("exception.return")
        )

    def log_mmu_fault(self, va: int, esr: int, target_el: int) -> None:
        if "mmu" in self.debug:
            self.logger.msg("mmu.fault", va=va, esr=esr, to_el=target_el)

    def log_exec(self, blk: Any) -> None:
        from framework.disasm import disassemble

        for i, word in enumerate(blk.words):
            pc = blk.pc + 4 * i
            self.logger.msg("exec", pc=pc, word=word, asm=disassemble(word, pc), el=self.cpu.el)

    def log_block(self, blk: Any) -> None:
        from framework.disasm import disassemble

        pcs = [blk.pc + 4 * i for i in range(len(blk.words))]
        insns = [{"pc": pc, "word": w, "asm": disassemble(w, pc)} for pc, w in zip(pcs, blk.words, strict=True)]
        found = self.symbols.lookup(blk.pc)
        symbol = found[0] if found else ""
        self.logger.msg("in_asm", pc=blk.pc, pa=blk.pa, n=blk.n, symbol=symbol, insns=insns)

    def cpu_dump(self) -> str:
        cpu = self.cpu
        lines = []
        for i in range(0, 32, 4):
            cells = []
            for j in range(i, min(i + 4, 31)):
                cells.append(f"X{j:02d}={cpu.x[j]:016x}")
            if i == 28:
                cells.append(f"SP={cpu.x[31]:016x}")
            lines.append(" ".join(cells))
        n, z, c, v = (cpu.nzcv >> 31) & 1, (cpu.nzcv >> 30) & 1, (cpu.nzcv >> 29) & 1, (cpu.nzcv >> 28) & 1
        flags = ("N" if n else "-") + ("Z" if z else "-") + ("C" if c else "-") + ("V" if v else "-")
        words = [w for part in self.hook.armnv_cpu_dump(cpu=cpu) for w in (part or [])]
        pstate = f"PSTATE={cpu.pstate_bits():016x} {flags} NS EL{cpu.el}{'h' if cpu.spsel else 't'}"
        if "bti" in self.features:
            pstate += f"  BTYPE={cpu.btype}"
        if words:
            pstate += " " + " ".join(words)
        hcr = cpu.sr["HCR_EL2"]
        lines.insert(0, f"PC={cpu.pc:016x}")
        lines.append(pstate)
        sr = cpu.sr
        for el in (1, 2):
            lines.append(
                f"ELR_EL{el}={sr[f'ELR_EL{el}']:016x} SPSR_EL{el}={sr[f'SPSR_EL{el}']:08x} "
                f"ESR_EL{el}={sr[f'ESR_EL{el}']:08x} FAR_EL{el}={sr[f'FAR_EL{el}']:016x}"
            )
        lines.append(f"HCR_EL2={hcr:016x} {describe_hcr(hcr)}".rstrip())
        return "\n".join(lines)

    def close(self) -> None:
        if self._log_stream is not sys.stderr:
            self._log_stream.close()
