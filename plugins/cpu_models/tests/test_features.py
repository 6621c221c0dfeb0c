"""``--cpu MODEL,feature=on|off`` and what a guest sees of it: ID fields, HCR_EL2, PSTATE registers.

The nv and nv2 plugins are not part of this plugin; where their presence
matters the tests add stand-ins that make the same declarations (a feature,
the ID field it claims, where it is on by default, its HCR_EL2 bits, nv.md
NV-01/NV-02/NV-03) — or use the real plugins when they are installed.
"""

from __future__ import annotations

import pytest

from framework import plugins
from framework.errors import ArmnvError
from framework.plugins import ADVERTISED, Feature, IdField
from framework.testing import make_machine
from plugins.cpu_models.features import KERNEL_FEATURES
from plugins.cpu_models.tests.guest import catalog_with, feature_standin, nv_standins, program, taken

HCR_E2H = 1 << 34
HCR_NV_ALL = 0xF << 42  # NV, NV1, AT, NV2
# cpu-models.md §7: HCR_EL2 read back after writing all ones / zero
HCR_ALL_ONES = {"max": 0x00F67F3FFFFFFFFF, "neoverse-n2": 0x00F67F3FFFFFFFFF, "neoverse-v1": 0x00D67F3FFFFFFFFF}
HCR_ZERO = {"max": 0, "neoverse-n2": 0x80000000, "neoverse-v1": 0x80000000}

HCR_PROBE = """
    mrs x2, hcr_el2
    mov x4, #-1
    msr hcr_el2, x4
    mrs x3, hcr_el2
    msr hcr_el2, xzr
    mrs x4, hcr_el2
"""


@pytest.fixture
def with_nv(monkeypatch):
    """Machines built in this test see the nv/nv2 declarations."""
    catalog = catalog_with(*nv_standins())
    monkeypatch.setattr(plugins, "discover", lambda: catalog)
    return catalog


def use(monkeypatch, *modules) -> plugins.Catalog:
    """Machines built in this test also see the plugins `modules`."""
    catalog = catalog_with(*modules)
    monkeypatch.setattr(plugins, "discover", lambda: catalog)
    return catalog


def nv_field(m) -> int:
    return (m.cpu.x[2] >> 24) & 0xF


@pytest.mark.parametrize("model", sorted(HCR_ALL_ONES))
def test_hcr_el2_reset_and_write_mask(run_asm, model):
    m = run_asm(program(HCR_PROBE), cpu=model)
    missing = 0 if "nv2" in m.features else 1 << 45
    missing |= 0 if "nv" in m.features else 0x7 << 42
    assert m.cpu.x[2] == HCR_ZERO[model]  # reset (README board facts, cpu-models.md §7)
    assert m.cpu.x[3] == HCR_ALL_ONES[model] & ~missing
    assert m.cpu.x[4] == HCR_ZERO[model]


@pytest.mark.parametrize("model", sorted(HCR_ALL_ONES))
def test_nv02_nv03_hcr_el2_mask_with_nv_plugins(run_asm, with_nv, model):
    m = run_asm(program(HCR_PROBE), cpu=model)
    assert m.cpu.x[3] == HCR_ALL_ONES[model]


@pytest.mark.parametrize(
    ("cpu", "nv"),
    [("max", 2), ("neoverse-n2", 2), ("neoverse-v1", 2), ("max,nv2=off", 1), ("max,nv=off", 0), ("max,-vhe", 0)],
)
def test_nv01_id_field_follows_nv_and_nv2(run_asm, with_nv, cpu, nv):
    m = run_asm(program("mrs x2, ID_AA64MMFR2_EL1"), cpu=cpu)
    assert nv_field(m) == nv


def test_nv01_id_field_reads_zero_without_nv_plugins(run_asm):
    m = run_asm(program("mrs x2, ID_AA64MMFR2_EL1"), cpu="max")
    assert nv_field(m) == (2 if "nv2" in m.features else 1 if "nv" in m.features else 0)
    if "nv" not in m.catalog.features:
        assert nv_field(m) == 0


def test_nv_off_drops_nv2(with_nv):
    m = make_machine("max,nv=off")
    assert not {"nv", "nv2"} & m.features


def test_bti_off_clears_the_id_field_and_the_behaviour(run_asm):
    m = run_asm(program("mrs x2, ID_AA64PFR1_EL1"), cpu="max,bti=off")
    assert m.cpu.x[2] & 0xF == 0
    assert "bti" not in m.features  # engine and branch emitters specialise on this set
    m = run_asm(program("mrs x2, ID_AA64PFR1_EL1"), cpu="max")
    assert m.cpu.x[2] & 0xF == 1


def test_qemu_style_minus_feature(run_asm):
    m = run_asm(program("mrs x2, ID_AA64PFR1_EL1"), cpu="neoverse-n2,-ssbs")
    assert (m.cpu.x[2] >> 4) & 0xF == 0


