"""The stub's answers to the debugger's packets.

`dispatch` returns the reply, or ``(action, reply)`` for a packet that
resumes, detaches or kills the guest (reply None: nothing is sent now). A
packet it cannot parse raises ValueError (or IndexError): the server answers
``E01``. An unknown packet gets the empty reply, the protocol's "not supported".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.gdbstub.target import MemoryFault

if TYPE_CHECKING:
    from framework.gdbstub.server import GdbServer

Reply = str | tuple[str, str | None]

# Z/z types: breakpoint kinds and watchpoint kinds
BREAK_TYPES = {"0": "sw", "1": "hw"}
WATCH_TYPES = {"2": "watch", "3": "rwatch", "4": "awatch"}

MAX_XP = 4096
PACKET_SIZE = 0x4000

ERR_PACKET = "E01"  # a malformed packet
ERR_MEMORY = "E14"  # EFAULT: memory that cannot be reached
ERR_VALUE = "E16"  # a register that cannot take that value

MONITOR_HELP = """\
monitor commands:
  info registers      CPU state, as armnv prints it in an internal-error report
  xp ADDR [LEN]       LEN bytes (default 64, at most 4096) of physical memory at ADDR
  translate VA        the physical address of VA in the current translation regime
  help                this list
"""


def _hex_le(value: int, size: int) -> str:
    return value.to_bytes(size, "little").hex()


def _int(text: str) -> int:
    value = int(text, 16)
    if value < 0:
        raise ValueError(text)
    return value


def unescape(data: bytes) -> bytes:
    """Binary packet data with the protocol's ``}`` escapes undone."""
    out = bytearray()
    it = iter(data)
    for b in it:
        out.append(next(it, 0) ^ 0x20 if b == 0x7D else b)
    return bytes(out)


def _addr_len(text: str) -> tuple[int, int]:
    addr, length = text.split(",")
    return _int(addr), _int(length)


def dispatch(server: GdbServer, packet: bytes) -> Reply:
    target = server.target
    if packet.startswith(b"X"):
        head, _, data = packet[1:].partition(b":")
        addr, length = _addr_len(head.decode("ascii"))
        data = unescape(data)
        if len(data) != length:
            raise ValueError("X: length and data disagree")
        if length:
            target.write_virtual(addr, data)
        return "OK"
    text = packet.decode("ascii")
    if not text:
        return ""
    cmd, rest = text[0], text[1:]
    if cmd == "?":
        return server.stop_reply
    if cmd == "g":
        regs = range(target.register_count())
        return "".join(_hex_le(target.read_register(n), target.register_size(n)) for n in regs)
    if cmd == "G":
        data = bytes.fromhex(rest)
        pos = 0
        for n in range(target.register_count()):
            size = target.register_size(n)
            if pos + size > len(data):
                break
            target.write_register(n, int.from_bytes(data[pos : pos + size], "little"))
            pos += size
        return "OK"
    if cmd == "p":
        n = _int(rest)
        return _hex_le(target.read_register(n), target.register_size(n))
    if cmd == "P":
        num, value = rest.split("=")
        n = _int(num)
        raw = bytes.fromhex(value)
        if len(raw) != target.register_size(n):
            raise ValueError("P: wrong size")
        try:
            target.write_register(n, int.from_bytes(raw, "little"))
        except ValueError:
            return ERR_VALUE
        return "OK"
    if cmd == "m":
        addr, length = _addr_len(rest)
        if length > PACKET_SIZE // 2:
            length = PACKET_SIZE // 2
        try:
            return target.read_virtual(addr, length).hex()
        except MemoryFault:
            return ERR_MEMORY
    if cmd == "M":
        head, data = rest.split(":")
        addr, length = _addr_len(head)
        raw = bytes.fromhex(data)
        if len(raw) != length:
            raise ValueError("M: length and data disagree")
        target.write_virtual(addr, raw)
        return "OK"
    if cmd in "cs":
        return _resume(server, "continue" if cmd == "c" else "step", rest)
    if cmd in "CS":
        _, _, addr = rest.partition(";")
        _int(rest.split(";")[0])
        return _resume(server, "continue" if cmd == "C" else "step", addr)
    if cmd in "Zz":
        kind, addr_text, _size = rest.split(",")[:3]
        addr, size = _int(addr_text), _int(_size.split(";")[0])
        if kind in BREAK_TYPES:
            if cmd == "Z":
                target.insert_breakpoint(addr, BREAK_TYPES[kind])
            else:
                target.remove_breakpoint(addr, BREAK_TYPES[kind])
            return "OK"
        if kind in WATCH_TYPES:
            if cmd == "Z":
                target.insert_watchpoint(WATCH_TYPES[kind], addr, size)
            else:
                target.remove_watchpoint(WATCH_TYPES[kind], addr, size)
            return "OK"
        return ""
    if cmd == "D":
        return ("detach", "OK")
    if cmd == "k":
        return ("kill", None)
    if cmd in "HT":
        return "OK"
    if cmd == "q":
        return _query(server, rest)
    if cmd == "Q":
        if rest == "StartNoAckMode":
            return ("noack", "OK")
        return ""
    if cmd == "v":
        return _verbose(server, rest)
    return ""


