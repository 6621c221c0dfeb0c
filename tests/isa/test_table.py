"""The decode table itself: unambiguous rows, rows gated on features, every group loaded."""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import pytest

import framework.isa
from framework.isa.table import ROWS, Row, decoder

CRC32B = 0x1AC2_4020  # CRC32B W0, W1, W2
SB = 0xD503_30FF
ERETAA, ERETAB = 0xD69F_0BFF, 0xD69F_0FFF


def specificity(row: Row) -> int:
    return bin(row.mask).count("1")


def test_no_two_rows_of_equal_specificity_overlap():
    # the most specific matching row wins, so two equally specific rows matching one word would
    # leave the choice to declaration order
    decoder()
    overlaps = [
        (a.name, b.name)
        for a, b in itertools.combinations(ROWS, 2)
        if specificity(a) == specificity(b) and (a.value ^ b.value) & a.mask & b.mask == 0
    ]
    assert overlaps == []


def test_rows_are_unique_by_name():
    decoder()
    names = [row.name for row in ROWS]
    assert len(names) == len(set(names))


def test_a_feature_row_is_missing_from_a_decoder_without_the_feature():
    assert decoder({"crc32"}).decode(CRC32B).name == "CRC32"
    assert decoder(frozenset()).decode(CRC32B) is None
    assert decoder().decode(CRC32B).name == "CRC32"  # the whole table


def test_a_word_falls_to_a_less_specific_row_when_its_feature_row_is_off():
    assert decoder({"sb"}).decode(SB).name == "SB"
    assert decoder(frozenset()).decode(SB).name == "BARRIER"  # which UNDEFs it


@pytest.mark.parametrize("word", [ERETAA, ERETAB])
def test_eretaa_eretab_are_decoded_only_with_pointer_authentication(word):
    assert decoder({"pauth"}).decode(word).name == "ERETAA_ERETAB"
    assert decoder({"crc32", "lse"}).decode(word) is None


# rows ready for features no plugin declares yet: they UNDEF until one does
WAITING = {"lor", "pauth"}


def test_feature_names_of_rows_are_features_some_plugin_declares():
    from framework.plugins import discover

    decoder()
    known = set(discover().features) | WAITING
    assert {row.feature for row in ROWS if row.feature} <= known
    assert not WAITING & set(discover().features), "a waiting feature is declared now: drop it from WAITING"


def test_a_missing_instruction_group_is_an_error(monkeypatch):
    monkeypatch.setattr(framework.isa, "GROUP_MODULES", (*framework.isa.GROUP_MODULES, "framework.isa.no_such_group"))
    with pytest.raises(ModuleNotFoundError, match="no_such_group"):
        framework.isa.load_all()


def test_every_module_level_function_of_the_isa_package_is_used():
    # emitters are used through their rows; any other function must have a caller somewhere
    root = Path(framework.isa.__file__).parent
    sources = [p.read_text() for d in ("framework", "plugins", "tests") for p in (root.parents[1] / d).rglob("*.py")]
    unused = []
    for path in sorted(root.glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and not node.decorator_list:
                uses = sum(len(re.findall(rf"\b{node.name}\b", text)) for text in sources)
                if uses < 2:
                    unused.append(f"{path.name}:{node.name}")
    assert unused == []
