"""`from cells.brian2_cell import Brian2Cell` keeps working: the backend lives in `cells.brian2`."""
from cells.brian2 import Brian2Cell, Brian2SynapseGroup, brian2_cache_dir

__all__ = ["Brian2Cell", "Brian2SynapseGroup", "brian2_cache_dir"]
