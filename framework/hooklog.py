"""``-d plugins``: which plugin answered each decision hook, and what it answered.

"Who decided?" is the first question when several plugins answer the same hook
(FEAT_NV2 ``tryfirst``, FEAT_NV plain, a GIC or PAN plugin ``trylast`` on
`armnv_sysreg_access`). With the category on, a machine registers every plugin
through `DecisionLog.adapt`: a stand-in holding the plugin's own hook
implementations, where those of decision hooks note the plugin's name when they
answer (return something other than None, or raise). pluggy's call monitoring
(`pluggy.PluginManager.add_hookcall_monitoring`) sees each decision call whole —
every argument and the result — and logs it with the name noted::

    plugins: armnv_sysreg_access MSR VBAR_EL2 at EL1 -> Trap(EL2) [feat_nv]

Calls nobody answered are not logged (the kernel's fallback decided,
`framework.cpu.decisions`). With the category off none of this exists: plugins
are registered as they are and hook calls are pluggy's own.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pluggy

from framework.cpu.sysregs import Allow, Decision, SysReg, ToMemory, Trap, Undef, describe_key
from framework.plugins import DECISION_HOOKS, IMPL_MARK, implemented_hooks
from framework.vmem import Translation

# (op1, op2) of MSR (immediate) -> the PSTATE field it writes
PSTATE_FIELD_NAMES = {
    (0, 3): "UAO",
    (0, 4): "PAN",
    (0, 5): "SPSel",
    (3, 1): "SSBS",
    (3, 2): "DIT",
    (3, 4): "TCO",
    (3, 6): "DAIFSet",
    (3, 7): "DAIFClr",
}


class DecisionLog:
    """Logs the decision-hook calls a plugin answered on one machine (``plugins.decision`` events)."""

    def __init__(self, logger: Any) -> None:
        self.logger = logger
        # one [hook name, plugin that answered] per decision call in progress (they nest:
        # armnv_translate may ask armnv_pan_active)
        self._calls: list[list[Any]] = []

    def install(self, pm: pluggy.PluginManager) -> None:
        pm.add_hookcall_monitoring(self._before, self._after)

    def adapt(self, name: str, plugin: object) -> object:
        """What to register in place of `plugin`: the same hooks, decisions noting `name`."""
        stand_in = types.SimpleNamespace()
        for hook in implemented_hooks(plugin):
            impl = getattr(plugin, hook)
            setattr(stand_in, hook, self._noting(name, impl) if hook in DECISION_HOOKS else impl)
        return stand_in

    def registered(self, name: str, plugin: object) -> None:
        self.logger.msg("plugins.register", plugin=name, hooks=" ".join(implemented_hooks(plugin)) or "none")

    def _noting(self, name: str, impl: Callable[..., Any]) -> Callable[..., Any]:
        calls = self._calls

        # pluggy reads the argument names through __wrapped__, so the stand-in is passed
        # exactly what the plugin's own implementation asks for
        @functools.wraps(impl)
        def noting(*args: Any) -> Any:
            try:
                answer = impl(*args)
            except BaseException:
                if calls:
                    calls[-1][1] = name
                raise
            if answer is not None and calls:
                calls[-1][1] = name
            return answer

        setattr(noting, IMPL_MARK, getattr(impl, IMPL_MARK))
        return noting

    def _before(self, hook_name: str, hook_impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        if hook_name in DECISION_HOOKS:
            self._calls.append([hook_name, None])

    def _after(self, outcome: Any, hook_name: str, hook_impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        if hook_name not in DECISION_HOOKS:
            return
        _, plugin = self._calls.pop()
        if plugin is None:
            return
        if outcome.excinfo is not None:
            exc = outcome.excinfo[1]
            answer = f"raised {type(exc).__name__}({exc})"
        else:
            answer = _ANSWERS.get(hook_name, describe_answer)(outcome.get_result())
        self.logger.msg(
            "plugins.decision", hook=hook_name, plugin=plugin, call=describe_call(hook_name, kwargs), answer=answer
        )


# ---- the arguments that matter, and the answer, in words ------------------------------------------------


def describe_access(key: int, reg: SysReg | None, is_read: bool) -> str:
    """``MRS VBAR_EL2``, ``MSR S3_4_C15_C7_7``, ``TLBI ALLE2``: a system-register access in words."""
    if key >> 14 == 1:  # op0 = 1: a system instruction, named by its row (TLBI ALLE2, AT S1E1R…)
        return reg.name if reg is not None else f"{'SYSL' if is_read else 'SYS'} {describe_key(key)}"
    return f"{'MRS' if is_read else 'MSR'} {reg.name if reg is not None else describe_key(key)}"


def _sysreg_access(kw: Mapping[str, Any]) -> str:
    return f"{describe_access(kw['key'], kw['reg'], kw['is_read'])} at EL{kw['cpu'].el}"


def _exception_entry(kw: Mapping[str, Any]) -> str:
    esr = kw["esr"]
    text = f"EL{kw['from_el']} to EL{kw['target_el']} SPSR {kw['spsr']:#x}"
    return text + (f" ESR {esr:#x}" if esr is not None else "")


def _msr_immediate(kw: Mapping[str, Any]) -> str:
    op1, op2 = kw["op1"], kw["op2"]
    field = PSTATE_FIELD_NAMES.get((op1, op2), f"op1={op1} op2={op2}")
    return f"MSR {field}, #{kw['crm']} at EL{kw['cpu'].el}"


def _translate(kw: Mapping[str, Any]) -> str:
    acc = kw["access"]
    kind = "fetch" if acc.fetch else "write" if acc.write else "read"
    regime = f" in {acc.regime}" if acc.regime else ""
    return f"{'AT ' if acc.at else ''}{kind} {kw['va']:#x} with EL{acc.el} permissions{regime}"


def _descriptor(kw: Mapping[str, Any]) -> str:
    kind = "table" if kw["is_table"] else "block/page"
    return f"{kw['regime']} stage {kw['stage']} level {kw['level']} {kind} {kw['desc']:#x}"


_CALLS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "armnv_sysreg_access": _sysreg_access,
    "armnv_current_el": lambda kw: f"at EL{kw['cpu'].el}",
    "armnv_exception_entry": _exception_entry,
    "armnv_eret": lambda kw: f"ERET at EL{kw['cpu'].el} PC {kw['pc']:#x}",
    "armnv_msr_immediate": _msr_immediate,
    "armnv_at": lambda kw: f"AT {kw['op']} {kw['va']:#x} at EL{kw['cpu'].el}",
    "armnv_unprivileged_el": lambda kw: f"at EL{kw['cpu'].el}",
    "armnv_pan_active": lambda kw: f"at EL{kw['cpu'].el}",
    "armnv_translate": _translate,
    "armnv_descriptor": _descriptor,
}


# answers that are not a Decision or a Translation and mean more than their value
_ANSWERS: dict[str, Callable[[Any], str]] = {
    "armnv_current_el": lambda el: f"EL{el}",
    "armnv_unprivileged_el": lambda el: f"EL{el}",
}


def describe_call(hook: str, kwargs: Mapping[str, Any]) -> str:
    """The arguments of a decision call that matter to a reader (encoding, EL, address…)."""
    describe = _CALLS.get(hook)
    if describe is not None:
        return describe(kwargs)
    return " ".join(f"{k}={_value(v)}" for k, v in kwargs.items() if k not in ("cpu", "machine"))


def describe_answer(answer: Any) -> str:
    """A decision as the plugin guide writes it: ``Trap(EL2)``, ``Allow(SPSR_EL1)``, ``ToMemory(0x…)``."""
    if isinstance(answer, Trap):
        return f"Trap(EL{answer.el})" if answer.esr is None else f"Trap(EL{answer.el}, ESR {answer.esr:#x})"
    if isinstance(answer, Allow):
        return f"Allow({answer.target.name})" if answer.target is not None else "Allow()"
    if isinstance(answer, Undef):
        return "Undef()"
    if isinstance(answer, ToMemory):
        return f"ToMemory({answer.va:#x})"
    if isinstance(answer, Decision):
        return type(answer).__name__
    if isinstance(answer, Translation):
        return f"PA {answer.pa:#x}" + (" (device)" if answer.device else "")
    return _value(answer)


def _value(value: Any) -> str:
    return hex(value) if isinstance(value, int) and not isinstance(value, bool) else str(value)


__all__ = ["DecisionLog", "describe_access", "describe_answer", "describe_call"]
