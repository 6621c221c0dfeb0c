"""Plugin discovery, the feature catalogue and per-machine plugin managers.

Every plugin — builtin or third-party — is an entry point in the ``armnv``
group (armnv's own are declared in its ``pyproject.toml`` exactly like a
third-party package declares its own). Discovery loads them all once,
checks each against the hook contract (`framework.hookspecs`) and asks it
for the features and CPU models it declares; the result is a `Catalog`.

A machine then gets its own pluggy manager holding only the plugins it
needs: plugins that declare no feature (devices…), plugins that declare CPU
models, and plugins with at least one enabled feature. A disabled feature
therefore costs nothing, and a feature's hook implementations never have to
ask "am I enabled?".

ID registers follow one rule: a field keeps the CPU model's value only while
a feature that claims it (`Feature.id_fields`) is enabled — declared by some
plugin *and* selected. A field nobody claims is lowered to the level the
model's field layout gives for it (`CpuModel.id_fields`, "not implemented"
for most), so a guest never sees a feature armnv does not have
(`resolve_id_registers`).

Which features are on by default is decided by both sides: the model's own
list (`CpuModel.default_features`) and each feature's `Feature.default_on`
(named models, every model, or every model whose ID values advertise it).
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import attrs
import pluggy

from framework import PROJECT, hookspecs
from framework.errors import ArmnvError

ENTRY_POINT_GROUP = "armnv"
IMPL_MARK = f"{PROJECT}_impl"
_SPEC_MARK = f"{PROJECT}_spec"

_SPECS = {name: getattr(fn, _SPEC_MARK) for name, fn in vars(hookspecs).items() if hasattr(fn, _SPEC_MARK)}
# firstresult hooks: the first answer other than None wins, the kernel decides otherwise
DECISION_HOOKS = frozenset(name for name, opts in _SPECS.items() if opts.get("firstresult"))
# hooks called while a catalogue or a machine is built, never afterwards
BUILD_HOOKS = frozenset(
    {
        "armnv_features",
        "armnv_cpu_models",
        "armnv_sysregs",
        "armnv_hcr_bits",
        "armnv_devices",
        "armnv_device_tree",
        "armnv_machine_built",
    }
)


def implemented_hooks(plugin: object) -> list[str]:
    """Names of the hooks `plugin` (a module, class instance…) implements, sorted."""
    return sorted(
        name for name in dir(plugin) if name.startswith("armnv_") and hasattr(getattr(plugin, name), IMPL_MARK)
    )


# ---- hook implementations the kernel may skip ----------------------------------------------

ONLY_WHEN = "armnv_only_when"
# the hooks `only_when` applies to, with the arguments the kernel passes them, in order
ENTRY_HOOKS = {
    "armnv_exception_entry": ("cpu", "from_el", "target_el", "spsr", "esr"),
    "armnv_entry_pstate": ("cpu", "target_el"),
    "armnv_eret": ("cpu", "pc"),
}


def only_when(predicate: Callable[[Any], Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark an exception entry or ERET hook implementation as able to matter only while `predicate`.

    ``@only_when(lambda cpu: cpu.sr["HCR_EL2"] & HCR_NV)`` next to ``@hookimpl``: the
    kernel asks ``predicate(cpu)`` once per configuration (again after a write to a
    register marked ``config`` or ``decides``, or a new plugin) and, while it is false,
    does not call the implementation, which must then have nothing to say (None; for
    ``armnv_entry_pstate``, no change). The predicate may read only such registers and
    ``cpu.machine.features``, never PSTATE or data values. It applies to
    ``armnv_exception_entry``, ``armnv_entry_pstate`` and ``armnv_eret`` (a mark on
    another hook is an error when the plugin is registered); an implementation without
    it is always called.
    """

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, ONLY_WHEN, predicate)
        return fn

    return mark


# ---- declarations ------------------------------------------------------------------------


