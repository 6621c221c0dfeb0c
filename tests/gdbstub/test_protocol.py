"""The GDB remote stub at the protocol level: a small socket client against a stub on a real machine.

The machine runs in a thread (`ARMNV_ENGINE=single` makes it one instruction
per block, like the rest of the suite); every socket wait has a timeout.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest

from framework.gdbstub import GdbServer
from framework.testing import STACK_TOP, make_machine

TIMEOUT = 20.0

GUEST = """
    mov x0, #5
    adr x2, data
target:
    add x0, x0, #1
    add x0, x0, #1
store:
    str x0, [x2]
    ldr x5, [x2]
    b _armnv_exit
    .balign 8
data:
    .quad 0x1111
"""

SPIN = """
    mov x7, #0
spin:
    add x7, x7, #1
    b spin
"""


class Client:
    """The debugger's side of the protocol, with acknowledgements."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buf = b""

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, payload: str) -> None:
        data = payload.encode("latin-1")
        self.send_raw(b"$" + data + b"#" + f"{sum(data) & 0xFF:02x}".encode())

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("the stub closed the connection")
        self.buf += chunk

    def read_byte(self) -> bytes:
        while not self.buf:
            self._fill()
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def reply(self) -> str:
        """The next packet's payload (acknowledging it), skipping the stub's acks."""
        while True:
            while b"$" not in self.buf:
                self._fill()
            start = self.buf.index(b"$")
            while b"#" not in self.buf[start:] or len(self.buf) < self.buf.index(b"#", start) + 3:
                self._fill()
            end = self.buf.index(b"#", start)
            body = self.buf[start + 1 : end]
            assert int(self.buf[end + 1 : end + 3], 16) == sum(body) & 0xFF
            self.buf = self.buf[end + 3 :]
            self.send_raw(b"+")
            return body.decode("latin-1")

    def ask(self, payload: str) -> str:
        self.send(payload)
        return self.reply()

    def close(self) -> None:
        self.sock.close()


class Session:
    """A stub on a machine running `source`, waiting for this client (like -S)."""

    def __init__(self, asm, source: str, max_insns: int | None = 1_000_000) -> None:
        self.elf = asm(source)
        self.machine = make_machine()
        self.machine.load(str(self.elf))
        self.machine.cpu.x[31] = STACK_TOP
        self.server = GdbServer(self.machine, "tcp::0", wait=True)
        self.result: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._run, args=(max_insns,), daemon=True)
        self.thread.start()
        self.client = Client(self.server.port)

    def _run(self, max_insns: int | None) -> None:
        try:
            self.result["stop"] = self.server.run(max_insns)
        except BaseException as exc:  # reported by the test through `stop()`
            self.result["error"] = exc

    def stop(self):
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive(), "the stub did not stop"
        if "error" in self.result:
            raise self.result["error"]
        return self.result["stop"]

    def symbol(self, name: str) -> int:
        from elftools.elf.elffile import ELFFile

        with open(self.elf, "rb") as f:
            return ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name(name)[0]["st_value"]


@pytest.fixture
def session(asm):
    sessions = []

    def start(source: str = GUEST, **kw) -> Session:
        s = Session(asm, source, **kw)
        sessions.append(s)
        return s

    yield start
    for s in sessions:
        s.client.close()
        s.server.close()
        s.thread.join(TIMEOUT)


def reg(client: Client, n: int) -> int:
    return int.from_bytes(bytes.fromhex(client.ask(f"p{n:x}")), "little")


def test_qsupported_and_target_description(session):
    s = session()
    c = s.client
    features = c.ask("qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+")
    assert "qXfer:features:read+" in features.split(";")
    xml, offset = "", 0
    while True:
        part = c.ask(f"qXfer:features:read:target.xml:{offset:x},200")
        assert part[0] in "ml"
        xml += part[1:]
        offset += len(part) - 1
        if part[0] == "l":
            break
    for feature in ("org.gnu.gdb.aarch64.core", "org.gnu.gdb.aarch64.fpu"):
        assert f'<feature name="{feature}">' in xml
    for name in ("x0", "x30", "sp", "pc", "cpsr", "v31", "fpsr", "fpcr", "hcr_el2", "currentel", "sctlr_el1"):
        assert f'name="{name}"' in xml
    # FEAT_NV2 is in the max model: its register is described
    assert 'name="vncr_el2"' in xml
    assert c.ask("qXfer:features:read:other.xml:0,10").startswith("E")


