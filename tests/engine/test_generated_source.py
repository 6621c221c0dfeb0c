"""Generated blocks are debuggable: their source shows in tracebacks, each instruction's code is
preceded by its address and disassembly, and ``-d op`` prints every block as it is generated."""

from __future__ import annotations

import gc
import linecache
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from framework import hookimpl, plugins
from framework.cpu.sysregs import reg
from framework.testing import TEXT_BASE, make_machine, run_program
from framework.testing import assemble as assemble_program


class PluginBugError(RuntimeError):
    pass


class BrokenRegisterPlugin:
    """A plugin whose register read raises: the traceback crosses the block that read it."""

    __name__ = "broken_register"

    @staticmethod
    @hookimpl
    def armnv_sysregs(machine):
        def read(cpu):
            raise PluginBugError("the register read failed")

        return [reg("IMP_BROKEN_EL1", 3, 0, 15, 2, 0, read=read)]


@pytest.fixture
def with_broken_register(monkeypatch):
    base = plugins.discover()
    entries = [(info.name, info.module, info.origin) for info in base.plugins.values()]
    catalog = plugins.build_catalog([*entries, ("broken_register", BrokenRegisterPlugin, "test")])
    monkeypatch.setattr(plugins, "discover", lambda: catalog)


def test_traceback_through_a_block_shows_its_source(with_broken_register):
    m = make_machine()
    m.load(str(assemble_program("mov x3, #7\nmrs x2, S3_0_C15_C2_0\nmov x4, #1\n")))
    with pytest.raises(PluginBugError) as info:
        m.run(1000)
    frames = [f for f in traceback.extract_tb(info.value.__traceback__) if f.filename.startswith("<block ")]
    assert frames, "no generated block in the traceback"
    frame = frames[0]
    # the MRS is the second instruction: its block starts there or at the image's start
    assert frame.filename.split()[1] in (f"{TEXT_BASE:#x}", f"{TEXT_BASE + 4:#x}")
    assert frame.name == "_block"
    assert "_access_in_block" in frame.line  # the MRS's code
    text = "".join(traceback.format_exception(info.value))
    assert f'File "{frame.filename}", line {frame.lineno}, in _block\n    {frame.line}' in text


def test_each_instruction_is_preceded_by_its_address_and_disassembly():
    m = run_program("mov x0, #5\nadd x1, x0, #3\n", one_insn_per_block=False)
    source = m.engine.blocks[TEXT_BASE].source
    lines = [line.strip() for line in source.splitlines()]
    first = lines.index(f"# {TEXT_BASE:#x}: mov x0, #5")
    second = lines.index(f"# {TEXT_BASE + 4:#x}: add x1, x0, #3")
    assert lines[first + 1] == "x[0] = 0x5"
    assert first < second


def block_files(m) -> list[str]:
    return [blk.fn.__code__.co_filename for blk in m.engine.blocks.values()]


def test_block_source_is_in_linecache_while_the_block_lives():
    m = run_program("mov x0, #5\nb 1f\n1: mov x1, #6\n")
    files = block_files(m)
    assert len(files) >= 2
    for blk in m.engine.blocks.values():
        assert "".join(linecache.getlines(blk.fn.__code__.co_filename)) == blk.source
    del m, blk
    gc.collect()
    assert not set(files) & set(linecache.cache)


def test_dropped_blocks_leave_linecache():
    m = run_program("mov x0, #5\n")
    files = block_files(m)
    m.engine.flush_all_code()
    m.cpu.vcache.clear()
    m.cpu.vcache1.clear()
    gc.collect()
    assert not set(files) & set(linecache.cache)


def test_d_op_prints_every_generated_block(tmp_path):
    log = tmp_path / "op.log"
    m = run_program("mov x0, #5\nb 1f\n1: mov x1, #6\n", debug=frozenset({"op"}), log_file=str(log))
    m.close()
    text = log.read_text()
    blocks = list(m.engine.blocks.values())
    assert text.count("OP: <block ") == len(blocks)
    for blk in blocks:
        assert f"OP: {blk.fn.__code__.co_filename} pa {blk.pa:#x}" in text
        assert blk.source in text


def test_without_d_op_no_source_is_logged(tmp_path):
    log = tmp_path / "none.log"
    run_program("mov x0, #5\n", debug=frozenset({"in_asm"}), log_file=str(log))
    assert "def _block" not in log.read_text()


def test_cli_d_op_prints_the_blocks_of_a_run():
    armnv = Path(sys.executable).parent / "armnv"
    hello = Path(__file__).resolve().parents[2] / "examples" / "images" / "hello.elf"
    proc = subprocess.run([str(armnv), "run", "-d", "op", str(hello)], capture_output=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0
    err = proc.stderr.decode()
    assert err.startswith("----------------\nOP: <block 0x40080000 #")
    assert "def _block(cpu):" in err
    assert "\n    # 0x40080000: " in err
    helptext = subprocess.run([str(armnv), "run", "-d", "help"], capture_output=True).stdout.decode()
    assert any(line.split()[:1] == ["op"] for line in helptext.splitlines())
