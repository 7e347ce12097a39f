import json
import os
import subprocess
import sys
import time
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


# Test files, the longest first: `make test` hands whole files to its two processes in this
# order (`--dist loadfile --no-loadscope-reorder`), so the long ones start first and the short
# ones fill the gaps at the end (longest-first scheduling); unlisted files follow, in their
# usual order. Seconds per file (JUnit times of one run, 2026-12-03, warm Brian2 cache):
# notebooks 546, validation 353, cli 257, characterize 169, brian2_equivalence 141,
# validation_ca1 110, long_protocols 93, cell_types 86, adapt 77; the other 21 files 153.
# Fresh clone, alone on 2 cores: 1301 s by pytest-xdist's default order (by test count),
# 1246 s in this order, both processes busy throughout (2496 s of CPU): the wall time is now
# the total work divided by two.
LONGEST_FIRST = ("test_notebooks.py", "test_validation.py", "test_cli.py", "test_characterize.py",
                 "test_brian2_equivalence.py", "test_validation_ca1.py", "test_long_protocols.py",
                 "test_cell_types.py", "test_adapt.py", "test_nn_layers.py", "test_generalization.py", "test_fit.py",
                 "test_schema.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))   # stable: a file's own order is kept


BIN = Path(sys.executable).parent


@pytest.fixture
def dask_cluster(tmp_path):
    sched_file = tmp_path / "scheduler.json"
    procs = []
    opts = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    procs.append(subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                   "--no-dashboard", "--scheduler-file", str(sched_file)], **opts))
    deadline, address = time.time() + 60, None
    while address is None and time.time() < deadline:
        try:   # the scheduler creates the file before it has written it: wait for valid JSON
            address = json.loads(sched_file.read_text())["address"]
        except (FileNotFoundError, ValueError, KeyError):
            time.sleep(0.1)
    if address is None:
        for p in procs:
            p.kill()
        pytest.fail(f"the dask scheduler wrote no address to {sched_file} within 60 s")
    workers = [subprocess.Popen([str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-nanny",
                                 "--no-dashboard", "--memory-limit", "0", "--name", f"w{i}"], **opts)
               for i in range(2)]
    procs += workers
    from distributed import Client
    with Client(address, timeout=30) as client:
        client.wait_for_workers(2, timeout=60)
    try:
        yield address, workers
    finally:
        for p in procs[::-1]:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
