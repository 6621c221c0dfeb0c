"""Exceptions that cross module boundaries inside the kernel.

Guest-visible events (architectural exceptions) never escape the engine as
Python errors: `ExceptionTaken` unwinds a translated block after the CPU has
already been moved to the exception vector, and the run loop swallows it.
"""


class ArmnvError(Exception):
    """Bad user input or configuration: reported as one line, exit status 2."""


class BlockExit(Exception):  # noqa: N818 - an event, not an error
    """Leaves a translated block early at the instruction `pc` (None: the helper set cpu.pc).

    The instruction at `pc` counts as executed: the run loop adds the
    instructions of the block up to and including it to the instruction count.
    """

    __slots__ = ("pc",)

    def __init__(self, pc: int | None = None) -> None:
        self.pc = pc


class ExceptionTaken(BlockExit):
    """The instruction at `pc` took a synchronous exception; state is already at the vector."""


class GuestStop(BlockExit):
    """The guest asked the machine to stop (semihosting exit, PSCI SYSTEM_OFF)."""

    def __init__(self, exit_code: int, reason: str = "exit", pc: int | None = None) -> None:
        super().__init__(pc)
        self.exit_code = exit_code
        self.reason = reason


class DebugStop(BlockExit):
    """A debugger's breakpoint or watchpoint at the instruction `pc`, which has not run.

    `reason` is the stop kind the run loop returns ("breakpoint", "watchpoint").
    """

    def __init__(self, pc: int, reason: str) -> None:
        super().__init__(pc)
        self.reason = reason


class BusError(Exception):
    """A physical access hit no RAM and no device (becomes a synchronous external abort)."""

    def __init__(self, pa: int) -> None:
        super().__init__(hex(pa))
        self.pa = pa
