"""Both backends implement `cells.contract.Cell` and build from one compartment table.

Builds the built-in CA1 cell in NEURON and Brian2 (Brian2's compiled code is shared with
tests/test_brian2_equivalence.py; the first run on a machine compiles it).
"""
import inspect
import subprocess
import sys

import numpy as np
import pytest

from cells import get_recipe, load_cell, load_morphology
from cells.brian2 import Brian2Cell
from cells.compartments import compartment_table
from cells.contract import Cell, CurrentClamp, CurrentWaveform, SynapseGroup
from cells.neuron_cell import NeuronCell

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

BACKENDS = (NeuronCell, Brian2Cell)
METHODS = sorted(name for name, member in vars(Cell).items()
                 if not name.startswith("_") and inspect.isfunction(member))


def test_protocol_lists_the_shared_interface():
    assert set(METHODS) == {"add_synapses", "activate", "get_synapse_weights", "set_synapse_weights",
                            "scale_density", "add_step_current", "add_current_waveform", "record",
                            "clear_recordings", "run", "close", "path_distance_um"}


@pytest.mark.parametrize("cls", BACKENDS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("method", METHODS)
def test_signatures_match_the_protocol(cls, method):
    """Same parameter names, order, kinds and defaults as the Protocol declares."""
    def shape(fn):
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    assert shape(getattr(cls, method)) == shape(getattr(Cell, method))


def test_isinstance_rejects_an_incomplete_cell():
    class Partial:
        simulator, recipe, morphology, n_compartments = "x", None, None, 0

        def run(self, tstop_ms, dt_ms=0.025):
            return {}

    assert not isinstance(Partial(), Cell)


@pytest.fixture(scope="module")
def runs():
    """The same tiny protocol in both backends: results per simulator."""
    out = {}
    for simulator in ("neuron", "brian2"):
        cell = load_cell("ca1", simulator=simulator)
        group = cell.add_synapses(3, [0.3, 0.7], kinds=("ampa", "nmda"))
        cell.activate(group, [1.0, 2.0])
        step = cell.add_step_current(0, 0.5, amp_nA=0.3, delay_ms=1.0, dur_ms=2.0)
        wave = cell.add_current_waveform(3, 0.5, [0.0, 2.0, 4.0], [0.0, 0.1, 0.0])
        cell.record("soma", 0, 0.5)
        cell.record("ica", 0, 0.5, variable="ica")
        out[simulator] = {
            "cell": cell, "is_cell": isinstance(cell, Cell), "group": group, "step": step, "wave": wave,
            "weights": cell.get_synapse_weights(group, "nmda"), "distance": cell.path_distance_um(3, 0.5),
            "n": cell.n_compartments, "traces": cell.run(4.0),
        }
        cell.close()
    return out


@pytest.mark.parametrize("simulator", ["neuron", "brian2"])
def test_backends_are_cells(runs, simulator):
    assert runs[simulator]["is_cell"]
    assert runs[simulator]["cell"].simulator == simulator


def test_return_types_agree(runs):
    a, b = runs["neuron"], runs["brian2"]
    for r in (a, b):
        assert isinstance(r["group"], SynapseGroup) and len(r["group"]) == 2
        assert (r["group"].branch_id, r["group"].positions, r["group"].kinds) == (3, (0.3, 0.7), ("ampa", "nmda"))
        assert isinstance(r["step"], CurrentClamp) and isinstance(r["wave"], CurrentWaveform)
        assert isinstance(r["weights"], np.ndarray) and isinstance(r["distance"], float)
        assert isinstance(r["n"], int) and isinstance(r["traces"], dict)
    assert a["step"] == b["step"] == CurrentClamp(0, 0.5, 0.3, 1.0, 2.0)
    np.testing.assert_array_equal(a["wave"].amp_nA, b["wave"].amp_nA)
    np.testing.assert_array_equal(a["weights"], b["weights"])
    assert a["distance"] == b["distance"] and a["n"] == b["n"]
    assert a["traces"].keys() == b["traces"].keys() == {"t_ms", "soma", "ica"}
    for key in a["traces"]:
        assert isinstance(b["traces"][key], np.ndarray) and a["traces"][key].shape == b["traces"][key].shape


def test_recordings_share_neurons_units(runs):
    """v in mV and ica in mA/cm2 in both, although Brian2 holds them in SI units."""
    a, b = runs["neuron"]["traces"], runs["brian2"]["traces"]
    np.testing.assert_allclose(b["soma"], a["soma"], atol=0.05)
    assert np.all(a["ica"] < 0)
    np.testing.assert_allclose(b["ica"], a["ica"], rtol=0.02)


# ---------------------------------------------------------------------------- compartment table
def test_table_is_simulator_free():
    code = ("import sys; from cells import get_recipe, load_morphology;"
            "from cells.compartments import compartment_table;"
            "compartment_table(get_recipe('l5pc'), load_morphology('l5pc'));"
            "print(sorted(m for m in ('neuron', 'brian2') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ["l5pc", "ca1"])
def test_table_columns(name):
    recipe, morph = get_recipe(name), load_morphology(name)
    table = compartment_table(recipe, morph)
    assert table.n == sum(lay.nseg for lay in table.sections)
    for column in (table.x, table.distance_um, table.length_um, table.area_um2, table.r_left_MOhm,
                   table.r_right_MOhm, table.cm_uF_per_cm2, table.Ra_ohm_cm, table.g_pas_S_per_cm2, table.e_pas_mV):
        assert column.shape == (table.n,) and np.all(np.isfinite(column))
    assert np.all(table.area_um2 > 0) and np.all((table.x > 0) & (table.x < 1))
    assert np.all(table.distance_um[table.branch_id == -1] == 0.0)        # the axon stub sits at the soma
    # a density follows its distribution: evaluate the recipe at one dendritic row
    r = int(np.argmax(table.distance_um))
    for channel in recipe.channels_for(table.branch_type[r]):
        if channel.gbar is not None:
            later = [c for c in recipe.channels_for(table.branch_type[r]) if c.mechanism == channel.mechanism]
            if later[-1] is channel:
                assert table.gbar_S_per_cm2[channel.mechanism][r] == channel.gbar(table.distance_um[r], table.context)
    for m, inserted in table.inserted.items():
        if m in table.gbar_S_per_cm2:
            assert np.all(table.gbar_S_per_cm2[m][~inserted] == 0.0)


def test_neuron_writes_the_table():
    """Every NEURON segment carries the table's nseg, passive values and densities."""
    recipe, morph = get_recipe("ca1"), load_morphology("ca1")
    cell = NeuronCell(recipe, morph)
    table = cell.table
    checked = 0
    for sec, _, rows in cell._typed_sections():
        assert sec.nseg == rows.stop - rows.start
        for seg, r in zip(sec, range(rows.start, rows.stop)):
            assert seg.x == table.x[r] and seg.g_pas == table.g_pas_S_per_cm2[r]
            for m, gbar in table.gbar_S_per_cm2.items():
                if table.inserted[m][r]:
                    assert getattr(seg, f"gbar_{m}") == gbar[r]
                    checked += 1
    assert checked > table.n
    cell.close()


def test_brian2_reads_the_table_with_units():
    """Brian2 holds the table's values in SI units, in its own compartment order."""
    from brian2 import amp, meter, siemens, volt

    cell = Brian2Cell(get_recipe("ca1"), load_morphology("ca1"))
    nrn, table, layout = cell.neuron, cell.table, cell.layout
    assert sorted(layout.row) == list(range(table.n))
    np.testing.assert_array_equal(nrn.area_[:], table.area_um2[layout.row] * 1e-12)
    np.testing.assert_array_equal(nrn.g_pas_[:], table.g_pas_S_per_cm2[layout.row] * 1e4)
    np.testing.assert_array_equal(nrn.gbar_NaCA1_[:], table.gbar_S_per_cm2["NaCA1"][layout.row] * 1e4)
    units = {"g_pas": siemens / meter ** 2, "e_pas": volt, "gbar_NaCA1": siemens / meter ** 2,
             "g_ion": siemens / meter ** 2, "gE_ion": amp / meter ** 2, "ica": amp / meter ** 2, "eca": volt,
             "r_ampa": siemens, "d_nmda": siemens, "I_syn": amp, "Im": amp / meter ** 2}
    for name, unit in units.items():
        assert nrn.variables[name].dim == unit.dim, name
    cell.close()
