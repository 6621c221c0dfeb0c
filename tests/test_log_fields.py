"""Plugins add fields to log events through armnv_log_fields (JSON log lines carry them)."""

from __future__ import annotations

import json

from framework import hookimpl
from framework.testing import STACK_TOP, assemble, make_machine


class Tagger:
    @hookimpl
    def armnv_log_fields(self, cpu, event):
        return {"tag": f"{event}@EL{cpu.el}"}


def test_log_fields_hook_adds_fields_to_exception_events(tmp_path):
    log = tmp_path / "log.json"
    elf = assemble("""
    adr x9, vec
    msr vbar_el2, x9
    hvc #1
    b _armnv_exit
    .balign 2048
vec:
    .rept 8
    .balign 128
    eret
    .endr
""")
    m = make_machine(debug=frozenset({"int"}), log_format="json", log_file=str(log))
    m.register_plugin(Tagger())
    m.load(str(elf))
    m.cpu.x[31] = STACK_TOP
    stop = m.run(1000)
    m.close()
    assert stop.kind == "exit"
    events = [json.loads(line) for line in log.read_text().splitlines()]
    entry = next(e for e in events if e["event"] == "exception.entry")
    ret = next(e for e in events if e["event"] == "exception.return")
    assert entry["tag"] == "exception.entry@EL2"
    assert ret["tag"] == "exception.return@EL2"
    assert entry["esr"] == 0x5A000001  # HVC #1 (syndromes.md §3: EC 0x16, IL = 1)
