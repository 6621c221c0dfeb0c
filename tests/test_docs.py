"""The documentation's command lines are ones armnv accepts, and it names only plugins that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer.main

from framework.cli import app

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted(
    [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "plugins").glob("*/README.md")],
    key=lambda p: str(p),
)
# options of `armnv` itself (typer adds --install-completion and --show-completion)
TOP_LEVEL = {opt for param in typer.main.get_command(app).params for opt in param.opts} | {"--help"}


def command_lines(path: Path) -> list[str]:
    """`armnv ...` lines inside fenced code blocks."""
    lines, fenced = [], False
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        text = line.strip().removeprefix("$ ").removeprefix(".venv/bin/")
        if fenced and text.startswith("armnv "):
            lines.append(text.split(" #")[0].strip())
    return lines


def options_of(command) -> set[str]:
    return {opt for param in command.params for opt in param.opts if opt.startswith("-")} | {"--help"}


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_command_lines_name_real_commands_and_options(path):
    group = typer.main.get_command(app)
    for line in command_lines(path):
        words = shlex.split(line)[1:]
        assert words, line
        if words[0] in TOP_LEVEL:
            continue
        assert words[0] in group.commands, f"{path.name}: `{line}`: no command {words[0]!r}"
        known = options_of(group.commands[words[0]])
        for word in words[1:]:
            if word.startswith("-") and not word.startswith("[") and not re.fullmatch(r"-?\d+", word):
                assert word.split("=")[0] in known, f"{path.name}: `{line}`: unknown option {word!r}"


def test_architecture_names_only_plugins_that_exist():
    text = (ROOT / "docs" / "architecture.md").read_text()
    existing = {p.name for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").exists()}
    named = set(re.findall(r"`plugins/(\w+)`", text))
    assert named <= existing
    # plugins the architecture only plans are introduced as such
    for name in ("feat_pan", "feat_nv", "feat_nv2"):
        assert (ROOT / "plugins" / name).is_dir() or f"`plugins/{name}`" not in text
    for planned in ("GICv3",):
        for sentence in re.findall(rf"[^.]*\b{planned}\b[^.]*\.", text):
            if "plugin" in sentence and "not yet" not in sentence and "planned" not in sentence:
                pytest.fail(f"architecture.md presents a {planned} plugin as existing: {sentence.strip()!r}")
