"""Characterize a detailed cell: protocols -> simulation tasks -> one netCDF file.

    from bridge.characterize import characterize, Settings
    characterize("l5pc", "l5pc.nc", protocols=["integration"], settings=Settings(branches=2))
    from bridge.schema import open_characterization
    groups = open_characterization("l5pc.nc")          # {"integration": xarray.Dataset}

Layout: `protocols` plans tasks from the morphology (seeded) and assembles their results
into the ``bridge.characterization`` groups (`bridge.schema`); `tasks` runs one task
(a pure function of its description) through the cell's public simulation interface;
`runner` executes tasks in a local process pool or on a Dask cluster; `store` keeps one
checkpoint file per finished task, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import datetime as _dt
import os
import sys
import time

from bridge.characterize.protocols import (CONDITIONS, DEFAULT_BRANCHES, INVIVO_CONDITIONS, LONG_PROTOCOLS,
                                           PLACEMENTS, PROTOCOLS, Context, Settings, default_protocols)
from dendritic_errors import InputError

__all__ = ["CONDITIONS", "DEFAULT_BRANCHES", "PLACEMENTS", "PROTOCOLS", "Settings", "characterize",
           "parse_protocols", "prepare"]


def _version(dist: str) -> str:
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def parse_protocols(spec, cell: str) -> tuple[str, ...]:
    """Protocol names -> canonical tuple. "standard" (the default): every protocol the cell
    type supports except the long whole-cell drives (`LONG_PROTOCOLS`: cluster_dispersion,
    invivo, tens of minutes each); "all": every protocol it supports."""
    if spec is None:
        spec = "standard"
    names = [p.strip() for p in (spec.split(",") if isinstance(spec, str) else spec) if p.strip()]
    if "all" in names:
        return default_protocols(cell)
    if "standard" in names:
        return tuple(p for p in default_protocols(cell) if p not in LONG_PROTOCOLS)
    unknown = [p for p in names if p not in PROTOCOLS]
    if unknown or not names:
        raise InputError(f"unknown protocol(s) {', '.join(unknown) or '(none given)'}: choose from "
                         f"{', '.join(PROTOCOLS)}, standard or all")
    supported = default_protocols(cell)
    unsupported = [p for p in names if p not in supported]
    if unsupported:
        raise InputError(f"cell type {cell!r} does not support protocol(s) {', '.join(unsupported)} "
                         f"(supported: {', '.join(supported)})")
    return tuple(p for p in PROTOCOLS if p in names)      # canonical order


def _check_settings(s: Settings) -> None:
    if s.n_synapses < 1:
        raise InputError(f"--synapses must be >= 1, got {s.n_synapses}")
    if s.n_patterns < 2:
        raise InputError(f"--patterns must be >= 2, got {s.n_patterns}")
    if s.pattern_branches < 1 or s.pattern_synapses < 1:
        raise InputError(f"--pattern-branches and --pattern-synapses must be >= 1, got {s.pattern_branches} and "
                         f"{s.pattern_synapses}")
    if s.dispersion_placements < 1:
        raise InputError(f"--dispersion-placements must be >= 1, got {s.dispersion_placements}")
    if s.invivo_simulations < 1 or not s.invivo_duration_ms >= 10:
        raise InputError(f"--invivo-sims must be >= 1 and --invivo-ms >= 10, got {s.invivo_simulations} and "
                         f"{s.invivo_duration_ms:g}")
    bad = [c for c in s.invivo_conditions if c not in INVIVO_CONDITIONS]
    if bad or not s.invivo_conditions:
        raise InputError(f"unknown invivo condition(s) {', '.join(bad) or '(none given)'}: choose from "
                         f"{', '.join(INVIVO_CONDITIONS)}")
    if not s.dispersion_duration_ms > 0:
        raise InputError(f"--dispersion-ms must be > 0, got {s.dispersion_duration_ms}")
    if s.dispersion_curve_context is not None and s.dispersion_curve_context < 0:
        raise InputError(f"--dispersion-curve-context must be >= 0, got {s.dispersion_curve_context}")
    if not s.dispersion_weight_scale > 0:
        raise InputError(f"--dispersion-weight-scale must be > 0, got {s.dispersion_weight_scale}")
    bad = [c for c in s.conditions if c not in CONDITIONS]
    if bad or not s.conditions:
        raise InputError(f"unknown condition(s) {', '.join(bad) or '(none given)'}: choose from {', '.join(CONDITIONS)}")
    bad = [p for p in s.placements if p not in PLACEMENTS]
    if bad or not s.placements:
        raise InputError(f"unknown placement(s) {', '.join(bad) or '(none given)'}: choose from {', '.join(PLACEMENTS)}")


def prepare(cell: str, morphology=None, simulator: str = "neuron", protocols="standard",
            settings: Settings | None = None, dt_ms: float = 0.025, recipe_file=None):
    """Check the inputs and plan the run: returns (Context, tasks). No simulation, no files.
    `recipe_file`: an adapted recipe (`bridge adapt`) to run instead of the type's own."""
    from bridge.characterize.protocols import plan
    from bridge.characterize.tasks import RunConfig
    from cells import SIMULATORS, get_cell_type, load_morphology

    cell_type = get_cell_type(cell)                   # InputError for an unknown cell
    recipe = cell_type.recipe
    if recipe_file is not None:
        from cells.adapt import read_adapted

        recipe_file = os.path.abspath(os.fspath(recipe_file))
        adapted = read_adapted(recipe_file)
        if adapted.cell != cell:
            raise InputError(f"--recipe {recipe_file}: adapted for {adapted.cell}, not {cell}")
        recipe = adapted.recipe
    if simulator not in SIMULATORS:
        raise InputError(f"unknown simulator {simulator!r}: choose one of {', '.join(SIMULATORS)}")
    if not dt_ms > 0:
        raise InputError(f"--dt must be > 0, got {dt_ms}")
    settings = settings or Settings()
    _check_settings(settings)
    protos = parse_protocols(protocols, cell)
    if morphology is not None:
        morphology = os.path.abspath(os.fspath(morphology))
        if not os.path.isfile(morphology):
            raise InputError(f"{morphology}: no such morphology file")
    try:
        morph = load_morphology(cell, morphology)
    except ValueError as err:       # SWC errors: "file:line: problem"
        raise InputError(str(err)) from None
    if recipe_file is not None and adapted.morphology_sha256 != morph.sha256:
        import warnings

        from dendritic_errors import InputWarning

        warnings.warn(f"--recipe {os.path.basename(recipe_file)} was adapted on another tree "
                      f"({adapted.morphology_source}); characterizing it on {morph.source}", InputWarning)
    from cells.mechanisms import mechanism_key

    config = RunConfig(cell=cell, morphology=morphology, morphology_sha256=morph.sha256,
                       recipe_sha256=recipe.sha256(), simulator=simulator, dt_ms=float(dt_ms),
                       seed=int(settings.seed), mechanisms_key=mechanism_key(), recipe_file=recipe_file)
    ctx = Context(config=config, morphology=morph, recipe=recipe, settings=settings, protocols=protos,
                  cell_type=cell_type)
    return ctx, plan(ctx)


