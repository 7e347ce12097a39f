"""The Brian2 backend against NEURON on the built-in morphologies: the same compartments,
the same voltages (issue 3 tolerances), the same validation features, the same interface.

Runs in about 1.5 minutes on a 2-core machine once Brian2's compiled code is cached; the
first run on a machine compiles it (several minutes, see docs/simulators.md).
"""
import numpy as np
import pytest

from cells import InputError, get_recipe, load_cell, load_morphology
from cells.equivalence import ACTIVE_MV, PASSIVE_MV, SPIKE_MS, compare

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CELLS = ("l5pc", "ca1")


@pytest.fixture(scope="module")
def rows():
    return {name: compare(name)[0] for name in CELLS}


@pytest.mark.parametrize("cell", CELLS)
def test_compartments_are_neurons(cell):
    """Same nseg per section, segment areas and axial resistances as NEURON computes them."""
    from cells.compartments import section_layouts
    from cells.neuron_cell import NeuronCell

    recipe, morph = get_recipe(cell), load_morphology(cell)
    nrn = NeuronCell(recipe, morph)
    layouts = section_layouts(recipe, morph)
    assert sum(lay.nseg for lay in layouts) == nrn.n_compartments
    for lay in layouts:
        sec = nrn.sections[lay.key[1]] if lay.key[0] == "branch" else nrn.axon[lay.key[1]]
        assert sec.nseg == lay.nseg, f"{lay.key}: nseg {lay.nseg}, NEURON {sec.nseg}"
        np.testing.assert_allclose(lay.area_um2, [seg.area() for seg in sec], rtol=1e-6, err_msg=str(lay.key))
        between = lay.r_right_MOhm[:-1] + lay.r_left_MOhm[1:]
        ri = [seg.ri() for seg in sec]
        if lay.parent is not None:
            np.testing.assert_allclose(lay.r_left_MOhm[0], ri[0], rtol=1e-6, err_msg=str(lay.key))
        np.testing.assert_allclose(between, ri[1:], rtol=1e-6, err_msg=str(lay.key))
        np.testing.assert_allclose(lay.r_right_MOhm[-1], sec(1.0).ri(), rtol=1e-6, err_msg=str(lay.key))
    nrn.close()


@pytest.mark.parametrize("cell", CELLS)
def test_protocols_match_neuron(rows, cell):
    """bridge compare: every protocol and site within the issue-3 tolerances."""
    failing = [r for r in rows[cell] if not r.passed]
    assert not failing, "\n".join(f"{r.protocol}/{r.site}: mean|dV| {r.mean_abs_dv_mV:.3g} mV "
                                  f"(tol {r.tolerance_mV}), spikes {r.spikes_neuron}/{r.spikes_brian2}, "
                                  f"max|dt| {r.max_spike_dt_ms:.3g} ms" for r in failing)


@pytest.mark.parametrize("cell", CELLS)
def test_protocols_exercise_spikes_and_both_tolerances(rows, cell):
    """The comparison is not vacuous: spikes occur, and both tolerance classes are used."""
    assert any(r.spikes_neuron > 0 for r in rows[cell] if r.protocol == "step")
    assert any(r.spikes_neuron > 0 for r in rows[cell] if r.protocol == "bap")
    assert {r.tolerance_mV for r in rows[cell]} == {PASSIVE_MV, ACTIVE_MV}
    matched = [r.max_spike_dt_ms for r in rows[cell] if r.spikes_neuron > 0]
    assert max(matched) <= SPIKE_MS


def test_merge_steps_never_moves_a_step_before_what_it_follows():
    from cells.brian2.equations import merge_steps

    steps = [(0, 5, "cadyn", frozenset()), (0, 3, "na", frozenset({0})), (0, 5, "sk", frozenset({0})),
             (1, 4, "ka", frozenset({0})), (0, 5, "decay", frozenset()), (0, 5, "g", frozenset(range(5)))]
    # "g" must follow "ka", so it cannot join the first (0, 5) block
    assert merge_steps(steps) == [(0, 5, "cadyn\nsk\ndecay"), (0, 3, "na"), (1, 4, "ka"), (0, 5, "g")]


