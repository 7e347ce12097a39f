import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    """../shared beside the repository (or $BRIDGE_SHARED_DIR); None when absent."""
    env = os.environ.get("BRIDGE_SHARED_DIR")
    path = Path(env) if env else REPO.parent / "shared"
    return path if path.is_dir() else None


@pytest.fixture
def shared_morphology():
    def get(name: str) -> Path:
        base = shared_dir()
        if base is None or not (base / "morphologies" / name).is_file():
            pytest.skip(f"shared morphology {name} not found (../shared/morphologies or $BRIDGE_SHARED_DIR)")
        return base / "morphologies" / name
    return get


def pytest_configure(config):
    # Under pytest-xdist (`make test` runs two processes on two cores) each process gets one
    # torch/OpenMP thread, so the two do not oversubscribe the cores.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        os.environ.setdefault("MKL_NUM_THREADS", "1")
