"""The cell-type registry: a type declared in one place (recipe, morphology, stimuli,
validation plan, targets, protocols) runs validate-style and characterize-style
experiments in both simulators, with no fallback to another type's values.

The toy type is a ball-and-stick-and-tuft defined here: a soma with fast Na / K (Hay et
al. 2011's somatic NaTa and Kv3 kinetics), a passive apical trunk that forks into two tuft
branches, and one basal dendrite.
"""
from __future__ import annotations

import numpy as np
import pytest

from cells import get_cell_type, load_cell, register_cell_type
from cells.distributions import Uniform
from cells.morphology.assemble import build_morphology
from cells.recipe import CellRecipe, Channel, Passive, SynapseModel
from cells.types import CellType, Stimuli, unregister_cell_type
from cells.validation.targets import Target
from dendritic_errors import InputError

pytestmark = pytest.mark.timeout(900)


def _toy_morphology(seed: int = 0):
    rows = [(1, 0, 0, 0, 8.0, -1)]                            # soma: one sphere of radius 8 um
    def cable(kind, parent, start, direction, length, radius, n=6):
        out = []
        for k in range(1, n + 1):
            xyz = np.asarray(start) + np.asarray(direction) * length * k / n
            rows.append((kind, *xyz, radius, parent if k == 1 else len(rows) - 1))
            out.append(len(rows) - 1)
        return out
    trunk = cable(4, 0, (0, 8, 0), (0, 1, 0), 300.0, 1.2)
    cable(4, trunk[-1], (0, 308, 0), (0.6, 0.8, 0), 150.0, 0.6)
    cable(4, trunk[-1], (0, 308, 0), (-0.6, 0.8, 0), 150.0, 0.6)
    cable(3, 0, (0, -8, 0), (0, -1, 0), 150.0, 0.5)
    table = np.array(rows, float)
    return build_morphology("toy", f"builtin:toy:seed={seed}", f"toy{seed}", table[:, 0].astype(int),
                            table[:, 1:5], table[:, 5].astype(int))


TOY_RECIPE = CellRecipe(
    name="toy", description="ball-and-stick-and-tuft test cell", references=("defined in tests/test_cell_types.py",),
    temperature_C=34.0, v_init_mV=-70.0, ena_mV=50.0, ek_mV=-85.0,
    passive=(("all", Passive(1.0, 5e-5, -70.0, 100.0)),),
    channels=(Channel("NaTa", ("soma", "axon"), Uniform(2.0)), Channel("Kv3", ("soma", "axon"), Uniform(0.7))),
    synapses=(("ampa", SynapseModel("AMPA", 0.3, 3.0, 0.0, 0.0005)),
              ("nmda", SynapseModel("NMDA", 2.0, 50.0, 0.0, 0.001, params=(("mg", 1.0),)))),
)

TOY = CellType(
    name="toy", description=TOY_RECIPE.description, recipe=TOY_RECIPE, builtin_morphology=_toy_morphology,
    stimuli=Stimuli(bap_pulse=(1.0, 2.0), bap_distances_um=(150.0, 300.0), fi_currents_nA=(0.0, 0.4),
                    fi_validation_nA=(0.05, 0.2, 0.4), fi_validation_ms=200.0),
    validation=("passive", "fi", "bap"),
    targets=(Target("input_resistance_MOhm", "MΩ", "toy: a small cell", lower=50.0, upper=2000.0),
             Target("fi_rheobase_nA", "nA", "toy", lower=0.05, upper=0.4),
             Target("bap_ratio_300um", "", "toy: a passive trunk attenuates the bAP", lower=0.0, upper=0.9)),
    protocols=("passive", "integration", "bap", "fi"),
)


@pytest.fixture(scope="module")
def toy():
    register_cell_type(TOY, replace=True)
    yield TOY
    unregister_cell_type("toy")


def test_registered_type_builds_in_both_simulators(toy):
    assert get_cell_type("toy") is toy
    for simulator in ("neuron", "brian2"):
        cell = load_cell("toy", simulator=simulator)
        assert cell.recipe is TOY_RECIPE and cell.morphology.name == "toy"
        assert {b.type for b in cell.morphology.branches} == {"soma", "trunk", "tuft", "basal"}
        cell.close()


@pytest.fixture(scope="module")
def reports(toy):
    from cells.validation import validate

    return {sim: validate("toy", simulator=sim, fast=True) for sim in ("neuron", "brian2")}


def test_validate_runs_the_types_plan_against_its_targets(reports):
    for sim, report in reports.items():
        assert [r.feature for r in report.rows] == ["input_resistance_MOhm", "fi_rheobase_nA", "bap_ratio_300um"]
        assert report.passed, report.table()
        assert set(report.results) == {"passive", "fi", "bap"}      # the plan, nothing of another type
    a, b = ({r.feature: r.measured for r in reports[s].rows} for s in ("neuron", "brian2"))
    for feature in a:                                             # the same experiment in both simulators
        assert a[feature] == pytest.approx(b[feature], rel=1e-3), feature


