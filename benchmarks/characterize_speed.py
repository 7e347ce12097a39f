"""Simulations per second of a protocol (`integration`, or `invivo` with --protocol invivo):
a bare NEURON loop versus `bridge characterize`'s runner with 1 and with 2 local workers, on
the same cell and the same simulations, measured in one run.

    .venv/bin/python benchmarks/characterize_speed.py [--cell l5pc] [--branches 2] [--synapses 20] [--markdown [FILE]]
    .venv/bin/python benchmarks/characterize_speed.py --protocol invivo [--sims 4] [--sim-ms 1000] [--markdown [FILE]]

invivo: `--sims` control simulations of `--sim-ms` each (one task each), ~780 excitatory
(AMPA + NMDA) and ~780 inhibitory synapses driven by their planned trains; the bare loop
makes the point processes and NetCons itself, queues every event with `NetCon.event`,
records the soma and samples it every 1 ms.

The sweep: `--branches` integration branches (seeded sample as in `bridge characterize`),
clustered placement, control condition, N synapses: per branch one unitary task (N runs,
each synapse alone) and one cumulative task (N runs, the first n together) - 2 x N x
branches simulations of 55 ms (dt 0.025 ms), each started from rest like `NeuronCell.run`.

The bare loop is what one would write by hand in NEURON for the same simulations: point
processes and NetCons made directly with `h.AMPA`/`h.NMDA`, `finitialize`, the same
settle-to-rest steps, `continuerun`, numpy peaks from recorded Vectors; one process, no
checkpoints. The runner columns include everything a user waits for: spawning the
workers, building the cell in each, pickling tasks and results, writing checkpoints.
Targets (issue 4): 1 worker >= 90 % of the bare loop's sims/s; 2 workers >= 1.8x 1 worker.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import _markdown
from cells.experiments.common import STIMULUS_START_MS


def sweep(cell: str, branches: int, synapses: int):
    from bridge.characterize import Settings, prepare

    s = Settings(branches=branches, n_synapses=synapses, placements=("clustered",), conditions=("control",))
    ctx, tasks = prepare(cell, protocols="integration", settings=s)
    return ctx, tasks


def _synapse(h, recipe, cell, seg, branch_id, kind, scale):
    """A point process of the recipe's synapse `kind` at `seg` and its NetCon, by hand."""
    m = recipe.synapse(kind)
    pp = getattr(h, m.mechanism)(seg)
    pp.tau_rise, pp.tau_decay, pp.e = m.tau_rise_ms, m.tau_decay_ms, m.e_mV
    for name, value in m.params:
        setattr(pp, name, value)
    nc = h.NetCon(None, pp)
    nc.weight[0] = m.weight_for(cell.morphology.branches[branch_id].type) * scale
    return pp, nc


def _rest(h, recipe, dt):
    """NeuronCell.run's settle-to-rest (cells.contract), then t = 0 with recordings armed."""
    from cells.contract import SETTLE_DT_MS, SETTLE_MS

    h.cvode_active(0)
    h.dt = dt
    h.finitialize(recipe.v_init_mV)
    h.t, h.dt = -SETTLE_MS, SETTLE_DT_MS
    while h.t < -SETTLE_DT_MS / 2:
        h.fadvance()
    h.t, h.dt = 0.0, dt
    h.fcurrent()
    h.frecord_init()


def invivo_sweep(cell: str, sims: int, sim_ms: float):
    from bridge.characterize import Settings, prepare

    s = Settings(invivo_simulations=sims, invivo_duration_ms=sim_ms, invivo_conditions=("control",))
    return prepare(cell, protocols="invivo", settings=s)


