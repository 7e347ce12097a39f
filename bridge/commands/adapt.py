"""Adapt a cell type's recipe to your reconstruction, for what the recipe cannot carry.

Fits the cell type's free parameters (a few channel-density scales and leak-reversal
shifts, each with bounds; see `cells.adapt` and the cell's recipe module) to its own validation targets with CMA-ES,
then validates the adapted cell on every target (`--fast` protocols) and writes it as a
JSON recipe: the scales, the morphology's and base recipe's hashes, the targets and their
z-scores, the optimizer's settings, the history, and the final validation.
`bridge validate|characterize CELL --recipe FILE` then use it.

The recipe unchanged is tried first: if it already passes the objective's targets, nothing is
fitted. Each evaluation runs the free parameters' validation protocols (l5pc: f-I, bAP,
BAC; about a minute) on the local pool or a Dask cluster; every result is logged in
FILE.parts/ as it arrives, so a killed run resumes (same command) without recomputing.
Exit 0 when the adapted cell passes every validation target, 1 when some still fail (the
file is written all the same), 2 on bad input.

examples:
  bridge adapt l5pc --morphology my_l5.swc -o my_l5.recipe.json
  bridge adapt l5pc --morphology my_l5.swc -o my_l5.recipe.json --max-generations 6 --workers 2
  bridge adapt l5pc --morphology my_l5.swc -o my_l5.v2.recipe.json --start my_l5.recipe.json --free leak_reversal
  bridge validate l5pc --recipe my_l5.recipe.json --fast
"""
from __future__ import annotations

import json
import os
import shutil
import sys

NAME = "adapt"
HELP = "fit a recipe's free parameters to your reconstruction (CMA-ES)"


def add_arguments(parser) -> None:
    from cells.adapt import AdaptSettings

    d = AdaptSettings()
    parser.add_argument("cell", help="cell model: l5pc or ca1")
    parser.add_argument("--morphology", metavar="FILE.swc", help="SWC reconstruction (default: the built-in tree)")
    parser.add_argument("-o", "--output", required=True, metavar="RECIPE.json", help="adapted recipe to write")
    parser.add_argument("--simulator", default="neuron", choices=["neuron", "brian2"],
                        help="simulator backend (default: neuron)")
    add_optimizer_arguments(parser, d)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing RECIPE.json")


def add_optimizer_arguments(parser, d) -> None:
    """The optimizer and pool options, shared with `bridge validate --adapt`."""
    parser.add_argument("--seed", type=int, default=d.seed, help=f"optimizer seed (default {d.seed})")
    parser.add_argument("--max-generations", type=int, default=d.max_generations, metavar="N",
                        help=f"CMA-ES generations at most (default {d.max_generations})")
    parser.add_argument("--popsize", type=int, metavar="N", help="candidates per generation (default: CMA-ES's "
                        "4 + 3 ln(number of free parameters))")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="local worker processes (default: all cores; 0: in this process)")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on this Dask distributed scheduler")
    parser.add_argument("--start", metavar="RECIPE.json|NAME=VALUE,...", help="start the search from an earlier "
                        "adapted recipe's values (e.g. one adapted before a free parameter was added), or from the "
                        "values given; those not given start at the recipe's")
    parser.add_argument("--free", metavar="NAME,NAME", help="vary only these free parameters; the others stay at "
                        "the start (default: all the cell type declares)")


def settings_from(args):
    from cells.adapt import AdaptSettings
    from dendritic_errors import InputError

    if args.max_generations < 1:
        raise InputError(f"--max-generations must be >= 1, got {args.max_generations}")
    if args.popsize is not None and args.popsize < 2:
        raise InputError(f"--popsize must be >= 2, got {args.popsize}")
    if args.workers is not None and args.workers < 0:
        raise InputError(f"--workers must be >= 0, got {args.workers}")
    start = parse_start(args.start, args.cell) if args.start else None
    free = None
    if args.free is not None:
        from cells import get_cell_type

        free = tuple(n.strip() for n in args.free.split(",") if n.strip())
        names = [p.name for p in get_cell_type(args.cell).free_parameters]
        unknown = [n for n in free if n not in names]
        if unknown:
            raise InputError(f"--free: unknown free parameter(s) {', '.join(unknown)} for {args.cell}: "
                             f"choose from {', '.join(names)}")
        if len(free) < 2:
            raise InputError(f"--free: CMA-ES needs at least 2 parameters to vary (cma does not support 1-D), "
                             f"got {len(free)}")
    return AdaptSettings(seed=args.seed, max_generations=args.max_generations, popsize=args.popsize, start=start,
                         free=free)


