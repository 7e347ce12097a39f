"""Brian2 preferences for the cells: Cython code generation, cached per Brian2 version."""
from __future__ import annotations

from pathlib import Path

from cells.mechanisms import cache_root

_CONFIGURED = False

# gcc flags for the generated Cython code: Brian2's defaults with -O1 instead of -O3. Measured
# on ca1 (2026-12-02, one fresh cache each, same load): compiling a cell's code took 92 s at
# -O1 against 141 s at -O3, and 200 ms of simulation 6.6 s against 9.1 s (no slower; -O0
# compiled in 57 s but simulated 2x slower). Every fresh environment (CI included) compiles.
COMPILE_ARGS = ["-w", "-O1", "-ffast-math", "-fno-finite-math-only", "-march=native", "-std=c++11"]


def brian2_cache_dir() -> Path:
    """Where Brian2's compiled Cython code is kept: <cache root>/brian2/cython-<brian2 version>."""
    from importlib import metadata

    return cache_root() / "brian2" / f"cython-{metadata.version('brian2')}"


def configure_brian2() -> None:
    """Set Brian2's preferences once per process (before the first cell is built)."""
    global _CONFIGURED
    if _CONFIGURED:
        return
    from brian2 import prefs
    from brian2.utils.logger import BrianLogger

    prefs.codegen.target = "cython"
    prefs.codegen.runtime.cython.cache_dir = str(brian2_cache_dir())
    prefs.codegen.cpp.extra_compile_args_gcc = list(COMPILE_ARGS)
    prefs.logging.file_log = False
    BrianLogger.log_level_warn()
    _CONFIGURED = True
