"""The test suite itself: a test that cannot run must fail, not vanish as a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_differential_test_fails_without_unicorn(tmp_path):
    # a `unicorn` package that cannot be imported, ahead of the real one on sys.path
    shadow = tmp_path / "unicorn"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('unicorn hidden for this test')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "CI": "true"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "--collect-only", "tests/test_differential.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=300,
    )
    out = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode not in (0, 5), out  # 5: nothing collected, as after a module-level skip
    assert "skipped" not in out, out
    assert "the differential test needs unicorn" in out, out