# Feature.default_on entries that are not model names
EVERY_MODEL = "*"
ADVERTISED = "advertised"  # every model whose ID values advertise the feature


@attrs.define(frozen=True, slots=True)
class IdField:
    """A field ``reg[shift + width - 1 : shift]`` of an ID register.

    Two kinds of rows use it. In `Feature.id_fields` it is a *claim*: the
    feature provides the levels above `absent`, up to `top` (None: every
    level the model has). While the feature is enabled the field keeps the
    model's value, limited to `top`; while it is declared but switched off
    the field drops to `absent`. FEAT_NV would claim ID_AA64MMFR2_EL1.NV with
    ``absent=0, top=1`` and FEAT_NV2 the same field with ``absent=1``, so the
    field reads 2 with both, 1 without FEAT_NV2, 0 without either.

    In `CpuModel.id_fields` it is the model's *layout*: a field no enabled
    feature claims is lowered to `absent` (the value meaning "not
    implemented", or the level armnv has without any feature). `feature` is
    filled in by the catalogue for claims and is empty for layout rows.

    A field is only ever lowered, never raised: the model's value is the most
    a guest can see. `signed` fields compare as two's complement, so
    ``absent=-1`` means 0b1111 ("not implemented" for FP, TGran4, DoubleLock).
    """

    reg: str
    shift: int
    width: int = 4
    name: str = ""
    feature: str = ""
    absent: int = 0
    signed: bool = False
    top: int | None = None

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.shift

    @property
    def slot(self) -> tuple[str, int, int]:
        return (self.reg, self.shift, self.width)

    @property
    def label(self) -> str:
        if self.name == "*":
            return f"{self.reg} (all fields)"
        return f"{self.reg}.{self.name or '?'} [{self.shift + self.width - 1}:{self.shift}]"

    def get(self, value: int) -> int:
        return (value >> self.shift) & ((1 << self.width) - 1)

    def put(self, value: int, field: int) -> int:
        return (value & ~self.mask) | ((field << self.shift) & self.mask)

    def level(self, field: int) -> int:
        """The field as a number to compare (two's complement for signed fields)."""
        if self.signed and field >> (self.width - 1):
            return field - (1 << self.width)
        return field

    def lowered(self, value: int, limit: int | None = None) -> int:
        """`value` (the whole register) with this field limited to `limit` (default: `absent`)."""
        limit = self.absent if limit is None else limit
        if self.level(self.get(value)) <= limit:
            return value
        return self.put(value, limit & ((1 << self.width) - 1))

    def advertised(self, value: int) -> bool:
        """True if `value` (the whole register) has this field above its absent level."""
        return self.level(self.get(value)) > self.absent


@attrs.define(frozen=True, slots=True)
class Feature:
    """An optional architectural feature implemented by a plugin (or by the kernel, declared by a plugin).

    `id_fields` are the ID-register fields the feature claims (see `IdField`):
    the model's value shows through them only while the feature is enabled.

    `default_on` says on which models the feature is on without a ``--cpu``
    switch: model names (``("max", "neoverse-n2")``), `EVERY_MODEL`, or
    `ADVERTISED` — every model whose own value of one of the `id_fields` is
    above its absent level (``default_on=(ADVERTISED,)`` with a claim on
    ID_AA64MMFR1_EL1.PAN is on wherever the model has FEAT_PAN). Entries
    combine: ``(ADVERTISED, "max")``. A model's own `CpuModel.default_features`
    adds to this; ``--cpu MODEL,name=off`` switches a default off.
    """

    name: str
    description: str
    requires: tuple[str, ...] = ()
    # ID-register fields the feature claims: kept at the model's value only while it is enabled
    id_fields: tuple[IdField, ...] = ()
    plugin: str = ""
    # features that cannot be enabled together with this one
    conflicts: tuple[str, ...] = ()
    # always on while declared: armnv cannot run without it (e.g. EL2 on the virt board)
    fixed: bool = False
    # models where it is on by default: names, EVERY_MODEL, ADVERTISED
    default_on: tuple[str, ...] = ()


