"""Cell recipes by name."""
from dendritic_errors import InputError
from cells.recipe import CellRecipe

CELL_NAMES = ("l5pc", "ca1")


def get_recipe(name: str) -> CellRecipe:
    if name == "l5pc":
        from cells.recipes.l5pc import RECIPE
    elif name == "ca1":
        from cells.recipes.ca1 import RECIPE
    else:
        raise InputError(f"unknown cell {name!r}: choose one of {', '.join(CELL_NAMES)}")
    return RECIPE
