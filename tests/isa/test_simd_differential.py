"""Advanced SIMD integer instructions against unicorn over random operands, in both engine modes.

Each family has its generator of random instructions (every arrangement its
encoding allows); the comparison covers all V and X registers, FPSR.QC and
memory (see `simd_diff`).
"""

from __future__ import annotations

import os
import random

import pytest
from simd_diff import check, make_cases

SEED = 0x51AD
N_CASES = int(os.environ.get("ARMNV_SIMD_DIFF_CASES", "150"))

ALL_T = ("8b", "16b", "4h", "8h", "2s", "4s", "2d")
NO64_T = ALL_T[:-1]
HS_T = ("4h", "8h", "2s", "4s")
ESIZE = {"b": 8, "h": 16, "s": 32, "d": 64}


def vr(rng: random.Random) -> int:
    return rng.randrange(32)


def v3(mns: tuple[str, ...], arrs: tuple[str, ...]):
    def unit(rng: random.Random) -> list[str]:
        t = rng.choice(arrs)
        return [f"{rng.choice(mns)} v{vr(rng)}.{t}, v{vr(rng)}.{t}, v{vr(rng)}.{t}"]

    return unit


def v2(mns: tuple[str, ...], arrs: tuple[str, ...], suffix: str = ""):
    def unit(rng: random.Random) -> list[str]:
        t = rng.choice(arrs)
        return [f"{rng.choice(mns)} v{vr(rng)}.{t}, v{vr(rng)}.{t}{suffix}"]

    return unit


def s3(mns: tuple[str, ...], regs: str):
    def unit(rng: random.Random) -> list[str]:
        r = rng.choice(regs)
        return [f"{rng.choice(mns)} {r}{vr(rng)}, {r}{vr(rng)}, {r}{vr(rng)}"]

    return unit


def s2(mns: tuple[str, ...], regs: str, suffix: str = ""):
    def unit(rng: random.Random) -> list[str]:
        r = rng.choice(regs)
        return [f"{rng.choice(mns)} {r}{vr(rng)}, {r}{vr(rng)}{suffix}"]

    return unit


THREE_SAME_UNITS = [
    v3(("add", "sub", "cmeq", "cmtst", "cmgt", "cmge", "cmhi", "cmhs", "addp"), ALL_T),
    v3(("sqadd", "uqadd", "sqsub", "uqsub", "sshl", "ushl", "srshl", "urshl"), ALL_T),
    v3(("sqshl", "uqshl", "sqrshl", "uqrshl"), ALL_T),
    v3(("shadd", "uhadd", "srhadd", "urhadd", "shsub", "uhsub", "smax", "smin", "umax", "umin"), NO64_T),
    v3(("sabd", "uabd", "saba", "uaba", "mul", "mla", "mls", "smaxp", "sminp", "umaxp", "uminp"), NO64_T),
    v3(("sqdmulh", "sqrdmulh"), HS_T),
    v3(("pmul",), ("8b", "16b")),
    v3(("and", "orr", "orn", "eor", "bic", "bsl", "bit", "bif"), ("8b", "16b")),
    s3(("add", "sub", "cmeq", "cmtst", "cmgt", "cmge", "cmhi", "cmhs", "sshl", "ushl", "srshl", "urshl"), "d"),
    s3(("sqadd", "uqadd", "sqsub", "uqsub", "sqshl", "uqshl", "sqrshl", "uqrshl"), "bhsd"),
    s3(("sqdmulh", "sqrdmulh"), "hs"),
]

MISC_UNITS = [
    v2(("cls", "clz"), NO64_T),
    v2(("sqabs", "sqneg", "abs", "neg"), ALL_T),
    v2(("cmgt", "cmge", "cmeq", "cmle", "cmlt"), ALL_T, ", #0"),
    v2(("cnt", "not", "rbit"), ("8b", "16b")),
    v2(("rev64",), NO64_T),
    v2(("rev32",), ("8b", "16b", "4h", "8h")),
    v2(("rev16",), ("8b", "16b")),
    v2(("suqadd", "usqadd"), ALL_T),
    s2(("sqabs", "sqneg", "suqadd", "usqadd"), "bhsd"),
    s2(("abs", "neg"), "d"),
    s2(("cmgt", "cmge", "cmeq", "cmle", "cmlt"), "d", ", #0"),
]