@attrs.define(frozen=True, slots=True)
class CpuModel:
    """A CPU model: identification register values and its default features.

    `extra` holds model properties that are not ID registers, keyed by
    register name: ``CNTFRQ_EL0``, ``PMCR_EL0`` (reset), ``ICH_VTR_EL2``,
    ``CCSIDR_EL1(CSSELR=n)``, ``CCSIDR2_EL1(CSSELR=n)``, and the HCR_EL2
    shape of cpu-models.md §7: ``HCR_EL2.writable`` (bits the model
    implements) and ``HCR_EL2.res1`` (RW on AArch64-only EL1).
    `id_fields` is the layout of the model's ID fields: each row says how far
    the field is lowered while no enabled feature claims it (see `IdField`);
    bits outside every row are kept as they are.
    `default_features` names features the model has on by default, in
    addition to the features whose `Feature.default_on` selects the model.
    """

    name: str
    description: str
    # register name -> (op0, op1, CRn, CRm, op2, value)
    id_regs: dict[str, tuple[int, int, int, int, int, int]]
    default_features: tuple[str, ...] = ()
    plugin: str = ""
    extra: dict[str, int] = attrs.field(factory=dict)
    id_fields: tuple[IdField, ...] = ()

    def raw_value(self, reg: str) -> int:
        entry = self.id_regs.get(reg)
        return entry[5] if entry else 0


@attrs.define(slots=True)
class PluginInfo:
    name: str
    module: ModuleType
    origin: str  # distribution name and version, or "builtin"
    features: list[Feature] = attrs.field(factory=list)
    models: list[CpuModel] = attrs.field(factory=list)
    entry_point: str = ""  # "package.module" the entry point names

    def hooks(self) -> list[str]:
        """Names of the hooks this plugin implements."""
        return implemented_hooks(self.module)


@attrs.define(slots=True)
class Catalog:
    plugins: dict[str, PluginInfo]
    features: dict[str, Feature]
    models: dict[str, CpuModel]

    def model(self, name: str) -> CpuModel:
        model = self.models.get(name)
        if model is None:
            known = ", ".join(sorted(self.models)) or "none"
            raise ArmnvError(f"unknown CPU model {name!r} (known: {known})")
        return model


# ---- discovery ----------------------------------------------------------------------------


def _origin(ep: importlib.metadata.EntryPoint) -> str:
    dist = ep.dist
    if dist is None:
        return "unknown"
    if dist.metadata["Name"] == PROJECT:
        return "builtin"
    return f"{dist.metadata['Name']} {dist.version}"