@pytest.mark.parametrize("cell", CELLS)
def test_state_update_is_one_object_per_compartment_range(cell):
    """NEURON's nrn_state in as few Brian2 objects as the order allows (each is compiled, and
    called every step): here one per distinct compartment range; every step once, over its own
    range, after each step it must follow. The voltages are the tests above."""
    c = load_cell(cell, simulator="brian2")
    steps = c.model.state_steps(c._index_range, c.n_compartments)
    blocks = c.model.update_blocks(c._index_range, c.n_compartments)
    assert len(blocks) == len({(lo, hi) for lo, hi, _, _ in steps}) < len(steps)
    place = []
    for lo, hi, code, after in steps:
        found = [(b, text.index(code)) for b, (blo, bhi, text) in enumerate(blocks)
                 if (blo, bhi) == (lo, hi) and code in text]
        assert len(found) == 1
        assert all(place[i] < found[0] for i in after)
        place.append(found[0])
    c.close()


def _pair(make, setup, tstop=15.0):
    out = {}
    for simulator in ("neuron", "brian2"):
        cell = make(simulator)
        keep = setup(cell)
        out[simulator] = cell.run(tstop)
        cell.close()
        del keep
    return out


def _terminal_pair():
    morph = load_morphology("l5pc")
    branch = next(b for b in morph.branches[1:] if morph.children(b.id) and b.type == "basal")
    return branch, morph.children(branch.id)[0]


def test_current_and_recording_at_a_section_end_are_exact():
    """x = 1 is NEURON's zero-area node: the current is split by axial conductance and the
    node voltage rebuilt from its neighbours (Kirchhoff), exactly."""
    branch, child = _terminal_pair()

    def setup(cell):
        cell.add_step_current(branch.id, 1.0, amp_nA=0.2, delay_ms=2.0, dur_ms=5.0)
        cell.record("node", branch.id, 1.0)
        cell.record("child0", child.id, 0.0)
        cell.record("soma", 0, 0.5)

    out = _pair(lambda s: load_cell("l5pc", simulator=s), setup)
    assert out["neuron"]["node"].max() - out["neuron"]["node"][0] > 3.0
    for site in ("node", "child0", "soma"):
        assert np.max(np.abs(out["neuron"][site] - out["brian2"][site])) < 1e-3, site


@pytest.mark.xfail(strict=True, reason="a synapse exactly at a section end (x = 0 or 1, NEURON's zero-area node) is "
                                       "split over the neighbouring compartments: 1.8 mV max |dV| on a 16 mV EPSP "
                                       "at a basal tip (measured); interior positions are exact")
def test_synapse_at_a_section_end():
    _, child = _terminal_pair()

    def setup(cell):
        group = cell.add_synapses(child.id, [1.0], kinds=("ampa",), weight_scale=3.0)
        cell.activate(group, [2.0])
        cell.record("tip", child.id, 1.0)
        return group

    out = _pair(lambda s: load_cell("l5pc", simulator=s), setup)
    assert np.max(np.abs(out["neuron"]["tip"] - out["brian2"]["tip"])) < PASSIVE_MV


@pytest.mark.parametrize("simulator", ["neuron", "brian2"])
def test_synapse_weights_per_location(simulator):
    cell = load_cell("ca1", simulator=simulator)
    group = cell.add_synapses(3, [0.2, 0.5, 0.8], weight_scale=2.0)
    nmda = get_recipe("ca1").synapse("nmda")
    np.testing.assert_allclose(cell.get_synapse_weights(group, "nmda"), 2.0 * nmda.weight_for(cell.morphology.branches[3].type))
    cell.set_synapse_weights(group, "nmda", [0.0, 0.001, 0.002])
    np.testing.assert_allclose(cell.get_synapse_weights(group, "nmda"), [0.0, 0.001, 0.002])
    cell.set_synapse_weights(group, "ampa", 0.0)
    np.testing.assert_allclose(cell.get_synapse_weights(group, "ampa"), 0.0)
    cell.close()