def test_characterize_runs_the_same_experiments_in_both_simulators(toy, tmp_path):
    from bridge.characterize import Settings, characterize
    from bridge.schema import open_characterization

    settings = Settings(branches=1, n_synapses=3, conditions=("control",), placements=("clustered",),
                        passive_sites_per_type=1, passive_path_spacing_um=400.0, window_ms=30.0, fi_step_ms=100.0)
    groups = {}
    for sim in ("neuron", "brian2"):
        out = tmp_path / f"toy_{sim}.nc"
        characterize("toy", out, simulator=sim, protocols="all", settings=settings, workers=0, progress=False,
                     say=lambda msg: None)
        groups[sim] = open_characterization(out)
    assert list(groups["neuron"]) == ["passive", "integration", "bap", "fi"]   # the type's protocols
    n, b = groups["neuron"], groups["brian2"]
    assert float(n["passive"].input_resistance_MOhm) == pytest.approx(float(b["passive"].input_resistance_MOhm), rel=1e-3)
    np.testing.assert_allclose(n["integration"].measured_local_mV, b["integration"].measured_local_mV, rtol=1e-2)
    np.testing.assert_allclose(n["bap"].bap_amplitude_mV, b["bap"].bap_amplitude_mV, rtol=1e-2, atol=0.05)
    assert list(n["fi"].n_spikes.values) == list(b["fi"].n_spikes.values)
    # validation and characterization measure the passive step with the same experiment
    from cells.validation import validate

    report = validate("toy", protocols=["passive"])
    assert float(n["passive"].input_resistance_MOhm) == pytest.approx(report.rows[0].measured, rel=1e-9)


def test_unsupported_protocols_are_refused_not_replaced(toy, tmp_path):
    from bridge.characterize import prepare

    with pytest.raises(InputError, match="does not support protocol.*bac"):
        prepare("toy", protocols="bac")
    with pytest.raises(InputError, match="does not support protocol.*bac"):
        prepare("ca1", protocols="passive,bac")
    with pytest.raises(InputError, match="BAC firing needs stimuli.bac_site_um"):
        CellType(name="bad", description="", recipe=TOY_RECIPE, builtin_morphology=_toy_morphology,
                 stimuli=TOY.stimuli, protocols=("bac",))
    with pytest.raises(InputError, match="unknown cell 'nope'"):
        get_cell_type("nope")
    with pytest.raises(InputError, match="already registered"):
        register_cell_type(CellType(name="l5pc", description="", recipe=TOY_RECIPE,
                                    builtin_morphology=_toy_morphology, stimuli=TOY.stimuli, protocols=("fi",)))


def test_builtin_types_declare_their_stimuli():
    l5pc, ca1 = get_cell_type("l5pc"), get_cell_type("ca1")
    assert l5pc.stimuli.bap_pulse == (1.9, 5.0) and ca1.stimuli.bap_pulse == (2.0, 2.0)
    assert l5pc.stimuli.bac_site_um == 700.0 and ca1.stimuli.bac_site_um is None
    assert "bac" in l5pc.protocols and "bac" not in ca1.protocols
    assert {t.feature for t in l5pc.targets} >= {"fi_step1_hz", "bac_together_ca_spike_and_burst"}


def test_compare_runs_the_protocols_the_type_declares(toy):
    from cells.equivalence import compare, protocols_for

    assert protocols_for(toy) == ("passive_epsp", "step", "bap")     # no basal NMDA cluster declared
    with pytest.raises(InputError, match="does not support compare protocol.*nmda_cluster"):
        compare("toy", protocols=["nmda_cluster"])
    rows, _ = compare("toy", protocols=["passive_epsp", "bap"])
    assert rows and all(r.passed for r in rows), [r for r in rows if not r.passed]


def test_a_type_named_in_the_environment_reaches_the_cli_and_worker_processes(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "toy_plugin.py").write_text(
        f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_cell_types import TOY as CELL_TYPE\n")
    env = {**os.environ, "BRIDGE_CELL_TYPES": "toy_plugin",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "toy.nc"
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "characterize", "toy", "--protocols", "passive,fi",
                           "--workers", "1", "--no-progress", "-o", str(out)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    from bridge.schema import open_characterization

    groups = open_characterization(out)
    assert list(groups) == ["passive", "fi"]
    assert list(groups["fi"].current_nA.values) == list(TOY.stimuli.fi_currents_nA)   # the type's own currents
    bad = subprocess.run([sys.executable, "-m", "bridge.cli", "validate", "toy"], capture_output=True, text=True,
                         env={**env, "BRIDGE_CELL_TYPES": "no_such_module"}, timeout=120)
    assert bad.returncode == 2 and "cannot import cell-type module 'no_such_module'" in bad.stderr