def widening_pairwise(rng: random.Random) -> list[str]:
    src, dst = rng.choice((("8b", "4h"), ("16b", "8h"), ("4h", "2s"), ("8h", "4s"), ("2s", "1d"), ("4s", "2d")))
    mn = rng.choice(("saddlp", "uaddlp", "sadalp", "uadalp"))
    return [f"{mn} v{vr(rng)}.{dst}, v{vr(rng)}.{src}"]


def narrowing(rng: random.Random) -> list[str]:
    wide, narrow = rng.choice((("8h", "8b"), ("4s", "4h"), ("2d", "2s")))
    mn = rng.choice(("xtn", "sqxtn", "uqxtn", "sqxtun"))
    if rng.getrandbits(1):
        narrow = {"8b": "16b", "4h": "8h", "2s": "4s"}[narrow]
        mn += "2"
    if not mn.startswith("xtn") and rng.random() < 0.2:
        d, s = rng.choice((("b", "h"), ("h", "s"), ("s", "d")))
        return [f"{mn.rstrip('2')} {d}{vr(rng)}, {s}{vr(rng)}"]
    return [f"{mn} v{vr(rng)}.{narrow}, v{vr(rng)}.{wide}"]


def shll(rng: random.Random) -> list[str]:
    src, dst = rng.choice((("8b", "8h"), ("4h", "4s"), ("2s", "2d"), ("16b", "8h"), ("8h", "4s"), ("4s", "2d")))
    mn = "shll2" if src in ("16b", "8h", "4s") else "shll"
    return [f"{mn} v{vr(rng)}.{dst}, v{vr(rng)}.{src}, #{ESIZE[src[-1]]}"]


def across(rng: random.Random) -> list[str]:
    t = rng.choice(("8b", "16b", "4h", "8h", "4s"))
    mn = rng.choice(("addv", "saddlv", "uaddlv", "smaxv", "sminv", "umaxv", "uminv"))
    e = t[-1]
    d = {"b": "h", "h": "s", "s": "d"}[e] if mn.endswith("lv") else e
    return [f"{mn} {d}{vr(rng)}, v{vr(rng)}.{t}"]


def addp_scalar(rng: random.Random) -> list[str]:
    return [f"addp d{vr(rng)}, v{vr(rng)}.2d"]


MISC_UNITS += [widening_pairwise, narrowing, shll, across, addp_scalar]


