"""MkDocs hooks: pages generated from the code, so the reference cannot drift from it.

``<!-- armnv:cli -->`` becomes the help of ``armnv`` and of each command (from
the typer app), ``<!-- armnv:hooks -->`` the hook specifications with their
docstrings (from framework/hookspecs.py).
"""

from __future__ import annotations

import inspect
from typing import Any

import click
import typer.main


def cli_reference() -> str:
    from framework.cli import app

    group = typer.main.get_command(app)
    root = click.Context(group, info_name="armnv", max_content_width=100, terminal_width=100)
    parts = ["## armnv", "", "```text", group.get_help(root), "```", ""]
    for name, command in sorted(group.commands.items()):
        ctx = click.Context(command, info_name=name, parent=root, max_content_width=100, terminal_width=100)
        parts += [f"## armnv {name}", "", "```text", command.get_help(ctx), "```", ""]
    return "\n".join(parts)


def hook_reference() -> str:
    from framework import hookspecs

    parts = ["```text", inspect.cleandoc(hookspecs.__doc__ or ""), "```", ""]
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction):
        if not name.startswith("armnv_") or fn.__module__ != hookspecs.__name__:
            continue
        opts = getattr(fn, "armnv_spec", None) or getattr(fn, "armnv_hookspec", None) or {}
        first = " (first non-None result wins)" if isinstance(opts, dict) and opts.get("firstresult") else ""
        signature = str(inspect.signature(fn)).replace("'", "")
        parts += [f"## {name}", "", f"`{name}{signature}`{first}", "", "```text"]
        parts += [inspect.cleandoc(fn.__doc__ or "(no description)"), "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if "<!-- armnv:cli -->" in markdown:
        markdown = markdown.replace("<!-- armnv:cli -->", cli_reference())
    if "<!-- armnv:hooks -->" in markdown:
        markdown = markdown.replace("<!-- armnv:hooks -->", hook_reference())
    return markdown
