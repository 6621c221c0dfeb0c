"""One vocabulary of architectural register fields: `framework.arch` names them, nobody else does.

Two scans of the kernel and plugin sources (not their tests, which state
expected values from the specification on purpose):

* a module-level name that looks like a register field (``HCR_TGE``,
  ``SCTLR_UCI``, ``PSR_PAN``, or a field's bare name such as ``EL0PCTEN``)
  must not be given a bit position of its own (an int literal, a shift, a
  mask);
* a system-register value (``cpu.sr[...]``, ``hcr_eff(cpu)``, a local bound
  to one, or a variable named like a register) must not be picked apart with
  literal positions (``hcr >> 34 & 1``, ``sctlr & 2``, ``spsr & 0x1F``).

Each check also runs on a known-bad snippet, so it is never vacuous.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from framework import arch
from framework.arch import (
    HCR_AT,
    HCR_BSU,
    HCR_E2H,
    HCR_EL2_FIELDS,
    HCR_NV,
    HCR_NV1,
    HCR_NV2,
    HCR_TGE,
    PSTATE_PAN,
    SCTLR_EPAN,
    SCTLR_SPAN,
    VNCR_BADDR,
    Field,
    describe_hcr,
    hcr_eff,
)
from framework.machine import Machine

ROOT = Path(__file__).resolve().parents[1]
ARCH = ROOT / "framework" / "arch.py"

# what the vocabulary names: public ints (bits, masks) and Fields
VOCABULARY = {n: v for n, v in vars(arch).items() if n[0] != "_" and type(v) in (int, Field)}
# the register part of every name in it, plus names used before it existed
PREFIXES = tuple(
    sorted({name.split("_")[0] + "_" for name in VOCABULARY} | {"PSR_", "SPSR_", "ICH_", "ICC_", "CNTP_", "CNTV_"})
)
# field names without their register: ``EL0PCTEN`` alone is CNTKCTL_EL1's field all the same
FIELD_NAMES = frozenset(
    name[len(prefix) :] for name in VOCABULARY for prefix in PREFIXES if name.startswith(prefix) and name != prefix
)
# names of variables that hold a register value wherever they appear
REGISTER_VALUES = frozenset({"hcr", "hcr_el2", "sctlr", "tcr", "vtcr", "spsr", "cptr", "cpacr", "mdcr", "esr", "par"})
# calls that return a register value
REGISTER_READS = frozenset({"hcr_eff", "mdcr_eff", "el0_sctlr", "read_reg"})

# module-level names with register-like names that hold data rather than fields, and why
ALLOWED = {
    ("plugins/cpu_models/__init__.py", "HCR_ALL_ONES"): "a model's HCR_EL2 read back after writing ones (model data)",
    ("framework/machine.py", "GICD_BASE"): "the board's distributor address, not a field",
    ("framework/machine.py", "GICR_BASE"): "the board's redistributor address, not a field",
}


def sources() -> list[Path]:
    files = []
    for top in ("framework", "plugins"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if "tests" not in path.relative_to(ROOT).parts and path != ARCH:
                files.append(path)
    return files


# ---- field definitions -----------------------------------------------------------------------------


def defines_bits(node: ast.AST) -> bool:
    """The expression spells out bit positions: a non-zero int literal outside calls (a shift, a mask, a table)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int) and not isinstance(node.value, bool) and node.value != 0
    if isinstance(node, ast.BinOp):
        return defines_bits(node.left) or defines_bits(node.right)
    if isinstance(node, ast.UnaryOp):
        return defines_bits(node.operand)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(defines_bits(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return any(defines_bits(v) for v in node.values)
    if isinstance(node, ast.Call):
        # Field(shift, width) defines a field; any other call (an encoding key K(3, 0, 1, 0, 2)) does not
        return isinstance(node.func, ast.Name) and node.func.id == "Field"
    return False


def _pairs(target: ast.AST, value: ast.AST):
    if isinstance(target, ast.Name):
        yield target.id, value
    elif isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) and len(target.elts) == len(value.elts):
        for t, v in zip(target.elts, value.elts, strict=True):
            yield from _pairs(t, v)


def field_definitions(source: str) -> list[tuple[int, str]]:
    """(line, name) of module-level assignments that give a register field a position."""
    found = []
    for stmt in ast.parse(source).body:
        if isinstance(stmt, ast.Assign):
            pairs = [p for t in stmt.targets for p in _pairs(t, stmt.value)]
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            pairs = list(_pairs(stmt.target, stmt.value))
        else:
            continue
        for name, value in pairs:
            registerish = name.startswith(PREFIXES)
            bare_field = name in FIELD_NAMES and not isinstance(value, ast.Tuple)
            if (registerish or bare_field) and defines_bits(value):
                found.append((stmt.lineno, name))
    return found


# ---- literal positions on register values ------------------------------------------------------


def _is_sr(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "sr") or (isinstance(node, ast.Name) and node.id == "sr")


def _literal(node: ast.AST) -> bool:
    """An int literal or an expression of literals only (``1 << 5``, ``~2``, ``0x3C0``)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int) and not isinstance(node.value, bool)
    if isinstance(node, ast.BinOp):
        return _literal(node.left) and _literal(node.right)
    if isinstance(node, ast.UnaryOp):
        return _literal(node.operand)
    return False


class _RegisterOps(ast.NodeVisitor):
    """Finds ``value >> n`` and ``value & literal`` where value is a system-register value."""

    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []
        self.scopes: list[set[str]] = [set()]

    def register_value(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Subscript):
            if _is_sr(node.value):
                return True
            key = node.slice
            return isinstance(key, ast.Constant) and key.value in REGISTER_VALUES
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "get" and _is_sr(func.value):
                return True  # cpu.sr.get("X", 0)
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            return name in REGISTER_READS
        if isinstance(node, ast.Name):
            return node.id in REGISTER_VALUES or node.id in self.scopes[-1]
        if isinstance(node, ast.Attribute):
            return node.attr in REGISTER_VALUES
        return False

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self.scopes.append(set())
        self.generic_visit(node)
        self.scopes.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function  # noqa: N815

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            for name, value in _pairs(target, node.value):
                if self.register_value(value):
                    self.scopes[-1].add(name)
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.RShift) and self.register_value(node.left) and _literal(node.right):
            self.found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node.op, ast.BitAnd):
            for value, mask in ((node.left, node.right), (node.right, node.left)):
                if self.register_value(value) and _literal(mask):
                    self.found.append((node.lineno, ast.unparse(node)))
        self.generic_visit(node)


def literal_positions(source: str) -> list[tuple[int, str]]:
    finder = _RegisterOps()
    finder.visit(ast.parse(source))
    return finder.found


# ---- the scans ----------------------------------------------------------------------------------------


def test_checks_catch_what_they_look_for():
    bad_definitions = (
        "HCR_NV = 1 << 42\n"
        "SCTLR_UCI, SCTLR_DZE = 1 << 26, 1 << 14\n"
        "PSR_PAN: int = 0x400000\n"
        "EL0PCTEN = 1\n"
        "EL1PCEN = {0: 1 << 1, 1: 1 << 11}\n"
        "TCR_TG0 = Field(14, 2)\n"
    )
    assert [name for _, name in field_definitions(bad_definitions)] == [
        "HCR_NV", "SCTLR_UCI", "SCTLR_DZE", "PSR_PAN", "EL0PCTEN", "EL1PCEN", "TCR_TG0",
    ]  # fmt: skip
    fine_definitions = (
        "HCR_TRANSLATION = HCR_VM | HCR_PTW\nCPACR_EL1 = K(3, 0, 1, 0, 2)\nALLINT = (1, 0)\nNEVER = 1 << 62\n"
    )
    assert field_definitions(fine_definitions) == []
    bad_uses = (
        "def f(cpu):\n"
        "    e2h = cpu.sr['HCR_EL2'] >> 34 & 1\n"
        "    sctlr = cpu.sr[f'SCTLR_EL{el}']\n"
        "    a = sctlr & 2\n"
        "    m = spsr & 0x1F\n"
        "    t = hcr_eff(cpu) & (1 << 28)\n"
        "    k = cpu.sr.get('CSSELR_EL1', 0) & 0xF\n"
    )
    assert [line for line, _ in literal_positions(bad_uses)] == [2, 4, 5, 6, 7]
    fine_uses = (
        "def f(cpu, xt):\n"
        "    hcr = cpu.sr['HCR_EL2']\n"
        "    host = hcr & (HCR_E2H | HCR_TGE)\n"
        "    asid = xt >> 48\n"
        "    tval = (cpu.sr[t.cval] - now) & 0xFFFFFFFF\n"
    )
    assert literal_positions(fine_uses) == []


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_vocabulary_defines_register_fields(path: Path):
    rel = str(path.relative_to(ROOT))
    found = [(line, name) for line, name in field_definitions(path.read_text()) if (rel, name) not in ALLOWED]
    assert found == [], f"{rel}: name these fields in framework/arch.py and import them"


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_register_values_are_read_through_the_vocabulary(path: Path):
    rel = str(path.relative_to(ROOT))
    assert literal_positions(path.read_text()) == [], f"{rel}: use framework.arch names, not bit positions"


def test_hcr_eff_is_defined_once():
    definitions = [
        str(path.relative_to(ROOT))
        for path in [*sources(), ARCH]
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name in ("hcr_eff", "hcr")
    ]
    assert definitions == ["framework/arch.py"]


# ---- the vocabulary itself ---------------------------------------------------------------------------


def test_nested_virtualization_controls_at_their_architectural_positions():
    # spec README glossary: E2H 34, TGE 27, NV 42, NV1 43, AT 44, NV2 45; PSTATE.PAN 22;
    # pan.md: SCTLR_ELx.SPAN 23, EPAN 57; nv2.md NV2-03: VNCR_EL2.BADDR [56:12]
    assert (HCR_E2H, HCR_TGE) == (1 << 34, 1 << 27)
    assert (HCR_NV, HCR_NV1, HCR_AT, HCR_NV2) == (1 << 42, 1 << 43, 1 << 44, 1 << 45)
    assert (PSTATE_PAN, SCTLR_SPAN, SCTLR_EPAN) == (1 << 22, 1 << 23, 1 << 57)
    assert VNCR_BADDR.mask == ((1 << 57) - 1) & ~0xFFF


@pytest.mark.parametrize("prefix", ["HCR_", "SCTLR_", "PSTATE_", "CNTKCTL_", "MDCR_", "CPTR_", "CPACR_", "VTCR_"])
def test_fields_of_one_register_do_not_overlap(prefix: str):
    # single bits and Fields; masks of several fields (PSTATE_M, PSTATE_DAIF, HCR_ARMV80_BITS) cover others on purpose
    wholes = {"PSTATE_M", "PSTATE_DAIF", "PSTATE_NZCV", "HCR_ARMV80_BITS"}
    seen: dict[int, str] = {}
    for name, value in VOCABULARY.items():
        if not name.startswith(prefix) or name in wholes or name.startswith("TCR_EL2_"):
            continue
        if isinstance(value, Field):
            bits = value.mask
        elif isinstance(value, int) and value.bit_count() == 1:
            bits = value
        else:
            continue
        for bit in range(64):
            if bits >> bit & 1:
                assert bit not in seen, f"{name} and {seen[bit]} share bit {bit}"
                seen[bit] = name


def test_field_reads_and_writes_its_bits():
    f = Field(10, 2)
    assert f.mask == 0xC00
    assert f.get(0xFFFF_FBFF) == 0b10
    assert f.put(0b111) == 0xC00  # only the field's width is kept
    assert f.put(1) | 0x3 == 0x403


def test_describe_hcr_names_fields_in_bit_order():
    assert [name for name, _ in HCR_EL2_FIELDS][:4] == ["VM", "SWIO", "PTW", "FMO"]
    assert "EnSCXT" in dict(HCR_EL2_FIELDS) and "TWEDEn" in dict(HCR_EL2_FIELDS)
    assert describe_hcr(HCR_NV2 | HCR_NV | HCR_TGE | HCR_BSU.put(1)) == "BSU=1 TGE NV NV2"
    assert describe_hcr(0) == ""


@pytest.mark.parametrize(
    ("raw", "effective"),
    [
        # TGE = 0: the register as written
        (arch.HCR_TVM | arch.HCR_IMO, arch.HCR_TVM | arch.HCR_IMO),
        # TGE = 1, E2H = 0: trap bits such as TVM/TSC/TID3 behave as 0, FMO/IMO/AMO as 1
        (HCR_TGE | arch.HCR_TVM | arch.HCR_TSC | arch.HCR_TID3, HCR_TGE | arch.HCR_FMO | arch.HCR_IMO | arch.HCR_AMO),
        # TGE = 1, E2H = 1 (a host): the routing and remaining guest trap bits behave as 0 too
        (HCR_TGE | HCR_E2H | arch.HCR_IMO | arch.HCR_TWI | arch.HCR_VM | arch.HCR_TVM, HCR_TGE | HCR_E2H),
    ],
)
def test_hcr_eff_applies_what_tge_and_e2h_force(raw: int, effective: int):
    m = Machine()
    m.cpu.sr["HCR_EL2"] = raw
    assert hcr_eff(m.cpu) == effective
    assert m.cpu.sr["HCR_EL2"] == raw  # the register itself is untouched
