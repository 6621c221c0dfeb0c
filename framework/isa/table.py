"""The A64 encoding table and the decoder derived from it.

Every instruction is one row: a 32-bit pattern with named fields, and the
function that emits its semantics (see `codegen.py`). Rows are declared next
to their semantics with the `insn` decorator:

    @insn("sf:1 0 0 100010 sh:1 imm12:12 rn:5 rd:5", op=0, S=0)
    def ADD_imm(ctx, sf, sh, imm12, rn, rd, op, S): ...

Pattern tokens, most significant bit first, must add up to 32 bits:
  - a run of `0`/`1` is a fixed value; `x` is a bit the instruction ignores;
  - `name:N` is an N-bit field passed to the emitter as keyword `name`.
Extra keyword arguments of `insn` are passed to the emitter unchanged, so one
function can serve a family of rows that differ by a constant.

When several rows match a word the most specific one (most fixed bits) wins,
which is how aliases and carve-outs (e.g. MOV SP, UNDEF corners) are written.
Two rows with the same number of fixed bits never match the same word (a
test checks it), so the winner never depends on declaration order.

`feature="crc32"` makes a row belong to an optional architectural feature:
the decoder of a machine without that feature does not have the row, so the
word falls to a less specific row or to no row at all (UNDEFINED). The
decision is taken when the decoder is built, once per feature set, and costs
nothing when the instruction runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs

Emitter = Callable[..., Any]


@attrs.define(frozen=True, slots=True)
class Field:
    name: str
    shift: int
    width: int


@attrs.define(frozen=True, slots=True)
class Row:
    """One encoding: fixed bits, fields, and the emitter of its semantics."""

    name: str
    pattern: str
    mask: int
    value: int
    fields: tuple[Field, ...]
    emit: Emitter
    consts: tuple[tuple[str, Any], ...]
    feature: str | None = None  # the optional feature the encoding belongs to

    def matches(self, word: int) -> bool:
        return word & self.mask == self.value

    def operands(self, word: int) -> dict[str, Any]:
        ops = {f.name: (word >> f.shift) & ((1 << f.width) - 1) for f in self.fields}
        ops.update(self.consts)
        return ops


def parse_pattern(pattern: str) -> tuple[int, int, tuple[Field, ...]]:
    """Turn a pattern string into (mask, value, fields)."""
    mask = value = 0
    fields: list[Field] = []
    pos = 32
    for token in pattern.split():
        if ":" in token:
            name, width_s = token.split(":")
            width = int(width_s)
            pos -= width
            fields.append(Field(name, pos, width))
            continue
        for ch in token:
            pos -= 1
            if ch in "01":
                mask |= 1 << pos
                value |= int(ch) << pos
            elif ch != "x":
                raise ValueError(f"bad pattern token {token!r} in {pattern!r}")
    if pos != 0:
        raise ValueError(f"pattern {pattern!r} has {32 - pos} bits, not 32")
    return mask, value, tuple(fields)


ROWS: list[Row] = []


def insn(
    pattern: str, name: str | None = None, *, feature: str | None = None, **consts: Any
) -> Callable[[Emitter], Emitter]:
    """Declare an encoding row whose semantics the decorated function emits.

    With `feature`, the row exists only on machines that have that feature.
    """

    def register(fn: Emitter) -> Emitter:
        mask, value, fields = parse_pattern(pattern)
        ROWS.append(Row(name or fn.__name__, pattern, mask, value, fields, fn, tuple(consts.items()), feature))
        return fn

    return register


_BUCKET_SHIFT = 21  # bucket on bits [31:21]


class Decoder:
    """Finds the row of a word: a bucket on the top 11 bits, then the most specific match."""

    def __init__(self, rows: list[Row]) -> None:
        ordered = sorted(rows, key=lambda r: -bin(r.mask).count("1"))
        tops = (1 << (32 - _BUCKET_SHIFT)) - 1
        self.buckets: list[list[Row]] = [[] for _ in range(tops + 1)]
        for r in ordered:
            # every top-bits value the row matches: its fixed top bits, each subset of the free ones
            free = ~(r.mask >> _BUCKET_SHIFT) & tops
            fixed = (r.value >> _BUCKET_SHIFT) & tops
            sub = free
            while True:
                self.buckets[fixed | sub].append(r)
                if not sub:
                    break
                sub = (sub - 1) & free
        self._cache: dict[int, Row | None] = {}

    def decode(self, word: int) -> Row | None:
        try:
            return self._cache[word]
        except KeyError:
            pass
        found = None
        for row in self.buckets[word >> _BUCKET_SHIFT]:
            if word & row.mask == row.value:
                found = row
                break
        if len(self._cache) < 1 << 16:
            self._cache[word] = found
        return found


_decoders: dict[frozenset[str] | None, Decoder] = {}
_MAX_DECODERS = 32  # feature sets seen by one process; a test session builds machines of many


def decoder(features: Iterable[str] | None = None) -> Decoder:
    """The decoder of a machine with `features`; without them, of every row in the table.

    The table-wide decoder answers "is this instruction implemented at all"; machines
    decode with their own feature set, where rows of absent features are missing.
    """
    key = None if features is None else features if type(features) is frozenset else frozenset(features)
    dec = _decoders.get(key)
    if dec is None:
        from framework.isa import load_all

        load_all()
        rows = ROWS if key is None else [r for r in ROWS if r.feature is None or r.feature in key]
        if len(_decoders) >= _MAX_DECODERS:
            _decoders.clear()
        dec = _decoders[key] = Decoder(rows)
    return dec
