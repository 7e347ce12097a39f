"""The recipe schema: region-specific synaptic weights, and provenance hashing."""
from __future__ import annotations

import dataclasses

import pytest

from cells import get_recipe, load_cell
from cells.recipe import SynapseModel

MODEL = SynapseModel("NMDA", 2.0, 50.0, 0.0, weight_uS=0.001,
                     region_weights_uS=(("dendrites", 0.002), ("basal", 0.003)))


@pytest.mark.parametrize("branch_type, expected_uS", [
    ("soma", 0.001), ("trunk", 0.002), ("oblique", 0.002), ("tuft", 0.002), ("basal", 0.003)])
def test_region_weight_later_entries_override(branch_type, expected_uS):
    assert MODEL.weight_for(branch_type) == expected_uS


def test_unknown_region_is_named():
    model = dataclasses.replace(MODEL, region_weights_uS=(("oriens", 0.002),))
    with pytest.raises(KeyError, match="oriens"):
        model.weight_for("basal")


def test_region_weights_enter_the_recipe_hash():
    recipe = get_recipe("ca1")
    changed = dataclasses.replace(recipe, synapses=tuple(
        (kind, dataclasses.replace(m, region_weights_uS=(("basal", 0.01),))) for kind, m in recipe.synapses))
    assert changed.sha256() != recipe.sha256()


def test_neuron_synapses_take_the_weight_of_their_branch():
    cell = load_cell("ca1")
    recipe = cell.recipe
    by_type = {b.type: b.id for b in cell.morphology.branches if b.type in ("basal", "oblique")}
    measured = {}
    for branch_type, branch_id in by_type.items():
        group = cell.add_synapses(branch_id, [0.5])
        for kind in ("ampa", "nmda"):
            measured[branch_type, kind] = cell.get_synapse_weights(group, kind)[0]
            assert measured[branch_type, kind] == pytest.approx(recipe.synapse(kind).weight_for(branch_type))
    cell.close()
    # the ca1 recipe gives basal inputs more NMDA conductance than apical ones (recipe docstring)
    assert measured["basal", "nmda"] > measured["oblique", "nmda"]
