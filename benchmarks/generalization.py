"""Does a cell recipe stay physiological on trees it was not tuned on? `bridge validate
--fast` of one cell type on a set of morphologies: built-in trees over several seeds, the
shared reconstructions of that type when present, and altered copies of each
(cells.morphology.variants: trunk length and dendritic diameters x0.7 / x1.3, 20 % of the
terminal branches pruned).

    .venv/bin/python benchmarks/generalization.py --cell l5pc -o /tmp/gen [--quick] [--workers 2] \
        [--seeds 0,1,2] [--simulator brian2] [--adapt] [--markdown [FILE]]
    # default FILE: docs/benchmarks/generalization_<cell>.md (_<cell>_brian2.md with --simulator brian2)

--adapt [NAME ...]: every tree that fails a target (or the named ones) is then adapted (`bridge adapt`: CMA-ES on the cell
type's free parameters, `--workers` evaluations at a time, `--max-generations`) and the
adapted cell validated again; the table gets the adapted result, the scales and the cost.
A tree whose recipe was already adapted in the other simulator (its .recipe.json in the
same folder) is not adapted again: that recipe is validated in this simulator, since one
recipe drives both. Once both simulators' records are in the folder, the table is followed
by a summary: does one recipe (the cell's own or the adapted one) pass in both?

Each morphology's report is saved as JSON in the output folder as soon as it is done, so
a killed run resumes where it stopped (same command). `--workers N` validates N
morphologies at a time in a local process pool. --quick: two built-in seeds, and of each
reconstruction the original and its trunk x0.7 copy.

Shared reconstructions are `<cell>_*.swc` in `--shared` (default: morphologies/ in
$BRIDGE_SHARED_DIR, as for the tests, or ../shared/morphologies next to the project); the benchmark runs without them (built-in trees only) and says so.
The table gives, per morphology, the main bifurcation's path distance, the passive
dendritic load seen from the soma (cells.compartments.dendritic_load_nS), the targets
passed, and every failed feature with its measured value and target.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import _markdown

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.environ.get("BRIDGE_SHARED_DIR", os.path.join(os.path.dirname(ROOT), "shared")),
                      "morphologies")


def morphology_set(cell: str, shared: str, quick: bool, seeds=None) -> tuple[dict, list[str]]:
    """name -> (kind, spec) for `load`; and notes (e.g. no shared reconstructions).
    `seeds`: the built-in trees' seeds (default 0-2, or 0-1 with `quick`)."""
    out, notes = {}, []
    for seed in seeds if seeds is not None else (0, 1) if quick else (0, 1, 2):
        out[f"built-in seed {seed}"] = ("builtin", seed)
    files = sorted(glob.glob(os.path.join(shared, f"{cell}_*.swc"))) if shared else []
    if not files:
        notes.append(f"No shared {cell} reconstructions in {shared}: built-in trees only.")
    changes = ("trunk_x0.7",) if quick else ("trunk_x0.7", "trunk_x1.3", "diam_x0.7", "diam_x1.3", "pruned_20%")
    for path in files:
        stem = os.path.splitext(os.path.basename(path))[0]
        out[stem] = ("file", (path, None))
        for change in changes:
            out[f"{stem} {change}"] = ("file", (path, change))
    return out, notes


def load(cell: str, kind: str, spec):
    from cells import get_cell_type, load_morphology
    from cells.morphology.variants import variants

    if kind == "builtin":
        return get_cell_type(cell).builtin_morphology(spec)
    path, change = spec
    m = load_morphology(cell, path)
    return variants(m)[change] if change else m