def provenance(ctx: Context) -> dict:
    c = ctx.config
    return {
        "project_version": _version("dendritic-bridge"),
        "simulator": c.simulator,
        "simulator_version": _version("neuron" if c.simulator == "neuron" else c.simulator),
        "cell": c.cell,
        "morphology_source": "builtin" if c.morphology is None else c.morphology,
        "morphology_sha256": c.morphology_sha256,
        "recipe_sha256": c.recipe_sha256,
        "recipe_file": "" if c.recipe_file is None else os.path.basename(c.recipe_file),
        "mechanisms_key": c.mechanisms_key,     # hash of the .mod files (+ NEURON version, machine)
        "seed": int(c.seed),
        "dt_ms": float(c.dt_ms),
        "temperature_C": float(ctx.recipe.temperature_C),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _after_failure(store, existed: bool, keys: set, err: BaseException) -> None:
    """A run stopped: keep what was computed, leave nothing else behind.

    No task of this run checkpointed and the folder is this run's own: remove it (a failed
    start leaves no trace). Otherwise keep it and add a note to the error (the command line
    prints notes on the error's line) saying how much a rerun resumes from."""
    try:
        n_done = len(store.keys() & keys)
        if n_done == 0 and not existed:
            store.remove()
        elif n_done:
            err.add_note(f"{n_done} of {len(keys)} tasks are checkpointed in {store.folder}; "
                         f"rerun the same command to resume")
    except Exception:     # never hide the original error behind a clean-up problem
        pass


def characterize(cell: str, output, morphology=None, simulator: str = "neuron", protocols="standard",
                 settings: Settings | None = None, dt_ms: float = 0.025, workers: int | None = None,
                 scheduler: str | None = None, progress: bool = True, say=None, recipe_file=None) -> dict:
    """Run the protocols and write `output` (netCDF, one group per protocol).

    Resumes from ``output + ".parts"`` when an earlier run of the same command was
    interrupted. Returns a summary: tasks, simulations, computed tasks, seconds.
    """
    from bridge.characterize.protocols import assemble
    from bridge.characterize.runner import connect, execute
    from bridge.characterize.store import PartStore
    from bridge.schema import write_characterization

    say = say or (lambda msg: print(msg, file=sys.stderr, flush=True))
    output = os.fspath(output)
    if os.path.exists(output):
        raise InputError(f"{output} already exists; remove it or choose another -o")
    if os.path.isdir(os.path.dirname(os.path.abspath(output))) is False and \
            os.path.exists(os.path.dirname(os.path.abspath(output))):
        raise InputError(f"{os.path.dirname(output)} is not a folder")
    if workers is not None and workers < 0:
        raise InputError(f"--workers must be >= 0, got {workers}")
    t_start = time.perf_counter()
    ctx, tasks = prepare(cell, morphology, simulator, protocols, settings, dt_ms, recipe_file=recipe_file)
    client = connect(scheduler) if scheduler else None
    store = PartStore.for_output(output)
    existed = store.exists()
    keys = {t.key(ctx.config) for t in tasks}
    try:
        store.create({**ctx.config.as_dict(), "protocols": list(ctx.protocols)})
        n_sims = sum(t.n_sims for t in tasks)
        where = (f"Dask scheduler {scheduler}" if client else "this process" if workers == 0
                 else f"{workers or os.cpu_count()} local worker(s)")
        say(f"characterize {cell} ({ctx.config.simulator}): {', '.join(ctx.protocols)}; "
            f"{len(tasks)} tasks, {n_sims} simulations on {where}")
        before = set(store.keys())
        results = execute(ctx.config, tasks, store, workers=workers, client=client, progress=progress, say=say)
        groups = assemble(ctx, results)
        attrs = provenance(ctx)
        write_characterization(groups, attrs, output)
    except BaseException as err:     # a task failed, Ctrl-C, the write failed ...
        _after_failure(store, existed, keys, err)
        raise
    finally:
        if client is not None:
            client.close()
    store.remove()
    seconds = time.perf_counter() - t_start
    summary = {"tasks": len(tasks), "simulations": n_sims, "resumed_tasks": len(before & keys),
               "seconds": seconds, "output": output}
    say(f"wrote {output}: {n_sims} simulations ({len(tasks)} tasks, {len(before & keys)} resumed) "
        f"in {seconds:.0f} s")
    return summary
