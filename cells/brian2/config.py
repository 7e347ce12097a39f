"""Brian2 preferences for the cells: Cython code generation, cached per Brian2 version."""
from __future__ import annotations

from pathlib import Path

from cells.mechanisms import cache_root

_CONFIGURED = False


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
    prefs.logging.file_log = False
    BrianLogger.log_level_warn()
    _CONFIGURED = True