def run_one(cell: str, name: str, kind: str, spec, simulator: str, out_dir: str) -> dict:
    """Validate one morphology; the record saved as JSON (atomically) in `out_dir`."""
    from cells import get_cell_type
    from cells.compartments import dendritic_load_nS
    from cells.distributions import morphology_context
    from cells.validation import validate

    m = load(cell, kind, spec)
    recipe = get_cell_type(cell).recipe
    start = time.perf_counter()
    report = validate(cell, morphology=m, simulator=simulator, fast=True)
    rows = report_rows(report)
    rec = dict(cell=cell, morphology=name, simulator=simulator, sha256=m.sha256,
               nexus_um=morphology_context(m).nexus_distance_um, load_nS=dendritic_load_nS(recipe, m),
               n_passed=sum(r["passed"] for r in rows), n_targets=len(rows), rows=rows,
               seconds=time.perf_counter() - start)
    path = record_path(out_dir, cell, simulator, name)
    save_record(rec, path)
    return rec


def report_rows(report) -> list[dict]:
    """A validation report's rows as plain dicts, as the JSON records keep them."""
    return [dict(feature=r.feature, target=r.target, measured=r.measured, passed=r.passed, unit=r.unit)
            for r in report.rows]


def load_record(path: str) -> dict | None:
    """A saved record, or None if there is none yet."""
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return json.load(fh)


def save_record(rec: dict, path: str) -> None:
    """Write one tree's record atomically: a killed run leaves no half-written JSON to resume from."""
    with open(path + ".tmp", "w") as fh:
        json.dump(rec, fh, indent=1)
    os.replace(path + ".tmp", path)


def record_path(out_dir: str, cell: str, simulator: str, name: str, suffix: str = ".json") -> str:
    return os.path.join(out_dir, f"{cell}-{simulator}-{name.replace(' ', '_').replace('%', 'pct')}{suffix}")


def _search(cell: str, rec: dict) -> str:
    """', from a given start, varying X, Y' when the adapted recipe's search did not start at
    the recipe or varied only some parameters (read from its file, if it is there)."""
    from cells import get_cell_type

    opt = (load_record(rec.get("recipe_file", "")) or {}).get("optimizer", {})
    params = get_cell_type(cell).free_parameters
    moved = any(opt.get("start", {}).get(p.name, p.neutral) != p.neutral for p in params)
    some = opt.get("free") is not None and len(opt["free"]) < len(params)
    return ((", from a given start (--start)" if moved else "")
            + (f", varying {', '.join(opt['free'])} (--free)" if some else ""))


def adapt_one(cell: str, name: str, kind: str, spec, simulator: str, out_dir: str, workers: int,
              max_generations: int, start_dir: str | None = None, free: tuple | None = None,
              start_values: dict | None = None) -> dict:
    """Adapt the recipe to one morphology and validate it (bridge adapt); the record saved as JSON.
    `start_dir`: an earlier run's folder; its adapted recipe for this tree, if any, is where the
    search starts (`bridge adapt --start`); else `start_values`, if given. `free`: the parameters
    it varies (`--free`)."""
    from bridge.commands.adapt import adapt_and_validate
    from cells.adapt import AdaptSettings, read_adapted

    m = load(cell, kind, spec)
    earlier = start_dir and record_path(start_dir, cell, simulator, name, ".recipe.json")
    if earlier and os.path.exists(earlier):
        start_values = read_adapted(earlier).scales
    start = time.perf_counter()
    recipe_file = record_path(out_dir, cell, simulator, name, ".recipe.json")
    settings = AdaptSettings(seed=0, max_generations=max_generations, start=start_values, free=free)
    document, report = adapt_and_validate(cell, m, recipe_file, simulator, settings, workers=workers)
    rows = report_rows(report)
    rec = dict(cell=cell, morphology=name, simulator=simulator, sha256=m.sha256, scales=document["scales"],
               evaluations=document["optimizer"]["evaluations"], generations=document["optimizer"]["generations"],
               n_passed=sum(r["passed"] for r in rows), n_targets=len(rows), rows=rows, recipe_file=recipe_file,
               seconds=time.perf_counter() - start)
    path = record_path(out_dir, cell, simulator, name, ".adapted.json")
    save_record(rec, path)
    return rec


