"""The guest's stdout and the information commands' lines: the rules for a failed write.

A reader that goes away (``armnv run x | head``) is not an error: armnv goes on
quietly. Any other failed write (ENOSPC, stdout closed) is an `ArmnvError`: the
output would be lost.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from typing import IO

from framework.errors import ArmnvError


class GuestOutput:
    """The guest's stdout, flushed at each newline.

    A reader that has gone away (EPIPE) silences it and the guest runs on; any
    other failed write (ENOSPC, stdout closed) is an `ArmnvError` raised at once,
    which stops the run: the guest's output would be lost.
    """

    def __init__(self, stream: IO[bytes] | None) -> None:
        self.stream = stream
        self.gone = False

    def write(self, data: bytes) -> int:
        if not self.gone:
            try:
                if self.stream is None:
                    raise OSError(errno.EBADF, "stdout is closed")
                self.stream.write(data)
                if b"\n" in data:
                    self.stream.flush()
            except OSError as exc:
                self._failed(exc)
        return len(data)

    def flush(self) -> None:
        if not self.gone and self.stream is not None:
            try:
                self.stream.flush()
            except OSError as exc:
                self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        self.gone = True
        discard_stdout()
        if not isinstance(exc, BrokenPipeError):  # `armnv run x | head` is not an error
            raise ArmnvError(f"stdout: cannot write the guest's output ({_reason(exc)})") from None


def _reason(exc: OSError) -> str:
    return "stdout is closed" if exc.errno == errno.EBADF else exc.strerror or str(exc)


def discard_stdout() -> None:
    """Point fd 1 at /dev/null, so the interpreter's own flush at exit of what is still buffered is quiet."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # stdout may have no descriptor
        fd = sys.stdout.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)


class ReaderGone(Exception):  # noqa: N818 - an event, not an error
    """The reader of an information command's output went away: stop quietly."""


def print_line(text: str) -> None:
    """A line on stdout for the information commands, with the output-error rules of `GuestOutput`."""
    try:
        if sys.stdout is None:
            raise OSError(errno.EBADF, "stdout is closed")
        sys.stdout.write(text + "\n")
    except BrokenPipeError:
        discard_stdout()
        raise ReaderGone from None
    except OSError as exc:
        discard_stdout()
        raise ArmnvError(f"stdout: cannot write ({_reason(exc)})") from None


def flush_stdout() -> None:
    if sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        discard_stdout()
    except OSError as exc:
        discard_stdout()
        raise ArmnvError(f"stdout: cannot write ({_reason(exc)})") from None
    except ValueError:  # closed by someone else: nothing left to write
        pass


__all__ = ["GuestOutput", "ReaderGone", "discard_stdout", "flush_stdout", "print_line"]
