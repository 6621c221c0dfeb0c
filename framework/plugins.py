"""Plugin discovery, the feature catalogue and per-machine plugin managers.

Every plugin — builtin or third-party — is an entry point in the ``armnv``
group. Discovery loads them all once and asks each for the features and CPU
models it declares. A machine then gets its own pluggy manager holding only
the plugins it needs: those that declare no feature (CPU models, devices) and
those with at least one enabled feature. Disabled features therefore cost
nothing.
"""

from __future__ import annotations

import functools
import importlib.metadata
from types import ModuleType

import attrs
import pluggy

from framework import PROJECT, hookspecs
from framework.errors import ArmnvError

ENTRY_POINT_GROUP = "armnv"


@attrs.define(frozen=True, slots=True)
class IdField:
    """A field of an ID register: ``reg[shift + width - 1 : shift]``."""

    reg: str
    shift: int
    width: int = 4

    def get(self, value: int) -> int:
        return (value >> self.shift) & ((1 << self.width) - 1)

    def put(self, value: int, field: int) -> int:
        mask = ((1 << self.width) - 1) << self.shift
        return (value & ~mask) | ((field << self.shift) & mask)


@attrs.define(frozen=True, slots=True)
class Feature:
    """An optional architectural feature implemented by a plugin."""

    name: str
    description: str
    requires: tuple[str, ...] = ()
    # ID-register fields that advertise the feature; zeroed when it is disabled
    id_fields: tuple[IdField, ...] = ()
    plugin: str = ""


@attrs.define(frozen=True, slots=True)
class CpuModel:
    """A CPU model: identification register values and its default features."""

    name: str
    description: str
    # register name -> (op0, op1, CRn, CRm, op2, value)
    id_regs: dict[str, tuple[int, int, int, int, int, int]]
    default_features: tuple[str, ...]
    plugin: str = ""
    # model properties that are not ID registers: CNTFRQ_EL0, PMCR_EL0 reset, ICH_VTR_EL2, CCSIDR…
    extra: dict[str, int] = attrs.field(factory=dict)


@attrs.define(slots=True)
class PluginInfo:
    name: str
    module: ModuleType
    origin: str  # distribution name and version, or "builtin"
    features: list[Feature] = attrs.field(factory=list)
    models: list[CpuModel] = attrs.field(factory=list)

    def hooks(self) -> list[str]:
        return sorted(n for n in dir(self.module) if n.startswith("armnv_") and callable(getattr(self.module, n)))


@attrs.define(slots=True)
class Catalog:
    plugins: dict[str, PluginInfo]
    features: dict[str, Feature]
    models: dict[str, CpuModel]


def _origin(ep: importlib.metadata.EntryPoint) -> str:
    dist = ep.dist
    if dist is None:
        return "unknown"
    if dist.metadata["Name"] == PROJECT:
        return "builtin"
    return f"{dist.metadata['Name']} {dist.version}"


@functools.cache
def discover() -> Catalog:
    """Load every plugin of the ``armnv`` entry-point group and collect its declarations."""
    plugins: dict[str, PluginInfo] = {}
    features: dict[str, Feature] = {}
    models: dict[str, CpuModel] = {}
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if ep.name in plugins:
            continue
        try:
            module = ep.load()
        except Exception as exc:  # a broken third-party plugin must not take the CLI down
            raise ArmnvError(f"plugin {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
        info = PluginInfo(ep.name, module, _origin(ep))
        for feat in getattr(module, "armnv_features", lambda: [])() or []:
            feat = attrs.evolve(feat, plugin=ep.name)
            if feat.name in features:
                raise ArmnvError(f"feature {feat.name!r} declared by both {features[feat.name].plugin} and {ep.name}")
            features[feat.name] = feat
            info.features.append(feat)
        for model in getattr(module, "armnv_cpu_models", lambda: [])() or []:
            model = attrs.evolve(model, plugin=ep.name)
            models[model.name] = model
            info.models.append(model)
        plugins[ep.name] = info
    return Catalog(plugins, features, models)


def parse_cpu_option(option: str) -> tuple[str, dict[str, bool]]:
    """``max,nv2=off,pan=on`` -> ("max", {"nv2": False, "pan": True})."""
    parts = [p.strip() for p in option.split(",")]
    model = parts[0]
    if not model:
        raise ArmnvError("--cpu: missing CPU model name")
    overrides: dict[str, bool] = {}
    for part in parts[1:]:
        name, sep, value = part.partition("=")
        if not sep:
            # QEMU style "+feat" / "-feat" are accepted too
            if part[:1] in "+-" and len(part) > 1:
                name, value = part[1:], "on" if part[0] == "+" else "off"
            else:
                raise ArmnvError(f"--cpu: expected FEATURE=on|off, got {part!r}")
        value = value.lower()
        if value in ("on", "true", "yes", "1"):
            overrides[name] = True
        elif value in ("off", "false", "no", "0"):
            overrides[name] = False
        else:
            raise ArmnvError(f"--cpu: feature {name!r} must be on or off, not {value!r}")
    return model, overrides


def select_features(catalog: Catalog, model: CpuModel, overrides: dict[str, bool]) -> frozenset[str]:
    """The enabled feature set: the model's defaults, then the overrides, then dependencies.

    A feature switched on explicitly whose requirement is off is an error; a
    default feature whose requirement was switched off is dropped with it
    (``--cpu max,nv=off`` also removes nv2).
    """
    for name in overrides:
        if name not in catalog.features:
            known = ", ".join(sorted(catalog.features)) or "none"
            raise ArmnvError(f"unknown feature {name!r} (known features: {known})")
    enabled = {f for f in model.default_features if f in catalog.features}
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
                    why = "is switched off" if overrides.get(req) is False else "is not enabled"
                    raise ArmnvError(f"feature {name!r} requires {req!r}, which {why}")
                enabled.discard(name)
                changed = True
                break
    return frozenset(enabled)


def machine_manager(catalog: Catalog, enabled: frozenset[str]) -> pluggy.PluginManager:
    """A plugin manager with the plugins a machine with `enabled` features needs."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    for info in catalog.plugins.values():
        if not info.features or any(f.name in enabled for f in info.features):
            pm.register(info.module, name=info.name)
    return pm