SIMULATORS = ("neuron", "brian2")


def recheck_one(cell: str, name: str, kind: str, spec, simulator: str, out_dir: str, recipe_file: str) -> dict:
    """Validate in `simulator` a recipe that `bridge adapt` fitted in the other simulator (one
    recipe drives both: the adapted cell is checked, not adapted again); the record saved as JSON."""
    from cells.adapt import read_adapted
    from cells.validation import validate

    m = load(cell, kind, spec)
    adapted = read_adapted(recipe_file)
    start = time.perf_counter()
    report = validate(cell, morphology=m, simulator=simulator, fast=True, recipe=adapted.recipe)
    rows = report_rows(report)
    opt = adapted.document["optimizer"]
    rec = dict(cell=cell, morphology=name, simulator=simulator, sha256=m.sha256, scales=adapted.scales,
               evaluations=opt["evaluations"], generations=opt["generations"], adapted_in=adapted.document["simulator"],
               n_passed=sum(r["passed"] for r in rows), n_targets=len(rows), rows=rows, recipe_file=recipe_file,
               seconds=time.perf_counter() - start)
    save_record(rec, record_path(out_dir, cell, simulator, name, ".adapted.json"))
    return rec


def both_simulators(out_dir: str, cell: str, names) -> tuple[list[list[str]], str] | None:
    """Rows of the two-simulator summary, and its sentence; None unless every tree has a
    record in both. A tree passes in both when one recipe, the cell's own or the adapted
    one, passes every target in NEURON and in Brian2."""
    def read(simulator, name, suffix=".json"):
        return load_record(record_path(out_dir, cell, simulator, name, suffix))

    def cell_text(rec):
        return "-" if rec is None else f"{rec['n_passed']}/{rec['n_targets']}"

    def ok(rec):
        return rec is not None and rec["n_passed"] == rec["n_targets"]

    rows, n_both, n_rows, differ = [], 0, 0, []
    for name in names:
        direct = {sim: read(sim, name) for sim in SIMULATORS}
        if any(r is None for r in direct.values()):
            return None
        adapted = {sim: read(sim, name, ".adapted.json") for sim in SIMULATORS}
        for pair in (direct, adapted):
            if all(pair[s] is not None for s in SIMULATORS):
                other = {r["feature"]: r["passed"] for r in pair["brian2"]["rows"]}
                for r in pair["neuron"]["rows"]:
                    n_rows += 1
                    if other.get(r["feature"]) != r["passed"]:
                        differ.append(f"{name}: {r['feature']}")
        own = all(ok(direct[s]) for s in SIMULATORS)
        fitted = all(ok(adapted[s]) for s in SIMULATORS)
        n_both += own or fitted
        rows.append([name, cell_text(direct["neuron"]), cell_text(adapted["neuron"]), cell_text(direct["brian2"]),
                     cell_text(adapted["brian2"]),
                     "yes (own recipe)" if own else "yes (adapted)" if fitted else "no"])
    return rows, (f"{n_both} of {len(rows)} morphologies pass every target in both simulators with one recipe. "
                  f"NEURON and Brian2 disagree on {len(differ)} of {n_rows} target rows"
                  + (f" ({'; '.join(differ)})." if differ else "."))


def _failed(rec: dict) -> str:
    parts = []
    for r in rec["rows"]:
        if not r["passed"]:
            value = ("yes" if r["measured"] == 1.0 else "no") if r["unit"] == "bool" else f"{r['measured']:.3g}"
            parts.append(f"{r['feature']} {value} ({r['target']})")
    return "; ".join(parts) or "-"


