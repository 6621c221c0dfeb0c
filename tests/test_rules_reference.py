"""Every rule cited in the code, the plugins and the tests has a heading in docs/rules.md.

Citations come in three forms: rule IDs (``NV-13``, ``NV2-11``, ``MMU-07``, ``GIC-04``, ``U-2``),
test names carrying an ID (``test_mmu07_…``, ``test_nv2_14_…``) and numbered sections of a rules
document (``syndromes.md §6``, ``pan.md §4, §6``, ``syndromes.md §6-8``, ``gicv3-virt.md §3.4``).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "docs" / "rules.md"
SCANNED = ("framework", "plugins", "tests")
SUFFIXES = {".py", ".md", ".S", ".s", ".toml", ".txt"}

ID = re.compile(r"\b(?:(?:NV2?|MMU|PAN|GIC)-\d{2}|U-\d+)\b")
TEST_NAME = re.compile(r"\btest_(?:(nv2)_(\d{2})|(nv|mmu|pan|gic)(\d{2}))_")
_SEC = r"\d+[a-z]?(?:\.\d+)?"
SECTION = re.compile(rf"\b(syndromes|cpu-models|pan|gicv3-virt|mmu|nv2?)\.md (§{_SEC}(?:(?:, ?§|-§?){_SEC})*)")
# the heading prefix of a document's sections
DOC_HEADING = {"pan": "PAN", "syndromes": "syndromes", "cpu-models": "cpu-models", "gicv3-virt": "gicv3-virt"}


def headings() -> list[str]:
    return [line[4:].strip() for line in RULES.read_text().splitlines() if line.startswith("### ")]


def resolves(name: str, heads: list[str]) -> bool:
    """A heading starts with the name (``NV-13 — …``) or names it in parentheses (``(gicv3-virt §3.4)``)."""
    return any(h == name or h.startswith(name + " ") or f"({name})" in h for h in heads)


def section_names(doc: str, spec: str) -> list[str]:
    """``§6-8`` -> §6, §7, §8; ``§4, §6`` -> §4, §6."""
    names = []
    for part in re.split(r", ?", spec):
        part = part.lstrip("§")
        lo, _, hi = part.partition("-")
        if hi and lo.isdigit() and hi.lstrip("§").isdigit():
            names += [str(n) for n in range(int(lo), int(hi.lstrip("§")) + 1)]
        else:
            names.append(lo)
    return [f"{DOC_HEADING.get(doc, doc)} §{n}" for n in names]


@functools.cache
def citations() -> dict[str, set[str]]:
    """Cited name -> the files citing it."""
    found: dict[str, set[str]] = {}
    for top in SCANNED:
        for path in (ROOT / top).rglob("*"):
            parts = path.relative_to(ROOT).parts
            if path.suffix not in SUFFIXES or any(p.startswith((".", "__")) for p in parts) or not path.is_file():
                continue
            text = path.read_text(errors="replace")
            rel = str(path.relative_to(ROOT))
            names = set(ID.findall(text))
            for m in TEST_NAME.finditer(text):
                names.add(f"NV2-{m.group(2)}" if m.group(1) else f"{m.group(3).upper()}-{m.group(4)}")
            for m in SECTION.finditer(text):
                names.update(section_names(m.group(1), m.group(2)))
            for name in names:
                found.setdefault(name, set()).add(rel)
    return found


def test_rules_reference_is_linked_from_the_docs_index():
    assert "(rules.md)" in (ROOT / "docs" / "index.md").read_text()


def test_every_cited_rule_has_a_heading():
    heads = headings()
    missing = {name: sorted(files) for name, files in citations().items() if not resolves(name, heads)}
    assert missing == {}


def test_citations_are_found_at_all():
    # the scanner itself: the forms above occur in the code base
    cited = citations()
    assert {"NV-13", "MMU-07", "syndromes §6", "syndromes §7", "syndromes §8", "cpu-models §7", "PAN §4"} <= set(cited)


@pytest.mark.parametrize(
    "names",
    [
        [f"NV-{n:02d}" for n in range(1, 39)],
        [f"NV2-{n:02d}" for n in range(1, 20)],
        [f"MMU-{n:02d}" for n in range(1, 10)],
        [f"PAN §{n}" for n in range(1, 9)],
        [f"syndromes §{n}" for n in (*range(1, 11), "3a")],
        [f"cpu-models §{n}" for n in range(1, 8)],
        [f"U-{n}" for n in range(1, 13)],
        [f"GIC-{n:02d}" for n in range(1, 15)],
    ],
    ids=["NV", "NV2", "MMU", "PAN", "syndromes", "cpu-models", "U", "GIC"],
)
def test_every_rule_of_a_family_has_a_heading(names):
    heads = headings()
    assert [n for n in names if not resolves(n, heads)] == []


def test_headings_are_unique():
    heads = headings()
    keys = [h.split(" — ")[0] for h in heads]
    assert len(keys) == len(set(keys))