def elem(rng: random.Random, e: str) -> int:
    return rng.randrange(16 // (ESIZE[e] // 8))


def copy(rng: random.Random) -> list[str]:
    k = rng.randrange(7)
    e = rng.choice("bhsd")
    if k == 0:
        t = rng.choice([t for t in ALL_T if t[-1] == e])
        return [f"dup v{vr(rng)}.{t}, v{vr(rng)}.{e}[{elem(rng, e)}]"]
    if k == 1:
        t = rng.choice([t for t in ALL_T if t[-1] == e])
        r = "x" if e == "d" else "w"
        return [f"dup v{vr(rng)}.{t}, {r}{rng.randrange(31)}"]
    if k == 2:
        r = "x" if e == "d" else "w"
        return [f"ins v{vr(rng)}.{e}[{elem(rng, e)}], {r}{rng.choice((*range(27), 31)) if r == 'x' else 5}"]
    if k == 3:
        return [f"ins v{vr(rng)}.{e}[{elem(rng, e)}], v{vr(rng)}.{e}[{elem(rng, e)}]"]
    if k == 4:
        r = "x" if e == "d" else "w"
        return [f"umov {r}{rng.randrange(27)}, v{vr(rng)}.{e}[{elem(rng, e)}]"]
    if k == 5:
        e = rng.choice("bhs")
        r = "x" if e == "s" or rng.getrandbits(1) else "w"
        return [f"smov {r}{rng.randrange(27)}, v{vr(rng)}.{e}[{elem(rng, e)}]"]
    return [f"mov {e}{vr(rng)}, v{vr(rng)}.{e}[{elem(rng, e)}]"]


def permute(rng: random.Random) -> list[str]:
    k = rng.randrange(4)
    if k == 0:
        t = rng.choice(ALL_T)
        mn = rng.choice(("zip1", "zip2", "uzp1", "uzp2", "trn1", "trn2"))
        return [f"{mn} v{vr(rng)}.{t}, v{vr(rng)}.{t}, v{vr(rng)}.{t}"]
    if k == 1:
        t = rng.choice(("8b", "16b"))
        return [f"ext v{vr(rng)}.{t}, v{vr(rng)}.{t}, v{vr(rng)}.{t}, #{rng.randrange(8 if t == '8b' else 16)}"]
    if k == 2:
        t = rng.choice(("8b", "16b"))
        n = rng.randrange(1, 5)
        first = vr(rng)
        table = ", ".join(f"v{(first + i) % 32}.16b" for i in range(n))
        mn = rng.choice(("tbl", "tbx"))
        return [f"{mn} v{vr(rng)}.{t}, {{{table}}}, v{vr(rng)}.{t}"]
    t = rng.choice(ALL_T)
    return [f"mov v{vr(rng)}.{t if t[-1] == 'b' else '16b'}, v{vr(rng)}.{t if t[-1] == 'b' else '16b'}"]


def mod_imm(rng: random.Random) -> list[str]:
    k = rng.randrange(6)
    imm = rng.randrange(256)
    d = vr(rng)
    if k == 0:
        t = rng.choice(("2s", "4s"))
        return [f"{rng.choice(('movi', 'mvni', 'orr', 'bic'))} v{d}.{t}, #{imm}, lsl #{rng.choice((0, 8, 16, 24))}"]
    if k == 1:
        t = rng.choice(("4h", "8h"))
        return [f"{rng.choice(('movi', 'mvni', 'orr', 'bic'))} v{d}.{t}, #{imm}, lsl #{rng.choice((0, 8))}"]
    if k == 2:
        t = rng.choice(("2s", "4s"))
        return [f"{rng.choice(('movi', 'mvni'))} v{d}.{t}, #{imm}, msl #{rng.choice((8, 16))}"]
    if k == 3:
        return [f"movi v{d}.{rng.choice(('8b', '16b'))}, #{imm}"]
    if k == 4:
        value = sum(0xFF << (8 * i) for i in range(8) if imm >> i & 1)
        return [f"movi {rng.choice((f'd{d}', f'v{d}.2d'))}, #{value:#x}"]
    f = rng.choice((0.5, 1.0, -2.0, 31.0, 0.125, -1.75, 0.1875))
    return [f"fmov v{d}.{rng.choice(('2s', '4s', '2d'))}, #{f}"]


# ---- structure loads and stores ---------------------------------------------------------------------------------


def reglist(rng: random.Random, count: int, t: str) -> str:
    first = vr(rng)
    return "{" + ", ".join(f"v{(first + i) % 32}.{t}" for i in range(count)) + "}"


def addressing(rng: random.Random, nbytes: int) -> tuple[list[str], str]:
    """x28 = somewhere in the buffer (element-aligned or not); no offset or a post-index."""
    off = rng.randrange(0, 0x200)
    setup = [f"add x28, x27, #{off}"]
    k = rng.randrange(3)
    if k == 0:
        return setup, "[x28]"
    if k == 1:
        return setup, f"[x28], #{nbytes}"
    r = rng.randrange(26)
    return [*setup, f"mov x{r}, #{rng.randrange(-64, 64)}"], f"[x28], x{r}"


def struct_multiple(rng: random.Random) -> list[str]:
    t = rng.choice(ALL_T)
    width = 16 if t in ("16b", "8h", "4s", "2d") else 8
    k = rng.randrange(2)
    if k == 0 or t == "1d":
        count = rng.randrange(1, 5)
        mn = rng.choice(("ld1", "st1"))
    else:
        count = rng.randrange(2, 5)
        mn = rng.choice(("ld", "st")) + str(count)
    if mn[-1] != "1" and t == "1d":
        t = "2d"
    setup, addr = addressing(rng, count * width)
    return [*setup, f"{mn} {reglist(rng, count, t)}, {addr}"]


def struct_single(rng: random.Random) -> list[str]:
    e = rng.choice("bhsd")
    count = rng.randrange(1, 5)
    ebytes = ESIZE[e] // 8
    if rng.random() < 0.3:
        t = rng.choice([t for t in ALL_T if t[-1] == e] + (["1d"] if e == "d" else []))
        setup, addr = addressing(rng, count * ebytes)
        return [*setup, f"ld{count}r {reglist(rng, count, t)}, {addr}"]
    mn = rng.choice(("ld", "st")) + str(count)
    setup, addr = addressing(rng, count * ebytes)
    return [*setup, f"{mn} {reglist(rng, count, e)}[{elem(rng, e)}], {addr}"]


# ---- shifts by immediate --------------------------------------------------------------------------------------------


def shift_imm(rng: random.Random) -> list[str]:
    k = rng.randrange(4)
    if k == 0:  # same-size vector and scalar forms
        t = rng.choice(ALL_T)
        e = ESIZE[t[-1]]
        left_shifts = ("shl", "sli", "sqshl", "uqshl", "sqshlu")
        mn = rng.choice(("sshr", "ushr", "ssra", "usra", "srshr", "urshr", "srsra", "ursra", "sri", *left_shifts))
        left = mn in left_shifts
        sh = rng.choice((rng.randrange(e), 0, e - 1)) if left else rng.choice((rng.randrange(1, e + 1), 1, e))
        if rng.random() < 0.25:
            r = "d" if not mn.startswith(("sq", "uq")) else rng.choice("bhsd")
            e = {"b": 8, "h": 16, "s": 32, "d": 64}[r]
            sh = min(sh, e - 1) if left else min(max(sh, 1), e)
            return [f"{mn} {r}{vr(rng)}, {r}{vr(rng)}, #{sh}"]
        return [f"{mn} v{vr(rng)}.{t}, v{vr(rng)}.{t}, #{sh}"]
    if k == 1:  # narrowing
        wide, narrow = rng.choice((("8h", "8b"), ("4s", "4h"), ("2d", "2s")))
        e = ESIZE[narrow[-1]]
        mn = rng.choice(("shrn", "rshrn", "sqshrn", "uqshrn", "sqrshrn", "uqrshrn", "sqshrun", "sqrshrun"))
        sh = rng.choice((rng.randrange(1, e + 1), 1, e, 4))
        if mn.startswith(("sq", "uq")) and rng.random() < 0.2:
            d, s = {"8b": ("b", "h"), "4h": ("h", "s"), "2s": ("s", "d")}[narrow]
            return [f"{mn} {d}{vr(rng)}, {s}{vr(rng)}, #{sh}"]
        if rng.getrandbits(1):
            q = {"8b": "16b", "4h": "8h", "2s": "4s"}[narrow]
            return [f"{mn}2 v{vr(rng)}.{q}, v{vr(rng)}.{wide}, #{sh}"]
        return [f"{mn} v{vr(rng)}.{narrow}, v{vr(rng)}.{wide}, #{sh}"]
    if k == 2:  # widening
        narrow, wide = rng.choice((("8b", "8h"), ("4h", "4s"), ("2s", "2d"), ("16b", "8h"), ("8h", "4s"), ("4s", "2d")))
        e = ESIZE[narrow[-1]]
        mn = rng.choice(("sshll", "ushll")) + ("2" if narrow in ("16b", "8h", "4s") else "")
        return [f"{mn} v{vr(rng)}.{wide}, v{vr(rng)}.{narrow}, #{rng.randrange(e)}"]
    narrow, wide = rng.choice((("8b", "8h"), ("16b", "8h"), ("2s", "2d")))
    mn = rng.choice(("sxtl", "uxtl")) + ("2" if narrow == "16b" else "")
    return [f"{mn} v{vr(rng)}.{wide}, v{vr(rng)}.{narrow}"]


# ---- widening, narrowing, by element -----------------------------------------------------------------------------

LONG_ARR = (("8b", "8h"), ("4h", "4s"), ("2s", "2d"))
HIGH = {"8b": "16b", "4h": "8h", "2s": "4s"}


def three_different(rng: random.Random) -> list[str]:
    k = rng.randrange(4)
    arrs = LONG_ARR if k != 3 else LONG_ARR[1:]
    narrow, wide = rng.choice(arrs)
    two = rng.getrandbits(1)
    n = HIGH[narrow] if two else narrow
    sfx = "2" if two else ""
    d, a, b = vr(rng), vr(rng), vr(rng)
    if k == 0:
        mn = rng.choice(("saddl", "uaddl", "ssubl", "usubl", "sabdl", "uabdl", "smull", "umull"))
        mn = rng.choice((mn, "sabal", "uabal", "smlal", "umlal", "smlsl", "umlsl"))
        return [f"{mn}{sfx} v{d}.{wide}, v{a}.{n}, v{b}.{n}"]
    if k == 1:
        mn = rng.choice(("saddw", "uaddw", "ssubw", "usubw"))
        return [f"{mn}{sfx} v{d}.{wide}, v{a}.{wide}, v{b}.{n}"]
    if k == 2:
        mn = rng.choice(("addhn", "raddhn", "subhn", "rsubhn"))
        return [f"{mn}{sfx} v{d}.{n}, v{a}.{wide}, v{b}.{wide}"]
    if rng.random() < 0.2:
        return [f"pmull{sfx} v{d}.8h, v{a}.{'16b' if two else '8b'}, v{b}.{'16b' if two else '8b'}"]
    mn = rng.choice(("sqdmull", "sqdmlal", "sqdmlsl"))
    return [f"{mn}{sfx} v{d}.{wide}, v{a}.{n}, v{b}.{n}"]


def by_element(rng: random.Random) -> list[str]:
    e = rng.choice("hs")
    idx = rng.randrange(8 if e == "h" else 4)
    m = rng.randrange(16) if e == "h" else vr(rng)
    if rng.getrandbits(1):
        t = rng.choice(("4h", "8h") if e == "h" else ("2s", "4s"))
        mn = rng.choice(("mul", "mla", "mls", "sqdmulh", "sqrdmulh"))
        return [f"{mn} v{vr(rng)}.{t}, v{vr(rng)}.{t}, v{m}.{e}[{idx}]"]
    narrow, wide = ("4h", "4s") if e == "h" else ("2s", "2d")
    two = rng.getrandbits(1)
    mn = rng.choice(("smull", "umull", "smlal", "umlal", "smlsl", "umlsl", "sqdmull", "sqdmlal", "sqdmlsl"))
    return [
        f"{mn}{'2' if two else ''} v{vr(rng)}.{wide}, v{vr(rng)}.{HIGH[narrow] if two else narrow}, v{m}.{e}[{idx}]"
    ]


def dot(rng: random.Random) -> list[str]:
    mn = rng.choice(("sdot", "udot"))
    t, s = rng.choice((("2s", "8b"), ("4s", "16b")))
    if rng.getrandbits(1):
        return [f"{mn} v{vr(rng)}.{t}, v{vr(rng)}.{s}, v{vr(rng)}.4b[{rng.randrange(4)}]"]
    return [f"{mn} v{vr(rng)}.{t}, v{vr(rng)}.{s}, v{vr(rng)}.{s}"]


def crypto(rng: random.Random) -> list[str]:
    k = rng.randrange(3)
    if k == 0:
        return [f"{rng.choice(('aese', 'aesd'))} v{vr(rng)}.16b, v{vr(rng)}.16b"]
    if k == 1:
        return [f"{rng.choice(('aesmc', 'aesimc'))} v{vr(rng)}.16b, v{vr(rng)}.16b"]
    if rng.getrandbits(1):
        return [f"pmull2 v{vr(rng)}.1q, v{vr(rng)}.2d, v{vr(rng)}.2d"]
    return [f"pmull v{vr(rng)}.1q, v{vr(rng)}.1d, v{vr(rng)}.1d"]


FAMILIES = {
    "three_same": THREE_SAME_UNITS,
    "misc": MISC_UNITS,
    "copy_permute": [copy, permute, mod_imm],
    "structures": [struct_multiple, struct_single],
    "shifts": [shift_imm],
    "wide": [three_different, by_element, dot],
    "crypto": [crypto],
}


def batches() -> list[tuple[str, str]]:
    return [(family, mode) for family in FAMILIES for mode in ("blocks", "single")]


@pytest.mark.parametrize(("family", "mode"), batches())
def test_simd_against_unicorn(family: str, mode: str) -> None:
    rng = random.Random(f"{SEED}-{family}-{mode}")
    count = N_CASES if mode == "blocks" else max(1, N_CASES // 3)
    check(make_cases(rng, count, FAMILIES[family], 6), one_insn_per_block=mode == "single")