def bare_invivo(ctx, tasks) -> tuple[float, int, list]:
    """The invivo simulations written directly against NEURON."""
    from neuron import h

    from cells import get_recipe, load_morphology
    from cells.neuron_cell import NeuronCell

    t_start = time.perf_counter()
    recipe = get_recipe(ctx.config.cell)
    cell = NeuronCell(recipe, load_morphology(ctx.config.cell))
    dt = ctx.config.dt_ms
    out = []
    for task in tasks:
        p = task.p
        pps, ncs = [], []
        for sites, kinds, trains, scale in p["drives"]:
            for (b, x), train in zip(sites, trains):
                seg = cell.sections[b](x)
                for kind in kinds:
                    pp, nc = _synapse(h, recipe, cell, seg, b, kind, scale)
                    pps.append(pp)
                    ncs.append((nc, train))
        tvec, vsoma = h.Vector(), h.Vector()
        tvec.record(h._ref_t)
        vsoma.record(cell.sections[0](0.5)._ref_v)
        _rest(h, recipe, dt)
        for nc, train in ncs:
            for t in train:
                nc.event(t)
        h.continuerun(p["tstop_ms"])
        grid = np.arange(0.0, p["tstop_ms"], p["sample_ms"])
        out.append(np.interp(grid, tvec.as_numpy(), vsoma.as_numpy()))
        del pps, ncs
    cell.close()
    return time.perf_counter() - t_start, len(tasks), out


def bare_loop(ctx, tasks) -> tuple[float, int, list]:
    """The same simulations, written directly against NEURON."""
    from neuron import h

    from cells import get_recipe, load_morphology
    from cells.neuron_cell import NeuronCell

    t_start = time.perf_counter()
    recipe = get_recipe(ctx.config.cell)
    cell = NeuronCell(recipe, load_morphology(ctx.config.cell))       # the same cell
    dt = ctx.config.dt_ms
    n_sims, out = 0, []
    for task in tasks:
        p = task.p
        pps, ncs = [], []
        for b, x in p["sites"]:
            seg = cell.sections[b](x)
            row = []
            for kind in ("ampa", "nmda"):
                pp, nc = _synapse(h, recipe, cell, seg, b, kind, 1.0)
                pps.append(pp)
                row.append(nc)
            ncs.append(row)
        tvec, vloc, vsoma = h.Vector(), h.Vector(), h.Vector()
        tvec.record(h._ref_t)
        vloc.record(cell.sections[p["rec_branch"]](p["rec_x"])._ref_v)
        vsoma.record(cell.sections[0](0.5)._ref_v)
        t0, tstop = STIMULUS_START_MS, STIMULUS_START_MS + p["window_ms"]
        n = len(p["sites"])
        runs = ([[i] for i in range(n)] if task.kind == "unitary" else [list(range(k)) for k in p["n_values"]])
        res = []
        for active in runs:
            _rest(h, recipe, dt)
            for i in active:
                for nc in ncs[i]:
                    nc.event(p["times_ms"][i])
            h.continuerun(tstop)
            t = tvec.as_numpy()
            k0 = np.searchsorted(t, t0)
            res.append((vloc.as_numpy()[k0:].max() - vloc.as_numpy()[k0], vsoma.as_numpy()[k0:].max() - vsoma.as_numpy()[k0]))
            n_sims += 1
        out.append(np.array(res))
        del pps, ncs
    cell.close()
    return time.perf_counter() - t_start, n_sims, out


