"""Recipes on other trees (issue 18): the passive dendritic load and attenuation that
benchmarks/generalization.py reports per tree."""
import argparse
import math
from pathlib import Path

import numpy as np
import pytest

from cells import get_cell_type
from cells.compartments import dendritic_load_nS
from cells.morphology import read_swc

# soma (single point, r 10 um); a 200 um basal cylinder (d 1 um) splitting into 100 and
# 200 um children (d 1 um); a 40 um apical cylinder (d 2 um) with sealed ends
Y_TREE = """\
1 1 0 0 0 10 -1
2 3 10 0 0 0.5 1
3 3 210 0 0 0.5 2
4 3 310 0 0 0.5 3
5 3 210 100 0 0.5 3
6 3 210 200 0 0.5 5
7 4 0 10 0 1 1
8 4 0 50 0 1 7
"""


def cable(diam_um, g_pas, Ra):
    """Infinite-cable input conductance (nS) and length constant (um) of a cylinder."""
    d_cm = diam_um * 1e-4
    lam_cm = math.sqrt(d_cm / (4.0 * Ra * g_pas))
    g_inf_S = math.pi * d_cm ** 2 / (4.0 * Ra * lam_cm)
    return g_inf_S * 1e9, lam_cm * 1e4


def test_dendritic_load_matches_cable_theory(tmp_path):
    """Sealed cylinder: G_inf tanh(L / lambda); a branch point loads its parent cable with
    its children's conductance (Rall): G = G_inf (G_L + G_inf t) / (G_inf + G_L t)."""
    path = tmp_path / "y.swc"
    path.write_text(Y_TREE)
    recipe = get_cell_type("l5pc").recipe
    basal, apical = recipe.passive_for("basal"), recipe.passive_for("trunk")
    g_b, lam_b = cable(1.0, basal.g_pas_S_per_cm2, basal.Ra_ohm_cm)
    g_leaf = g_b * (math.tanh(100.0 / lam_b) + math.tanh(200.0 / lam_b))
    t = math.tanh(200.0 / lam_b)
    g_basal = g_b * (g_leaf + g_b * t) / (g_b + g_leaf * t)
    g_a, lam_a = cable(2.0, apical.g_pas_S_per_cm2, apical.Ra_ohm_cm)
    expected = g_basal + g_a * math.tanh(40.0 / lam_a)
    assert dendritic_load_nS(recipe, read_swc(path)) == pytest.approx(expected, rel=2e-3)


def test_dendritic_load_grows_with_the_tree():
    """Thicker dendrites load the soma more, and so does the larger of two trees."""
    from cells.morphology.variants import scaled

    cell_type = get_cell_type("l5pc")
    m = cell_type.builtin_morphology(0)
    loads = [dendritic_load_nS(cell_type.recipe, scaled(m, diameter=f)) for f in (0.7, 1.0, 1.3)]
    assert loads[0] < loads[1] < loads[2]
    # the input conductance of a tree of thin cables grows between d and d^1.5 (g_inf ~ d^1.5)
    assert 1.3 < loads[2] / loads[1] < 1.3 ** 1.5 + 0.01



def test_validate_takes_a_morphology_object():
    """A variant made in memory is validated as it is (benchmarks/generalization.py)."""
    from cells.morphology.variants import scaled
    from cells.validation import validate

    m = scaled(get_cell_type("l5pc").builtin_morphology(0), diameter=1.3)
    thin = validate("l5pc", morphology=scaled(m, diameter=0.5), protocols=["passive"])
    thick = validate("l5pc", morphology=m, protocols=["passive"])
    assert thick.morphology == m.source
    rin_thin, rin_thick = ({row.feature: row.measured for row in r.rows}["input_resistance_MOhm"] for r in (thin, thick))
    assert rin_thin > 1.2 * rin_thick          # thinner dendrites, less load, higher input resistance


def _benchmark():
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import generalization
    finally:
        sys.path.pop(0)
    return generalization