def test_same_public_interface():
    from cells.brian2 import Brian2Cell
    from cells.neuron_cell import NeuronCell

    neuron_only = {"segment", "all_sections"}     # NEURON objects, not part of the common interface
    public = {n for n in dir(NeuronCell) if not n.startswith("_")} - neuron_only
    missing = public - set(dir(Brian2Cell))
    assert not missing, f"Brian2Cell lacks {sorted(missing)}"
    assert Brian2Cell.simulator == "brian2"


def test_load_cell_rejects_unknown_simulator():
    with pytest.raises(InputError, match="unknown simulator 'nest'"):
        load_cell("l5pc", simulator="nest")


def test_validation_features_agree():
    """`bridge validate --simulator brian2` measures what NEURON measures (the bAP protocol;
    `bridge validate CELL --simulator brian2` runs them all)."""
    from cells.validation import validate

    reports = {s: validate("l5pc", simulator=s, fast=True, protocols=["bap"]) for s in ("neuron", "brian2")}
    a = {r.feature: r for r in reports["neuron"].rows}
    b = {r.feature: r for r in reports["brian2"].rows}
    assert a.keys() == b.keys() and len(a) >= 3
    for feature in a:
        assert b[feature].measured == pytest.approx(a[feature].measured, rel=1e-3, abs=1e-3), feature
        assert b[feature].passed == a[feature].passed, feature


def test_compare_command_rejects_bad_input(capsys):
    from bridge.cli import main

    assert main(["compare", "purkinje"]) == 2
    assert "bridge compare: error: unknown cell 'purkinje'" in capsys.readouterr().err
    assert main(["compare", "l5pc", "--protocols", "step,nonsense"]) == 2
    assert "unknown protocol(s) nonsense" in capsys.readouterr().err


def test_driven_synapses_match_neuron_and_are_freed_when_dropped():
    """Asynchronous drive (cluster_dispersion's experiment) on both simulators: the same mean
    depolarisations. As in NEURON, synapses exist while their SynapseSet is held: the next run
    without them is at rest. The Brian2 backend puts every held group (here on three
    branches) in one generator and one Synapses object under fixed names, so their compiled
    code comes from the cache instead of a new compile per group and run."""
    from cells.experiments.synaptic import train_response

    sites_exc = [(3, 0.3), (3, 0.5), (3, 0.7), (5, 0.5)]
    trains = [[5.0 + 3 * k + i for k in range(8)] for i in range(len(sites_exc))]
    drives = [(sites_exc, ("ampa", "nmda"), trains, 1.0), ([(4, 0.5)], ("gabaa",), [[6.0, 20.0]], 1.0)]
    out = {}
    for simulator in ("neuron", "brian2"):
        cell = load_cell("ca1", simulator=simulator)
        driven = train_response(cell, drives, [(3, 0.5)], 5.0, 50.0, dt_ms=0.05)
        cell.clear_recordings()
        after = train_response(cell, [], [(3, 0.5)], 5.0, 50.0, dt_ms=0.05)
        cell.clear_recordings()
        if simulator == "brian2":
            assert cell._groups() == []                               # the dropped groups left the network
            again = train_response(cell, drives, [(3, 0.5)], 5.0, 50.0, dt_ms=0.05)
            names = [obj.name for obj in cell._net.objects if obj.name.startswith("bridge_")]
            assert sorted(n for n in names if "synapses" in n or "events" in n) == ["bridge_events", "bridge_synapses"]
            np.testing.assert_allclose(again["local_mean_mV"], driven["local_mean_mV"], atol=1e-9)
        out[simulator] = (driven, after)
        cell.close()
    (d_n, a_n), (d_b, a_b) = out["neuron"], out["brian2"]
    assert d_n["local_mean_mV"][0] > 2.0                              # the drive depolarises the branch
    np.testing.assert_allclose(d_b["local_mean_mV"], d_n["local_mean_mV"], atol=0.05)
    assert abs(d_b["soma_mean_mV"] - d_n["soma_mean_mV"]) < 0.05
    for after in (a_n, a_b):                                          # no synapse left: rest
        assert abs(after["soma_mean_mV"]) < 0.01 and abs(after["local_mean_mV"][0]) < 0.01
