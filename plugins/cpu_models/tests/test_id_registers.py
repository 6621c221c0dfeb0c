"""The ID registers a guest reads on max, neoverse-n2 and neoverse-v1 (spec cpu-models.md, cpu-models.csv).

Expected values come from the CSV copy and from the literal values of
cpu-models.md, after the documented rule: a field keeps the model's value
only while a feature claiming it is declared by an installed plugin and
enabled; a field nobody claims drops to its level in the layout
(plugins/cpu_models/fields.py).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from framework import plugins
from framework.isa.table import decoder
from plugins.cpu_models import features as kernel_features
from plugins.cpu_models.fields import BASE, KERNEL_CLAIMS, LAYOUT
from plugins.cpu_models.tests.guest import (
    DATA,
    at_el0,
    at_el1,
    esr_sysreg,
    program,
    read_u64,
    sysreg_name,
    taken,
)

MODELS = ("max", "neoverse-n2", "neoverse-v1")
CSV_PATH = Path(__file__).parent.parent / "id_registers.csv"
NOT_ID = ("CCSIDR", "PMCR_EL0", "ICH_VTR_EL2", "CNTFRQ_EL0")


def csv_rows() -> dict[str, dict[str, tuple[tuple[int, ...], int]]]:
    table: dict[str, dict[str, tuple[tuple[int, ...], int]]] = {}
    with CSV_PATH.open() as f:
        for row in csv.DictReader(f):
            enc = tuple(int(row[k]) for k in ("op0", "op1", "crn", "crm", "op2"))
            table.setdefault(row["model"], {})[row["register"]] = (enc, int(row["value_hex"], 16))
    return table


CSV = csv_rows()


def id_registers(model: str) -> dict[str, tuple[tuple[int, ...], int]]:
    return {name: v for name, v in CSV[model].items() if not name.startswith(NOT_ID)}


def lowered(catalog: plugins.Catalog, reg: str, value: int, enabled: frozenset[str]) -> int:
    """The rule, written out for one register, field by field of the layout."""
    for row in LAYOUT:
        if row.reg != reg:
            continue
        on = [c for f in catalog.features.values() if f.name in enabled for c in f.id_fields if c.slot == row.slot]
        off = [c for f in catalog.features.values() if f.name not in enabled for c in f.id_fields if c.slot == row.slot]
        limits = [c.absent for c in off]
        if not on:
            limits.append(row.absent)
        elif all(c.top is not None for c in on):
            limits.append(max(c.top for c in on))
        mask = (1 << row.width) - 1
        field = (value >> row.shift) & mask
        level = field - (1 << row.width) if row.signed and field >> (row.width - 1) else field
        if limits and level > min(limits):
            value = (value & ~(mask << row.shift)) | ((min(limits) & mask) << row.shift)
    return value


def read_all(run_asm, cpu: str, names: list[str], model: str) -> dict[str, int]:
    body = [f"ldr x3, ={DATA:#x}"]
    for name in names:
        enc, _ = CSV[model][name]
        body += [f"mrs x2, {sysreg_name(*enc)}", "str x2, [x3], #8"]
    m = run_asm(program("\n".join(body)), cpu=cpu)
    assert m.stop.kind == "exit" and taken(m) == []
    return dict(zip(names, read_u64(m, DATA, len(names)), strict=True)), m


@pytest.mark.parametrize("model", MODELS)
def test_cpu_models_every_id_register_read_at_el2(run_asm, model):
    names = [n for n in id_registers(model) if n != "DCZID_EL0"]
    values, m = read_all(run_asm, model, names, model)
    enabled = m.features
    for name in names:
        raw = CSV[model][name][1]
        assert values[name] == lowered(m.catalog, name, raw, enabled), name


@pytest.mark.parametrize("model", MODELS)
def test_cpu_models_fields_never_above_the_model(run_asm, model):
    names = list(id_registers(model))
    values, m = read_all(run_asm, model, names, model)
    claimed = {c.slot for f in m.catalog.features.values() for c in f.id_fields}
    for row in LAYOUT:
        if row.reg not in values:
            continue
        got = row.level(row.get(values[row.reg]))
        assert got <= row.level(row.get(CSV[model][row.reg][1])), row.label
        if row.slot not in claimed:
            assert got <= row.absent, f"{row.label}: no installed plugin claims it but it is advertised"


def expect(spec: int, owners: tuple[tuple[str, int], ...], enabled: frozenset[str]) -> int:
    for feature, absent in owners:
        if feature not in enabled:
            spec = min(spec, absent)
    return spec


# (register, lsb, width, value on max / neoverse-n2 / neoverse-v1 from cpu-models.md §2, §3, §6,
#  owning features with their absent levels)
SPEC_FIELDS = (
    ("MIDR_EL1", 0, 32, (0x000F0510, 0x410FD493, 0x411FD402), ()),
    ("MPIDR_EL1", 0, 64, (0x80000000,) * 3, ()),
    ("REVIDR_EL1", 0, 64, (0, 0, 0), ()),
    ("CTR_EL0", 0, 64, (0xB444C004, 0x4B444C004, 0xB444C004), ()),
    ("CLIDR_EL1", 0, 64, (0x02000023, 0x1482000023, 0x82000023), ()),
    ("ID_AA64PFR0_EL1", 4, 4, (2, 1, 1), (("aarch32", 1),)),
    ("ID_AA64PFR0_EL1", 8, 4, (2, 1, 1), (("el2", 0), ("aarch32", 1))),
    ("ID_AA64PFR0_EL1", 24, 4, (1, 1, 1), (("gicv3", 0),)),
    ("ID_AA64PFR0_EL1", 48, 4, (1, 1, 1), (("dit", 0),)),
    ("ID_AA64PFR0_EL1", 60, 4, (1, 1, 1), ()),
    ("ID_AA64PFR1_EL1", 0, 4, (1, 1, 0), (("bti", 0),)),
    ("ID_AA64PFR1_EL1", 4, 4, (2, 2, 2), (("ssbs", 0),)),
    ("ID_AA64PFR1_EL1", 36, 4, (1, 0, 0), (("nmi", 0),)),
    ("ID_AA64ISAR0_EL1", 20, 4, (3, 2, 2), (("lse", 0), ("lse128", 2))),
    ("ID_AA64ISAR0_EL1", 4, 4, (2, 2, 2), (("aes", 0),)),
    ("ID_AA64ISAR0_EL1", 8, 4, (0, 0, 0), ()),  # SHA1: not implemented
    ("ID_AA64ISAR0_EL1", 12, 4, (0, 0, 0), ()),  # SHA2: not implemented
    ("ID_AA64ISAR0_EL1", 44, 4, (1, 1, 1), (("dotprod", 0),)),
    ("ID_AA64ISAR1_EL1", 20, 4, (2, 2, 2), (("lrcpc", 0), ("lrcpc2", 1))),
    ("ID_AA64ISAR1_EL1", 36, 4, (1, 1, 0), (("sb", 0),)),
    ("ID_AA64ISAR2_EL1", 20, 4, (1, 0, 0), (("hbc", 0),)),
    ("ID_AA64MMFR1_EL1", 8, 4, (1, 1, 1), (("vhe", 0),)),
    ("ID_AA64MMFR1_EL1", 20, 4, (3, 2, 2), (("pan", 0),)),
    ("ID_AA64MMFR2_EL1", 4, 4, (1, 1, 1), (("uao", 0),)),
    ("ID_AA64MMFR2_EL1", 24, 4, (2, 2, 2), (("nv", 0), ("nv2", 1))),
    ("ID_AA64MMFR2_EL1", 36, 4, (1, 1, 1), (("idst", 0),)),
    ("ID_AA64MMFR4_EL1", 24, 4, (0, 0, 0), ()),  # E2H0: HCR_EL2.E2H writable
)


@pytest.mark.parametrize("model", MODELS)
def test_cpu_models_md_field_values(run_asm, model):
    names = sorted({reg for reg, *_ in SPEC_FIELDS})
    values, m = read_all(run_asm, model, names, model)
    i = MODELS.index(model)
    for reg, lsb, width, spec, owners in SPEC_FIELDS:
        got = (values[reg] >> lsb) & ((1 << width) - 1)
        assert got == expect(spec[i], owners, m.features), f"{reg}[{lsb + width - 1}:{lsb}]"


def test_ctr_el0_idc_dic_on_max(run_asm):
    m = run_asm(program("mrs x2, ctr_el0"), cpu="max")
    assert m.cpu.x[2] >> 28 & 3 == 3  # cpu-models.md §3: IDC [28] and DIC [29]


# cpu-models.md §3: CCSIDR_EL1 for CSSELR = 0 (L1D), 1 (L1I), 2 (L2); higher levels read 0
CCSIDR = {
    "max": (0x700FE01A, 0x201FE012, 0x70FFE07A, 0),
    "neoverse-n2": (0x000000FF0000001A, 0x000000FF0000001A, 0x000003FF0000003A, 0),
    "neoverse-v1": (0x000000FF0000001A, 0x000000FF0000001A, 0x000007FF0000003A, 0),
}
CCSIDR2 = {"neoverse-n2": (0xFF, 0xFF, 0x3FF, 0), "neoverse-v1": (0xFF, 0xFF, 0x7FF, 0)}


@pytest.mark.parametrize("model", MODELS)
def test_ccsidr_selected_by_csselr(run_asm, model):
    body = [f"ldr x3, ={DATA:#x}"]
    for sel in (0, 1, 2, 4):
        body += [f"mov x2, #{sel}", "msr csselr_el1, x2", "isb", "mrs x2, ccsidr_el1", "str x2, [x3], #8"]
        if model in CCSIDR2:
            body += [f"mrs x2, {sysreg_name(3, 1, 0, 0, 2)}", "str x2, [x3], #8"]
    m = run_asm(program("\n".join(body)), cpu=model)
    assert taken(m) == []
    if model in CCSIDR2:
        got = read_u64(m, DATA, 8)
        assert got[0::2] == list(CCSIDR[model])
        assert got[1::2] == list(CCSIDR2[model])
    else:
        assert read_u64(m, DATA, 4) == list(CCSIDR[model])


def test_ccsidr2_undefined_without_ccidx(run_asm):
    # cpu-models.md §3: max has no FEAT_CCIDX; an ID-space read that UNDEFs reports EC 0x18 (FEAT_IDST)
    m = run_asm(program(f"mrs x2, {sysreg_name(3, 1, 0, 0, 2)}"), cpu="max")
    assert taken(m) == [(2, esr_sysreg(3, 1, 0, 0, 2, 2, True))]


def test_id_register_writes_undefined(run_asm):
    # syndromes.md §3: MSR to the ID space reports EC 0x00
    m = run_asm(program("msr ID_AA64PFR0_EL1, x2"))
    assert taken(m) == [(2, 0x02000000)]


def test_idst_id_register_read_at_el0(run_asm):
    # syndromes.md §3: MRS X1, ID_AA64PFR0_EL1 at EL0 -> ESR 0x62300029, taken to EL1
    m = run_asm(at_el0("mrs x1, ID_AA64PFR0_EL1"))
    assert taken(m)[0] == (1, 0x62300029)


def test_id_registers_readable_at_el1(run_asm):
    m = run_asm(at_el1("mrs x2, ID_AA64MMFR1_EL1\nmrs x3, clidr_el1\nmrs x4, ctr_el0"), cpu="neoverse-n2")
    assert [e for e in taken(m) if e[1] >> 26 != 0x15] == []
    assert m.cpu.x[2] == m.id_value("ID_AA64MMFR1_EL1")
    assert m.cpu.x[3] == 0x1482000023
    assert m.cpu.x[4] == 0x4B444C004


def test_tid3_traps_id_register_reads_to_el2(run_asm):
    # cpu-models.md §7: HCR_EL2.TID3, MRS X1, ID_AA64MMFR2_EL1 at EL1 -> ESR_EL2 0x6234002F
    m = run_asm(at_el1("mrs x1, ID_AA64MMFR2_EL1", hcr=(1 << 31) | (1 << 18)))
    assert taken(m)[0] == (2, 0x6234002F)


def test_ctr_el0_at_el0_follows_sctlr_uct(run_asm):
    uct = "ldr x0, =0x30D08800\nmsr sctlr_el1, x0"  # reset value | UCT [15]
    m = run_asm(at_el0("mrs x2, ctr_el0", setup=uct), cpu="neoverse-v1")
    assert [e for e in taken(m) if e[1] >> 26 != 0x15] == []
    assert m.cpu.x[2] == 0xB444C004
    m = run_asm(at_el0("mrs x2, ctr_el0"), cpu="neoverse-v1")
    assert taken(m)[0] == (1, esr_sysreg(3, 3, 0, 0, 1, 2, True))


def test_reserved_group3_encoding_reads_zero(run_asm):
    m = run_asm(program("mov x2, #1\nmrs x2, S3_0_C0_C7_7"))
    assert taken(m) == [] and m.cpu.x[2] == 0


def test_dczid_block_size_and_dzp(run_asm):
    m = run_asm(at_el0("mrs x3, dczid_el0", setup="mrs x2, dczid_el0"), cpu="max")
    zva = m.sysregs.get((1 << 14) | (3 << 11) | (7 << 7) | (4 << 3) | 1)
    assert m.cpu.x[2] == (0x4 if zva is not None else 0x14)  # BS = 4: 64-byte blocks
    assert m.cpu.x[3] == 0x14  # SCTLR_EL1.DZE = 0 at reset: DC ZVA prohibited at EL0


# ---- the tables themselves ------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_every_advertised_field_was_reviewed(model):
    owned = {(r.reg, bit) for r in LAYOUT for bit in range(r.shift, r.shift + r.width)}
    base = {(reg, bit) for reg, lsb, width, _ in BASE for bit in range(lsb, lsb + width)}
    for name, (_, value) in id_registers(model).items():
        for bit in range(64):
            if value >> bit & 1:
                assert (name, bit) in owned | base, f"{name} bit {bit} is advertised but in no table"


def test_models_claim_nothing_for_features_they_do_not_declare():
    # the model gives values and a layout; claims belong to the features that implement them
    catalog = plugins.discover()
    for name in MODELS:
        model = catalog.models[name]
        assert model.default_features == ()
        assert all(row.feature == "" and row.top is None for row in model.id_fields)
    assert set(KERNEL_CLAIMS) <= {kf.name for kf in kernel_features.KERNEL_FEATURES}
    # a kernel feature is on by default where the model advertises it, which needs a claim
    assert {kf.name for kf in kernel_features.KERNEL_FEATURES if not kf.fixed} <= set(KERNEL_CLAIMS)
    layout = {row.slot for row in LAYOUT}
    assert all(c.slot in layout for fields in KERNEL_CLAIMS.values() for c in fields)


def test_kernel_features_are_on_where_the_model_advertises_them():
    # cpu-models.md §6: BT is 1 on max and neoverse-n2, 0 on neoverse-v1; NMI only on max; all three
    # have SSBS, UAO and VHE
    catalog = plugins.discover()
    defaults = {name: plugins.default_features(catalog, catalog.models[name]) for name in MODELS}
    for name in MODELS:
        assert {"el2", "vhe", "mmu", "ssbs", "uao"} <= defaults[name]
    assert {"bti", "nmi"} <= defaults["max"]
    assert "bti" in defaults["neoverse-n2"] and "nmi" not in defaults["neoverse-n2"]
    assert not {"bti", "nmi"} & defaults["neoverse-v1"]


def test_kernel_feature_declared_only_when_its_instructions_decode(monkeypatch):
    unallocated = 0x00000000 if decoder().decode(0) is None else 0xFFFFFFFF
    assert decoder().decode(unallocated) is None
    missing = kernel_features.KernelFeature("lse", "stand-in", probes=(unallocated,))
    monkeypatch.setattr(kernel_features, "KERNEL_FEATURES", (missing,))
    assert kernel_features.declared_features() == []
    present = kernel_features.KernelFeature("sb", "stand-in", probes=(0xD50330FF,))
    monkeypatch.setattr(kernel_features, "KERNEL_FEATURES", (present,))
    (feat,) = kernel_features.declared_features()
    assert feat.name == "sb" and [f.name for f in feat.id_fields] == ["SB"]
