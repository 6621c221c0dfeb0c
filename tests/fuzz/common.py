"""What the fuzz suites share: how many examples, hypothesis settings, word strategies, the verdict.

ARMNV_FUZZ_EXAMPLES=N turns every fuzz test into a long run of N examples (per test) with a
fresh random seed each time; hypothesis prints the seed and the failing example, which is
reproducible with ``@reproduce_failure`` or ``@seed``. Without it each test runs its short
default with a fixed seed (derandomized), so CI always sees the same examples.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from framework.engine import StopReason
from framework.isa.table import ROWS, decoder

M32 = 0xFFFF_FFFF
M64 = (1 << 64) - 1
LONG_RUN = int(os.environ.get("ARMNV_FUZZ_EXAMPLES", "0"))


def examples(default: int) -> int:
    """The number of examples a fuzz test runs: `default`, or ARMNV_FUZZ_EXAMPLES when set."""
    return LONG_RUN or default


def fuzz_settings(default: int) -> settings:
    """Hypothesis settings for a fuzz test with `default` examples in CI."""
    return settings(
        max_examples=examples(default),
        derandomize=not LONG_RUN,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def decode_rows():
    """Every row of the decode table (importing every instruction group first)."""
    decoder()
    return tuple(ROWS)


def row_word(row, noise: int) -> int:
    """A word that decodes to `row`: its fixed bits, `noise` in its fields."""
    return row.value | (noise & ~row.mask & M32)


# an instruction word: uniformly random, or one of a decode row's encodings with random fields
# (the fields then reach every emitter's operand handling)
WORDS = st.one_of(
    st.integers(0, M32),
    st.builds(row_word, st.sampled_from(decode_rows()), st.integers(0, M32)),
)


def assert_stopped(stop: object, where: str) -> None:
    """Machine.run must end with a StopReason: any Python exception out of it is a bug."""
    assert isinstance(stop, StopReason), f"Machine.run returned {stop!r} ({where})"
