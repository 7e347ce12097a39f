"""Detailed pyramidal cell models (layer 5 `l5pc`, CA1 `ca1`, or a registered type).

    from cells import load_cell
    cell = load_cell("l5pc")                                  # built-in morphology, NEURON
    cell = load_cell("ca1", morphology="my_cell.swc")         # your reconstruction
    cell = load_cell("l5pc", simulator="brian2")              # the same cell in Brian2

Every cell type (recipe, stimuli, validation plan, protocols) is declared once, in
`cells.types`. Importing this package imports neither NEURON nor Brian2; building a cell does.
"""
from __future__ import annotations

from cells.recipes import get_recipe
from cells.types import cell_type_names, get_cell_type, register_cell_type
from dendritic_errors import InputError

SIMULATORS = ("neuron", "brian2")

__all__ = ["SIMULATORS", "InputError", "cell_type_names", "get_cell_type", "get_recipe", "load_cell",
           "load_morphology", "make_cell_factory", "register_cell_type"]


def load_morphology(cell_name: str, morphology=None, seed: int = 0):
    """The built-in morphology of a cell type (seeded), a reconstruction (path) when given,
    or `morphology` itself when it is a `cells.morphology.Morphology` (e.g. a variant)."""
    from cells.morphology import Morphology, read_swc

    if morphology is None:
        return get_cell_type(cell_name).builtin_morphology(seed)
    if isinstance(morphology, Morphology):
        return morphology
    return read_swc(morphology)


def make_cell_factory(recipe, morphology, simulator: str = "neuron"):
    """A function returning a new cell of `recipe` on `morphology` in `simulator` at each call."""
    if simulator == "neuron":
        from cells.neuron_cell import NeuronCell

        return lambda: NeuronCell(recipe, morphology)
    if simulator == "brian2":
        from cells.brian2_cell import Brian2Cell

        return lambda: Brian2Cell(recipe, morphology)
    raise InputError(f"unknown simulator {simulator!r}: choose one of {', '.join(SIMULATORS)}")


def load_cell(name: str, morphology=None, simulator: str = "neuron", seed: int = 0, recipe=None):
    """Build cell type `name` on its built-in morphology (seeded) or a reconstruction, in
    NEURON (`NeuronCell`) or Brian2 (`Brian2Cell`); both implement the same cell contract.
    `recipe`: a recipe to use instead of the type's, e.g. one adapted to the morphology
    (`cells.adapt.read_adapted(path).recipe`)."""
    cell_type = get_cell_type(name)
    return make_cell_factory(recipe or cell_type.recipe, load_morphology(name, morphology, seed), simulator)()
