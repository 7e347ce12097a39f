"""Checkpoints: one small file per finished task, so an interrupted run loses nothing.

    OUT.nc.parts/
        config.json          the run configuration (for people; keys already include it)
        <task key>.npz       the result arrays of one finished task

A part is written to a temporary name in the same folder and renamed into place, so a
part either exists complete or not at all. The task key hashes the task description and
the run configuration (cell, morphology, recipe and .mod-file hashes, simulator, seed, dt), so parts
of another configuration are never mistaken for this run's.
"""
from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np


class PartStore:
    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    @staticmethod
    def for_output(output: str | os.PathLike) -> "PartStore":
        return PartStore(f"{os.fspath(output)}.parts")

    def exists(self) -> bool:
        return self.folder.is_dir()

    def create(self, config: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "config.json"
        if not path.exists():
            self._atomic_write(path, json.dumps(config, indent=1, sort_keys=True, default=str).encode())

    def keys(self) -> set[str]:
        """Keys of the complete parts present (unreadable ones are removed)."""
        if not self.exists():
            return set()
        out = set()
        for f in self.folder.glob("*.npz"):
            try:
                with zipfile.ZipFile(f) as z:
                    if z.testzip() is not None:
                        raise zipfile.BadZipFile("bad CRC")
                out.add(f.stem)
            except (zipfile.BadZipFile, OSError):
                f.unlink(missing_ok=True)
        return out

    def save(self, key: str, result: dict) -> None:
        with_buffer = {k: np.asarray(v) for k, v in result.items()}
        tmp = self.folder / f".{key}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            np.savez(f, **with_buffer)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.folder / f"{key}.npz")

    def load(self, key: str) -> dict:
        with np.load(self.folder / f"{key}.npz", allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    @staticmethod
    def _atomic_write(path: Path, data: bytes) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
