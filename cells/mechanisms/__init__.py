"""The project's own NMODL mechanisms, compiled once per machine and cached.

    from cells.mechanisms import load_mechanisms
    load_mechanisms()          # compiles on first use (tens of seconds), then loads the cache

The compiled library lives in ``<cache root>/nrnmech/<key>/`` where ``key`` is a short
sha256 over the .mod files (names and contents), the NEURON version and the machine
architecture, and the cache root is ``$BRIDGE_CACHE_DIR`` or ``~/.cache/dendritic-bridge``.
Compilation happens in a temporary folder next to the final one, under an fcntl lock, and is
moved into place with an atomic rename, so concurrent processes compile only once.

Importing this module does not import NEURON; only :func:`load_mechanisms` does.
"""
from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

MOD_DIR = Path(__file__).resolve().parent

__all__ = ["MOD_DIR", "cache_root", "compiled_dir", "load_mechanisms", "mechanism_key", "mod_files",
           "block_sodium", "sodium_mechanisms"]

_LOADED: Path | None = None
_THREAD_LOCK = threading.Lock()
_LIB_NAMES = ("libnrnmech.so", "libnrnmech.dylib", "nrnmech.dll")


def mod_files() -> list[Path]:
    """The .mod files of this package, sorted by name."""
    return sorted(MOD_DIR.glob("*.mod"))


def sodium_mechanisms(recipe, branch_types=None) -> tuple[str, ...]:
    """Mechanisms of `recipe` inserted in `branch_types` (default: the dendrites) that carry a
    Na current (their .mod file writes ``ina``): the channels a local TTX application blocks."""
    import re

    from cells.recipe import REGIONS

    branch_types = REGIONS["dendrites"] if branch_types is None else branch_types
    out = []
    for channel in recipe.channels:
        if channel.gbar is None or channel.mechanism in out:
            continue
        if not any(t in REGIONS[r] for r in channel.regions for t in branch_types):
            continue
        mod = MOD_DIR / f"{channel.mechanism}.mod"
        if mod.is_file() and re.search(r"USEION\s+na\b[^\n]*WRITE[^\n]*\bina\b", mod.read_text()):
            out.append(channel.mechanism)
    return tuple(out)


def block_sodium(cell, branch_types=None) -> None:
    """TTX on `branch_types` (default: the dendrites): every Na channel's density set to 0."""
    from cells.recipe import REGIONS

    branch_types = REGIONS["dendrites"] if branch_types is None else branch_types
    for mech in sodium_mechanisms(cell.recipe, branch_types):
        cell.scale_density(mech, 0.0, branch_types=branch_types)


def cache_root() -> Path:
    env = os.environ.get("BRIDGE_CACHE_DIR")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "dendritic-bridge"
    return root


def _neuron_version() -> str:
    # importlib.metadata avoids importing NEURON itself
    from importlib import metadata

    for dist in ("neuron", "NEURON", "neuron-nightly"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    import neuron  # fallback for source builds without package metadata

    return str(getattr(neuron, "__version__", "unknown"))


def mechanism_key() -> str:
    """Short hash of the mod sources + NEURON version + machine architecture."""
    digest = hashlib.sha256()
    for path in mod_files():
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    digest.update(_neuron_version().encode())
    digest.update(b"\0")
    digest.update(platform.machine().encode())
    return digest.hexdigest()[:16]


def compiled_dir() -> Path:
    """Where the compiled mechanisms for the current sources live (may not exist yet)."""
    return cache_root() / "nrnmech" / mechanism_key()


def _find_nrnivmodl() -> str:
    candidate = Path(sys.executable).parent / "nrnivmodl"
    if candidate.exists() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("nrnivmodl")
    if found is None:
        raise RuntimeError(
            "nrnivmodl not found next to the Python interpreter or on PATH; install NEURON "
            "(pip install neuron) to compile the cell mechanisms"
        )
    return found


def _find_library(folder: Path) -> Path | None:
    for name in _LIB_NAMES:
        hits = sorted(folder.glob(f"*/{name}")) + sorted(folder.glob(f"*/.libs/{name}"))
        if hits:
            return hits[0]
    return None


def _compile(final: Path) -> None:
    """Compile all mod files into `final` (temporary folder + atomic rename)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".build-{final.name}-", dir=final.parent))
    try:
        for path in mod_files():
            shutil.copy2(path, tmp / path.name)
        env = dict(os.environ)
        # the venv's bin first, so nrnivmodl finds the matching nocmodl / nrniv
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        proc = subprocess.run(
            [_find_nrnivmodl()],
            cwd=tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        (tmp / "nrnivmodl.log").write_text(proc.stdout)
        if proc.returncode != 0 or _find_library(tmp) is None:
            raise RuntimeError(
                f"nrnivmodl failed (exit code {proc.returncode}) compiling {MOD_DIR}:\n{proc.stdout[-20000:]}"
            )
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _ensure_compiled() -> Path:
    import fcntl

    final = compiled_dir()
    if _find_library(final) is not None:
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    lock_path = final.parent / f".{final.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if _find_library(final) is None:      # another process may have finished meanwhile
                if final.exists():                # a broken leftover: rebuild it
                    shutil.rmtree(final, ignore_errors=True)
                _compile(final)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return final


def load_mechanisms() -> Path:
    """Compile (once per machine, cached) and load (once per process) the mechanisms.

    Returns the folder holding the compiled library. Raises RuntimeError when nrnivmodl
    fails, with its output.
    """
    global _LOADED
    if _LOADED is not None:
        return _LOADED
    with _THREAD_LOCK:
        if _LOADED is not None:
            return _LOADED
        folder = _ensure_compiled()
        library = _find_library(folder)
        from neuron import h

        if not hasattr(h, "AMPA"):   # not yet loaded in this process (e.g. by another copy)
            if not h.nrn_load_dll(str(library)):
                raise RuntimeError(f"NEURON could not load {library}")
        _LOADED = folder
        return folder