def test_registers_read_and_write(session):
    s = session()
    c = s.client
    assert c.ask("?").startswith("T05")
    pc = s.symbol("_start")
    assert reg(c, 32) == pc
    # reset state: EL2h with the interrupts masked (DAIF = 0xF), as the board starts
    assert reg(c, 33) == 0x3C9
    assert c.ask("P5=" + (0x1122334455667788).to_bytes(8, "little").hex()) == "OK"
    everything = bytes.fromhex(c.ask("g"))
    assert everything[5 * 8 : 6 * 8] == (0x1122334455667788).to_bytes(8, "little")
    assert int.from_bytes(everything[32 * 8 : 33 * 8], "little") == pc
    assert s.machine.cpu.x[5] == 0x1122334455667788
    c.send("k")
    assert s.stop().kind == "killed"


def test_current_el_as_the_guest_reads_it(session):
    s = session()
    c = s.client
    xml = s.server.target.target_xml()
    names = [part.split('"')[1] for part in xml.split("<reg name=")[1:]]
    n = names.index("currentel")
    # CurrentEL.EL is bits [3:2]: the board starts at EL2
    assert reg(c, n) == 2 << 2
    assert c.ask(f"P{n:x}=" + (0).to_bytes(8, "little").hex()).startswith("E")


def test_malformed_packets_get_an_error_reply_and_the_session_goes_on(session):
    s = session()
    c = s.client
    assert c.ask("mzz,4") == "E01"
    assert c.ask("m40080000") == "E01"
    assert c.ask("Pfff=00") == "E01"
    assert c.ask("Z0,nothex,4") == "E01"
    assert c.ask("vCont;x") == "E01"
    assert c.ask("M40080000,4:0011") == "E01"
    assert c.ask("qRcmd,zz") == "E01"
    assert c.ask("qSomethingNobodyKnows") == ""
    # a bad checksum is refused with '-' (the protocol's "send it again")
    c.send_raw(b"$g#00")
    assert c.read_byte() == b"-"
    # bytes between packets and a packet that is not ASCII
    c.send_raw(b"garbage\xff")
    assert c.ask("m\xff") == "E01"
    assert c.ask("?").startswith("T05")


def test_memory_read_write_and_faults(session):
    s = session()
    c = s.client
    start = s.symbol("_start")
    word = c.ask(f"m{start:x},4")
    # mov x0, #5 is 0xd28000a0
    assert int.from_bytes(bytes.fromhex(word), "little") == 0xD28000A0
    data = s.symbol("data")
    assert c.ask(f"M{data:x},8:" + (0xCAFE).to_bytes(8, "little").hex()) == "OK"
    assert int.from_bytes(bytes.fromhex(c.ask(f"m{data:x},8")), "little") == 0xCAFE
    # not RAM (the flash hole at 0), and an address beyond the PA size with the MMU off
    assert c.ask("m0,4") == "E14"
    assert c.ask("mffff000000000000,4") == "E14"
    assert c.ask("M0,1:00") == "E14"


def test_breakpoint_single_step_and_continue(session):
    s = session()
    c = s.client
    target, store = s.symbol("target"), s.symbol("store")
    assert c.ask(f"Z0,{target:x},4") == "OK"
    reply = c.ask("c")
    assert reply.startswith("T05") and "swbreak" in reply
    assert reg(c, 32) == target
    assert reg(c, 0) == 5  # the instruction at the breakpoint has not run
    assert c.ask("vCont;s:1").startswith("T05")
    assert reg(c, 32) == target + 4
    assert reg(c, 0) == 6
    # a hardware breakpoint further on; continuing from a PC with a breakpoint steps over it
    assert c.ask(f"Z1,{store:x},4") == "OK"
    assert c.ask(f"Z0,{target + 4:x},4") == "OK"
    reply = c.ask("c")
    assert "hwbreak" in reply
    assert reg(c, 32) == store
    assert reg(c, 0) == 7
    assert c.ask(f"z1,{store:x},4") == "OK"
    assert c.ask("c") == "W00"
    stop = s.stop()
    assert (stop.kind, stop.exit_code) == ("exit", 0)


