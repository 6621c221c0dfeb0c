"""The committed guest images are exactly what their sources build to (`make images` is reproducible)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
IMAGES = EXAMPLES / "images"
CROSS = os.environ.get("ARMNV_CROSS", "aarch64-linux-gnu-")


def committed_images() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(IMAGES.glob("*.elf"))}


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    if shutil.which(CROSS + "gcc") is None:
        pytest.fail(f"the GNU cross toolchain ({CROSS}gcc) is not installed; run `make test`")
    out = tmp_path_factory.mktemp("images")
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "build.py"), "--out", str(out)], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, f"examples/build.py failed:\n{proc.stdout}{proc.stderr}"
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.elf"))}


def test_every_example_has_a_committed_image(rebuilt: dict[str, bytes]) -> None:
    assert committed_images(), "no images under examples/images/"
    assert sorted(rebuilt) == sorted(committed_images()), "run `make images` and commit examples/images/"


@pytest.mark.parametrize("name", sorted(committed_images()))
def test_committed_image_is_reproducible(name: str, rebuilt: dict[str, bytes]) -> None:
    assert name in rebuilt, f"{name} is committed but no example builds it"
    committed, fresh = committed_images()[name], rebuilt[name]
    if committed != fresh:
        first = next((i for i, (a, b) in enumerate(zip(committed, fresh, strict=False)) if a != b), None)
        where = f"first difference at byte {first:#x}" if first is not None else "lengths differ"
        version = subprocess.run([CROSS + "gcc", "--version"], capture_output=True, text=True).stdout.splitlines()
        pytest.fail(
            f"examples/images/{name} differs from a fresh build ({len(committed)} vs {len(fresh)} bytes, {where}; "
            f"compiler: {version[0] if version else 'unknown'}); run `make images` and commit the result"
        )
