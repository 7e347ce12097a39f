"""Cell recipes of the built-in cell types; each module also declares its `CELL_TYPE`
(cells.types), the one place a type's stimuli, validation plan and protocols live."""
from cells.recipe import CellRecipe


def get_recipe(name: str) -> CellRecipe:
    """The recipe of a registered cell type (InputError naming the known types otherwise)."""
    from cells.types import get_cell_type

    return get_cell_type(name).recipe
