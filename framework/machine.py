"""Machine: a CPU, a bus, devices and plugins, built from a MachineConfig.

The board is QEMU's ``virt`` with EL2 and without EL3: RAM at 0x4000_0000,
PL011 at 0x0900_0000, GICv3 distributor at 0x0800_0000 and redistributors at
0x080A_0000 (from the GIC plugin), PSCI over SMC, semihosting on HLT #0xF000.
With ``virtualization=False`` (``-M virt,virtualization=off``) the CPU has no
EL2 (feature ``el2`` off): it starts at EL1 and PSCI is called with HVC, as
on QEMU's virt without virtualization.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import IO, TYPE_CHECKING, Any

import attrs

from framework import plugins
from framework.arch import (
    HCR_AMO,
    HCR_ARMV80_BITS,
    HCR_E2H,
    HCR_FMO,
    HCR_IMO,
    HCR_RW,
    PSTATE_C,
    PSTATE_DAIF,
    PSTATE_N,
    PSTATE_V,
    PSTATE_Z,
    describe_hcr,
)
from framework.bus import Bus
from framework.cpu.decisions import DirectCalls, EntryHookTable, Implemented
from framework.cpu.exceptions import illegal_state
from framework.cpu.interrupts import Interrupts
from framework.cpu.regdefs import base_registers
from framework.cpu.state import CPUState
from framework.cpu.sysregs import Registry, SysReg
from framework.devices.semihosting import SemihostingConfig
from framework.devices.timer import GenericTimer
from framework.devicetree import MAX_DTB_SIZE
from framework.engine import NEVER, Engine, StopReason
from framework.errors import ArmnvError
from framework.hooklog import DecisionLog, describe_access
from framework.levels import LevelCounters
from framework.loader import Image, SymbolTable
from framework.log import LogFile, make_logger
from framework.stats import Stats
from framework.stuck import ExceptionLoop
from framework.vclock import DEFAULT_SHIFT, VirtualClock
from framework.vmem import MemorySystem

RAM_BASE = 0x4000_0000
UART_BASE = 0x0900_0000
GICD_BASE = 0x0800_0000
GICR_BASE = 0x080A_0000

if TYPE_CHECKING:
    from framework.boot import BootLayout

# HCR_EL2 bits of the base architecture (Armv8.0 [33:0] + E2H for VHE)
HCR_BASE_MASK = HCR_ARMV80_BITS | HCR_E2H


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
    # False: no EL2 (-M virt,virtualization=off), the same as --cpu MODEL,el2=off
    virtualization: bool = True
    one_insn_per_block: bool = False
    # -icount shift=N: each instruction advances virtual time by 2**N ns
    icount_shift: int = DEFAULT_SHIFT
    # who may make semihosting calls (EL1 and EL2 always, EL0 with userspace=on)
    semihosting: SemihostingConfig = attrs.field(factory=SemihostingConfig)


class Machine:
    def __init__(self, config: MachineConfig | None = None, *, stdout: IO[bytes] | None = None) -> None:
        self.config = config = config or MachineConfig()
        if config.machine != "virt":
            raise ArmnvError(f"unknown machine {config.machine!r} (known: virt)")
        self.stdout = stdout if stdout is not None else sys.stdout.buffer
        self.stats = Stats()
        # counters by virtualization level (framework.levels): only when asked for, see attach()
        self.levels: LevelCounters | None = None
        self.debug = set(config.debug)
        self._log_stream: IO[str] | LogFile = LogFile(config.log_file) if config.log_file else sys.stderr
        self.logger = make_logger(config.log_format, self._log_stream)
        self.log_int = "int" in self.debug or "cpu" in self.debug
        # exception entry reports to an observer: the -d int log or the per-level counters
        self.observe_exceptions = self.log_int
        self.log_unimp = "unimp" in self.debug
        self.log_sysreg = "sysreg" in self.debug
        # access decisions are cached (framework.cpu.decisions.sysreg_access) unless every
        # one of them is to be seen being made
        self.cache_decisions = not ({"sysreg", "plugins"} & self.debug)
        # why the next exception is taken (a decision's explanation), shown by -d int
        self.pending_reason: str | None = None
        # trapped MRS/MSR/SYS by decision-cache key: (EC 0x18 syndrome, name counted by --stats)
        self.trapped_accesses: dict[int, tuple[int, str]] = {}

        # ---- plugins and features
        self.catalog = plugins.discover()
        model_name, overrides = plugins.parse_cpu_option(config.cpu)
        if not config.virtualization:
            if overrides.get("el2"):
                raise ArmnvError("-M virt,virtualization=off has no EL2, but --cpu switches el2 on")
            overrides["el2"] = False
        self.model = model = self.catalog.model(model_name)
        self.features = plugins.select_features(self.catalog, model, overrides)
        # ID register values after the feature rule (fields of disabled features lowered)
        self.id_regs = plugins.resolve_id_registers(self.catalog, model, self.features).values
        # -d plugins: who answered each decision (nothing of it exists otherwise)
        self.decision_log = DecisionLog(self.logger) if "plugins" in self.debug else None
        self._adapt = self.decision_log.adapt if self.decision_log is not None else None
        self.pm = plugins.machine_manager(self.catalog, self.features, self._adapt)
        self.hook = self.pm.hook
        if self.decision_log is not None:
            self.decision_log.install(self.pm)
            for name, plugin in self.pm.list_name_plugin():
                self.decision_log.registered(name, plugin)

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
        self.clock = VirtualClock(config.icount_shift)
        self.exception_loop = ExceptionLoop()
        # a stop the run loop returns at its next look (a guest stuck in an exception loop)
        self.stop_request: StopReason | None = None
        self.timer = GenericTimer(self)
        self.mem = MemorySystem(self)
        self.mem.pa_bits = self._pa_bits()
        self._hooks_changed()
        self.engine = Engine(self, max_block=1 if config.one_insn_per_block or "nochain" in self.debug else 64)
        self.engine.trace_exec = "exec" in self.debug
        self.engine.trace_in_asm = "in_asm" in self.debug
        self.engine.log_unimp = self.log_unimp
        from framework.devices import build_board_devices

        self.devices = build_board_devices(self)
        self.devices["timer"] = self.timer
        # HVC goes to the board's PSCI firmware, not to EL2 (no EL2: QEMU's virt)
        self.hvc_is_psci = self.devices["psci"].conduit == "hvc"
        self.hook.armnv_devices(machine=self)

        from framework.cpu.exceptions import restorable_bits

        self.restorable_pstate = restorable_bits(self)
        # whether exception entry applies the kernel's SCTLR_ELx-driven PSTATE rules (SSBS, ALLINT)
        self.entry_ssbs = "ssbs" in self.features
        self.entry_nmi = "nmi" in self.features
        self.reset()
        self.hook.armnv_machine_built(machine=self)
        self.symbols = SymbolTable()
        self.boot_layout: BootLayout | None = None
        self.start_time = 0.0
        self.run_time = 0.0

    # ---- plugins ------------------------------------------------------------------------
    def register_plugin(self, plugin: object, name: str | None = None) -> str:
        """Add `plugin` (a module or an object with hook implementations) to the built machine.

        This is the one way to add a plugin after the build (tests and tools with a
        stand-in plugin). It may implement decision and notification hooks; the
        declarations (features, CPU models, registers, HCR_EL2 bits, devices) shape the
        machine while it is built, so a plugin implementing one is an error here. The
        machine then recomputes everything it derives from its set of hooks: which
        decision hooks the kernel asks, the memory contexts with the translations and
        permissions cached in them, the translated code, and — through
        `armnv_plugins_changed` — whatever plugins derive themselves. Returns the name
        it was registered under (default: the module's or the class's name).
        """
        if name is None:
            name = getattr(plugin, "__name__", None) or type(plugin).__name__
        built = sorted(set(plugins.implemented_hooks(plugin)) & plugins.BUILD_HOOKS)
        if built:
            raise ArmnvError(
                f"plugin {name!r} implements {', '.join(built)}, which only a machine being built can use"
                " (declare the plugin through the armnv entry-point group)"
            )
        plugins.register(self.pm, plugin, name, self._adapt)
        if self.decision_log is not None:
            self.decision_log.registered(name, plugin)
        self._hooks_changed()
        self.mem.drop_contexts(self.cpu)
        self.engine.flush_all_code()
        self.engine.kick()
        self.hook.armnv_plugins_changed(machine=self)
        return name

    def _hooks_changed(self) -> None:
        """Recompute what the kernel derives from the set of hook implementations."""
        self.implements = Implemented.of(self.hook)
        self.direct = DirectCalls.of(self.hook, monitored="plugins" in self.debug)
        self.entry_table = EntryHookTable(self.hook, monitored="plugins" in self.debug)
        self.cpu.entry_hooks = None
        self.cpu.entry_plans.clear()  # they hold the hooks
        self.mem.has_translate_hook = self.implements.translate
        self.mem.has_pan_hook = self.implements.pan_active

    # ---- build helpers ----------------------------------------------------------------
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
        # without EL2 nothing can write HCR_EL2; EL1 is AArch64, as if RW were set (the only
        # bit of it that still matters: the register width of EL1 and EL0)
        sr["HCR_EL2"] = self.hcr_res1 if "el2" in self.features else self.hcr_res1 | HCR_RW
        for name in ("SPSR_EL1", "SPSR_EL2", "ELR_EL1", "ELR_EL2", "ESR_EL1", "ESR_EL2", "FAR_EL1", "FAR_EL2"):
            sr.setdefault(name, 0)
        # the highest implemented EL: no EL3 on the virt board
        cpu.el = 2 if "el2" in self.features else 1
        cpu.spsel = 1
        cpu.daif = PSTATE_DAIF.mask
        cpu.icount = 0
        self.clock.reset()
        self.exception_loop.reset()
        self.mem.switch(cpu)

    # ---- loading and running -------------------------------------------------------------
    def load(
        self, path: str, load_addr: int | None = None, *, initrd: str | None = None, dtb: str | None = None
    ) -> int:
        """Boot `path` as QEMU's virt boots ``-kernel`` (`framework.boot`); return the entry point.

        An ELF, a raw image at `load_addr`, or a Linux Image / raw kernel placed by
        the Linux boot protocol; `initrd` and `dtb` (the user's tree instead of the
        board's) are files. The PC is the entry point and x0 the device tree's address.
        """
        from framework import boot

        image = self._read_image(path, load_addr)
        initrd_data = boot.read_file(initrd, "--initrd", boot.MAX_INITRD) if initrd is not None else None
        dtb_data = boot.read_file(dtb, "--dtb", MAX_DTB_SIZE) if dtb is not None else None
        self.boot_layout = boot.boot(self, image, initrd=initrd_data, dtb=dtb_data, dtb_path=dtb or "")
        self.symbols = image.symbols
        return image.entry

    def _read_image(self, path: str, load_addr: int | None = None) -> Image:
        """Read and place (but do not load) an image for this machine's RAM."""
        from framework.loader import load_image

        ram = self.bus.ram
        return load_image(path, load_addr, ram=(ram.base, ram.size))

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
            if self.levels is not None:
                self.levels.settle(self.cpu)
            self.flush_output()

    def flush_output(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self.stdout.flush()

    # ---- the run loop's slow path ----------------------------------------------------------
    def service(self, engine: Engine) -> StopReason | None:
        """Called when cpu.icount reaches cpu.deadline: limits, interrupts, WFI/WFE, PSTATE.IL."""
        cpu = self.cpu
        interrupts = self.interrupts
        if self.stop_request is not None:
            stop, self.stop_request = self.stop_request, None
            return stop
        levels = self.levels
        if levels is not None and levels.pending:
            levels.settle(cpu)
        while True:
            if cpu.icount >= engine.limit:
                return StopReason("max-insns")
            interrupts.poll(cpu)
            if interrupts.take_pending(cpu) or not cpu.halted:
                break
            # waiting: any pending interrupt wakes it, masked or not; else virtual time jumps to the
            # next event (idle time: no instructions run, framework.vclock)
            if interrupts.any_pending(cpu):
                cpu.halted = False
                break
            event = interrupts.next_event_time(cpu)
            if event >= NEVER:
                if cpu.in_wfe:  # a WFE may end at any time: with nothing to wait for, at once
                    cpu.halted = False
                    break
                return StopReason("wfi", message="WFI with interrupts that can never arrive")
            if event <= self.clock.now(cpu):  # an event source that is already due: run on to see it
                cpu.halted = False
                break
            self.clock.skip_to(cpu, event)
        if not cpu.halted:
            cpu.in_wfe = False
        if cpu.il:
            # PSTATE.IL (an illegal exception return): the next instruction takes EC 0x0E
            illegal_state(cpu)
        if levels is not None and levels.pending:
            levels.settle(cpu)  # an interrupt or EC 0x0E just taken: no instruction ran since
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
        if not may_unmask:
            # exception entry, the one change that cannot unmask: is the guest going round in circles?
            loop = self.exception_loop
            if loop.entries:
                stuck = loop.entered(self.cpu)
                if stuck is not None:
                    self.request_stop("exception-loop", stuck)
            else:
                loop.entries = 1
            return
        self.exception_loop.progressed()
        if self.interrupts.maybe_pending(self.cpu):
            self.engine.kick()

    def request_stop(self, kind: str, message: str) -> None:
        """Stop the run at the run loop's next look (the end of the current block)."""
        self.stop_request = StopReason(kind, message=message)
        self.engine.kick()

    def decisions_changed(self) -> None:
        """A register access decisions read was written (`SysReg.decides`): drop the decision caches.

        The kick ends the current block, whose later instructions may rely on the old
        answer (an FP/SIMD check done earlier in the block, a redirected access).
        """
        self.mem.drop_decisions(self.cpu)
        self.engine.kick()

    def config_changed(self, r: SysReg) -> None:
        """A translation/mode control register was written: drop cached translations."""
        self.mem.config_written(self.cpu, r)
        self.mem.switch(self.cpu)
        self.engine.kick()
        self.hook.armnv_config_changed(cpu=self.cpu, reg=r)

    # ---- logging -------------------------------------------------------------------------------
    def log_exception(self, from_el, target_el, vector, esr, return_pc, spsr, far) -> None:
        from framework.cpu.exceptions import KIND_NAMES

        cpu = self.cpu
        # an interrupt taken to EL1 while HCR_EL2 routes the physical one to EL2 is virtual
        route = {0x080: HCR_IMO, 0x100: HCR_FMO, 0x180: HCR_AMO}.get(vector, 0)
        reason, self.pending_reason = self.pending_reason, None
        extra = {"reason": reason} if reason is not None and vector == 0 else {}
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
            **extra,
            **self.log_fields("exception.entry"),
        )
        if "cpu" in self.debug:
            self.logger.msg("cpu.dump", text=self.cpu_dump())

    def explain(self, text: str, *, rule: str = "") -> None:
        """A decision's explanation: on the next exception entry (-d int) and as an event (-d sysreg)."""
        if self.log_int:
            self.pending_reason = text
        if self.log_sysreg:
            self.logger.msg("sysreg.decision", text=text, rule=rule)

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

    def log_unimp_insn(self, word: int, pc: int) -> None:
        """-d unimp: an unallocated (or switched-off) encoding is about to UNDEF."""
        self.logger.msg("unimp.insn", pc=pc, word=word, el=self.cpu.el)

    def log_unimp_sysreg(self, key: int, reg: SysReg | None, is_read: bool) -> None:
        """-d unimp: an MRS/MSR/SYS/SYSL of an encoding this machine does not implement."""
        what = describe_access(key, reg, is_read)
        if reg is not None:
            what += f" (feature {reg.feature} is off)"
        self.logger.msg("unimp.sysreg", pc=self.cpu.pc, access=what, el=self.cpu.el)

    def log_unimp_msr(self, op1: int, op2: int, crm: int) -> None:
        """-d unimp: an MSR (immediate) to a PSTATE field nothing implements."""
        self.logger.msg("unimp.msr_imm", pc=self.cpu.pc, op1=op1, op2=op2, crm=crm, el=self.cpu.el)

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
        n, z, c, v = (cpu.nzcv & bit for bit in (PSTATE_N, PSTATE_Z, PSTATE_C, PSTATE_V))
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
        if isinstance(self._log_stream, LogFile):
            self._log_stream.close()