def test_vhe_off_makes_e2h_res0(run_asm):
    m = run_asm(program(HCR_PROBE + "mrs x5, ID_AA64MMFR1_EL1"), cpu="max,vhe=off")
    assert not m.cpu.x[3] & HCR_E2H
    assert (m.cpu.x[5] >> 8) & 0xF == 0  # VH


def test_ssbs_off_undefines_the_ssbs_register(run_asm):
    m = run_asm(program("mrs x2, ssbs"), cpu="max,ssbs=off")
    assert taken(m) == [(2, 0x02000000)]
    m = run_asm(program("mrs x2, ssbs"), cpu="max")
    assert taken(m) == []


def test_kernel_features_own_their_registers():
    m = make_machine("max")
    for kf in KERNEL_FEATURES:
        if kf.name in m.catalog.features:
            for name in kf.registers:
                assert m.sysregs[name].feature == kf.name, name


def test_dpb2_off_undefines_dc_cvadp(run_asm):
    m = run_asm(program("mov x2, #0\ndc cvadp, x2\ndc cvap, x2\nmrs x3, ID_AA64ISAR1_EL1"), cpu="max,dpb2=off")
    assert taken(m) == [(2, 0x02000000)]  # only DC CVADP is UNDEFINED
    assert m.cpu.x[3] & 0xF == 1  # DPB: FEAT_DPB without FEAT_DPB2
    m = run_asm(program("mov x2, #0\ndc cvadp, x2\nmrs x3, ID_AA64ISAR1_EL1"), cpu="max")
    assert taken(m) == [] and m.cpu.x[3] & 0xF == 2


@pytest.mark.parametrize(
    ("cpu", "message"),
    [
        ("max,frobnicate=on", "unknown feature 'frobnicate'"),
        ("max,idst=off", "feature 'idst' cannot be switched off"),
        ("neoverse-v1,bti=on", "CPU model 'neoverse-v1' does not have feature 'bti'"),
        ("max,bti=maybe", "feature 'bti' must be on or off"),
        ("max,bti=on,bti=off", "feature 'bti' is given twice"),
        ("cortex-a999", "unknown CPU model 'cortex-a999'"),
        ("max,sve=on", "unknown feature 'sve'"),
    ],
)
def test_bad_cpu_option_is_a_one_line_error(cpu, message):
    with pytest.raises(ArmnvError) as info:
        make_machine(cpu)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_switching_off_a_feature_nobody_implements_is_accepted_with_a_warning():
    # --cpu max,nv2=off,pan=off works whether or not the nv2 and pan plugins are installed
    m = make_machine("max,nv2=off,pan=off,sve=off")
    assert not {"nv2", "pan", "sve"} & m.features
    warnings = plugins.undeclared_switches(m.catalog, "max,nv2=off,pan=off,sve=off,vhe=off")
    for name in ("nv2", "pan", "sve"):
        said = [w for w in warnings if f"feature {name!r}" in w]
        assert said == ([] if name in m.catalog.features else [said[0]])
    assert not [w for w in warnings if "'vhe'" in w]


def test_requirement_switched_off_is_an_error(with_nv):
    with pytest.raises(ArmnvError, match="feature 'nv' requires 'vhe', which is switched off"):
        make_machine("max,vhe=off,nv=on")


def test_describe_model_lists_cleared_fields():
    from framework.describe import describe_model

    catalog = plugins.discover()
    model = catalog.models["max"]
    lines = describe_model(catalog, model, plugins.select_features(catalog, model, {"bti": False}))
    text = "\n".join(lines)
    assert lines[0].startswith("max:") and "0x000f0510" in text
    assert "ID_AA64PFR0_EL1.SVE [35:32]" in text and "no enabled feature claims it" in text
    assert "ID_AA64PFR1_EL1.BT [3:0]" in text and "bti disabled" in text
    assert "switched off: bti" in text


# ---- features of any plugin: the fields they claim, where they are on by default ------------------------

# cpu-models.md §2: ID_AA64MMFR1_EL1.PAN [23:20] and ID_AA64PFR0_EL1.GIC [27:24] on each model
PAN_FIELD = IdField("ID_AA64MMFR1_EL1", 20, 4, "PAN")
PAN_LEVEL = {"max": 3, "neoverse-n2": 2, "neoverse-v1": 2}
GIC_FIELD = IdField("ID_AA64PFR0_EL1", 24, 4, "GIC")


def claimed_elsewhere(m, field: IdField, but: str) -> bool:
    """True if an enabled feature other than `but` claims `field` (a plugin installed later)."""
    return any(
        c.slot == field.slot for f in m.catalog.features.values() if f.name in m.features - {but} for c in f.id_fields
    )


