"""`bridge adapt`: a recipe's free parameters fitted to a morphology by CMA-ES (cells.adapt).

The optimizer runs for real on the toy cell of test_cell_types (a soma with NaTa/Kv3 and
passive dendrites; one f-I evaluation takes ~0.2 s) whose f-I targets here need both
somatic densities changed: the unchanged recipe fails, the adapted one must pass. The l5pc
and ca1 free parameters are checked for what they scale; a real l5pc adaptation (minutes
per evaluation) is in benchmarks/generalization.py --adapt and docs/benchmarks.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from cells import get_cell_type, register_cell_type
from cells.adapt import (Z_MAX, AdaptSettings, FreeParameter, adapt, adapted_document, apply_scales, read_adapted,
                         target_z, write_adapted)
from cells.distributions import morphology_context
from cells.types import unregister_cell_type
from cells.validation.targets import Target
from dendritic_errors import InputError

sys.path.insert(0, str(Path(__file__).parent))
from test_cell_types import TOY, TOY_RECIPE  # noqa: E402

pytestmark = pytest.mark.timeout(600)

TOY_FREE = (FreeParameter("soma_Kv3", ("Kv3",), ("soma", "axon"), 0.2, 5.0, ("fi",), "K repolarisation"),
            FreeParameter("soma_NaTa", ("NaTa",), ("soma", "axon"), 0.5, 2.0, ("fi",), "Na excitability"))
# Unchanged, the toy fires 20 / 126 Hz at steps 1 / 3 (measured): these targets need Kv3 about x0.35.
TOY_ADAPT = replace(TOY, name="toyadapt", free_parameters=TOY_FREE, validation=("passive", "fi"),
                    targets=(TOY.targets[0],
                             Target("fi_step1_hz", "Hz", "test: needs adapting", mean=42.0, sd=3.0),
                             Target("fi_step3_hz", "Hz", "test: needs adapting", mean=140.0, sd=3.0)))


@pytest.fixture(scope="module")
def toy():
    register_cell_type(TOY_ADAPT, replace=True)
    yield TOY_ADAPT
    unregister_cell_type("toyadapt")


@pytest.fixture(scope="module")
def fitted(toy):
    logged = []
    result = adapt("toyadapt", settings=AdaptSettings(seed=3, max_generations=8),
                   on_evaluation=lambda key, r: logged.append((key, r)))
    return result, logged


# ------------------------------------------------------------------ what the parameters scale
@pytest.mark.parametrize("cell", ["l5pc", "ca1"])
def test_free_parameters_scale_exactly_their_channels(cell):
    cell_type = get_cell_type(cell)
    recipe = cell_type.recipe
    morph = cell_type.builtin_morphology(0)
    ctx = morphology_context(morph)
    assert len(cell_type.free_parameters) >= 3
    for p in cell_type.free_parameters:
        adapted = apply_scales(recipe, cell_type.free_parameters, {p.name: 1.7})
        assert adapted.name == f"{cell}+adapted" and adapted.sha256() != recipe.sha256()
        for (region, before), (_, after) in zip(recipe.passive, adapted.passive):
            shift = 1.7 if p.kind == "shift_mV" and region in p.regions else 0.0
            assert after == replace(before, e_pas_mV=before.e_pas_mV + shift), (p.name, region)
        for before, after in zip(recipe.channels, adapted.channels):
            if before.gbar is None:
                assert after.gbar is None
                continue
            hit = p.kind == "scale" and before.mechanism in p.mechanisms and tuple(before.regions) == p.regions
            for d in (0.0, 150.0, 700.0):
                expected = before.gbar(d, ctx) * (1.7 if hit else 1.0)
                assert after.gbar(d, ctx) == pytest.approx(expected, rel=1e-12), (p.name, before)
    # all values neutral (scales 1, shifts 0): the recipe itself (same hash, datasets stay comparable)
    neutral = {p.name: p.neutral for p in cell_type.free_parameters}
    assert apply_scales(recipe, cell_type.free_parameters, neutral) is recipe


def test_leak_reversal_shift_moves_every_region_and_reads_in_mV():
    """The l5pc leak-reversal parameter is additive (mV) and maps linearly onto the optimizer's
    [0, 1]; the density scales map log-wise."""
    from cells.adapt import _from_unit, _to_unit, describe_values

    params = get_cell_type("l5pc").free_parameters
    leak = {p.name: p for p in params}["leak_reversal"]
    assert leak.kind == "shift_mV" and leak.neutral == 0.0 and (leak.low, leak.high) == (-5.0, 5.0)
    assert {r for r, _ in get_cell_type("l5pc").recipe.passive} == set(leak.regions)
    shifted = apply_scales(get_cell_type("l5pc").recipe, params, {"leak_reversal": 4.0})
    assert {p.e_pas_mV for _, p in shifted.passive} == {-79.0}                  # -83 + 4 everywhere
    assert _to_unit(leak, 0.0) == 0.5 and _from_unit(leak, 0.9) == 4.0 and _from_unit(leak, 1.4) == 5.0
    nap = {p.name: p for p in params}["soma_Nap"]
    assert _from_unit(nap, _to_unit(nap, 1.0)) == pytest.approx(1.0)
    assert _to_unit(nap, math.sqrt(nap.low * nap.high)) == pytest.approx(0.5)   # log-wise
    assert describe_values(params, {"soma_Nap": 0.66, "leak_reversal": 3.9}) == "soma_Nap x0.66, leak_reversal +3.90 mV"


def test_bad_free_parameters_are_refused():
    with pytest.raises(InputError, match="unknown free parameter"):
        apply_scales(TOY_RECIPE, TOY_FREE, {"soma_Cav": 2.0})
    with pytest.raises(InputError, match="no density of Kv3"):
        apply_scales(TOY_RECIPE, (FreeParameter("x", ("Kv3",), ("apical",), 0.5, 2.0, ("fi",)),), {"x": 2.0})
    with pytest.raises(InputError, match="bounds"):
        FreeParameter("x", ("Kv3",), ("soma",), 1.2, 2.0, ("fi",))
    with pytest.raises(InputError, match=r"bounds must satisfy low < 0 < high"):
        FreeParameter("x", ("pas",), ("soma",), 0.5, 2.0, ("fi",), kind="shift_mV")
    with pytest.raises(InputError, match=r"mechanisms must be \('pas',\)"):
        FreeParameter("x", ("Kv3",), ("soma",), -2.0, 2.0, ("fi",), kind="shift_mV")
    with pytest.raises(InputError, match="kind must be one of"):
        FreeParameter("x", ("Kv3",), ("soma",), 0.5, 2.0, ("fi",), kind="offset")
    with pytest.raises(InputError, match="no passive entry for apical"):
        apply_scales(TOY_RECIPE, (FreeParameter("x", ("pas",), ("apical",), -2.0, 2.0, ("fi",), kind="shift_mV"),),
                     {"x": 1.0})
    with pytest.raises(InputError, match="outside its validation plan"):
        replace(TOY, name="bad", free_parameters=(FreeParameter("x", ("Kv3",), ("soma", "axon"), 0.5, 2.0,
                                                                 ("bac",)),))


@pytest.mark.parametrize("cell", ["l5pc", "ca1"])
def test_z_score_passes_exactly_where_the_target_does(cell):
    """z <= 3 if and only if the target passes, for every target of both cells (the objective
    and the validation agree on what "passes" means)."""
    for target in get_cell_type(cell).targets:
        lo, hi = target.bounds
        span = (hi - lo) if math.isfinite(hi - lo) and hi > lo else max(abs(lo if math.isfinite(lo) else hi), 1.0)
        centre = (lo + hi) / 2 if math.isfinite(lo + hi) else (lo if math.isfinite(lo) else hi)
        for k in range(-40, 41):
            value = centre + span * (k / 20 + 0.0123)     # off the bounds: no rounding ties
            z = target_z(target, value)
            assert 0.0 <= z <= Z_MAX
            assert (z <= 3.0 + 1e-9) == target.passes(value), (target.feature, value, z)
    assert target_z(Target("f", "Hz", "s", mean=10.0, sd=2.0), 14.0) == pytest.approx(2.0)
    assert target_z(Target("f", "Hz", "s", mean=10.0, sd=2.0), float("nan")) == Z_MAX


# ------------------------------------------------------------------ the optimizer, for real
def test_adapt_turns_a_failing_toy_into_a_passing_one(fitted):
    result, logged = fitted
    history = result["history"]
    assert history[0][0]["scales"] == {"soma_Kv3": 1.0, "soma_NaTa": 1.0}     # the recipe unchanged first
    assert history[0][0]["n_failed"] == 2
    best = result["best"]
    assert best["n_failed"] == 0, best
    assert [r["feature"] for r in best["rows"]] == ["fi_step1_hz", "fi_step3_hz"]   # the fi protocol's targets
    assert 0.2 <= best["scales"]["soma_Kv3"] < 0.7                                   # less K, as the probe said
    assert result["optimizer"]["evaluations"] == len(logged) == sum(len(g) for g in history)
    assert result["optimizer"]["generations"] == len(history) - 1 <= 8


def test_adapt_is_seeded_and_resumes_from_its_log(fitted, toy):
    result, logged = fitted
    new = []
    again = adapt("toyadapt", settings=AdaptSettings(seed=3, max_generations=8), cache=dict(logged),
                  on_evaluation=lambda key, r: new.append(key))
    assert new == []                                   # replayed from the log, nothing recomputed
    assert again["best"]["scales"] == result["best"]["scales"]
    # a partial log: only the missing evaluations are computed, and the result is the same
    half = dict(logged[: len(logged) // 2])
    more = []
    third = adapt("toyadapt", settings=AdaptSettings(seed=3, max_generations=8), cache=half,
                  on_evaluation=lambda key, r: more.append(key))
    assert len(more) == len(logged) - len(half)
    assert third["best"]["scales"] == result["best"]["scales"]


def test_adapt_starts_where_it_is_told(fitted, toy):
    """--start: generation 0 is the given point (here the fitted one: it passes, nothing more
    is run). A start outside the bounds, a start or --free naming an unknown parameter, and
    --free with one parameter (cma does not do 1-D) are refused."""
    result, _ = fitted
    settings = AdaptSettings(seed=3, max_generations=8, start=result["best"]["scales"])
    again = adapt("toyadapt", settings=settings)
    assert again["optimizer"]["evaluations"] == 1 and again["optimizer"]["generations"] == 0
    assert again["best"]["scales"] == result["best"]["scales"] == again["optimizer"]["start"]
    assert again["best"]["n_failed"] == 0
    partial_start = adapt("toyadapt", settings=AdaptSettings(seed=3, max_generations=1, start={"soma_Kv3": 0.4}))
    assert partial_start["history"][0][0]["scales"] == {"soma_Kv3": 0.4, "soma_NaTa": 1.0}   # the other: neutral
    with pytest.raises(InputError, match="unknown free parameter"):
        adapt("toyadapt", settings=AdaptSettings(free=("soma_Cav", "soma_Kv3")))
    with pytest.raises(InputError, match="at least 2 parameters"):
        adapt("toyadapt", settings=AdaptSettings(free=("soma_Kv3",)))
    with pytest.raises(InputError, match="outside its bounds"):
        adapt("toyadapt", settings=AdaptSettings(start={"soma_Kv3": 9.0}))
    with pytest.raises(InputError, match="unknown free parameter"):
        adapt("toyadapt", settings=AdaptSettings(start={"soma_Cav": 1.0}))


def test_free_varies_only_the_named_parameters_and_shifts_the_leak():
    """--free: two of three parameters vary (one a leak-reversal shift, run for real); the
    third stays where the start put it in every candidate."""
    leak = FreeParameter("leak", ("pas",), ("all",), -4.0, 4.0, ("passive", "fi"), "test", kind="shift_mV")
    three = replace(TOY_ADAPT, name="toyleak", free_parameters=TOY_FREE + (leak,))
    register_cell_type(three, replace=True)
    try:
        result = adapt("toyleak", settings=AdaptSettings(seed=3, max_generations=2, start={"soma_NaTa": 1.3},
                                                          free=("soma_Kv3", "leak")))
    finally:
        unregister_cell_type("toyleak")
    candidates = [c["scales"] for g in result["history"] for c in g]
    assert len(candidates) in (1 + 6, 1 + 2 * 6)              # the start, then generations of 4 + 3 ln 2 = 6
    assert {c["soma_NaTa"] for c in candidates} == {1.3}
    assert len({c["soma_Kv3"] for c in candidates}) >= 6 and len({c["leak"] for c in candidates}) >= 6
    assert all(-4.0 <= c["leak"] <= 4.0 for c in candidates) and candidates[0]["leak"] == 0.0
    assert result["optimizer"]["free"] == ["soma_Kv3", "leak"]


def test_start_reads_a_recipe_file_or_values(fitted, toy, tmp_path):
    from bridge.commands.adapt import parse_start

    assert parse_start("soma_Kv3=0.4, soma_NaTa=1.25", "toyadapt") == {"soma_Kv3": 0.4, "soma_NaTa": 1.25}
    path = tmp_path / "earlier.json"
    write_adapted(adapted_document(fitted[0]), path)
    assert parse_start(str(path), "toyadapt") == fitted[0]["best"]["scales"]
    with pytest.raises(InputError, match="a toyadapt recipe, not l5pc"):
        parse_start(str(path), "l5pc")


def test_a_recipe_that_passes_is_not_fitted(toy):
    passing = replace(TOY_ADAPT, name="toypass", targets=(TOY.targets[0],
                      Target("fi_step3_hz", "Hz", "test", lower=50.0, upper=200.0)))
    register_cell_type(passing, replace=True)
    try:
        result = adapt("toypass")
    finally:
        unregister_cell_type("toypass")
    assert result["optimizer"]["evaluations"] == 1 and result["optimizer"]["generations"] == 0
    assert result["best"]["scales"] == {"soma_Kv3": 1.0, "soma_NaTa": 1.0}


# ------------------------------------------------------------------ the file
def test_adapted_recipe_file_round_trip_and_refusals(fitted, tmp_path):
    result, _ = fitted
    path = tmp_path / "toy.recipe.json"
    write_adapted(adapted_document(result), path)
    back = read_adapted(path)
    assert back.cell == "toyadapt" and back.scales == result["best"]["scales"]
    assert back.recipe.sha256() == back.document["recipe_sha256"] != TOY_RECIPE.sha256()
    assert back.morphology_sha256 == TOY.builtin_morphology(0).sha256
    doc = back.document
    assert doc["optimizer"]["name"] == "CMA-ES" and doc["optimizer"]["seed"] == 3
    assert {p["name"] for p in doc["free_parameters"]} == {"soma_Kv3", "soma_NaTa"}

    def refused(change, match):
        bad = json.loads(path.read_text())
        change(bad)
        other = tmp_path / "bad.json"
        other.write_text(json.dumps(bad))
        with pytest.raises(InputError, match=match):
            read_adapted(other)

    refused(lambda d: d["scales"].update(soma_Kv3=0.9), "do not give the recipe")
    refused(lambda d: d.update(base_recipe_sha256="0" * 64), "another version of the toyadapt recipe")
    refused(lambda d: d.update(format="something else"), "not an adapted recipe")
    refused(lambda d: d.pop("scales"), "missing or has a malformed field")
    refused(lambda d: d.update(cell="no_such_cell"), "unknown cell")
    (tmp_path / "cut.json").write_text(path.read_text()[:200])
    with pytest.raises(InputError, match="not an adapted recipe"):
        read_adapted(tmp_path / "cut.json")
    with pytest.raises(InputError, match="no such recipe file"):
        read_adapted(tmp_path / "missing.json")


# ------------------------------------------------------------------ the command line
def _env(tmp_path):
    (tmp_path / "toyadapt_plugin.py").write_text(
        f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_adapt import TOY_ADAPT as CELL_TYPE\n")
    return {**os.environ, "BRIDGE_CELL_TYPES": "toyadapt_plugin",
            "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}


def _bridge(args, env, timeout=600):
    return subprocess.run([sys.executable, "-m", "bridge.cli", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def test_cli_adapt_then_validate_and_characterize_with_the_recipe(tmp_path):
    env = _env(tmp_path)
    out = tmp_path / "toy.recipe.json"
    before = _bridge(["validate", "toyadapt", "--fast"], env)
    assert before.returncode == 1 and "FAIL" in before.stdout         # the recipe as it is fails
    proc = _bridge(["adapt", "toyadapt", "-o", str(out), "--workers", "1", "--seed", "3"], env)
    assert proc.returncode == 0, proc.stderr
    assert "generation 0 (the recipe unchanged)" in proc.stderr and "wrote" in proc.stdout
    assert not Path(f"{out}.parts").exists()                          # the log is gone once the file is written
    doc = json.loads(out.read_text())
    assert all(r["passed"] for r in doc["validation"])                # every target of the plan, after adapting
    assert [r["feature"] for r in doc["validation"]] == ["input_resistance_MOhm", "fi_step1_hz", "fi_step3_hz"]

    again = _bridge(["adapt", "toyadapt", "-o", str(out)], env)
    assert again.returncode == 2 and "already exists" in again.stderr and "--overwrite" in again.stderr

    restart = _bridge(["adapt", "toyadapt", "-o", str(tmp_path / "again.json"), "--workers", "0",
                       "--start", str(out)], env)
    assert restart.returncode == 0, restart.stderr
    assert "generation 0 (the start: soma_Kv3 x" in restart.stderr
    assert json.loads((tmp_path / "again.json").read_text())["optimizer"]["evaluations"] == 1

    after = _bridge(["validate", "toyadapt", "--fast", "--recipe", str(out)], env)
    assert after.returncode == 0, after.stdout + after.stderr
    wrong = _bridge(["validate", "ca1", "--recipe", str(out)], env)
    assert wrong.returncode == 2 and "adapted for toyadapt, not ca1" in wrong.stderr

    nc = tmp_path / "toy.nc"
    char = _bridge(["characterize", "toyadapt", "--protocols", "fi", "--recipe", str(out), "--workers", "1",
                    "--no-progress", "-o", str(nc)], env)
    assert char.returncode == 0 and "warning" not in char.stderr, char.stderr     # the tree it was adapted on
    from bridge.schema import open_characterization

    fi = open_characterization(nc)["fi"]
    assert fi.attrs["recipe_file"] == out.name and fi.attrs["recipe_sha256"] == doc["recipe_sha256"]


def test_cli_adapt_refuses_bad_input_and_leaves_nothing(tmp_path):
    env = _env(tmp_path)
    out = tmp_path / "x.recipe.json"
    cases = [
        (["adapt", "toyadapt", "-o", str(out), "--max-generations", "0"], "--max-generations must be >= 1"),
        (["adapt", "toyadapt", "-o", str(out), "--popsize", "1"], "--popsize must be >= 2"),
        (["adapt", "toyadapt", "-o", str(out), "--morphology", str(tmp_path / "none.swc")], "none.swc"),
        (["adapt", "no_cell", "-o", str(out)], "unknown cell 'no_cell'"),
        (["adapt", "toyadapt", "-o", str(tmp_path / "no_dir" / "x.json")], "does not exist"),
        (["validate", "toyadapt", "--recipe", str(tmp_path / "none.json")], "no such recipe file"),
        (["adapt", "toyadapt", "-o", str(out), "--start", str(tmp_path / "none.json")], "no such recipe file"),
        (["adapt", "toyadapt", "-o", str(out), "--free", "soma_Kv3,soma_Cav"], "--free: unknown free parameter(s) soma_Cav"),
        (["adapt", "toyadapt", "-o", str(out), "--free", "soma_Kv3"], "--free: CMA-ES needs at least 2 parameters"),
        (["adapt", "toyadapt", "-o", str(out), "--start", "soma_Kv3=low"], "is not NAME=VALUE with a number"),
        (["validate", "toyadapt", "--adapt", "--recipe", str(out)], "exclude each other"),
    ]
    for args, message in cases:
        proc = _bridge(args, env, timeout=120)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, (args, proc.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["__pycache__", "toyadapt_plugin.py"] or \
        sorted(p.name for p in tmp_path.iterdir()) == ["toyadapt_plugin.py"]


def test_validate_adapt_adapts_when_a_target_fails(tmp_path):
    env = _env(tmp_path)
    out = tmp_path / "adapted.json"
    proc = _bridge(["validate", "toyadapt", "--fast", "--adapt", "--adapt-output", str(out), "--workers", "0",
                    "--seed", "3"], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "target(s) failed: adapting" in proc.stdout and out.exists()
    assert json.loads(out.read_text())["cell"] == "toyadapt"
