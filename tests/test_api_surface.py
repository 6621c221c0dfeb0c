"""The plugin API surface: plugins import from `framework.api`, `framework.arch` and ``hookimpl`` only.

Everything else in ``framework`` is the kernel's inside. The plugins'
own ``tests/`` folders are exempt (they may use `framework.testing` and
whatever a test needs). A plugin never imports another plugin either.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from framework import api, arch

ROOT = Path(__file__).resolve().parents[1]
SURFACE = {"framework.api", "framework.arch"}
# what ``from framework import ...`` may name
FROM_FRAMEWORK = {"hookimpl", "api", "arch"}


def plugin_sources() -> list[Path]:
    return sorted(
        path for path in (ROOT / "plugins").rglob("*.py") if "tests" not in path.relative_to(ROOT / "plugins").parts
    )


def _foreign(module: str, package: str) -> bool:
    """A module that a plugin module of `package` (``plugins.mmu``) may not import."""
    top = module.split(".")[0]
    if top == "framework":
        return module not in SURFACE
    return top == "plugins" and not (module + ".").startswith(package + ".")


def violations(source: str, package: str) -> list[str]:
    """Imports of kernel internals, or of another plugin, in a plugin module of `package`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if _foreign(a.name, package)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            module, names = node.module, [a.name for a in node.names]
            if module == "framework":
                found += [f"from framework import {n}" for n in names if n not in FROM_FRAMEWORK]
            elif _foreign(module, package):
                found.append(f"from {module} import {', '.join(names)}")
            elif module == "framework.api":
                found += [f"from framework.api import {n} (not in __all__)" for n in names if n not in api.__all__]
            elif module == "framework.arch":
                found += [f"from framework.arch import {n} (private)" for n in names if n.startswith("_")]
    return found


def test_the_check_catches_kernel_internals_and_other_plugins():
    source = (
        "from typing import TYPE_CHECKING\n"
        "from framework import hookimpl, plugins\n"
        "from framework.api import SysReg, annotations\n"
        "from framework.arch import HCR_NV, _TGE_CLEARS\n"
        "from framework.cpu.traps import ttlb_check\n"
        "import framework.vmem\n"
        "from plugins.mmu.walk import Walker\n"
        "from plugins.nv.rules import trap\n"
        "if TYPE_CHECKING:\n"
        "    from framework.machine import Machine\n"
        "def f():\n"
        "    from framework.cpu import syndrome\n"
    )
    assert violations(source, "plugins.nv") == [
        "from framework import plugins",
        "from framework.api import annotations (not in __all__)",
        "from framework.arch import _TGE_CLEARS (private)",
        "from framework.cpu.traps import ttlb_check",
        "import framework.vmem",
        "from plugins.mmu.walk import Walker",
        "from framework.machine import Machine",
        "from framework.cpu import syndrome",
    ]


@pytest.mark.parametrize("path", plugin_sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_import_only_the_api(path: Path):
    package = "plugins." + path.relative_to(ROOT / "plugins").parts[0].removesuffix(".py")
    assert violations(path.read_text(), package) == []


def test_every_api_name_exists():
    missing = [name for name in api.__all__ if not hasattr(api, name)]
    assert missing == []
    assert len(set(api.__all__)) == len(api.__all__)


def test_every_api_name_is_documented():
    # the module docstring is the reference a plugin author reads: each name appears in it as `name`
    documented = set(re.findall(r"`(\w+)`", api.__doc__ or ""))
    assert sorted(set(api.__all__) - documented) == []


def test_api_and_vocabulary_do_not_overlap():
    # one way to import each name: register fields and hcr_eff from framework.arch, the rest from framework.api
    public_arch = {name for name in vars(arch) if not name.startswith("_")}
    assert sorted(set(api.__all__) & public_arch - {"annotations"}) == []