def _seed_list(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be integers separated by commas, got {text!r}") from None
    if any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError(f"seeds must be >= 0, got {text!r}")
    return seeds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cell", required=True, choices=["l5pc", "ca1"])
    ap.add_argument("-o", "--out-dir", required=True, help="folder of per-morphology JSON records (resumable)")
    ap.add_argument("--simulator", default="neuron", choices=["neuron", "brian2"])
    ap.add_argument("--quick", action="store_true", help="2 built-in seeds; each reconstruction and its trunk x0.7 copy")
    ap.add_argument("--shared", default=SHARED, help="folder of shared reconstructions (<cell>_*.swc)")
    ap.add_argument("--seeds", type=_seed_list, default=None, metavar="S,S,...",
                    help="seeds of the built-in trees (default 0,1,2; 0,1 with --quick)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--only", nargs="*", help="validate only these morphology names")
    ap.add_argument("--adapt", nargs="*", metavar="NAME",
                    help="adapt the recipe to every tree that fails (or only to the named ones), then validate")
    ap.add_argument("--max-generations", type=int, default=10, help="--adapt: CMA-ES generations at most")
    ap.add_argument("--start-dir", metavar="DIR", help="--adapt: start each tree's search from the recipe an earlier "
                    "run adapted for it in DIR (bridge adapt --start)")
    ap.add_argument("--start", metavar="NAME=VALUE,...", help="--adapt: where the search starts for trees "
                    "--start-dir has no recipe for (bridge adapt --start)")
    ap.add_argument("--free", type=lambda v: tuple(n for n in v.split(",") if n), metavar="NAME,NAME",
                    help="--adapt: vary only these free parameters (bridge adapt --free)")
    _markdown.add_argument(ap, "generalization_CELL")
    args = ap.parse_args(argv)
    if args.markdown:
        suffix = "" if args.simulator == "neuron" else f"_{args.simulator}"
        args.markdown = args.markdown.replace("generalization_CELL.md", f"generalization_{args.cell}{suffix}.md")

    start_machine = _markdown.machine()
    os.makedirs(args.out_dir, exist_ok=True)
    todo, notes = morphology_set(args.cell, args.shared, args.quick, args.seeds)
    if args.only:
        todo = {k: v for k, v in todo.items() if k in args.only}
    records, pending = {}, []
    for name, (kind, spec) in todo.items():
        rec = load_record(record_path(args.out_dir, args.cell, args.simulator, name))
        if rec is not None:
            records[name] = rec
        else:
            pending.append((name, kind, spec))
    print(f"{args.cell} ({args.simulator}): {len(todo)} morphologies, {len(records)} done before, "
          f"{len(pending)} to validate", file=sys.stderr, flush=True)
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        futures = {name: pool.submit(run_one, args.cell, name, kind, spec, args.simulator, args.out_dir)
                   for name, kind, spec in pending}
        for name, fut in futures.items():
            rec = fut.result()
            records[name] = rec
            print(f"{name:34s} {rec['n_passed']:2d}/{rec['n_targets']} in {rec['seconds']:.0f} s: {_failed(rec)}",
                  flush=True)

    from bridge.commands.adapt import parse_start

    adapted, rechecks = {}, []
    for name, (kind, spec) in todo.items() if args.adapt is not None else ():
        if records[name]["n_passed"] == records[name]["n_targets"] or (args.adapt and name not in args.adapt):
            continue
        rec = load_record(record_path(args.out_dir, args.cell, args.simulator, name, ".adapted.json"))
        if rec is not None:
            adapted[name] = rec
            continue
        fitted = [f for f in (record_path(args.out_dir, args.cell, sim, name, ".recipe.json") for sim in SIMULATORS
                              if sim != args.simulator) if os.path.exists(f)]
        if fitted:                # adapted in the other simulator: validate that recipe here, in the pool below
            rechecks.append((name, kind, spec, fitted[0]))
            continue
        print(f"{name}: adapting ...", file=sys.stderr, flush=True)
        rec = adapt_one(args.cell, name, kind, spec, args.simulator, args.out_dir, args.workers, args.max_generations,
                        args.start_dir, args.free, args.start and parse_start(args.start, args.cell))
        adapted[name] = rec
        print(f"{name:34s} adapted: {rec['n_passed']:2d}/{rec['n_targets']} after {rec['evaluations']} evaluations "
              f"in {rec['seconds']:.0f} s: {_failed(rec)}", flush=True)
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        futures = {name: pool.submit(recheck_one, args.cell, name, kind, spec, args.simulator, args.out_dir, recipe)
                   for name, kind, spec, recipe in rechecks}
        for name, fut in futures.items():
            adapted[name] = rec = fut.result()
            print(f"{name:34s} recipe adapted in {rec['adapted_in']}: {rec['n_passed']:2d}/{rec['n_targets']} in "
                  f"{rec['seconds']:.0f} s: {_failed(rec)}", flush=True)

    from cells import get_cell_type
    from cells.adapt import describe_values

    rows = []
    for name in todo:
        rec = records[name]
        row = [name, f"{rec['nexus_um']:.0f}", f"{rec['load_nS']:.1f}",
               f"{rec['n_passed']}/{rec['n_targets']}", f"{rec['seconds']:.0f}", _failed(rec).replace("|", "\\|")]
        if args.adapt is not None:
            a = adapted.get(name)
            row += (["-", "-", "-", "-"] if a is None else
                    [f"{a['n_passed']}/{a['n_targets']}",
                     describe_values(get_cell_type(args.cell).free_parameters, a["scales"]),
                     (f"{a['evaluations']} in {a['adapted_in']} (its recipe validated here)" if "adapted_in" in a
                      else f"{a['evaluations']} in {a['seconds'] / 60:.0f} min") + _search(args.cell, a),
                     _failed(a).replace("|", "\\|")])
        rows.append(row)
    n_all = sum(r["n_passed"] == r["n_targets"] for r in records.values())
    summary = f"{n_all} of {len(todo)} morphologies pass every target."
    if args.adapt is not None:
        n_adapted = sum(a["n_passed"] == a["n_targets"] for a in adapted.values())
        n_failing = len(todo) - n_all
        summary += (f" {len(adapted)} of the {n_failing} failing were adapted (`bridge adapt`), and {n_adapted} of "
                    f"those pass every target after it: {n_all + n_adapted} of {len(todo)} in all.")
    print(summary)
    header = ["morphology", "nexus (um)", "dendritic load (nS)", "targets passed", "s", "failed: measured (target)"]
    if args.adapt is not None:
        header += ["adapted: passed", "scales", "evaluations, time", "adapted: failed"]
    lines = _markdown.table(header, rows) + ["", summary]
    both = both_simulators(args.out_dir, args.cell, list(todo))
    if both:
        print(both[1])
        lines += ["", "Both simulators (records in the same folder): targets passed by the cell's own recipe and by "
                  "the adapted one (fitted in NEURON, validated in each).", "",
                  *_markdown.table(["morphology", "NEURON", "NEURON, adapted", "Brian2", "Brian2, adapted recipe",
                                    "one recipe passes in both"], both[0]), "", both[1]]
    _markdown.write(args.markdown, f"Generalization: {args.cell} on trees it was not tuned on "
                    f"({args.simulator}, `validate --fast`)", lines,
                    notes=notes + ["Variants: cells.morphology.variants (trunk branches stretched, dendritic "
                                   "diameters scaled, 20 % of terminal branches pruned, seed 0). Nexus: path "
                                   "distance of the main apical bifurcation; dendritic load: passive input "
                                   "conductance of the dendrites seen from the soma; s: wall time of the "
                                   "validation (one worker per tree; other jobs shared the cores)."],
                    start_machine=start_machine)
    n_pass = n_all + sum(a["n_passed"] == a["n_targets"] for a in adapted.values())
    return 0 if n_pass == len(todo) else 1


if __name__ == "__main__":
    sys.exit(main())