def _check_contract(name: str, module: ModuleType) -> None:
    """Reject hook implementations that do not match the contract (typos, wrong arguments)."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    try:
        pm.register(module, name=name)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        detail = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise ArmnvError(f"plugin {name!r} does not follow the hook contract: {detail}") from exc


def build_catalog(entries: Iterable[tuple[str, ModuleType, str]]) -> Catalog:
    """The catalogue of `(name, module, origin)` plugins, in the given order.

    `discover` feeds it the entry points; tests feed it extra modules.
    """
    plugins: dict[str, PluginInfo] = {}
    features: dict[str, Feature] = {}
    models: dict[str, CpuModel] = {}
    for name, module, origin in entries:
        if name in plugins:
            raise ArmnvError(f"two plugins are named {name!r} ({plugins[name].origin} and {origin})")
        _check_contract(name, module)
        info = PluginInfo(name, module, origin, entry_point=getattr(module, "__name__", name))
        for feat in getattr(module, "armnv_features", lambda: [])() or []:
            feat = attrs.evolve(feat, plugin=name)
            if feat.name in features:
                raise ArmnvError(f"feature {feat.name!r} declared by both {features[feat.name].plugin} and {name}")
            features[feat.name] = feat
            info.features.append(feat)
        for model in getattr(module, "armnv_cpu_models", lambda: [])() or []:
            model = attrs.evolve(model, plugin=name)
            if model.name in (EVERY_MODEL, ADVERTISED):
                raise ArmnvError(f"plugin {name!r}: the CPU model name {model.name!r} is reserved")
            if model.name in models:
                raise ArmnvError(f"CPU model {model.name!r} declared by both {models[model.name].plugin} and {name}")
            models[model.name] = model
            info.models.append(model)
        plugins[name] = info
    return Catalog(plugins, features, models)


@functools.cache
def discover() -> Catalog:
    """Load every plugin of the ``armnv`` entry-point group (builtins first) and collect its declarations."""
    eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    # builtins first, then third-party, each by name: registration order decides which
    # armnv_sysregs definition wins (the later one) and pluggy calls the latest first
    ordered = sorted(eps, key=lambda e: (_origin(e) != "builtin", e.name))
    entries = []
    seen: set[str] = set()
    for ep in ordered:
        if ep.name in seen:  # the same distribution seen twice on sys.path
            continue
        seen.add(ep.name)
        try:
            module = ep.load()
        except Exception as exc:  # a broken third-party plugin must not become a traceback
            raise ArmnvError(f"plugin {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
        entries.append((ep.name, module, _origin(ep)))
    catalog = build_catalog(entries)
    for ep in ordered:
        if ep.name in catalog.plugins:
            catalog.plugins[ep.name].entry_point = ep.value
    return catalog


# ---- the --cpu option and feature selection ------------------------------------------------------


def parse_cpu_option(option: str) -> tuple[str, dict[str, bool]]:
    """``max,nv2=off,pan=on`` -> ("max", {"nv2": False, "pan": True}); ``+feat``/``-feat`` work too."""
    parts = [p.strip() for p in option.split(",")]
    model = parts[0]
    if not model:
        raise ArmnvError("--cpu: missing CPU model name")
    overrides: dict[str, bool] = {}
    for part in parts[1:]:
        name, sep, value = part.partition("=")
        if not sep:
            if part[:1] in "+-" and len(part) > 1:
                name, value = part[1:], "on" if part[0] == "+" else "off"
            else:
                raise ArmnvError(f"--cpu: expected FEATURE=on|off, got {part!r}")
        value = value.lower()
        if name in overrides:
            raise ArmnvError(f"--cpu: feature {name!r} is given twice")
        if value in ("on", "true", "yes", "1"):
            overrides[name] = True
        elif value in ("off", "false", "no", "0"):
            overrides[name] = False
        else:
            raise ArmnvError(f"--cpu: feature {name!r} must be on or off, not {value!r}")
    return model, overrides


def claims(catalog: Catalog, model: CpuModel, feature: str | None = None) -> list[IdField]:
    """The ID fields declared features claim on registers `model` has (only `feature`'s if given)."""
    return [
        attrs.evolve(f, feature=feat.name)
        for feat in catalog.features.values()
        if feature is None or feat.name == feature
        for f in feat.id_fields
        if f.reg in model.id_regs
    ]


def advertises(catalog: Catalog, model: CpuModel, feature: str) -> bool:
    """True if the model's own value of a field `feature` claims is above the claim's absent level."""
    return any(r.advertised(model.raw_value(r.reg)) for r in claims(catalog, model, feature))


def model_lacks(catalog: Catalog, model: CpuModel, feature: str) -> IdField | None:
    """A field showing that `model` does not have `feature` (every field it claims is at its absent level)."""
    rows = claims(catalog, model, feature)
    if rows and not advertises(catalog, model, feature):
        return rows[0]
    return None


def default_features(catalog: Catalog, model: CpuModel) -> frozenset[str]:
    """The declared features on by default on `model`, before ``--cpu`` switches and dependencies.

    The model's own list, the fixed features, and every feature whose
    `Feature.default_on` names the model, says `EVERY_MODEL`, or says
    `ADVERTISED` while the model's values advertise one of its fields.
    """
    on = {name for name in model.default_features if name in catalog.features}
    for name, feat in catalog.features.items():
        wanted = feat.default_on
        advertised = ADVERTISED in wanted and advertises(catalog, model, name)
        if feat.fixed or model.name in wanted or EVERY_MODEL in wanted or advertised:
            on.add(name)
    return frozenset(on)


def select_features(catalog: Catalog, model: CpuModel, overrides: dict[str, bool]) -> frozenset[str]:
    """The enabled feature set: the defaults, then the overrides, then dependencies.

    Defaults that no plugin declares are ignored (armnv does not implement
    them), and so is switching off a feature no plugin declares
    (`undeclared_switches` names them for a warning); switching one on is an
    error. A feature switched on explicitly whose requirement is off is an
    error; a default feature whose requirement was switched off is dropped
    with it (``--cpu max,dpb=off`` also removes dpb2).
    """
    overrides = dict(overrides)
    defaults = default_features(catalog, model)
    for name, on in list(overrides.items()):
        feat = catalog.features.get(name)
        if feat is None:
            if not on:
                del overrides[name]  # nothing implements it, so it is off already
                continue
            if name in model.default_features:
                raise ArmnvError(f"feature {name!r} is not implemented (no installed plugin declares it)")
            known = ", ".join(sorted(catalog.features)) or "none"
            raise ArmnvError(f"unknown feature {name!r} (known features: {known})")
        if feat.fixed and not on:
            raise ArmnvError(f"feature {name!r} cannot be switched off")
        if on and name not in defaults:
            row = model_lacks(catalog, model, name)
            if row is not None:
                level = row.get(model.raw_value(row.reg))
                raise ArmnvError(f"CPU model {model.name!r} does not have feature {name!r} ({row.label} is {level})")
    enabled = set(defaults)
    for name, on in overrides.items():
        (enabled.add if on else enabled.discard)(name)
    changed = True
    while changed:
        changed = False
        for name in sorted(enabled):
            for req in catalog.features[name].requires:
                if req in enabled:
                    continue
                if overrides.get(name):
                    if req not in catalog.features:
                        why = "no installed plugin implements"
                        raise ArmnvError(f"feature {name!r} requires {req!r}, which {why}")
                    why = "is switched off" if overrides.get(req) is False else "is not enabled"
                    raise ArmnvError(f"feature {name!r} requires {req!r}, which {why}")
                enabled.discard(name)
                changed = True
                break
    for name in sorted(enabled):
        for other in catalog.features[name].conflicts:
            if other in enabled:
                first, second = sorted((name, other))
                # suggest dropping the one the user did not ask for
                drop = other if overrides.get(name) else name
                raise ArmnvError(
                    f"features {first!r} and {second!r} conflict; switch one off (e.g. --cpu {model.name},{drop}=off)"
                )
    return frozenset(enabled)


def undeclared_switches(catalog: Catalog, option: str) -> list[str]:
    """Warnings for the features `option` (``--cpu``) switches off that no installed plugin declares."""
    _, overrides = parse_cpu_option(option)
    return [
        f"--cpu: no installed plugin implements feature {name!r}, so {name}=off changes nothing"
        for name, on in overrides.items()
        if not on and name not in catalog.features
    ]


# what a machine registers in place of a plugin (`framework.hooklog` with -d plugins)
Adapter = Callable[[str, object], object]


def machine_manager(catalog: Catalog, enabled: frozenset[str], adapt: Adapter | None = None) -> pluggy.PluginManager:
    """A plugin manager with the plugins a machine with `enabled` features needs (in catalogue order)."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    for info in catalog.plugins.values():
        if not info.features or info.models or any(f.name in enabled for f in info.features):
            register(pm, info.module, info.name, adapt)
    return pm


def register(pm: pluggy.PluginManager, plugin: object, name: str, adapt: Adapter | None = None) -> None:
    """Register `plugin` as `name` on `pm` (through `adapt` if given), checked against the contract."""
    if pm.has_plugin(name):
        raise ArmnvError(f"a plugin named {name!r} is already registered")
    misplaced = [
        h for h in implemented_hooks(plugin) if h not in ENTRY_HOOKS and hasattr(getattr(plugin, h), ONLY_WHEN)
    ]
    if misplaced:
        raise ArmnvError(
            f"plugin {name!r} marks {', '.join(misplaced)} with only_when, which applies only to "
            + ", ".join(ENTRY_HOOKS)
        )
    try:
        pm.register(adapt(name, plugin) if adapt is not None else plugin, name=name)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        if pm.has_plugin(name):
            pm.unregister(name=name)
        detail = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise ArmnvError(f"plugin {name!r} does not follow the hook contract: {detail}") from exc


# ---- ID registers ----------------------------------------------------------------------------


@attrs.define(frozen=True, slots=True)
class ClearedField:
    """An ID field lowered below the model's value, and why.

    Each cause is (feature, "disabled") for a declared feature switched off,
    (feature, "limited") when the enabled feature provides less than the
    model has (`IdField.top`), or ("", "unclaimed") when no enabled feature
    claims the field.
    """

    field: IdField
    before: int
    after: int
    causes: tuple[tuple[str, str], ...]


@attrs.define(frozen=True, slots=True)
class IdRegisters:
    values: dict[str, int]
    cleared: tuple[ClearedField, ...]


def resolve_id_registers(catalog: Catalog, model: CpuModel, features: Iterable[str]) -> IdRegisters:
    """The ID register values a guest sees on `model` with `features` enabled.

    Field by field: a declared feature that is off lowers what it claims to
    the claim's absent level, unless an enabled feature's claim of the same
    field provides those levels too; enabled features keep a field they claim at
    the model's value, limited to the highest `top` among them; a layout
    field (`CpuModel.id_fields`) that no enabled feature claims drops to its
    layout level — except the bits of it an enabled feature claims as a
    narrower field (one field of a register the layout lowers whole).
    """
    enabled = frozenset(features)
    values = {name: entry[5] for name, entry in model.id_regs.items()}
    claimed: dict[tuple[str, int, int], list[IdField]] = {}
    for row in claims(catalog, model):
        claimed.setdefault(row.slot, []).append(row)
    layout = {row.slot: row for row in model.id_fields if row.reg in values}
    cleared = []
    for slot in dict.fromkeys([*claimed, *layout]):
        rows = claimed.get(slot, [])
        reg = slot[0]
        before = after = values[reg]
        causes = []
        on = [row for row in rows if row.feature in enabled]
        for row in rows:
            # a claim switched off lowers the field, unless an enabled claim of the same field
            # provides those levels too (two implementations of one feature)
            if row.feature in enabled or any(r.absent <= row.absent for r in on):
                continue
            if row.lowered(after) != after:
                after = row.lowered(after)
                causes.append((row.feature, "disabled"))
        if on:
            if all(row.top is not None for row in on):
                best = max(on, key=lambda row: row.top)
                if best.lowered(after, best.top) != after:
                    after = best.lowered(after, best.top)
                    causes.append((best.feature, "limited"))
        elif slot in layout:
            row = layout[slot]
            kept = 0
            for other, others in claimed.items():
                if other[0] == reg and other != slot and any(r.feature in enabled for r in others):
                    kept |= others[0].mask & row.mask
            lowered = (after & kept) | (row.lowered(after) & ~kept)
            if lowered != after:
                after = lowered
                causes.append(("", "unclaimed"))
        if after != before:
            values[reg] = after
            field = layout.get(slot) or rows[0]
            cleared.append(ClearedField(field, field.get(before), field.get(after), tuple(causes)))
    return IdRegisters(values, tuple(cleared))
