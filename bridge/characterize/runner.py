"""Run tasks in a local process pool or on a Dask cluster, checkpointing each result.

Local (default): a `ProcessPoolExecutor` of `workers` spawned processes (default: the
machine's cores; 0 runs every task in this process, e.g. for a cell type registered at
run time, which spawned processes do not know); each keeps one built cell between tasks (`bridge.characterize.tasks`)
and exits when the parent dies (so `kill -9` of the command leaves no orphans).
Dask: ``scheduler="tcp://HOST:PORT"`` submits the same tasks to an existing
`distributed` cluster (workers need this project installed). A task lost with a killed
worker is rerun elsewhere by the scheduler; tasks are pure, so results are identical.

Either way each result is written to the checkpoint store as it arrives, long tasks are
started first, and a tqdm bar shows progress in simulated milliseconds with an ETA.
Setting ``$BRIDGE_CHARACTERIZE_LOG`` to a file appends one line per computed task
(key, protocol, kind) - how the tests check that a resumed run recomputes nothing.
"""
from __future__ import annotations

import os
import re
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from functools import partial
from multiprocessing import get_context

from bridge.characterize.store import PartStore
from bridge.characterize.tasks import RunConfig, Task, run_task
from dendritic_errors import InputError

SCHEDULER_RE = re.compile(r"^(?:(tcp|tls|ws|wss|ucx|inproc)://)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.\-]+):(\d{1,5})$")


def parse_scheduler(address: str) -> str:
    """'tcp://HOST:PORT' or 'HOST:PORT' -> a full address; InputError if unreadable."""
    m = SCHEDULER_RE.match(address.strip())
    if not m or not 0 < int(m.group(3)) < 65536:
        raise InputError(f"--scheduler {address!r}: not a scheduler address (expected tcp://HOST:PORT)")
    return address.strip() if m.group(1) else f"tcp://{address.strip()}"


def connect(address: str, timeout_s: float = 10.0):
    """A `distributed.Client` for the scheduler; InputError when it cannot be reached."""
    address = parse_scheduler(address)
    m = SCHEDULER_RE.match(address)
    if m.group(1) in ("tcp", "tls"):            # fail fast when nothing listens there
        import socket
        try:
            socket.create_connection((m.group(2).strip("[]"), int(m.group(3))), timeout=timeout_s).close()
        except OSError as err:
            raise InputError(f"cannot reach the Dask scheduler at {address}: {err.strerror or err}") from None
    try:
        from distributed import Client
    except ImportError:
        raise InputError("--scheduler needs dask.distributed (pip install 'dask[distributed]')") from None
    try:
        return Client(address, timeout=timeout_s, set_as_default=False)
    except Exception as err:  # OSError, TimeoutError, CommClosedError ...
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"cannot reach the Dask scheduler at {address}: {first}") from None


def _watch_parent(parent_pid: int) -> None:
    def loop():
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(0.5)
    threading.Thread(target=loop, daemon=True).start()


def _init_worker(parent_pid: int) -> None:
    _watch_parent(parent_pid)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("NEURON_MODULE_OPTIONS", "-nogui")   # no "no DISPLAY" warning per worker


class _Progress:
    def __init__(self, tasks, done_keys, keys, enabled):
        self.total_sims = sum(t.n_sims for t in tasks)
        self.sims = sum(t.n_sims for t in tasks if keys[t] in done_keys)
        self.bar = None
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=sum(round(t.sim_ms) for t in tasks), unit="sim-ms", unit_scale=True,
                            initial=sum(round(t.sim_ms) for t in tasks if keys[t] in done_keys),
                            desc="characterize", file=sys.stderr, dynamic_ncols=True, smoothing=0.05)
            self._postfix()

    def _postfix(self):
        self.bar.set_postfix_str(f"{self.sims}/{self.total_sims} sims", refresh=False)

    def update(self, task: Task):
        self.sims += task.n_sims
        if self.bar is not None:
            self._postfix()
            self.bar.update(round(task.sim_ms))

    def close(self):
        if self.bar is not None:
            self.bar.close()


def execute(config: RunConfig, tasks: list[Task], store: PartStore, workers: int | None = None,
            client=None, progress: bool = True, say=None) -> dict[Task, dict]:
    """Run every task whose part is missing; return task -> result for all tasks."""
    say = say or (lambda msg: print(msg, file=sys.stderr, flush=True))
    keys = {t: t.key(config) for t in tasks}
    done = store.keys() & set(keys.values())
    pending = [t for t in tasks if keys[t] not in done]
    if done:
        say(f"resuming: {len(tasks) - len(pending)} of {len(tasks)} tasks already done ({store.folder})")
    pending.sort(key=lambda t: -t.sim_ms)       # longest first: better load balance at the end
    log_path = os.environ.get("BRIDGE_CHARACTERIZE_LOG")
    bar = _Progress(tasks, done, keys, progress)

    def finished(task, result):
        store.save(keys[task], result)
        if log_path:
            with open(log_path, "a") as f:
                f.write(f"{keys[task]} {task.protocol} {task.kind}\n")
        bar.update(task)

    try:
        run_each(partial(run_task, config), pending, finished, workers=workers, client=client,
                 keys=[f"bridge-characterize-{keys[t]}" for t in pending])
    finally:
        bar.close()
    return {t: store.load(keys[t]) for t in tasks}


def run_each(fn, items: list, finished, workers: int | None = None, client=None, keys=None) -> None:
    """Call `finished(item, fn(item))` for every item as its result arrives: on the Dask
    `client` when given, in this process when `workers == 0`, else on a local pool of
    `workers` spawned processes (default: one per core). `fn` must be picklable (a
    module-level function or a partial of one); `keys`: Dask task keys, one per item."""
    if not items:
        return
    if client is not None:
        _run_dask(client, fn, items, finished, keys)
    elif workers == 0:       # in this process: cell types registered at run time, debugging
        for item in items:
            finished(item, fn(item))
    else:
        _run_local(fn, items, workers or os.cpu_count() or 1, finished)


def _run_local(fn, items, workers, finished) -> None:
    ctx = get_context("spawn")
    n = max(1, min(workers, len(items)))
    pool = ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init_worker, initargs=(os.getpid(),))
    ok = False
    try:
        futures = {pool.submit(fn, item): item for item in items}
        remaining = set(futures)
        while remaining:
            done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
            for fut in done:
                finished(futures[fut], fut.result())
        ok = True
    finally:
        # on an error or Ctrl-C do not wait for running tasks: what finished is checkpointed
        pool.shutdown(wait=ok, cancel_futures=True)


def _run_dask(client, fn, items, finished, keys=None) -> None:
    from distributed import as_completed

    futures = {}
    for rank, item in enumerate(items):
        extra = {"key": keys[rank]} if keys else {}
        fut = client.submit(fn, item, pure=False, retries=2, priority=len(items) - rank, **extra)
        futures[fut] = item
    try:
        for fut in as_completed(list(futures), loop=client.loop):
            finished(futures[fut], fut.result())
    finally:
        for fut in futures:
            fut.release()
