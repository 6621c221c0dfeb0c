"""Differential test of the base integer instruction set against unicorn (QEMU's TCG).

Random straight-line sequences of data-processing instructions (immediate and register, flag
setting ones, conditional select and compare), loads and stores of every size and addressing
form on a scratch buffer (general-purpose and FP/SIMD registers, pairs, LSE atomics, exclusives,
load-acquire/store-release), and forward conditional branches are assembled by the GNU
assembler, then run from the same random register state on unicorn and on armnv. Every X and
V register, SP, NZCV and the scratch buffer must agree afterwards.

Many sequences share one assembled program: sequence k runs from `seq_k` to `end_k`, a
branch-to-self that unicorn stops at and armnv spins on until its instruction budget is spent.
ARMNV_DIFF_SEQUENCES sets the number of sequences (default 300).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

import attrs
import pytest

from framework.loader import load_image
from framework.testing import assemble, make_machine

try:
    import unicorn
    from unicorn import arm64_const as uc_arm64
except ImportError as exc:
    # unicorn is in the test extra: without it this comparison must fail, never pass as a skip
    raise ImportError(f"the differential test needs unicorn: pip install -e '.[test]' ({exc})") from exc

SEED = 0x0A64_D1FF
N_SEQUENCES = int(os.environ.get("ARMNV_DIFF_SEQUENCES", "300"))
PER_BATCH = 100
SINGLE_INSN_SHARE = 4  # one sequence in this many also runs with one instruction per block

M64 = (1 << 64) - 1
RAM = 0x4000_0000
RAM_SIZE = 0x40_0000
SCRATCH = 0x4030_0000
SCRATCH_SIZE = 0x800
BASE = 28  # holds the scratch address; no instruction but a writeback may change it
BASE2 = 27  # a 16-byte aligned scratch address for atomics and exclusives; never written
# x28 stays within [BASE_LO, BASE_HI] of the buffer, so every offset form below stays inside it
BASE_LO, BASE_HI = 0x200, 0x600

FP_SIZES = ((1, "b"), (2, "h"), (4, "s"), (8, "d"), (16, "q"))
CONDS = ("eq", "ne", "cs", "cc", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al", "nv")
SPECIAL = (
    0,
    1,
    2,
    0x7F,
    0x80,
    0xFF,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    0x1_0000_0000,
    0x7FFF_FFFF_FFFF_FFFF,
    0x8000_0000_0000_0000,
    0xFFFF_FFFF_8000_0000,
    M64 - 1,
    M64,
)


def random_value(rng: random.Random) -> int:
    k = rng.random()
    if k < 0.2:
        return rng.choice(SPECIAL)
    if k < 0.35:
        return rng.getrandbits(8)
    if k < 0.5:
        return rng.getrandbits(32)
    if k < 0.6:
        return M64 - rng.getrandbits(8)
    if k < 0.7:
        v = rng.getrandbits(32)
        return v | (0xFFFF_FFFF_0000_0000 if v >> 31 else 0)
    return rng.getrandbits(64)


def bitmask_immediate(rng: random.Random, width: int) -> int:
    """A random value encodable as a logical immediate: a rotated run of ones, replicated."""
    esize = rng.choice([e for e in (2, 4, 8, 16, 32, 64) if e <= width])
    run = rng.randrange(1, esize)
    rot = rng.randrange(esize)
    elem = (1 << run) - 1
    elem = ((elem >> rot) | (elem << (esize - rot))) & ((1 << esize) - 1)
    return sum(elem << i for i in range(0, width, esize))


class SequenceGen:
    """One random sequence: a list of units (instructions that must run together)."""

    def __init__(self, rng: random.Random, tag: int) -> None:
        self.rng = rng
        self.tag = tag
        self.units: list[list[str]] = []
        self.base_lo = self.base_hi = 0x400  # the range of x28 - SCRATCH over all paths

    # ---- operands ----------------------------------------------------------------------
    def reg(self, sf: int, *, zr: bool = True, sp: bool = False, dest: bool = False) -> str:
        """A register name; `zr`/`sp` allow number 31 as XZR/SP; destinations avoid x28."""
        rng = self.rng
        choices = [n for n in range(31) if not (dest and n in (BASE, BASE2))]
        n = rng.choice(choices)
        if rng.random() < 0.12 and (zr or sp):
            n = 31
        if n == 31:
            if sp and (not zr or rng.random() < 0.5):
                return "sp" if sf else "wsp"
            return "xzr" if sf else "wzr"
        return f"{'x' if sf else 'w'}{n}"

    def label(self, unit: int) -> str:
        return f".L{self.tag}_{unit}"

    def forward_label(self) -> str:
        """A label after the current unit (the units after it are not generated yet)."""
        return f"@fwd{self.rng.randrange(1, 6)}"

    # ---- data processing, immediate -------------------------------------------------------
    def addsub_imm(self) -> list[str]:
        rng = self.rng
        sf = rng.getrandbits(1)
        S = rng.getrandbits(1)
        mn = rng.choice(("add", "sub")) + ("s" if S else "")
        rd = self.reg(sf, zr=bool(S), sp=not S, dest=True)
        rn = self.reg(sf, zr=False, sp=True)
        shift = ", lsl #12" if rng.random() < 0.3 else ""
        return [f"{mn} {rd}, {rn}, #{rng.randrange(4096)}{shift}"]

    def logical_imm(self) -> list[str]:
        rng = self.rng
        sf = rng.getrandbits(1)
        mn = rng.choice(("and", "orr", "eor", "ands"))
        rd = self.reg(sf, zr=mn == "ands", sp=mn != "ands", dest=True)
        return [f"{mn} {rd}, {self.reg(sf)}, #{bitmask_immediate(rng, 64 if sf else 32):#x}"]

    def move_wide(self) -> list[str]:
        rng = self.rng
        sf = rng.getrandbits(1)
        mn = rng.choice(("movz", "movn", "movk"))
        hw = rng.randrange(4 if sf else 2)
        return [f"{mn} {self.reg(sf, dest=True)}, #{rng.getrandbits(16):#x}, lsl #{16 * hw}"]

    def bitfield(self) -> list[str]:
        rng = self.rng
        sf = rng.getrandbits(1)
        w = 64 if sf else 32
        mn = rng.choice(("sbfm", "bfm", "ubfm"))
        if rng.random() < 0.3:  # an alias spelled out, with edge positions
            lsb = rng.choice((0, 1, w - 1, rng.randrange(w)))
            width = rng.randrange(1, w - lsb + 1)
            mn = rng.choice(("ubfx", "sbfx", "bfi", "bfxil", "ubfiz", "sbfiz"))
            return [f"{mn} {self.reg(sf, dest=True)}, {self.reg(sf)}, #{lsb}, #{width}"]
        return [f"{mn} {self.reg(sf, dest=True)}, {self.reg(sf)}, #{rng.randrange(w)}, #{rng.randrange(w)}"]

    def extr(self) -> list[str]:
        rng = self.rng
        sf = rng.getrandbits(1)
        lsb = rng.randrange(64 if sf else 32)
        return [f"extr {self.reg(sf, dest=True)}, {self.reg(sf)}, {self.reg(sf)}, #{lsb}"]

    def adr(self) -> list[str]:
        mn = self.rng.choice(("adr", "adrp"))
        target = self.label(self.rng.randrange(len(self.units) + 1))
        return [f"{mn} {self.reg(1, dest=True)}, {target}"]

    # ---- data processing, register -------------------------------------------------------------
    def addsub_shifted(self) -> list[str]:
        rng = self.rng
        sf = rng.getrandbits(1)
        mn = rng.choice(("add", "sub", "adds", "subs"))
        amount = rng.choice((0, 1, (32 << sf) - 1, rng.randrange(32 << sf)))
        shift = rng.choice(("lsl", "lsr", "asr"))
        return [f"{mn} {self.reg(sf, dest=True)}, {self.reg(sf)}, {self.reg(sf)}, {shift} #{amount}"]

    def addsub_extended(self) -> list[str]:
        rng = self.rng
        sf = rng.getrandbits(1)
        S = rng.getrandbits(1)
        mn = rng.choice(("add", "sub")) + ("s" if S else "")
        ext = rng.choice(("uxtb", "uxth", "uxtw", "uxtx", "sxtb", "sxth", "sxtw", "sxtx"))
        rm = self.reg(1 if sf and ext.endswith("x") else 0)
        rd = self.reg(sf, zr=bool(S), sp=not S, dest=True)
        rn = self.reg(sf, zr=False, sp=True)
        return [f"{mn} {rd}, {rn}, {rm}, {ext} #{rng.randrange(5)}"]

    def logical_shifted(self) -> list[str]:
        rng = self.rng
        sf = rng.getrandbits(1)
        mn = rng.choice(("and", "bic", "orr", "orn", "eor", "eon", "ands", "bics"))
        amount = rng.choice((0, (32 << sf) - 1, rng.randrange(32 << sf)))
        shift = rng.choice(("lsl", "lsr", "asr", "ror"))
        return [f"{mn} {self.reg(sf, dest=True)}, {self.reg(sf)}, {self.reg(sf)}, {shift} #{amount}"]

    def carry(self) -> list[str]:
        rng = self.rng
        sf = rng.getrandbits(1)
        mn = rng.choice(("adc", "adcs", "sbc", "sbcs", "ngc", "ngcs"))
        if mn.startswith("ngc"):
            return [f"{mn} {self.reg(sf, dest=True)}, {self.reg(sf)}"]
        return [f"{mn} {self.reg(sf, dest=True)}, {self.reg(sf)}, {self.reg(sf)}"]

    def cond_compare(self) -> list[str]:
        rng = self.rng
        sf = rng.getrandbits(1)
        mn = rng.choice(("ccmp", "ccmn"))
        second = f"#{rng.randrange(32)}" if rng.getrandbits(1) else self.reg(sf)
        return [f"{mn} {self.reg(sf)}, {second}, #{rng.randrange(16)}, {rng.choice(CONDS)}"]

    def cond_select(self) -> list[str]:
        rng = self.rng
        sf = rng.getrandbits(1)
        cond = rng.choice(CONDS)
        if rng.random() < 0.25:
            cond = rng.choice(CONDS[:14])  # the aliases take no AL/NV
            mn = rng.choice(("cset", "csetm"))
            return [f"{mn} {self.reg(sf, dest=True)}, {cond}"]
        mn = rng.choice(("csel", "csinc", "csinv", "csneg"))
        return [f"{mn} {self.reg(sf, dest=True)}, {self.reg(sf)}, {self.reg(sf)}, {cond}"]

    def one_source(self) -> list[str]:
        rng = self.rng
        sf = rng.getrandbits(1)
        mn = rng.choice(("rbit", "rev16", "rev", "clz", "cls") + (("rev32",) if sf else ()))
        return [f"{mn} {self.reg(sf, dest=True)}, {self.reg(sf)}"]

    def two_source(self) -> list[str]:
        rng = self.rng
        sf = rng.getrandbits(1)
        if rng.random() < 0.2:
            c = rng.choice(("", "c"))
            size = rng.choice("bhwx")
            rm = self.reg(1 if size == "x" else 0)
            return [f"crc32{c}{size} {self.reg(0, dest=True)}, {self.reg(0)}, {rm}"]
        mn = rng.choice(("udiv", "sdiv", "lslv", "lsrv", "asrv", "rorv"))
        return [f"{mn} {self.reg(sf, dest=True)}, {self.reg(sf)}, {self.reg(sf)}"]

    def three_source(self) -> list[str]:
        rng = self.rng
        k = rng.randrange(3)
        if k == 0:
            sf = rng.getrandbits(1)
            mn = rng.choice(("madd", "msub"))
            return [f"{mn} {self.reg(sf, dest=True)}, {self.reg(sf)}, {self.reg(sf)}, {self.reg(sf)}"]
        if k == 1:
            mn = rng.choice(("smaddl", "smsubl", "umaddl", "umsubl"))
            return [f"{mn} {self.reg(1, dest=True)}, {self.reg(0)}, {self.reg(0)}, {self.reg(1)}"]
        mn = rng.choice(("smulh", "umulh"))
        return [f"{mn} {self.reg(1, dest=True)}, {self.reg(1)}, {self.reg(1)}"]

    def flagm(self) -> list[str]:
        rng = self.rng
        if rng.getrandbits(1):
            return [f"rmif {self.reg(1)}, #{rng.randrange(64)}, #{rng.randrange(16)}"]
        return [f"{rng.choice(('setf8', 'setf16'))} {self.reg(0)}"]

    # ---- loads and stores ------------------------------------------------------------------------
    SIZES = (
        # mnemonic, bytes, register: "w"/"x" general-purpose, "b"/"h"/"s"/"d"/"q" FP/SIMD
        ("strb", 1, "w"),
        ("strh", 2, "w"),
        ("str", 4, "w"),
        ("str", 8, "x"),
        ("ldrb", 1, "w"),
        ("ldrh", 2, "w"),
        ("ldr", 4, "w"),
        ("ldr", 8, "x"),
        ("ldrsb", 1, "w"),
        ("ldrsb", 1, "x"),
        ("ldrsh", 2, "w"),
        ("ldrsh", 2, "x"),
        ("ldrsw", 4, "x"),
        *((mn, size, kind) for mn in ("ldr", "str") for size, kind in FP_SIZES),
    )

    def target(self, kind: str) -> str:
        """A transfer register of `kind`; general-purpose ones avoid the two base registers."""
        if kind in "wx":
            return self.reg(int(kind == "x"), dest=True)
        return f"{kind}{self.rng.randrange(32)}"

    def writeback(self, step: int, lo: int, hi: int) -> int:
        """A change of x28 by a multiple of `step` in [lo, hi] that keeps it in its window on every path."""
        lo = max(lo, BASE_LO - self.base_lo)
        hi = min(hi, BASE_HI - self.base_hi)
        choices = range(-(-lo // step) * step, hi + 1, step)
        delta = self.rng.choice(choices) if choices else 0
        self.base_lo = min(self.base_lo, self.base_lo + delta)
        self.base_hi = max(self.base_hi, self.base_hi + delta)
        return delta

    def load_store(self) -> list[str]:
        rng = self.rng
        mn, size, kind = rng.choice(self.SIZES)
        rt = self.target(kind)
        fp = kind not in "wx"
        form = rng.randrange(6)
        if form == 0:  # unsigned scaled offset
            off = rng.randrange(0x1F0 // size + 1) * size
            return [f"{mn} {rt}, [x{BASE}, #{off}]"]
        if form == 1 or (form == 2 and fp):  # unscaled (LDUR/STUR)
            return [f"{mn[:2]}ur{mn[3:]} {rt}, [x{BASE}, #{rng.randrange(-256, 256)}]"]
        if form == 2:  # unprivileged (LDTR/STTR)
            return [f"{mn[:2]}tr{mn[3:]} {rt}, [x{BASE}, #{rng.randrange(-256, 256)}]"]
        if form == 3:  # pre/post-index
            delta = self.writeback(1, -256, 255)
            if rng.getrandbits(1):
                return [f"{mn} {rt}, [x{BASE}, #{delta}]!"]
            return [f"{mn} {rt}, [x{BASE}], #{delta}"]
        if form == 4:  # register offset, index set just before
            idx = rng.choice([n for n in range(BASE2) if rt[1:] != str(n)])
            scale = rng.choice((0, size.bit_length() - 1))
            amount = f" #{scale}" if scale or rng.getrandbits(1) else ""
            value = rng.randrange(-(256 >> scale), 256 >> scale)
            ext = rng.choice(("lsl", "sxtw", "uxtw", "sxtx"))
            if ext == "uxtw":
                value = abs(value)
            if ext in ("lsl", "sxtx"):
                setup = f"mov x{idx}, #{value}"
                index = f"x{idx}"
            else:
                setup = f"mov w{idx}, #{value & 0xFFFFFFFF:#x}" if value >= 0 else f"movn w{idx}, #{~value}"
                index = f"w{idx}"
            if ext == "lsl" and not amount:
                return [setup, f"{mn} {rt}, [x{BASE}, {index}]"]
            return [setup, f"{mn} {rt}, [x{BASE}, {index}, {ext}{amount}]"]
        # PC-relative literal: load the instruction words of this very sequence
        if mn == "ldrsw" or (mn == "ldr" and (kind in "wx" or size >= 4)):
            return [f"{mn} {rt}, {self.label(rng.randrange(len(self.units) + 1))}"]
        return [f"prfm pldl1keep, [x{BASE}, #{rng.randrange(64) * 8}]"]

    PAIRS = (
        ("stp", 4, "w"),
        ("stp", 8, "x"),
        ("ldp", 4, "w"),
        ("ldp", 8, "x"),
        ("ldpsw", 4, "x"),
        *((mn, size, kind) for mn in ("ldp", "stp") for size, kind in FP_SIZES[2:]),
    )

    def pair(self) -> list[str]:
        rng = self.rng
        mn, size, kind = rng.choice(self.PAIRS)
        rt1 = self.target(kind)
        rt2 = self.target(kind)
        while mn != "stp" and rt2 == rt1:  # a load pair into one register is UNPREDICTABLE
            rt2 = self.target(kind)
        form = rng.randrange(4)
        if form == 0:
            return [f"{mn} {rt1}, {rt2}, [x{BASE}, #{rng.randrange(-16, 16) * size}]"]
        if form == 1 and mn != "ldpsw":  # non-temporal hint forms
            return [f"{mn[:2]}n{mn[2:]} {rt1}, {rt2}, [x{BASE}, #{rng.randrange(-16, 16) * size}]"]
        delta = self.writeback(size, -64 * size, 63 * size)
        if form == 2:
            return [f"{mn} {rt1}, {rt2}, [x{BASE}, #{delta}]!"]
        return [f"{mn} {rt1}, {rt2}, [x{BASE}], #{delta}"]

    def atomic(self) -> list[str]:
        """LSE atomics, CAS/CASP, load-acquire/store-release and exclusive pairs on [x27] (aligned)."""
        rng = self.rng
        sz = rng.choice(("b", "h", "w", "x"))
        suffix = "" if sz in "wx" else sz
        sf = int(sz == "x")
        order = rng.choice(("", "a", "l", "al"))
        k = rng.randrange(6)
        if k == 0:
            ops = ["add", "clr", "eor", "set", "umax", "umin"]
            if sz == "x":
                # unicorn (QEMU 5.0) compares a sign-extended memory value with an unextended Rs
                # for LDSMAX/LDSMIN of bytes, halfwords and words: only the 64-bit forms agree
                ops += ["smax", "smin"]
            op = rng.choice(ops)
            return [f"ld{op}{order}{suffix} {self.reg(sf)}, {self.reg(sf, dest=True)}, [x{BASE2}]"]
        if k == 1:
            return [f"swp{order}{suffix} {self.reg(sf)}, {self.reg(sf, dest=True)}, [x{BASE2}]"]
        if k == 2:  # compare and swap; half the time the comparison is made to succeed
            rs = self.reg(sf, zr=False, dest=True)
            unit = [f"cas{order}{suffix} {rs}, {self.reg(sf)}, [x{BASE2}]"]
            if rng.getrandbits(1):
                unit.insert(0, f"ldr{suffix} {rs}, [x{BASE2}]")
            if rng.random() < 0.3:
                s, t = rng.choice(range(0, 26, 2)), rng.choice(range(0, 30, 2))
                r = "x" if sf else "w"
                unit = [f"casp{order} {r}{s}, {r}{s + 1}, {r}{t}, {r}{t + 1}, [x{BASE2}]"]
            return unit
        if k == 3:  # ordered single accesses
            mn = rng.choice(("ldar", "stlr", "ldapr", "ldapur", "stlur"))
            if mn.endswith("ur"):
                nbytes = {"b": 1, "h": 2, "w": 4, "x": 8}[sz]
                off = rng.randrange(-256 // nbytes, 256 // nbytes) * nbytes
                return [f"{mn}{suffix} {self.reg(sf, dest=True)}, [x{BASE2}, #{off}]"]
            return [f"{mn}{suffix} {self.reg(sf, dest=True)}, [x{BASE2}]"]
        # exclusive pair: the store finds the monitor the load opened (status 0)
        acq, rel = rng.choice((("", ""), ("a", "l")))
        status = f"w{rng.choice([n for n in range(BASE2)])}"
        if k == 4:
            rt = self.reg(sf, zr=False, dest=True)
            while rt[1:] == status[1:]:
                rt = self.reg(sf, zr=False, dest=True)
            value = self.reg(sf)
            while value[1:] == status[1:]:
                value = self.reg(sf)
            return [f"ld{acq}xr{suffix} {rt}, [x{BASE2}]", f"st{rel}xr{suffix} {status}, {value}, [x{BASE2}]"]
        r = "x" if rng.getrandbits(1) else "w"
        a, b, c, d = rng.sample([n for n in range(BASE2) if n != int(status[1:])], 4)
        return [f"ld{acq}xp {r}{a}, {r}{b}, [x{BASE2}]", f"st{rel}xp {status}, {r}{c}, {r}{d}, [x{BASE2}]"]

    # ---- branches -----------------------------------------------------------------------------------
    def branch(self) -> list[str]:
        rng = self.rng
        target = self.forward_label()
        k = rng.randrange(4)
        if k == 0:
            return [f"b.{rng.choice(CONDS)} {target}"]
        if k == 1:
            sf = rng.getrandbits(1)
            return [f"{rng.choice(('cbz', 'cbnz'))} {self.reg(sf)}, {target}"]
        if k == 2:
            sf = rng.getrandbits(1)
            return [f"{rng.choice(('tbz', 'tbnz'))} {self.reg(sf)}, #{rng.randrange(64 if sf else 32)}, {target}"]
        return [f"b {target}"]

    # ---- the sequence -------------------------------------------------------------------------------------
    def kinds(self) -> list[tuple[Callable[[], list[str]], int]]:
        kinds = [
            (self.addsub_imm, 6),
            (self.logical_imm, 4),
            (self.move_wide, 3),
            (self.bitfield, 4),
            (self.extr, 2),
            (self.adr, 1),
            (self.addsub_shifted, 6),
            (self.addsub_extended, 4),
            (self.logical_shifted, 5),
            (self.carry, 4),
            (self.cond_compare, 4),
            (self.cond_select, 5),
            (self.one_source, 3),
            (self.two_source, 4),
            (self.three_source, 4),
            (self.flagm, 2),
            (self.load_store, 10),
            (self.branch, 5),
            (self.pair, 4),
            (self.atomic, 4),
        ]
        return kinds

    def generate(self) -> list[str]:
        rng = self.rng
        funcs, weights = zip(*self.kinds(), strict=True)
        n = rng.randrange(6, 25)
        for _ in range(n):
            self.units.append(rng.choices(funcs, weights)[0]())
        lines = [f"seq_{self.tag}:"]
        for i, unit in enumerate(self.units):
            lines.append(f"{self.label(i)}:")
            for insn in unit:
                if "@fwd" in insn:
                    ahead = int(insn.rsplit("@fwd", 1)[1])
                    dest = i + ahead
                    insn = insn.replace(f"@fwd{ahead}", self.label(dest) if dest < n else f"end_{self.tag}")
                lines.append(f"    {insn}")
        lines.append(f"{self.label(n)}:")
        lines.append(f"end_{self.tag}:")
        lines.append(f"    b end_{self.tag}")
        return lines


# ---- running -----------------------------------------------------------------------------------------


class Case:
    """One sequence with its initial state."""

    def __init__(self, rng: random.Random, tag: int) -> None:
        self.tag = tag
        self.lines = SequenceGen(rng, tag).generate()
        self.regs = [random_value(rng) for _ in range(31)]
        self.regs[BASE] = SCRATCH + 0x400
        self.regs[BASE2] = SCRATCH + 0x100
        self.vregs = [rng.choice((0, rng.getrandbits(128), rng.getrandbits(64))) for _ in range(32)]
        self.sp = random_value(rng)
        self.nzcv = rng.getrandbits(4) << 28
        self.memory = rng.randbytes(SCRATCH_SIZE)
        self.budget = 4 * len(self.lines) + 16


@attrs.define
class Result:
    regs: list[int]
    sp: int
    nzcv: int
    pc: int
    vregs: list[int]
    memory: bytes

    def state(self) -> tuple:
        return self.regs, self.sp, self.nzcv, self.vregs, self.memory


UC_X = [getattr(uc_arm64, f"UC_ARM64_REG_X{i}") for i in range(31)]
UC_Q = [getattr(uc_arm64, f"UC_ARM64_REG_Q{i}") for i in range(32)]


def run_unicorn(uc, case: Case, start: int, end: int) -> Result:
    for reg, value in zip(UC_X + UC_Q, case.regs + case.vregs, strict=True):
        uc.reg_write(reg, value)
    uc.reg_write(uc_arm64.UC_ARM64_REG_SP, case.sp)
    uc.reg_write(uc_arm64.UC_ARM64_REG_NZCV, case.nzcv)
    uc.mem_write(SCRATCH, case.memory)
    uc.emu_start(start, end, count=case.budget)
    return Result(
        [uc.reg_read(r) for r in UC_X],
        uc.reg_read(uc_arm64.UC_ARM64_REG_SP),
        uc.reg_read(uc_arm64.UC_ARM64_REG_NZCV) & 0xF000_0000,
        uc.reg_read(uc_arm64.UC_ARM64_REG_PC),
        [uc.reg_read(r) for r in UC_Q],
        bytes(uc.mem_read(SCRATCH, SCRATCH_SIZE)),
    )


def run_armnv(m, case: Case, start: int) -> Result:
    cpu = m.cpu
    cpu.x[:31] = case.regs
    cpu.x[31] = case.sp
    cpu.v[:] = case.vregs
    cpu.nzcv = case.nzcv
    cpu.pc = start
    m.write_phys(SCRATCH, case.memory)
    m.run(case.budget)
    memory = m.bus.read_bytes(SCRATCH, SCRATCH_SIZE)
    return Result(list(cpu.x[:31]), cpu.x[31], cpu.nzcv, cpu.pc, list(cpu.v), memory)


def describe(case: Case, want: Result, got: Result, end: int) -> str:
    out = [f"sequence {case.tag} differs from unicorn:", *case.lines, "initial state:"]
    out += [f"    x{i} = {v:#018x}" for i, v in enumerate(case.regs)]
    out += [f"    sp = {case.sp:#018x}  nzcv = {case.nzcv >> 28:04b}", "differences (unicorn / armnv):"]
    if got.pc != end or want.pc != end:
        out.append(f"    pc  {want.pc:#018x} / {got.pc:#018x} (end is {end:#x})")
    for i, (a, b) in enumerate(zip(want.regs, got.regs, strict=True)):
        if a != b:
            out.append(f"    x{i:<2} {a:#018x} / {b:#018x}")
    if want.sp != got.sp:
        out.append(f"    sp  {want.sp:#018x} / {got.sp:#018x}")
    if want.nzcv != got.nzcv:
        out.append(f"    nzcv {want.nzcv >> 28:04b} / {got.nzcv >> 28:04b}")
    for i, (a, b) in enumerate(zip(want.vregs, got.vregs, strict=True)):
        if a != b:
            out.append(f"    v{i:<2} {a:#034x} / {b:#034x} (initially {case.vregs[i]:#x})")
    for off in range(SCRATCH_SIZE):
        if want.memory[off] != got.memory[off]:
            out.append(f"    mem[{SCRATCH + off:#x}] {want.memory[off]:#04x} / {got.memory[off]:#04x} (the first)")
            break
    return "\n".join(out)


def batches() -> list[tuple[str, int, int]]:
    """(mode, batch index, sequences): every sequence in blocks, a share of them one per block."""
    out = []
    for mode, total in (("blocks", N_SEQUENCES), ("single", max(1, N_SEQUENCES // SINGLE_INSN_SHARE))):
        for b in range(0, total, PER_BATCH):
            out.append((mode, b // PER_BATCH, min(PER_BATCH, total - b)))
    return out


@pytest.mark.parametrize(("mode", "batch", "count"), batches(), ids=lambda v: str(v))
def test_differential_against_unicorn(mode: str, batch: int, count: int) -> None:
    rng = random.Random(f"{SEED}-{mode}-{batch}")
    cases = [Case(rng, k) for k in range(count)]
    source = ["    .text", "    .global _start", "_start:", "    b ."]
    for case in cases:
        source += case.lines
    elf = assemble("\n".join(source) + "\n", wrap=False)
    image = load_image(str(elf))
    symbols = {name: addr for addr, name in image.symbols.items()}

    uc = unicorn.Uc(unicorn.UC_ARCH_ARM64, unicorn.UC_MODE_ARM)
    uc.ctl_set_cpu_model(uc_arm64.UC_CPU_ARM64_MAX)
    uc.mem_map(RAM, RAM_SIZE)
    m = make_machine(one_insn_per_block=mode == "single")
    for seg in image.segments:
        uc.mem_write(seg.addr, seg.data)
        m.write_phys(seg.addr, seg.data)

    for case in cases:
        start, end = symbols[f"seq_{case.tag}"], symbols[f"end_{case.tag}"]
        want = run_unicorn(uc, case, start, end)
        got = run_armnv(m, case, start)
        assert want.state() == got.state() and want.pc == got.pc == end, describe(case, want, got, end)
