"""Adapt a cell type's recipe to a morphology it was not tuned on.

Hay, Schürmann, Markram & Segev 2013 (J Neurophysiol 109:2972) kept one model's
axo-somatic firing across many reconstructions by refitting a few conductances per tree.
Here a cell type declares a handful of free parameters (`CellType.free_parameters`): each
multiplies the densities of some channels in some regions (e.g. somatic persistent Na, the
hot zone's Ca), or shifts the leak reversal of some regions by a few mV, within bounds.
`adapt` fits them to the type's own validation targets with CMA-ES and returns the adapted
recipe; `write_adapted` / `read_adapted` keep it as JSON with its provenance (morphology
hash, base recipe hash, targets, optimizer settings, scores), so `bridge
validate|characterize --recipe FILE` rebuild exactly that cell.

Why CMA-ES through `cma` (Hansen's reference implementation): a few (3-6) continuous
parameters, a noisy and partly discontinuous objective (spike counts, yes/no criteria),
and costly evaluations (about a minute each) call for a derivative-free, population-based
optimizer that needs no tuning; `cma` is a small pure-Python package whose ask/tell loop
lets us evaluate each generation on our own process pool or Dask cluster and replay a run
from a log (resume). BluePyOpt's multi-objective evolution (what Hay et al. 2011 used)
would bring its own evaluator, parallel map and feature layer on top of the ones the
project already has.

Objective (Hay et al. 2011's z-scores): each target of the objective's protocols gives
|measured - mean| / SD; a range [lo, hi] counts as mean +- 3 SD (so "passes" is z <= 3
throughout); a one-sided bound, a count and a yes/no flag give 0 when met and 3 plus the
relative miss otherwise; a missing value gives Z_MAX. The score is the sum, each term
capped at Z_MAX, plus Z_MAX per failed target: CMA-ES uses only the ranking of a
generation, and this ranks fewer failures first, then smaller z-scores. (The plain sum
let the search trade a yes/no criterion, 3.5, against a few SDs elsewhere: on built-in
seed 1 its best candidates failed 3-4 targets where the recipe failed 2.) The protocols
are the union of the free parameters' (`--fast` versions).
"""
from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
from dataclasses import dataclass, replace
from functools import partial
from typing import Callable, Iterable

from dendritic_errors import InputError

Z_MAX = 20.0                      # one failed or missing feature counts at most this much
FORMAT = "dendritic-bridge adapted recipe"
FORMAT_VERSION = 1


KINDS = ("scale", "shift_mV")


