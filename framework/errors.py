"""Exceptions that cross module boundaries inside the kernel.

Guest-visible events (architectural exceptions) never escape the engine as
Python errors: `ExceptionTaken` unwinds a translated block after the CPU has
already been moved to the exception vector, and the run loop swallows it.
"""


class ArmnvError(Exception):
    """Bad user input or configuration: reported as one line, exit status 2."""


class ExceptionTaken(Exception):  # noqa: N818 - an event, not an error
    """The instruction at `pc` took a synchronous exception; state is already at the vector."""

    __slots__ = ("pc",)

    def __init__(self, pc: int) -> None:
        self.pc = pc


class GuestStop(Exception):  # noqa: N818 - an event, not an error
    """The guest asked the machine to stop (semihosting exit, PSCI SYSTEM_OFF)."""

    def __init__(self, exit_code: int, reason: str = "exit") -> None:
        super().__init__(reason)
        self.exit_code = exit_code
        self.reason = reason


class BusError(Exception):
    """A physical access hit no RAM and no device (becomes a synchronous external abort)."""

    def __init__(self, pa: int) -> None:
        super().__init__(hex(pa))
        self.pa = pa
