"""Cell types: each declares, in one place, everything the project knows about it.

A `CellType` names its recipe (biophysics, `cells.recipe`), its built-in morphology, the
stimulus defaults its experiments use (`Stimuli`), its validation plan and published
targets (`cells.validation`), and the characterization protocols it supports
(`bridge characterize`). The built-in types are declared next to their recipes
(`cells/recipes/l5pc.py`, `cells/recipes/ca1.py`); users add their own:

    from cells.types import CellType, Stimuli, register_cell_type
    register_cell_type(CellType(name="my_cell", recipe=..., builtin_morphology=..., ...))
    cell = cells.load_cell("my_cell", morphology="my_cell.swc")

or, for the command line and worker processes, name the declaring module in
$BRIDGE_CELL_TYPES (`BRIDGE_CELL_TYPES=my_types bridge validate my_cell`).

Nothing here falls back to another type's values: a protocol whose stimulus a type does
not declare (e.g. BAC firing without `bac_site_um`) is refused for that type.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import Callable

from cells.recipe import CellRecipe
from dendritic_errors import InputError

# Every characterization protocol (bridge.characterize); a type lists those it supports.
ALL_PROTOCOLS = ("passive", "integration", "timing", "bap", "bac", "fi", "patterns", "cluster_dispersion", "invivo")
# Every validation protocol (cells.validation); a type's plan is a subset, in order.
VALIDATION_PROTOCOLS = ("passive", "fi", "bap", "bac", "attenuation", "nmda_basal", "oblique")


@dataclass(frozen=True)
class Cluster:
    """Where a clustered-input validation protocol puts its synapses: a terminal branch of
    `branch_type` near `distance_um` (`cells.experiments.sites.cluster_branch` with
    `prefer`), the cluster centred at `branch_x` of it; `sigmoid`: also judge the
    expected-vs-measured curve (Poirazi et al. 2003; Polsky et al. 2004)."""
    branch_type: str
    distance_um: float
    prefer: str = "closest"
    branch_x: float = 0.6
    sigmoid: bool = False


@dataclass(frozen=True)
class Stimuli:
    """A cell type's stimulus defaults (each with its source in the declaring module)."""
    bap_pulse: tuple[float, float]                 # somatic pulse (amp_nA, dur_ms): bAP, BAC, compare
    bap_distances_um: tuple[float, ...]            # validation: bAP recorded on the main apical path
    fi_currents_nA: tuple[float, ...]              # characterization: f-I steps of `fi_step_ms`
    fi_validation_nA: tuple[float, ...]            # validation: f-I steps
    fi_validation_ms: float                        # ... their duration
    fi_validation_fast_ms: float | None = None     # ... with `--fast` (None: unchanged)
    fi_holding_nA: float = 0.0                     # ... on a holding current
    fi_step_ms: float = 500.0
    bac_site_um: float | None = None               # BAC dendritic site on the main apical path; None: no BAC
    attenuation_distances_um: tuple[float, ...] = ()   # validation: trunk attenuation sites
    nmda_basal: Cluster | None = None              # validation: the basal NMDA spike
    oblique: Cluster | None = None                 # validation: the oblique dendritic Na spike


@dataclass(frozen=True)
class CellType:
    name: str
    description: str
    recipe: CellRecipe
    builtin_morphology: Callable                   # seed -> cells.morphology.Morphology
    stimuli: Stimuli
    validation: tuple[str, ...] = ()               # validation protocols, in order
    targets: tuple = ()                            # cells.validation.targets.Target rows
    protocols: tuple[str, ...] = ALL_PROTOCOLS     # characterization protocols supported
    references: tuple[str, ...] = field(default=())
    free_parameters: tuple = ()                    # cells.adapt.FreeParameter rows: what `bridge adapt` may scale

    def __post_init__(self):
        unknown = [p for p in self.protocols if p not in ALL_PROTOCOLS]
        unknown += [p for p in self.validation if p not in VALIDATION_PROTOCOLS]
        if unknown:
            raise InputError(f"cell type {self.name!r}: unknown protocol(s) {', '.join(unknown)}")
        if "bac" in self.protocols + self.validation and self.stimuli.bac_site_um is None:
            raise InputError(f"cell type {self.name!r}: BAC firing needs stimuli.bac_site_um")
        for name, cluster in (("nmda_basal", self.stimuli.nmda_basal), ("oblique", self.stimuli.oblique)):
            if name in self.validation and cluster is None:
                raise InputError(f"cell type {self.name!r}: validation {name!r} needs stimuli.{name}")
        for p in self.free_parameters:
            missing = [q for q in p.protocols if q not in self.validation]
            if missing:
                raise InputError(f"cell type {self.name!r}: free parameter {p.name!r} acts on protocol(s) "
                                 f"{', '.join(missing)} outside its validation plan")
        if "attenuation" in self.validation and not self.stimuli.attenuation_distances_um:
            raise InputError(f"cell type {self.name!r}: validation 'attenuation' needs stimuli.attenuation_distances_um")

    @property
    def target_map(self) -> dict:
        return {t.feature: t for t in self.targets}


_REGISTRY: dict[str, CellType] = {}
_BUILTIN_MODULES = {"l5pc": "cells.recipes.l5pc", "ca1": "cells.recipes.ca1"}   # declared lazily
PLUGIN_ENV = "BRIDGE_CELL_TYPES"
"""Comma-separated modules that declare a `CELL_TYPE` (or call `register_cell_type`): imported
on first use, so the command line and spawned worker processes know those types too."""
_PLUGINS_LOADED: set[str] = set()


def _load_plugins() -> None:
    for module in filter(None, (m.strip() for m in os.environ.get(PLUGIN_ENV, "").split(","))):
        if module in _PLUGINS_LOADED:
            continue
        _PLUGINS_LOADED.add(module)
        try:
            declared = getattr(importlib.import_module(module), "CELL_TYPE", None)
        except ImportError as err:
            raise InputError(f"${PLUGIN_ENV}: cannot import cell-type module {module!r} ({err})") from None
        if declared is not None:
            _REGISTRY.setdefault(declared.name, declared)


def register_cell_type(cell_type: CellType, replace: bool = False) -> CellType:
    """Make `cell_type` known by name to load_cell, validate, characterize and compare."""
    if not replace and cell_type.name in cell_type_names() and get_cell_type(cell_type.name) is not cell_type:
        raise InputError(f"cell type {cell_type.name!r} is already registered (replace=True to override)")
    _REGISTRY[cell_type.name] = cell_type
    return cell_type


def unregister_cell_type(name: str) -> None:
    _REGISTRY.pop(name, None)


def cell_type_names() -> tuple[str, ...]:
    _load_plugins()
    return tuple(dict.fromkeys([*_BUILTIN_MODULES, *_REGISTRY]))


def get_cell_type(name: str) -> CellType:
    """The registered cell type `name`; InputError naming the known ones otherwise."""
    _load_plugins()
    if name not in _REGISTRY and name in _BUILTIN_MODULES:
        _REGISTRY[name] = importlib.import_module(_BUILTIN_MODULES[name]).CELL_TYPE
    if name not in _REGISTRY:
        raise InputError(f"unknown cell {name!r}: choose one of {', '.join(cell_type_names())}")
    return _REGISTRY[name]