def test_generalization_benchmark_set_and_resume(tmp_path):
    """The morphology set (built-in seeds; each shared reconstruction of the type and its
    variants), and a run whose records all exist only writes the table (no simulation)."""
    import json

    bench = _benchmark()
    (tmp_path / "l5pc_a.swc").write_text(Y_TREE)
    (tmp_path / "ca1_b.swc").write_text(Y_TREE)
    full, notes = bench.morphology_set("l5pc", str(tmp_path), quick=False)
    assert list(full)[:3] == ["built-in seed 0", "built-in seed 1", "built-in seed 2"]
    assert [k for k in full if k.startswith("l5pc_a")] == [
        "l5pc_a", "l5pc_a trunk_x0.7", "l5pc_a trunk_x1.3", "l5pc_a diam_x0.7", "l5pc_a diam_x1.3", "l5pc_a pruned_20%"]
    assert not notes and not any(k.startswith("ca1_b") for k in full)
    quick, _ = bench.morphology_set("l5pc", str(tmp_path), quick=True)
    assert list(quick) == ["built-in seed 0", "built-in seed 1", "l5pc_a", "l5pc_a trunk_x0.7"]
    seeds, _ = bench.morphology_set("l5pc", str(tmp_path / "absent"), quick=False, seeds=(3, 5))
    assert list(seeds) == ["built-in seed 3", "built-in seed 5"]
    assert bench._seed_list("3,5") == (3, 5)
    for bad in ("3;5", "-1"):
        with pytest.raises(argparse.ArgumentTypeError):
            bench._seed_list(bad)
    none, notes = bench.morphology_set("l5pc", str(tmp_path / "absent"), quick=True)
    assert list(none) == ["built-in seed 0", "built-in seed 1"] and "built-in trees only" in notes[0]
    # every record present: nothing is simulated; the exit status says whether all passed
    out = tmp_path / "out"
    out.mkdir()
    for i, name in enumerate(none):
        row = dict(feature="fi_step1_hz", target="6 ± 1.22 Hz", measured=9.9 if i else 6.1, passed=not i, unit="Hz")
        rec = dict(cell="l5pc", morphology=name, simulator="neuron", sha256="x", nexus_um=600.0, load_nS=12.0,
                   n_passed=int(not i), n_targets=1, rows=[row], seconds=1.0)
        Path(bench.record_path(str(out), "l5pc", "neuron", name)).write_text(json.dumps(rec))
    md = tmp_path / "table.md"
    status = bench.main(["--cell", "l5pc", "-o", str(out), "--quick", "--shared", str(tmp_path / "absent"),
                         "--markdown", str(md)])
    text = md.read_text()
    assert status == 1 and "1 of 2 morphologies pass every target." in text
    assert "| built-in seed 1 | 600 | 12.0 | 0/1 | 1 | fi_step1_hz 9.9 (6 ± 1.22 Hz) |" in text
    # an adapted record for the failing tree: the table gains its result, and all pass now
    adapted = dict(cell="l5pc", morphology="built-in seed 1", simulator="neuron", sha256="x",
                   scales={"soma_Nap": 0.61, "soma_SK": 1.5, "leak_reversal": 3.5}, evaluations=17, generations=2, n_passed=1, n_targets=1,
                   rows=[dict(feature="fi_step1_hz", target="6 ± 1.22 Hz", measured=6.4, passed=True, unit="Hz")],
                   recipe_file="r.json", seconds=600.0)
    Path(bench.record_path(str(out), "l5pc", "neuron", "built-in seed 1", ".adapted.json")).write_text(
        json.dumps(adapted))
    status = bench.main(["--cell", "l5pc", "-o", str(out), "--quick", "--shared", str(tmp_path / "absent"),
                         "--markdown", str(md), "--adapt"])
    text = md.read_text()
    assert status == 0 and "1 of the 1 failing were adapted" in text and "2 of 2 in all" in text
    assert "| 1/1 | soma_Nap x0.61, soma_SK x1.5, leak_reversal +3.50 mV | 17 in 10 min | - |" in text


