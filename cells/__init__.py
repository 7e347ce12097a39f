"""Detailed pyramidal cell models (layer 5 `l5pc`, CA1 `ca1`), one recipe each.

    from cells import load_cell
    cell = load_cell("l5pc")                                  # built-in morphology, NEURON
    cell = load_cell("ca1", morphology="my_cell.swc")         # your reconstruction
    cell = load_cell("l5pc", simulator="brian2")              # the same cell in Brian2

Importing this package imports neither NEURON nor Brian2; building a cell does.
"""
from __future__ import annotations

from dendritic_errors import InputError
from cells.recipes import CELL_NAMES, get_recipe

SIMULATORS = ("neuron", "brian2")

__all__ = ["CELL_NAMES", "SIMULATORS", "InputError", "get_recipe", "load_cell", "load_morphology"]


def load_morphology(cell_name: str, morphology=None, seed: int = 0):
    """The built-in morphology of a cell type, or an SWC file (path) when given."""
    from cells.morphology import builtin_morphology, read_swc

    if morphology is None:
        return builtin_morphology(cell_name, seed=seed)
    return read_swc(morphology)


def load_cell(name: str, morphology=None, simulator: str = "neuron", seed: int = 0):
    """Build cell `name` ("l5pc" or "ca1") on its built-in morphology or an SWC file, in
    NEURON (`NeuronCell`) or Brian2 (`Brian2Cell`); both have the same interface."""
    recipe = get_recipe(name)
    morph = load_morphology(name, morphology, seed)
    if simulator == "neuron":
        from cells.neuron_cell import NeuronCell

        return NeuronCell(recipe, morph)
    if simulator == "brian2":
        from cells.brian2_cell import Brian2Cell

        return Brian2Cell(recipe, morph)
    raise InputError(f"unknown simulator {simulator!r}: choose one of {', '.join(SIMULATORS)}")
