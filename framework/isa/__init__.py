"""A64 instruction set: one module per instruction group, each a set of table rows."""

import importlib

GROUP_MODULES = (
    "framework.isa.dp_imm",
    "framework.isa.dp_reg",
    "framework.isa.branch",
    "framework.isa.system",
    "framework.isa.ldst",
    "framework.isa.ldst_pair",
    "framework.isa.ldst_excl",
    "framework.isa.ldst_fp",
    "framework.isa.simd_int",
    "framework.isa.simd_misc",
    "framework.isa.simd_perm",
    "framework.isa.simd_shift",
    "framework.isa.simd_wide",
    "framework.isa.simd_dot",
    "framework.isa.simd_crypto",
    "framework.isa.ldst_struct",
    "framework.isa.fp_scalar",
    "framework.isa.fp_convert",
    "framework.isa.fp_vector",
)


def load_all() -> None:
    """Import every group module so that its rows are registered.

    A missing group is an error (ModuleNotFoundError), not a smaller instruction set.
    """
    for name in GROUP_MODULES:
        importlib.import_module(name)