def test_generalization_benchmark_two_simulator_summary(tmp_path):
    """With both simulators' records in one folder, the table ends with the two-simulator
    summary: a tree counts when one recipe (own or adapted) passes in both."""
    import json

    bench = _benchmark()
    out = tmp_path / "out"
    out.mkdir()
    names = ["built-in seed 0", "built-in seed 1"]
    ok = dict(feature="fi_step1_hz", target="6 ± 1.22 Hz", measured=6.1, passed=True, unit="Hz")
    bad = dict(ok, measured=9.9, passed=False)

    def write(simulator, name, row, suffix=".json", **extra):
        rec = dict(cell="l5pc", morphology=name, simulator=simulator, sha256="x", nexus_um=600.0, load_nS=12.0,
                   n_passed=int(row["passed"]), n_targets=1, rows=[row], seconds=60.0, **extra)
        Path(bench.record_path(str(out), "l5pc", simulator, name, suffix)).write_text(json.dumps(rec))

    # seed 0 passes in both with its own recipe; seed 1 fails in both and is adapted in NEURON,
    # and that recipe passes in NEURON but not in Brian2
    for sim in bench.SIMULATORS:
        write(sim, names[0], ok)
        write(sim, names[1], bad)
    adapted = dict(scales={"soma_Nap": 0.61}, evaluations=17, generations=2, recipe_file="r.json")
    write("neuron", names[1], ok, ".adapted.json", **adapted)
    write("brian2", names[1], bad, ".adapted.json", adapted_in="neuron", **adapted)
    md = tmp_path / "table.md"
    args = ["--cell", "l5pc", "-o", str(out), "--quick", "--shared", str(tmp_path / "absent"), "--adapt",
            "--markdown", str(md)]
    assert bench.main(args + ["--simulator", "brian2"]) == 1
    text = md.read_text()
    assert "| built-in seed 0 | 1/1 | - | 1/1 | - | yes (own recipe) |" in text
    assert "| built-in seed 1 | 0/1 | 1/1 | 0/1 | 0/1 | no |" in text
    assert "1 of 2 morphologies pass every target in both simulators with one recipe." in text
    assert "NEURON and Brian2 disagree on 1 of 3 target rows (built-in seed 1: fi_step1_hz)." in text
    assert "17 in neuron (its recipe validated here)" in text
    # the Brian2 record of the adapted recipe now passes: both trees pass in both
    write("brian2", names[1], ok, ".adapted.json", adapted_in="neuron", **adapted)
    assert bench.main(args) == 0
    text = md.read_text()
    assert "2 of 2 morphologies pass every target in both simulators with one recipe." in text
    assert "disagree on 0 of 3 target rows." in text
    # without the other simulator's records there is no summary
    for f in out.glob("l5pc-brian2-*"):
        f.unlink()
    bench.main(args)
    assert "both simulators" not in md.read_text()


def test_generalization_table_says_where_an_adaptation_started(tmp_path):
    """The cost column says when the search started at given values or varied only some
    parameters (read from the adapted recipe's file), and nothing when it did neither."""
    import json

    bench = _benchmark()
    names = [p.name for p in get_cell_type("l5pc").free_parameters]
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"optimizer": {"start": {n: (3.6 if n == "leak_reversal" else 1.0) for n in names},
                                                "free": ["soma_Nap", "leak_reversal"]}}))
    assert bench._search("l5pc", {"recipe_file": str(recipe)}) == \
        ", from a given start (--start), varying soma_Nap, leak_reversal (--free)"
    recipe.write_text(json.dumps({"optimizer": {"start": {n: (0.0 if n == "leak_reversal" else 1.0) for n in names},
                                                "free": names}}))
    assert bench._search("l5pc", {"recipe_file": str(recipe)}) == ""
    assert bench._search("l5pc", {"recipe_file": str(tmp_path / "gone.json")}) == ""
