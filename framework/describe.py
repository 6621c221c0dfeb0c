"""What ``armnv cpus --verbose`` and ``armnv plugins`` print, from the plugin catalogue."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

from framework.plugins import Catalog, CpuModel, default_features, resolve_id_registers

_CAUSES = {
    "disabled": "{name} disabled",
    "limited": "as far as {name} goes",
    "unclaimed": "no enabled feature claims it",
}


def describe_model(catalog: Catalog, model: CpuModel, features: Iterable[str]) -> list[str]:
    """Lines for ``armnv cpus --verbose``: identity, default features, fields armnv clears."""
    enabled = frozenset(features)
    lines = [f"{model.name}: {model.description} [{model.plugin or '?'}]"]
    lines.append(f"  MIDR_EL1 {model.raw_value('MIDR_EL1'):#010x}")
    defaults = default_features(catalog, model)
    on = sorted(f for f in defaults if f in enabled)
    off = sorted(f for f in defaults if f not in enabled)
    missing = sorted(f for f in model.default_features if f not in catalog.features)
    lines.append("  default features: " + (" ".join(on) or "none"))
    if off:
        lines.append("  switched off: " + " ".join(off))
    if missing:
        text = "not implemented by armnv: " + " ".join(missing)
        lines += textwrap.wrap(text, width=100, initial_indent="  ", subsequent_indent="    ")
    ids = resolve_id_registers(catalog, model, enabled)
    if ids.cleared:
        lines.append("  ID fields cleared:")
        for c in sorted(ids.cleared, key=lambda c: (c.field.reg, -c.field.shift)):
            why = ", ".join(_CAUSES[state].format(name=name) for name, state in c.causes)
            lines.append(f"    {c.field.label:<34} {c.before:#x} -> {c.after:#x}  ({why})")
    return lines


PLUGINS_HEADER = (
    "Plugins in registration order: armnv's builtins, then third-party plugins, each by entry-point name.",
    "A machine registers the ones it needs in this order; of the implementations of a hook with the",
    "same tryfirst/trylast mark, pluggy calls the last registered first.",
)


def describe_plugins(catalog: Catalog) -> list[str]:
    """Lines for ``armnv plugins``: every plugin in registration order, its origin, features and hooks."""
    lines = [*PLUGINS_HEADER, ""]
    for position, info in enumerate(catalog.plugins.values(), 1):
        lines.append(f"{position}. {info.name} ({info.origin}: {info.entry_point or info.module.__name__})")
        lines.append(f"    features: {', '.join(f.name for f in info.features) or '-'}")
        if info.models:
            lines.append(f"    cpu models: {', '.join(m.name for m in info.models)}")
        lines.append(f"    hooks: {', '.join(info.hooks()) or '-'}")
    return lines