def test_breakpoint_in_a_loop_stops_each_iteration(session):
    s = session(SPIN)
    c = s.client
    spin = s.symbol("spin")
    assert c.ask(f"Z0,{spin:x},4") == "OK"
    for i in range(3):
        assert c.ask("c").startswith("T05")
        assert reg(c, 32) == spin
        assert reg(c, 7) == i
    c.send("k")
    assert s.stop().kind == "killed"


def test_watchpoint_stops_before_the_store(session):
    s = session()
    c = s.client
    data, store = s.symbol("data"), s.symbol("store")
    assert c.ask(f"Z2,{data:x},8") == "OK"
    reply = c.ask("c")
    assert reply.startswith("T05") and f"watch:{data:x};" in reply
    # a watchpoint exception is taken before the access: the store has not happened
    assert reg(c, 32) == store
    assert int.from_bytes(bytes.fromhex(c.ask(f"m{data:x},8")), "little") == 0x1111
    # a read watchpoint on the same word stops at the load after it
    assert c.ask(f"z2,{data:x},8") == "OK"
    assert c.ask(f"Z3,{data + 4:x},4") == "OK"
    reply = c.ask("c")
    assert f"rwatch:{data + 4:x};" in reply
    assert reg(c, 32) == store + 4
    assert int.from_bytes(bytes.fromhex(c.ask(f"m{data:x},8")), "little") == 7
    assert c.ask(f"z3,{data + 4:x},4") == "OK"
    assert c.ask("c") == "W00"


def test_ctrl_c_interrupts_a_running_guest(session):
    s = session(SPIN, max_insns=None)
    c = s.client
    c.send("c")
    time.sleep(0.3)
    c.send_raw(b"\x03")
    reply = c.reply()
    assert reply.startswith("T02")
    pc = reg(c, 32)
    assert s.symbol("spin") <= pc <= s.symbol("spin") + 4
    assert reg(c, 7) > 0
    c.send("k")
    assert s.stop().kind == "killed"


def test_detach_lets_the_guest_run_to_its_end(session):
    s = session()
    c = s.client
    assert c.ask(f"Z0,{s.symbol('store'):x},4") == "OK"
    assert c.ask("D") == "OK"
    stop = s.stop()
    # the breakpoint left with the debugger: the guest ran through it to its exit
    assert stop.kind == "exit"
    assert s.machine.cpu.x[5] == 7


def test_kill_ends_the_run(session):
    s = session(SPIN, max_insns=None)
    s.client.send("k")
    assert s.stop().kind == "killed"


def test_no_ack_mode_and_monitor_commands(session):
    s = session()
    c = s.client
    assert c.ask("QStartNoAckMode") == "OK"
    text = bytes.fromhex(c.ask("qRcmd," + b"info registers".hex())).decode()
    assert text.startswith("PC=") and "HCR_EL2=" in text
    start = s.symbol("_start")
    text = bytes.fromhex(c.ask("qRcmd," + f"xp {start:#x} 4".encode().hex())).decode()
    assert text.split(":")[1].split()[0] == "a00080d2"  # the bytes of mov x0, #5
    text = bytes.fromhex(c.ask("qRcmd," + f"translate {start:#x}".encode().hex())).decode()
    assert f"PA {start:#x}" in text
    text = bytes.fromhex(c.ask("qRcmd," + b"frobnicate".hex())).decode()
    assert "unknown monitor command" in text


def test_the_stub_listens_on_loopback_only_unless_told():
    m = make_machine()
    server = GdbServer(m, "tcp::0")
    try:
        assert server.host == "127.0.0.1"
    finally:
        server.close()