@dataclass(frozen=True)
class FreeParameter:
    """What `bridge adapt` may change in a recipe, between `low` and `high`.

    kind "scale": a factor on the density of `mechanisms` in the recipe's channel entries
    whose regions are exactly `regions` (1.0: the recipe as published/tuned; 0 < low < 1 < high).
    kind "shift_mV": mV added to the leak reversal (`mechanisms` ("pas",)) of the recipe's
    passive entries for `regions` (0: unchanged; low < 0 < high).
    `protocols`: the validation protocols it acts on (the objective runs their union).
    `why`: the reason and source, printed in the recipe's documentation."""
    name: str
    mechanisms: tuple[str, ...]
    regions: tuple[str, ...]
    low: float
    high: float
    protocols: tuple[str, ...]
    why: str = ""
    kind: str = "scale"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise InputError(f"free parameter {self.name!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not self.low < self.neutral < self.high or (self.kind == "scale" and self.low <= 0):
            need = "0 < low < 1 < high" if self.kind == "scale" else "low < 0 < high"
            raise InputError(f"free parameter {self.name!r}: bounds must satisfy {need}, got {self.low:g}, {self.high:g}")
        if self.kind == "shift_mV" and tuple(self.mechanisms) != ("pas",):
            raise InputError(f"free parameter {self.name!r}: a shift_mV parameter moves the leak reversal, "
                             f"mechanisms must be ('pas',), got {self.mechanisms}")

    @property
    def neutral(self) -> float:
        """The value that leaves the recipe unchanged."""
        return 1.0 if self.kind == "scale" else 0.0

    def describe(self, value: float) -> str:
        return f"{self.name} x{value:.3g}" if self.kind == "scale" else f"{self.name} {value:+.2f} mV"


def describe_values(free_parameters: Iterable[FreeParameter], values: dict) -> str:
    """'soma_Nap x0.66, leak_reversal +3.90 mV' (values of parameters not declared: as numbers)."""
    params = {p.name: p for p in free_parameters}
    return ", ".join(params[k].describe(v) if k in params else f"{k} {v:.3g}" for k, v in values.items())


@dataclass(frozen=True)
class Scaled:
    """A density distribution times a factor (the adapted recipe's channels)."""
    inner: object
    factor: float

    def __call__(self, distance_um: float, context) -> float:
        return self.factor * self.inner(distance_um, context)


def apply_scales(recipe, free_parameters: Iterable[FreeParameter], scales: dict[str, float]):
    """`recipe` with each free parameter's value applied (density scales, leak-reversal
    shifts); the name gets an `+adapted` suffix. All values neutral: `recipe` itself."""
    params = {p.name: p for p in free_parameters}
    unknown = set(scales) - set(params)
    if unknown:
        raise InputError(f"unknown free parameter(s) {', '.join(sorted(unknown))} for {recipe.name}: "
                         f"choose from {', '.join(params) or '(none declared)'}")
    channels, passive = list(recipe.channels), list(recipe.passive)
    for name, value in scales.items():
        p = params[name]
        if p.kind == "shift_mV":
            hits = [i for i, (region, _) in enumerate(passive) if region in p.regions]
            if {passive[i][0] for i in hits} != set(p.regions):
                raise InputError(f"free parameter {name!r}: recipe {recipe.name} has no passive entry for "
                                 f"{', '.join(sorted(set(p.regions) - {passive[i][0] for i in hits}))}")
            for i in hits:
                region, props = passive[i]
                passive[i] = (region, replace(props, e_pas_mV=props.e_pas_mV + float(value)))
            continue
        hits = [i for i, c in enumerate(channels) if c.mechanism in p.mechanisms and tuple(c.regions) == p.regions]
        if not hits or any(channels[i].gbar is None for i in hits):
            raise InputError(f"free parameter {name!r}: recipe {recipe.name} has no density of "
                             f"{'/'.join(p.mechanisms)} in exactly {p.regions}")
        if value == 1.0:
            continue
        for i in hits:
            channels[i] = replace(channels[i], gbar=Scaled(channels[i].gbar, float(value)))
    if all(v == params[k].neutral for k, v in scales.items()):
        return recipe
    base = recipe.name.split("+")[0]
    return replace(recipe, name=f"{base}+adapted", channels=tuple(channels), passive=tuple(passive))


# ----------------------------------------------------------------------------- objective
def target_z(target, value: float) -> float:
    """How far `value` is from `target`, in SDs (Hay et al. 2011); <= 3 means it passes."""
    if value is None or math.isnan(value):
        return Z_MAX
    lo, hi = target.bounds
    if not math.isnan(target.mean):
        z = abs(value - target.mean) / target.sd
    elif math.isfinite(lo) and math.isfinite(hi) and hi > lo and target.unit != "bool":
        z = abs(value - (lo + hi) / 2) / ((hi - lo) / 6)
    elif lo <= value <= hi:
        z = 0.0
    else:
        bound = lo if value < lo else hi
        z = 3.0 + abs(value - bound) / max(abs(bound), 1.0)
    return min(z, Z_MAX)


def score(rows) -> tuple[float, int]:
    """(score, number of failed targets) of validation rows: the capped z-scores summed,
    plus Z_MAX per failed target (fewer failures rank first)."""
    n_failed = sum(not r["passed"] for r in rows)
    return sum(r["z"] for r in rows) + Z_MAX * n_failed, n_failed


def evaluate(cell: str, morphology, simulator: str, protocols: tuple[str, ...], scales: dict) -> dict:
    """Validate (fast) the adapted recipe on `protocols`: rows with z-scores, score, failures.
    A pure function of its arguments, run in worker processes."""
    from cells.types import get_cell_type
    from cells.validation import validate

    cell_type = get_cell_type(cell)
    recipe = apply_scales(cell_type.recipe, cell_type.free_parameters, scales)
    report = validate(cell, morphology=morphology, simulator=simulator, fast=True, protocols=list(protocols),
                      recipe=recipe)
    targets = cell_type.target_map
    rows = [{"feature": r.feature, "measured": r.measured, "target": r.target, "passed": r.passed,
             "z": target_z(targets[r.feature], r.measured)} for r in report.rows]
    total, n_failed = score(rows)
    return {"scales": dict(scales), "score": total, "n_failed": n_failed, "rows": rows, "seconds": report.seconds}


# ----------------------------------------------------------------------------- optimizer
@dataclass(frozen=True)
class AdaptSettings:
    seed: int = 0
    max_generations: int = 10
    popsize: int | None = None       # None: CMA-ES's default, 4 + 3 ln(n)
    sigma0: float = 0.15             # initial step, in units of each parameter's (log-)range:
                                     # the recipe is near a passing cell; 0.25 toggled the bAP (a
                                     # threshold in apical Na) back and forth (built-in seed 1)
    start: dict | None = None        # where the search starts (e.g. an earlier adaptation's values,
                                     # `bridge adapt --start`); parameters not named: neutral
    free: tuple | None = None        # names of the parameters the search varies (None: all); the
                                     # others stay at the start (`bridge adapt --free`)


def _to_unit(p: FreeParameter, value: float) -> float:
    """The optimizer's coordinate in [0, 1]: log(scale) or the shift, between the bounds."""
    if p.kind == "scale":
        return (math.log(value) - math.log(p.low)) / (math.log(p.high) - math.log(p.low))
    return (value - p.low) / (p.high - p.low)


def _from_unit(p: FreeParameter, u: float) -> float:
    u = min(max(float(u), 0.0), 1.0)
    if p.kind == "scale":
        return float(f"{math.exp(math.log(p.low) + u * (math.log(p.high) - math.log(p.low))):.6g}")
    return round(p.low + u * (p.high - p.low), 4)


def evaluation_key(run: dict, scales: dict) -> str:
    text = json.dumps({"run": run, "scales": scales}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _in_this_process(fn, items, finished) -> None:
    for i, item in enumerate(items):
        finished(i, fn(item))


def adapt(cell: str, morphology=None, simulator: str = "neuron", settings: AdaptSettings | None = None,
          evaluate_many: Callable | None = None, cache: dict | None = None, on_evaluation=None,
          say=None) -> dict:
    """Fit the free parameters of `cell` on `morphology` to its validation targets.

    `evaluate_many(fn, items, finished)` runs one generation, calling `finished(i, fn(items[i]))`
    as each result arrives (default: one after another in this process; `bridge adapt`
    passes its process pool or Dask cluster).
    `cache`: evaluation key -> result from an earlier, interrupted run (replayed, not
    recomputed); `on_evaluation(key, result)` is called for each new result (to log it).
    Stops at the first generation whose best candidate passes every objective target (the
    start, by default the unchanged recipe, is tried first), or after `max_generations`. Returns the best result
    with the run's description (`run`), the optimizer's settings and the history.
    """
    import cma

    from cells import load_morphology
    from cells.types import get_cell_type

    settings = settings or AdaptSettings()
    say = say or (lambda msg: None)
    cell_type = get_cell_type(cell)
    params = cell_type.free_parameters
    if not params:
        raise InputError(f"cell type {cell!r} declares no free parameters to adapt")
    morph = load_morphology(cell, morphology)
    protocols = tuple(p for p in cell_type.validation if any(p in fp.protocols for fp in params))
    run = {"cell": cell, "morphology_sha256": morph.sha256, "recipe_sha256": cell_type.recipe.sha256(),
           "simulator": simulator, "protocols": list(protocols),
           # what a logged evaluation means: the parameters' definitions and the score's cap
           "free_parameters": [repr(p) for p in params], "z_max": Z_MAX}
    cache = dict(cache or {})
    fn = partial(evaluate, cell, morph, simulator, protocols)
    evaluate_many = evaluate_many or _in_this_process
    history = []

    def generation(candidates: list[dict]) -> list[dict]:
        keys = [evaluation_key(run, s) for s in candidates]
        todo = list({k: s for s, k in zip(candidates, keys) if k not in cache}.items())

        def finished(i, result):
            cache[todo[i][0]] = result
            if on_evaluation:
                on_evaluation(todo[i][0], result)

        evaluate_many(fn, [s for _, s in todo], finished)
        out = [cache[k] for k in keys]
        history.append([{"scales": r["scales"], "score": r["score"], "n_failed": r["n_failed"]} for r in out])
        return out

    start = {p.name: p.neutral for p in params}
    given = dict(settings.start or {})
    unknown = sorted(set(given) - set(start))
    if unknown:
        raise InputError(f"start: unknown free parameter(s) {', '.join(unknown)} for {cell}: "
                         f"choose from {', '.join(start)}")
    for p in params:
        if p.name in given:
            value = float(given[p.name])
            if not p.low <= value <= p.high:
                raise InputError(f"start: {p.name} = {value:g} is outside its bounds [{p.low:g}, {p.high:g}]")
            start[p.name] = value
    free = [p for p in params if settings.free is None or p.name in settings.free]
    unknown = sorted(set(settings.free or ()) - set(start))
    if unknown:
        raise InputError(f"free: unknown free parameter(s) {', '.join(unknown)} for {cell}: "
                         f"choose from {', '.join(start)}")
    if len(free) < 2:      # cma: "Optimization in 1-D is not supported" (it fails in `tell` when sigma grows)
        raise InputError(f"free: CMA-ES needs at least 2 parameters to vary, got {len(free)}")
    best = generation([start])[0]
    where = "the recipe unchanged" if all(v == p.neutral for p, v in zip(params, start.values())) else \
        "the start: " + describe_values(params, start)
    say(f"generation 0 ({where}): score {best['score']:.2f}, {best['n_failed']} target(s) failed")
    n_gen = 0
    es = None
    if best["n_failed"]:
        opts = {"seed": settings.seed + 1,         # cma: seed 0 would mean "from the clock"
                "bounds": [0.0, 1.0], "verbose": -9, "verb_log": 0, "verb_disp": 0,
                "maxiter": settings.max_generations}
        if settings.popsize:
            opts["popsize"] = settings.popsize
        es = cma.CMAEvolutionStrategy([_to_unit(p, start[p.name]) for p in free], settings.sigma0, opts)
        while n_gen < settings.max_generations and not es.stop():
            xs = es.ask()
            candidates = [{**start, **{p.name: _from_unit(p, u) for p, u in zip(free, x)}} for x in xs]
            results = generation(candidates)
            es.tell(xs, [r["score"] for r in results])
            n_gen += 1
            gen_best = min(results, key=lambda r: (r["n_failed"], r["score"]))
            if (gen_best["n_failed"], gen_best["score"]) < (best["n_failed"], best["score"]):
                best = gen_best
            say(f"generation {n_gen}: best score {gen_best['score']:.2f} ({gen_best['n_failed']} failed); "
                f"so far {best['score']:.2f} ({best['n_failed']} failed) at "
                + describe_values(params, best["scales"]))
            if best["n_failed"] == 0:
                break
    optimizer = {"name": "CMA-ES", "package": f"cma {cma.__version__}", "seed": settings.seed,
                 "cma_seed": settings.seed + 1, "sigma0": settings.sigma0,
                 "popsize": es.popsize if es is not None else None,
                 "max_generations": settings.max_generations, "generations": n_gen, "start": start,
                 "free": [p.name for p in free],
                 "evaluations": sum(len(g) for g in history),
                 "parameter_space": "log(scale), or the shift in mV, mapped to [0, 1] between each "
                                    "parameter's bounds"}
    return {"run": run, "morphology": morph, "best": best, "optimizer": optimizer, "history": history}


# ----------------------------------------------------------------------------- the file
@dataclass(frozen=True)
class AdaptedRecipe:
    cell: str
    recipe: object                   # cells.recipe.CellRecipe, the scales applied
    scales: dict
    morphology_source: str
    morphology_sha256: str
    document: dict                   # the whole file


def adapted_document(result: dict, validation_rows=None) -> dict:
    """The JSON document of an `adapt` result (+ the full validation of the adapted cell)."""
    from cells.types import get_cell_type

    run, best, morph = result["run"], result["best"], result["morphology"]
    cell_type = get_cell_type(run["cell"])
    recipe = apply_scales(cell_type.recipe, cell_type.free_parameters, best["scales"])
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "cell": run["cell"],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "base_recipe_sha256": run["recipe_sha256"],
        "recipe_sha256": recipe.sha256(),
        "morphology": {"source": morph.source, "name": morph.name, "sha256": morph.sha256},
        "simulator": run["simulator"],
        "scales": best["scales"],
        "free_parameters": [{"name": p.name, "kind": p.kind, "mechanisms": list(p.mechanisms),
                             "regions": list(p.regions), "bounds": [p.low, p.high], "protocols": list(p.protocols),
                             "why": p.why}
                            for p in cell_type.free_parameters],
        "objective": {"protocols": run["protocols"], "score": best["score"], "n_failed": best["n_failed"],
                      "rows": best["rows"],
                      "definition": "sum of z-scores (Hay et al. 2011), each capped at %g, plus %g per failed "
                                    "target" % (Z_MAX, Z_MAX)},
        "optimizer": result["optimizer"],
        "history": result["history"],
        "validation": validation_rows,
    }


def write_adapted(document: dict, path) -> None:
    """Write the document atomically (a killed run leaves no half-written recipe)."""
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        json.dump(document, fh, indent=1, allow_nan=True)
        fh.write("\n")
    os.replace(tmp, path)


def read_adapted(path) -> AdaptedRecipe:
    """An adapted recipe file -> the recipe it describes; InputError (one line) if it is not
    one, names an unknown cell type, or was adapted from another version of the recipe."""
    from cells.types import get_cell_type

    path = os.fspath(path)
    try:
        with open(path) as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        raise InputError(f"{path}: no such recipe file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not an adapted recipe ({err})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"{path}: not an adapted recipe (no \"format\": \"{FORMAT}\")")
    if doc.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{path}: adapted recipe format {doc.get('format_version')!r}, this version reads "
                         f"{FORMAT_VERSION}")
    try:
        cell, scales, morph = doc["cell"], doc["scales"], doc["morphology"]
        cell_type = get_cell_type(cell)
        if doc["base_recipe_sha256"] != cell_type.recipe.sha256():
            raise InputError(f"{path}: adapted from another version of the {cell} recipe (sha256 "
                             f"{doc['base_recipe_sha256'][:12]}, this one {cell_type.recipe.sha256()[:12]}); "
                             f"run bridge adapt again")
        recipe = apply_scales(cell_type.recipe, cell_type.free_parameters,
                              {str(k): float(v) for k, v in scales.items()})
        if recipe.sha256() != doc["recipe_sha256"]:
            raise InputError(f"{path}: its scales do not give the recipe it records (sha256 mismatch)")
        return AdaptedRecipe(cell, recipe, dict(scales), str(morph["source"]), str(morph["sha256"]), doc)
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        if isinstance(err, InputError):
            raise
        raise InputError(f"{path}: adapted recipe is missing or has a malformed field ({err})") from None