def parse_start(text: str, cell: str) -> dict:
    """--start: an adapted recipe file's values, or NAME=VALUE,... (names checked by `adapt`)."""
    from cells.adapt import read_adapted
    from dendritic_errors import InputError

    if "=" in text and not os.path.exists(text):
        start = {}
        for item in filter(None, (i.strip() for i in text.split(","))):
            name, _, value = item.partition("=")
            try:
                start[name.strip()] = float(value)
            except ValueError:
                raise InputError(f"--start: {item!r} is not NAME=VALUE with a number") from None
        return start
    earlier = read_adapted(text)
    if earlier.cell != cell:
        raise InputError(f"--start {text}: a {earlier.cell} recipe, not {cell}")
    return earlier.scales


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _read_log(path: str) -> dict:
    """Evaluations logged by an interrupted run (one JSON object per line; a torn last line,
    from a kill mid-write, is dropped)."""
    cache = {}
    if os.path.exists(path):
        with open(path) as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                    cache[entry["key"]] = entry["result"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue
    return cache


def adapt_and_validate(cell: str, morphology, output: str, simulator: str, settings, workers=None,
                       scheduler=None, fast: bool = True):
    """Fit, validate the adapted cell on every target (`fast` protocols by default), write
    `output`. Returns (document, report).

    Evaluations are logged in `output`.parts/ as they arrive and replayed by a rerun; the
    folder is removed once `output` is written, or after a failed start that logged nothing."""
    from bridge.characterize.runner import connect, run_each
    from cells import get_cell_type, load_morphology
    from cells.adapt import adapt, adapted_document, write_adapted
    from cells.validation import check_sites, validate

    cell_type = get_cell_type(cell)
    morph = load_morphology(cell, morphology)
    check_sites(cell_type, morph, cell_type.validation)       # refuse a tree without the sites, first
    client = connect(scheduler) if scheduler else None
    parts = f"{output}.parts"
    existed = os.path.isdir(parts)
    os.makedirs(parts, exist_ok=True)
    log_path = os.path.join(parts, "evaluations.jsonl")
    cache = _read_log(log_path)
    if cache:
        say(f"resuming: {len(cache)} evaluation(s) logged in {parts}")

    def log(key, result):
        with open(log_path, "a") as fh:
            fh.write(json.dumps({"key": key, "result": result}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def evaluate_many(fn, items, finished):
        index = {id(item): i for i, item in enumerate(items)}
        run_each(fn, items, lambda item, result: finished(index[id(item)], result), workers=workers, client=client)

    names = ", ".join(f"{p.name} [{p.low:g}, {p.high:g}]{' mV' if p.kind == 'shift_mV' else ''}"
                      for p in cell_type.free_parameters)
    where = (f"Dask scheduler {scheduler}" if client else "this process" if workers == 0
             else f"{workers or os.cpu_count()} local worker(s)")
    altered = f" [{morph.name.split('~', 1)[1]}]" if "~" in morph.name else ""   # an altered copy (variants)
    if settings.free is not None:
        names += f" (varied: {', '.join(settings.free)}; the others fixed at the start)"
    say(f"adapt {cell} on {morph.source}{altered} ({simulator}): {names}; CMA-ES seed {settings.seed}, "
        f"at most {settings.max_generations} generations, on {where}")
    try:
        result = adapt(cell, morph, simulator, settings, evaluate_many=evaluate_many, cache=cache,
                       on_evaluation=log, say=say)
        say(f"validating the adapted cell on every target{' (--fast)' if fast else ''} ...")
        from cells.adapt import apply_scales

        recipe = apply_scales(cell_type.recipe, cell_type.free_parameters, result["best"]["scales"])
        report = validate(cell, morphology=morph, simulator=simulator, fast=fast, recipe=recipe)
        rows = [{"feature": r.feature, "target": r.target, "measured": r.measured, "passed": r.passed,
                 "source": r.source} for r in report.rows]
        document = adapted_document(result, validation_rows=rows)
        write_adapted(document, output)
    except BaseException as err:
        logged = len(_read_log(log_path))
        if not existed and not logged:
            shutil.rmtree(parts, ignore_errors=True)
        elif logged:
            err.add_note(f"{logged} evaluation(s) are logged in {parts}; rerun the same command to resume")
        raise
    finally:
        if client is not None:
            client.close()
    shutil.rmtree(parts, ignore_errors=True)
    return document, report


def summary(document: dict, report) -> str:
    opt = document["optimizer"]
    from cells import get_cell_type
    from cells.adapt import describe_values

    scales = describe_values(get_cell_type(document["cell"]).free_parameters, document["scales"])
    return (f"scales: {scales}\n"
            f"objective ({', '.join(document['objective']['protocols'])}): score {document['objective']['score']:.2f}, "
            f"{document['objective']['n_failed']} failed; {opt['evaluations']} evaluations, "
            f"{opt['generations']} generation(s)\n{report.table()}")


def run(args) -> int:
    from bridge.io import check_output

    check_output(args.output, args.overwrite)
    settings = settings_from(args)
    document, report = adapt_and_validate(args.cell, args.morphology, args.output, args.simulator, settings,
                                          workers=args.workers, scheduler=args.scheduler)
    print(summary(document, report))
    print(f"wrote {args.output}")
    return 0 if report.passed else 1