@pytest.mark.parametrize("model", sorted(PAN_LEVEL))
def test_a_feature_of_any_name_shows_the_field_it_claims(run_asm, monkeypatch, model):
    # the PAN field is no one's until a feature claims it, whatever the feature is called
    feature = Feature("vendor_pan", "FEAT_PAN under another name", id_fields=(PAN_FIELD,), default_on=(ADVERTISED,))
    use(monkeypatch, feature_standin(feature))
    m = run_asm(program("mrs x2, ID_AA64MMFR1_EL1"), cpu=model)
    assert "vendor_pan" in m.features
    assert PAN_FIELD.get(m.cpu.x[2]) == PAN_LEVEL[model]
    m = run_asm(program("mrs x2, ID_AA64MMFR1_EL1"), cpu=f"{model},vendor_pan=off")
    assert "vendor_pan" not in m.features
    assert PAN_FIELD.get(m.cpu.x[2]) == (PAN_LEVEL[model] if claimed_elsewhere(m, PAN_FIELD, "vendor_pan") else 0)


@pytest.mark.parametrize("model", sorted(PAN_LEVEL))
def test_cpu_models_md_s2_nested_virtualization_features_are_on_where_advertised(run_asm, monkeypatch, model):
    # "all three models implement FEAT_NV and FEAT_NV2", PAN and the GICv3 system-register interface:
    # features that claim those fields and say default_on=(ADVERTISED,) are on with no --cpu switch
    pan = Feature("pan", "FEAT_PAN stand-in", id_fields=(PAN_FIELD,), default_on=(ADVERTISED,))
    gic = Feature("gicv3", "GICv3 stand-in", id_fields=(GIC_FIELD,), default_on=(ADVERTISED,))
    use(monkeypatch, *nv_standins(), feature_standin(pan), feature_standin(gic))
    m = run_asm(program("mrs x2, ID_AA64MMFR2_EL1\nmrs x3, ID_AA64MMFR1_EL1\nmrs x4, ID_AA64PFR0_EL1"), cpu=model)
    assert {"nv", "nv2", "pan", "gicv3"} <= m.features
    assert nv_field(m) == 2
    assert PAN_FIELD.get(m.cpu.x[3]) == PAN_LEVEL[model]
    assert GIC_FIELD.get(m.cpu.x[4]) == 1


# cpu-models.md §6: ID_AA64ISAR0_EL1.RNDR [63:60] is 1 on all three models
RNDR_FIELD = IdField("ID_AA64ISAR0_EL1", 60, 4, "RNDR")


@pytest.mark.parametrize("model", sorted(PAN_LEVEL))
def test_cpu_models_md_s6_rndr_visible_while_a_feature_claims_it(run_asm, monkeypatch, model):
    # the FEAT_RNG declaration docs/plugin-guide.md shows
    rng = Feature("rng", "FEAT_RNG: RNDR and RNDRRS", id_fields=(RNDR_FIELD,), default_on=(ADVERTISED,))
    use(monkeypatch, feature_standin(rng))
    m = run_asm(program("mrs x2, ID_AA64ISAR0_EL1"), cpu=model)
    assert "rng" in m.features and RNDR_FIELD.get(m.cpu.x[2]) == 1
    m = run_asm(program("mrs x2, ID_AA64ISAR0_EL1"), cpu=f"{model},rng=off")
    assert "rng" not in m.features and RNDR_FIELD.get(m.cpu.x[2]) == 0


def test_default_on_names_the_models(monkeypatch):
    widget = Feature("widget", "on by default on neoverse-n2 only", default_on=("neoverse-n2",))
    use(monkeypatch, feature_standin(widget))
    assert "widget" in make_machine("neoverse-n2").features
    assert "widget" not in make_machine("neoverse-n2,widget=off").features
    assert "widget" not in make_machine("max").features
    assert "widget" in make_machine("max,widget=on").features


def test_advertised_feature_cannot_be_switched_on_where_the_model_lacks_it(monkeypatch):
    # cpu-models.md §2: HCX [43:40] is 1 on max and 0 on the Neoverse cores
    hcx = Feature(
        "hcx", "FEAT_HCX stand-in", id_fields=(IdField("ID_AA64MMFR1_EL1", 40, 4, "HCX"),), default_on=(ADVERTISED,)
    )
    use(monkeypatch, feature_standin(hcx))
    assert "hcx" in make_machine("max").features
    assert "hcx" not in make_machine("neoverse-n2").features
    with pytest.raises(
        ArmnvError, match=r"'neoverse-n2' does not have feature 'hcx' \(ID_AA64MMFR1_EL1.HCX \[43:40\] is 0\)"
    ):
        make_machine("neoverse-n2,hcx=on")


def test_nv01_nv_without_nv2_reads_one(run_asm, monkeypatch):
    # FEAT_NV's claim stops at level 1: without a plugin for FEAT_NV2 the field never says 2
    nv, _ = nv_standins()
    use(monkeypatch, nv)
    m = run_asm(program("mrs x2, ID_AA64MMFR2_EL1"), cpu="max")
    assert nv_field(m) == (2 if "nv2" in m.features else 1)
