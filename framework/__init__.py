"""armnv kernel: CPU state, instruction set, engine, bus and the plugin contract."""

import pluggy

__version__ = "0.1.0"

PROJECT = "armnv"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["PROJECT", "__version__", "hookimpl", "hookspec"]
