"""The GDB remote serial protocol over TCP: one debugger at a time, all-stop, one thread.

The guest runs in slices of `SLICE` instructions; between two slices the
server looks at its sockets (a debugger connecting, Ctrl-C). Breakpoints are
the engine's (a check made when a block is translated, see
`Engine.set_breakpoints`), watchpoints the memory system's (`MemorySystem.watch`),
so a run without a debugger, or with one but no breakpoint, runs the same
translated code as without the stub.

Resuming always runs one instruction first with the breakpoints and
watchpoints at the resume PC ignored (`Engine.resume_at`), so a debugger may
continue from a breakpoint without removing it.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
from typing import TYPE_CHECKING

from framework.engine import StopReason
from framework.errors import ArmnvError
from framework.gdbstub.commands import ERR_MEMORY, ERR_PACKET, dispatch
from framework.gdbstub.target import MemoryFault, Target

if TYPE_CHECKING:
    from framework.machine import Machine

SLICE = 20_000
MAX_INCOMING = 1 << 20  # an unterminated packet longer than this is dropped
POLL = 0.5  # seconds between looks at a halted session's socket (Ctrl-C of armnv stays prompt)

SIGINT = 2
SIGTRAP = 5
SIGTERM = 15

_ADDRESS = re.compile(r"tcp:(?P<host>\[[^\]]*\]|[^:]*):(?P<port>\d+)")


def parse_address(text: str) -> tuple[str, int]:
    """``tcp::1234`` (127.0.0.1), ``tcp:HOST:PORT``: where the stub listens."""
    m = _ADDRESS.fullmatch(text.strip())
    if m is None or int(m.group("port")) > 65535:
        raise ArmnvError(f"--gdb: bad address {text!r} (examples: tcp::1234, tcp:0.0.0.0:1234)")
    host = m.group("host").strip("[]") or "127.0.0.1"
    return host, int(m.group("port"))


def _checksum(data: bytes) -> int:
    return sum(data) & 0xFF


class Connection:
    """One debugger's socket: framing, acknowledgements, Ctrl-C."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.ack = True
        self.last = b""
        self.interrupted = False
        self.closed = False
        self.packets: list[bytes] = []

    def send(self, payload: str | bytes) -> None:
        data = payload.encode("latin-1") if isinstance(payload, str) else payload
        self.last = b"$" + data + b"#" + f"{_checksum(data):02x}".encode()
        self._write(self.last)

    def _write(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def poll(self, timeout: float) -> None:
        """Read what has arrived within `timeout` seconds into packets, Ctrl-C and EOF."""
        if self.closed:
            return
        try:
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                return
            data = self.sock.recv(65536)
        except (OSError, ValueError):
            data = b""
        if not data:
            self.closed = True
            return
        self.buf += data
        self._parse()

    def _parse(self) -> None:
        buf = self.buf
        while buf:
            b = buf[0]
            if b == 0x24:  # '$'
                end = buf.find(b"#")
                if end < 0:
                    if len(buf) > MAX_INCOMING:
                        buf.clear()
                        self._nak()
                    return
                if len(buf) < end + 3:
                    return
                body, check = bytes(buf[1:end]), bytes(buf[end + 1 : end + 3])
                del buf[: end + 3]
                try:
                    good = int(check, 16) == _checksum(body)
                except ValueError:
                    good = False
                if not good:
                    self._nak()
                    continue
                if self.ack:
                    self._write(b"+")
                self.packets.append(body)
            elif b == 0x03:
                self.interrupted = True
                del buf[0]
            elif b == 0x2D and self.ack and self.last:  # '-': the debugger asks for the reply again
                del buf[0]
                self._write(self.last)
            else:  # '+' and anything between packets
                del buf[0]

    def _nak(self) -> None:
        if self.ack:
            self._write(b"-")

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.close()


class GdbServer:
    """Runs a machine under the control of a debugger that may connect at any time."""

    def __init__(self, machine: Machine, address: str, *, wait: bool = False) -> None:
        host, port = parse_address(address)
        try:
            self.listener = socket.create_server((host, port), family=_family(host), reuse_port=False)
        except (OSError, OverflowError) as exc:
            raise ArmnvError(f"--gdb {address}: cannot listen ({exc.strerror or exc})") from None
        self.listener.setblocking(False)
        self.machine = machine
        self.target = Target(machine)
        self.wait = wait
        self.conn: Connection | None = None
        self.halted = False
        self.stop_reply = f"T{SIGTRAP:02x}thread:01;"

    @property
    def port(self) -> int:
        return self.listener.getsockname()[1]

    @property
    def host(self) -> str:
        return self.listener.getsockname()[0]

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        with contextlib.suppress(OSError):
            self.listener.close()

    # ---- running ------------------------------------------------------------------------------
    def run(self, max_insns: int | None = None) -> StopReason:
        """Run the guest until it stops for good (or the debugger kills it); like `Machine.run`."""
        cpu = self.machine.cpu
        end = None if max_insns is None else cpu.icount + max_insns
        try:
            if self.wait:
                while self.conn is None:
                    self._accept(POLL)
            while True:
                if self.conn is not None and self.conn.closed:
                    self._detach()
                if self.conn is not None and self.halted:
                    action = self._serve()
                    if action == "kill":
                        return StopReason("killed", message="killed by the debugger")
                    if action == "detach":
                        continue
                    stop = self._step(end)
                    if stop is None and action == "step":
                        self._halt(f"T{SIGTRAP:02x}thread:01;")
                        continue
                else:
                    stop = self._slice(end)
                if stop is not None:
                    final = self._stopped(stop, end)
                    if final is not None:
                        return final
                self._poll_sockets()
        finally:
            self.close()

    def _step(self, end: int | None) -> StopReason | None:
        """One instruction from the resume point; None when it ran and the guest may go on."""
        m = self.machine
        cpu = m.cpu
        m.engine.resume_at = (cpu.icount, cpu.pc)
        try:
            stop = m.run(1 if end is None else max(0, min(1, end - cpu.icount)))
        finally:
            m.engine.resume_at = (-1, -1)
        if stop.kind == "max-insns" and (end is None or cpu.icount < end):
            return None
        return stop

    def _slice(self, end: int | None) -> StopReason | None:
        cpu = self.machine.cpu
        n = SLICE if end is None else max(0, min(SLICE, end - cpu.icount))
        stop = self.machine.run(n)
        if stop.kind == "max-insns" and (end is None or cpu.icount < end):
            return None
        return stop

    def _stopped(self, stop: StopReason, end: int | None) -> StopReason | None:
        """A stop of the guest: a debugger's (reported, then None) or the end of the run."""
        if stop.kind in ("breakpoint", "watchpoint"):
            if self.conn is None:
                return None  # left over from a debugger that has gone
            self._halt(self._debug_reply(stop.kind))
            return None
        if self.conn is not None:
            if stop.kind == "exit":
                self.conn.send(f"W{stop.exit_code & 0xFF:02x}")
            elif stop.kind in ("poweroff", "reset"):
                self.conn.send("W00")
            else:
                self.conn.send(f"X{SIGTERM:02x}")
        return stop

    def _debug_reply(self, kind: str) -> str:
        if kind == "watchpoint" and self.target.watch_hit is not None:
            what, addr = self.target.watch_hit
            return f"T{SIGTRAP:02x}{what}:{addr:x};thread:01;"
        kinds = self.target.breakpoints.get(self.machine.cpu.pc, set())
        why = "hwbreak" if kinds == {"hw"} else "swbreak"
        return f"T{SIGTRAP:02x}{why}:;thread:01;"

    def _halt(self, reply: str) -> None:
        self.halted = True
        self.stop_reply = reply
        if self.conn is not None:
            self.conn.send(reply)

    def _poll_sockets(self) -> None:
        if self.conn is None:
            self._accept(0)
            return
        conn = self.conn
        conn.poll(0)
        if conn.interrupted and not self.halted:
            conn.interrupted = False
            self._halt(f"T{SIGINT:02x}thread:01;")

    def _accept(self, timeout: float) -> None:
        ready, _, _ = select.select([self.listener], [], [], timeout)
        if not ready:
            return
        try:
            sock, _ = self.listener.accept()
        except OSError:
            return
        sock.setblocking(True)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = Connection(sock)
        # a debugger that connects finds the guest stopped
        self.halted = True
        self.stop_reply = f"T{SIGTRAP:02x}thread:01;"

    def _detach(self) -> None:
        """The debugger went away: its breakpoints go with it and the guest runs on."""
        self.target.clear()
        if self.conn is not None:
            self.conn.close()
        self.conn = None
        self.halted = False

    # ---- commands ----------------------------------------------------------------------------
    def _serve(self) -> str:
        """Answer packets until the debugger resumes ("step", "continue"), detaches or kills."""
        conn = self.conn
        assert conn is not None
        while True:
            while conn.packets:
                packet = conn.packets.pop(0)
                action = self._handle(packet)
                if action is not None:
                    return action
            if conn.closed:
                self._detach()
                return "detach"
            conn.interrupted = False  # Ctrl-C of a guest that is already stopped
            conn.poll(POLL)

    def _handle(self, packet: bytes) -> str | None:
        conn = self.conn
        assert conn is not None
        try:
            reply = dispatch(self, packet)
        except (ValueError, IndexError, KeyError, OverflowError, UnicodeDecodeError):
            reply = ERR_PACKET
        except MemoryFault:
            reply = ERR_MEMORY
        if isinstance(reply, tuple):
            action, answer = reply
            if answer is not None:
                conn.send(answer)
            if action == "detach":
                self._detach()
            elif action == "noack":
                conn.ack = False
                return None
            return action
        conn.send(reply)
        return None


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
