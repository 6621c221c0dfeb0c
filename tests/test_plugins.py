"""The plugin manager: discovery through entry points, the hook contract, feature selection, ID fields."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from framework import hookimpl, plugins
from framework.cli import run_cli
from framework.cpu.sysregs import reg
from framework.errors import ArmnvError
from framework.plugins import CpuModel, Feature, IdField
from framework.testing import make_machine

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "plugin-example"


def module(name: str, **hooks: object) -> types.ModuleType:
    mod = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(mod, hook_name, hookimpl(fn))
    return mod


def feature_plugin(name: str, *features: Feature, **hooks: object) -> types.ModuleType:
    return module(name, armnv_features=lambda: list(features), **hooks)


REG = "ID_TEST_EL1"
MODEL = CpuModel("toy", "a test model", {REG: (3, 0, 0, 4, 0, 0x0000_0000_0000_F132)}, ("a", "b", "ghost"))


def catalog(*mods: types.ModuleType, model: CpuModel = MODEL) -> plugins.Catalog:
    models = module("models", armnv_cpu_models=lambda: [model])
    return plugins.build_catalog([(m.__name__, m, "test") for m in (models, *mods)])


# ---- discovery ---------------------------------------------------------------------------------


def test_builtin_plugins_come_from_entry_points():
    cat = plugins.discover()
    assert cat.plugins["cpu_models"].origin == "builtin"
    assert cat.plugins["cpu_models"].entry_point == "plugins.cpu_models"
    assert "armnv_cpu_models" in cat.plugins["cpu_models"].hooks()
    assert {"max", "neoverse-n2", "neoverse-v1"} <= set(cat.models)
    assert all(m.plugin == "cpu_models" for m in cat.models.values() if m.name in ("max", "neoverse-v1"))
    builtin = [info.origin == "builtin" for info in cat.plugins.values()]
    assert builtin == sorted(builtin, reverse=True)  # builtins are registered first


def test_hooks_lists_only_marked_implementations():
    mod = module("p", armnv_cpu_dump=lambda cpu: [])
    mod.armnv_helper = lambda: None  # not a hook implementation
    assert plugins.build_catalog([("p", mod, "test")]).plugins["p"].hooks() == ["armnv_cpu_dump"]


@pytest.mark.parametrize(
    ("hooks", "message"),
    [
        ({"armnv_cpu_dumb": lambda cpu: []}, "armnv_cpu_dumb"),
        ({"armnv_cpu_dump": lambda cpu, colour: []}, "colour"),
    ],
)
def test_plugin_breaking_the_contract_is_rejected(hooks, message):
    with pytest.raises(ArmnvError, match=f"does not follow the hook contract.*{message}") as info:
        plugins.build_catalog([("bad", module("bad", **hooks), "test")])
    assert "\n" not in str(info.value)


def test_feature_declared_twice_is_an_error():
    one = feature_plugin("one", Feature("x", "x"))
    two = feature_plugin("two", Feature("x", "x again"))
    with pytest.raises(ArmnvError, match="feature 'x' declared by both one and two"):
        catalog(one, two)


# ---- --cpu and feature selection -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "parsed"),
    [
        ("max", ("max", {})),
        ("max,nv2=off,pan=on", ("max", {"nv2": False, "pan": True})),
        ("neoverse-n2, sve=false ,+bti,-ssbs", ("neoverse-n2", {"sve": False, "bti": True, "ssbs": False})),
    ],
)
def test_parse_cpu_option(option, parsed):
    assert plugins.parse_cpu_option(option) == parsed


@pytest.mark.parametrize(
    ("option", "message"),
    [(",bti=on", "missing CPU model"), ("max,bti", "expected FEATURE=on|off"), ("max,bti=2", "must be on or off")],
)
def test_parse_cpu_option_errors(option, message):
    with pytest.raises(ArmnvError, match=message):
        plugins.parse_cpu_option(option)


A = Feature("a", "feature a")
B = Feature("b", "needs a", requires=("a",))
C = Feature("c", "clashes with a", conflicts=("a",))
F = Feature("f", "always there", fixed=True)


def select(option: str, *mods: types.ModuleType) -> frozenset[str]:
    cat = catalog(*mods) if mods else catalog(feature_plugin("abc", A, B, C, F))
    name, overrides = plugins.parse_cpu_option(option)
    return plugins.select_features(cat, cat.model(name), overrides)


def test_defaults_fixed_features_and_undeclared_defaults():
    assert select("toy") == {"a", "b", "f"}  # "ghost" is a default nobody declares


def test_switching_a_requirement_off_drops_its_dependents():
    assert select("toy,a=off") == {"f"}


def test_dependent_switched_on_without_its_requirement_is_an_error():
    with pytest.raises(ArmnvError, match="feature 'b' requires 'a', which is switched off"):
        select("toy,a=off,b=on")


def test_conflicting_features_are_an_error():
    with pytest.raises(ArmnvError, match=r"features 'a' and 'c' conflict; switch one off \(e.g. --cpu toy,a=off\)"):
        select("toy,c=on")
    assert select("toy,a=off,c=on") == {"c", "f"}


def test_fixed_feature_cannot_be_switched_off():
    with pytest.raises(ArmnvError, match="'f' cannot be switched off"):
        select("toy,f=off")


def test_unknown_feature_and_model():
    with pytest.raises(ArmnvError, match=r"unknown feature 'zz' \(known features: a, b, c, f\)"):
        select("toy,zz=on")
    assert select("toy,ghost=off") == {"a", "b", "f"}  # a default of the model nobody implements
    with pytest.raises(ArmnvError, match="feature 'ghost' is not implemented"):
        select("toy,ghost=on")
    with pytest.raises(ArmnvError, match=r"unknown CPU model 'big' \(known: toy\)"):
        select("big")


def test_feature_the_model_lacks_cannot_be_switched_on():
    # the toy model's ID_TEST_EL1 [7:4] is 3, [11:8] is 1: "d" (absent at 3) is not there
    d = Feature("d", "d", id_fields=(IdField(REG, 4, name="D", absent=3),))
    with pytest.raises(ArmnvError, match=r"'toy' does not have feature 'd' \(ID_TEST_EL1.D \[7:4\] is 3\)"):
        select("toy,d=on", feature_plugin("dp", d))


def test_only_enabled_features_plugins_are_registered():
    device = module("device", armnv_devices=lambda machine: None)
    cat = catalog(feature_plugin("pa", A), feature_plugin("pc", C), device)
    pm = plugins.machine_manager(cat, frozenset({"a"}))
    assert {name for name, _ in pm.list_name_plugin()} == {"models", "pa", "device"}


# ---- ID registers ---------------------------------------------------------------------------------------


def test_id_field_lowering():
    field = IdField("R", 4, name="F", absent=1)
    assert field.lowered(0x35) == 0x15 and field.lowered(0x05) == 0x05  # lowered, never raised
    signed = IdField("R", 12, name="S", absent=-1, signed=True)
    assert signed.lowered(0x0000) == 0xF000  # 0 -> 0b1111: "not implemented"
    assert signed.lowered(0xF000) == 0xF000
    assert signed.level(0xE) == -2


def resolve(cat: plugins.Catalog, enabled: set[str], model: str = "toy") -> int:
    return plugins.resolve_id_registers(cat, cat.model(model), enabled).values[REG]


def test_resolve_keeps_fields_of_enabled_features_only():
    # ID_TEST_EL1 = 0xF132: [3:0] = 2 claimed by "a", [7:4] = 3 claimed by "b" above 1,
    # [11:8] = 1 in the model's layout but claimed by nobody, [15:12] = 0xF in no row at all
    a = Feature("a", "a", id_fields=(IdField(REG, 0, name="A"),))
    b = Feature("b", "b", id_fields=(IdField(REG, 4, name="B", absent=1),))
    layout = (IdField(REG, 0, name="A"), IdField(REG, 4, name="B"), IdField(REG, 8, name="G"))
    model = CpuModel("toy", "t", MODEL.id_regs, id_fields=layout)
    cat = catalog(feature_plugin("abc", a, b), model=model)
    assert resolve(cat, {"a", "b"}) == 0xF032
    ids = plugins.resolve_id_registers(cat, model, {"a"})
    # "b" switched off lowers B to 1; with no enabled claim left, B drops to its layout level, 0
    assert ids.values[REG] == 0xF002
    causes = {c.field.name: c.causes for c in ids.cleared}
    assert causes == {"B": (("b", "disabled"), ("", "unclaimed")), "G": (("", "unclaimed"),)}
    assert resolve(cat, set()) == 0xF000


def test_feature_plugin_owns_fields_it_declares():
    d = Feature("d", "d", id_fields=(IdField(REG, 0, name="A"),))
    cat = catalog(feature_plugin("dp", d))
    assert plugins.resolve_id_registers(cat, MODEL, set()).values[REG] == 0xF130
    assert plugins.resolve_id_registers(cat, MODEL, {"d"}).values[REG] == 0xF132


def test_claim_top_limits_the_level_a_feature_provides():
    # [7:4] = 3: "low" provides level 1 only, "high" the levels above 1
    low = Feature("low", "low", id_fields=(IdField(REG, 4, name="B", top=1),))
    high = Feature("high", "high", id_fields=(IdField(REG, 4, name="B", absent=1),))
    cat = catalog(feature_plugin("lh", low, high))
    assert resolve(cat, {"low"}) == 0xF112
    assert resolve(cat, {"low", "high"}) == 0xF132
    assert resolve(cat, {"high"}) == 0xF102  # "low" switched off lowers B to its absent level, 0
    assert resolve(cat, set()) == 0xF102


def test_claim_inside_a_register_the_layout_lowers_whole():
    # an AArch32 ID register is lowered whole, except what an enabled feature claims in it
    model = CpuModel("toy", "t", MODEL.id_regs, id_fields=(IdField(REG, 0, 64, "*"),))
    part = Feature("part", "part", id_fields=(IdField(REG, 4, name="B"),))
    cat = catalog(feature_plugin("p", part), model=model)
    assert resolve(cat, {"part"}) == 0x0030
    assert resolve(cat, set()) == 0


def test_signed_layout_field_keeps_not_implemented():
    # [15:12] = 0xF is -1: "not implemented" for a signed field, already at its absent level
    model = CpuModel("toy", "t", MODEL.id_regs, id_fields=(IdField(REG, 12, name="S", absent=-1, signed=True),))
    assert resolve(catalog(model=model), set()) == 0xF132


def test_default_on_named_models_every_model_and_advertised():
    # the toy model's [11:8] is 1, [7:4] is 3; "lacking" is absent up to 3
    other = CpuModel("other", "o", {REG: (3, 0, 0, 4, 0, 0)})
    named = Feature("named", "n", default_on=("toy",))
    everywhere = Feature("everywhere", "e", default_on=(plugins.EVERY_MODEL,))
    shown = Feature("shown", "s", id_fields=(IdField(REG, 8, name="G"),), default_on=(plugins.ADVERTISED,))
    lacking = Feature(
        "lacking", "l", id_fields=(IdField(REG, 4, name="B", absent=3),), default_on=(plugins.ADVERTISED,)
    )
    both = Feature("both", "b", id_fields=(IdField(REG, 8, name="G"),), default_on=(plugins.ADVERTISED, "other"))
    models = module("models", armnv_cpu_models=lambda: [MODEL, other])
    mod = feature_plugin("d", named, everywhere, shown, lacking, both)
    cat = plugins.build_catalog([("models", models, "test"), ("d", mod, "test")])
    assert plugins.default_features(cat, cat.model("toy")) == {"named", "everywhere", "shown", "both"}
    assert plugins.default_features(cat, cat.model("other")) == {"everywhere", "both"}
    assert plugins.select_features(cat, cat.model("toy"), {"named": False, "shown": False}) == {"everywhere", "both"}


@pytest.mark.parametrize("name", [plugins.EVERY_MODEL, plugins.ADVERTISED])
def test_model_names_of_default_on_are_reserved(name):
    models = module("models", armnv_cpu_models=lambda: [CpuModel(name, "m", {})])
    with pytest.raises(ArmnvError, match=re.escape(f"the CPU model name {name!r} is reserved")):
        plugins.build_catalog([("models", models, "test")])


def test_switching_off_an_undeclared_feature_is_a_warning_not_an_error():
    cat = catalog(feature_plugin("abc", A, B, C, F))
    assert select("toy,zz=off") == {"a", "b", "f"}
    warnings = plugins.undeclared_switches(cat, "toy,zz=off,-yy,a=off,ghost=off,xx=on")
    assert warnings == [
        "--cpu: no installed plugin implements feature 'zz', so zz=off changes nothing",
        "--cpu: no installed plugin implements feature 'yy', so yy=off changes nothing",
        "--cpu: no installed plugin implements feature 'ghost', so ghost=off changes nothing",
    ]


# ---- machines built from a catalogue ---------------------------------------------------------------------


def test_later_plugin_definition_wins(monkeypatch):
    base = plugins.discover()
    entries = [(i.name, i.module, i.origin) for i in base.plugins.values()]
    first = module("zz_first", armnv_sysregs=lambda machine: [reg("IMP_A_EL1", 3, 0, 15, 1, 0, reset=1)])
    second = module("zz_second", armnv_sysregs=lambda machine: [reg("IMP_B_EL1", 3, 0, 15, 1, 0, reset=2)])
    cat = plugins.build_catalog([*entries, ("zz_first", first, "test"), ("zz_second", second, "test")])
    monkeypatch.setattr(plugins, "discover", lambda: cat)
    m = make_machine("max")
    assert m.sysregs.get((3 << 14) | (15 << 7) | (1 << 3)).name == "IMP_B_EL1"


def test_armnv_plugins_lists_the_registration_order(monkeypatch, capsys):
    # a third-party plugin whose name sorts before every builtin is still registered after them
    base = plugins.discover()
    entries = [(i.name, i.module, i.origin) for i in base.plugins.values()]
    aardvark = module("aardvark", armnv_cpu_dump=lambda cpu: [])
    cat = plugins.build_catalog([*entries, ("aardvark", aardvark, "aardvark 1.0")])
    monkeypatch.setattr(plugins, "discover", lambda: cat)
    assert run_cli(["plugins"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Plugins in registration order")
    listed = [line.split()[1] for line in out if re.match(r"\d+\. ", line)]
    assert listed == [*base.plugins, "aardvark"]
    assert "aardvark (aardvark 1.0: aardvark)" in out[-3]
    # and that is the order a machine registers them in (those it needs: a plugin whose features
    # are all off on max is left out, one without features is always in)
    registered = [name for name, _ in make_machine("max").pm.list_name_plugin()]
    assert registered == [name for name in listed if name in registered]
    assert {"cpu_models", "mmu", "aardvark"} <= set(registered)


# ---- an out-of-tree plugin package, installed the way users install one -----------------------------------


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory) -> Path:
    """examples/plugin-example built and installed into a private directory (the shared venv is left alone)."""
    tmp = tmp_path_factory.mktemp("plugin")
    src = tmp / "src"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = tmp / "site"
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(src)]
    if importlib.util.find_spec("wheel") is not None:
        cmd.insert(-1, "--no-build-isolation")  # build with the venv's setuptools, offline
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return site


def run_with(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(site))
    return subprocess.run([*args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def test_out_of_tree_plugin_is_discovered(installed_example):
    armnv = Path(sys.executable).with_name("armnv")
    proc = run_with(installed_example, str(armnv), "plugins")
    assert proc.returncode == 0, proc.stderr
    assert "scratch (armnv-scratch 1.0.0: armnv_scratch)" in proc.stdout
    assert "armnv_sysreg_access" in proc.stdout
    proc = run_with(installed_example, str(armnv), "features")
    assert "scratch" in proc.stdout


def test_out_of_tree_plugin_hooks_fire_on_a_machine(installed_example):
    # the example's own test suite runs guests that read its register and take its trap
    tests = installed_example.parent / "src" / "tests"
    proc = run_with(installed_example, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 passed" in proc.stdout


def test_out_of_tree_plugin_is_discovered_exactly_when_its_package_is_installed():
    try:
        importlib.metadata.distribution("armnv-scratch")
    except importlib.metadata.PackageNotFoundError:
        installed = False
    else:
        installed = True
    assert ("scratch" in plugins.discover().plugins) == installed