def runner(ctx, tasks, workers: int) -> tuple[float, int, dict, float]:
    import resource

    from bridge.characterize.runner import execute
    from bridge.characterize.store import PartStore

    with tempfile.TemporaryDirectory() as tmp:
        store = PartStore(os.path.join(tmp, "parts"))
        store.create({})
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        results = execute(ctx.config, tasks, store, workers=workers, progress=False, say=lambda m: None)
        sec = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)       # workers are joined: their CPU time
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        return sec, sum(t.n_sims for t in tasks), results, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cell", default="l5pc")
    parser.add_argument("--branches", type=int, default=2)
    parser.add_argument("--synapses", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved repetitions; the best of each is kept")
    parser.add_argument("--protocol", default="integration", choices=("integration", "invivo"))
    parser.add_argument("--sims", type=int, default=4, help="invivo: simulations (default 4)")
    parser.add_argument("--sim-ms", type=float, default=1000.0, help="invivo: duration of each (default 1000 ms)")
    _markdown.add_argument(parser, "characterize_speed")
    args = parser.parse_args()
    if args.protocol == "invivo" and args.markdown == os.path.join(_markdown.DOCS, "characterize_speed.md"):
        args.markdown = os.path.join(_markdown.DOCS, "characterize_speed_invivo.md")   # its own table
    host = _markdown.machine()
    if args.protocol == "invivo":
        ctx, tasks = invivo_sweep(args.cell, args.sims, args.sim_ms)
        what = f"{len(tasks)} invivo tasks, {len(tasks)} simulations of {args.sim_ms:g} ms"
        bare_fn = bare_invivo
    else:
        ctx, tasks = sweep(args.cell, args.branches, args.synapses)
        what = (f"{len(tasks)} integration tasks, {sum(t.n_sims for t in tasks)} simulations of "
                f"{STIMULUS_START_MS + tasks[0].p['window_ms']:g} ms")
        bare_fn = bare_loop
    print(f"{args.cell}: {what}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    best = {}
    same = True
    for _ in range(args.rounds):      # interleaved, so every configuration sees similar machine load
        c0 = time.process_time()
        sec, n, bare = bare_fn(ctx, tasks)
        rows = {"bare NEURON loop (1 process)": (sec, n, time.process_time() - c0)}
        sec1, n1, res1, cpu1 = runner(ctx, tasks, 1)
        rows["runner, 1 worker"] = (sec1, n1, cpu1)
        sec2, n2, res2, cpu2 = runner(ctx, tasks, 2)
        rows["runner, 2 workers"] = (sec2, n2, cpu2)
        same &= all(np.array_equal(res1[t][k], res2[t][k]) for t in tasks for k in res1[t])
        for t, b in zip(tasks, bare):
            if args.protocol == "invivo":
                assert np.allclose(res1[t]["soma_mV"], b, atol=1e-3), "bare loop differs"
            else:
                assert np.allclose(res1[t]["local"], b[:, 0]) and np.allclose(res1[t]["soma"], b[:, 1]), \
                    "bare loop differs"
        for name, row in rows.items():
            if name not in best or row[0] < best[name][0]:
                best[name] = row
    print(f"{'best of ' + str(args.rounds):32s} {'seconds':>8s} {'sims':>5s} {'sims/s':>7s} {'CPU s/sim':>9s}")
    for name, (s, k, cpu) in best.items():
        print(f"{name:32s} {s:8.1f} {k:5d} {k / s:7.2f} {cpu / k:9.3f}")
    (sb, nb, cb), (s1, n1, c1), (s2, n2, c2) = best.values()
    print(f"1 worker / bare: {100 * (n1 / s1) / (nb / sb):.0f} % of sims/s (target >= 90 %), "
          f"{100 * (cb / nb) / (c1 / n1):.0f} % by CPU time per simulation")
    print(f"2 workers / 1 worker: {(n2 / s2) / (n1 / s1):.2f}x (target >= 1.8x); results of 1 and 2 workers "
          f"identical: {same}; load average {os.getloadavg()[0]:.2f} at end")
    _markdown.write(args.markdown, "Characterization runner speed (`benchmarks/characterize_speed.py`)",
                    _markdown.table(["best of " + str(args.rounds), "seconds", "simulations", "sims/s", "CPU s/sim"],
                                    [[name, f"{s:.1f}", k, f"{k / s:.2f}", f"{cpu / k:.3f}"]
                                     for name, (s, k, cpu) in best.items()]),
                    [f"{args.cell}, {what}. 1 worker / bare loop: "
                     f"{100 * (n1 / s1) / (nb / sb):.0f} % of sims/s (target >= 90 %); 2 workers / 1 worker: "
                     f"{(n2 / s2) / (n1 / s1):.2f}x (target >= 1.8x); results of 1 and 2 workers identical: {same}; "
                     f"load average {os.getloadavg()[0]:.2f} at end."], host)


if __name__ == "__main__":
    main()