def _resume(server: GdbServer, action: str, addr: str) -> Reply:
    if addr:
        server.target.write_register(32, _int(addr))
    server.halted = False
    return (action, None)


def _query(server: GdbServer, rest: str) -> Reply:
    if rest.startswith("Supported"):
        return f"PacketSize={PACKET_SIZE:x};qXfer:features:read+;QStartNoAckMode+;vContSupported+;swbreak+;hwbreak+"
    if rest.startswith("Xfer:features:read:"):
        annex, _, span = rest[len("Xfer:features:read:") :].partition(":")
        offset, length = _addr_len(span)
        if annex != "target.xml":
            return "E00"
        xml = server.target.target_xml()
        piece = xml[offset : offset + min(length, PACKET_SIZE - 1)]
        return ("l" if offset + len(piece) >= len(xml) else "m") + _escape(piece)
    if rest == "Attached":
        return "1"
    if rest == "C":
        return "QC1"
    if rest == "fThreadInfo":
        return "m1"
    if rest == "sThreadInfo":
        return "l"
    if rest.startswith("Symbol"):
        return "OK"
    if rest.startswith("Rcmd,"):
        command = bytes.fromhex(rest[len("Rcmd,") :]).decode("utf-8", "replace")
        return monitor(server, command).encode().hex()
    return ""


def _escape(text: str) -> str:
    # binary replies escape '#', '$', '}' and '*' (the XML holds none today; it stays correct if it does)
    out = []
    for ch in text:
        if ch in "#$}*":
            out.append("}" + chr(ord(ch) ^ 0x20))
        else:
            out.append(ch)
    return "".join(out)


def _verbose(server: GdbServer, rest: str) -> Reply:
    if rest == "Cont?":
        return "vCont;c;C;s;S"
    if rest.startswith("Cont;"):
        actions = [a.split(":")[0] for a in rest[len("Cont;") :].split(";")]
        if not actions or any(not a or a[0] not in "cCsS" for a in actions):
            raise ValueError("vCont: unsupported action")
        # one thread: the first action is the one for it
        return _resume(server, "step" if actions[0][0] in "sS" else "continue", "")
    if rest.startswith("Kill"):
        return ("kill", "OK")
    return ""


def monitor(server: GdbServer, command: str) -> str:
    """The text a ``monitor`` command prints (ending with a newline)."""
    words = command.split()
    target = server.target
    if not words or words[0] == "help":
        return MONITOR_HELP
    if words[:2] in (["info", "registers"], ["info", "regs"]):
        return server.machine.cpu_dump() + "\n"
    try:
        if words[0] == "xp" and len(words) in (2, 3):
            addr = int(words[1], 0)
            length = int(words[2], 0) if len(words) == 3 else 64
            if not 0 < length <= MAX_XP or addr < 0:
                return f"xp: LEN must be 1 to {MAX_XP}\n"
            return _dump(addr, target.read_physical(addr, length))
        if words[0] == "translate" and len(words) == 2:
            va = int(words[1], 0)
            return f"VA {va:#x} -> PA {target.translate(va):#x} (EL{server.machine.cpu.el})\n"
    except ValueError:
        return f"not a number in {command!r}\n"
    except MemoryFault as exc:
        return f"{exc}\n"
    return f"unknown monitor command {command!r}; 'monitor help' lists them\n"


def _dump(addr: int, data: bytes) -> str:
    lines = []
    for off in range(0, len(data), 16):
        row = data[off : off + 16]
        words = " ".join(row[i : i + 4].hex() for i in range(0, len(row), 4))
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"{addr + off:016x}: {words:<35}  {text}")
    return "\n".join(lines) + "\n"
