"""Channel densities as functions of path distance from the soma.

A distribution is a small frozen dataclass: its fields are the published numbers, its
`__call__(distance_um, context)` gives the density (S/cm2, or whatever the parameter's
unit is). Both simulator backends evaluate the same objects, so a density is defined
once, in the recipe. `context` carries morphology-wide quantities some published
distributions are normalised by (Hay et al. 2011 scale Ih by the maximal apical distance).
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class MorphologyContext:
    max_apical_distance_um: float   # furthest apical point from the soma (path distance)
    nexus_distance_um: float        # path distance of the main apical bifurcation (NaN without one)


def morphology_context(morphology) -> MorphologyContext:
    """The morphology-wide quantities of a `cells.morphology.Morphology` that distributions use.

    Lives here (not in `cells.neuron_cell`) so that evaluating densities, e.g. for plots,
    needs no simulator; `cells.neuron_cell.morphology_context` is the same function.
    """
    apical = [b for b in morphology.branches if b.type in ("trunk", "oblique", "tuft")]
    max_apical = max((b.path_distance_at(1.0) for b in apical), default=1.0)
    nexus_id = morphology.main_bifurcation_id
    nexus = morphology.branches[nexus_id].path_distance_at(1.0) if nexus_id is not None else math.nan
    return MorphologyContext(max_apical_distance_um=max_apical, nexus_distance_um=nexus)


@dataclass(frozen=True)
class Uniform:
    value: float

    def __call__(self, distance_um: float, context: MorphologyContext) -> float:
        return self.value


@dataclass(frozen=True)
class Exponential:
    """value * (offset + amplitude * exp(rate * d / length)), d the path distance.

    `length_um=None` normalises by the maximal apical distance, as Hay et al. 2011 did
    for Ih (PLoS Comput Biol 7:e1002107, Methods).
    """
    value: float
    offset: float
    amplitude: float
    rate: float
    length_um: float | None = None

    def __call__(self, distance_um: float, context: MorphologyContext) -> float:
        length = self.length_um or context.max_apical_distance_um
        return self.value * (self.offset + self.amplitude * math.exp(self.rate * distance_um / length))


@dataclass(frozen=True)
class Sigmoid:
    """low + (high - low) / (1 + exp(-(d - half_um) / slope_um)): a rising sigmoidal gradient."""
    low: float
    high: float
    half_um: float
    slope_um: float

    def __call__(self, distance_um: float, context: MorphologyContext) -> float:
        return self.low + (self.high - self.low) / (1.0 + math.exp(-(distance_um - self.half_um) / self.slope_um))


@dataclass(frozen=True)
class Window:
    """`inside` between start_um and end_um (path distance), `outside` elsewhere (Hay's Ca hot zone)."""
    inside: float
    outside: float
    start_um: float
    end_um: float

    def __call__(self, distance_um: float, context: MorphologyContext) -> float:
        return self.inside if self.start_um <= distance_um <= self.end_um else self.outside


@dataclass(frozen=True)
class Linear:
    """value * (1 + d / length_um), capped at d = cap_um: the A-type K rise of Hoffman et al. 1997
    as modelled by Migliore et al. 1999 (J Comput Neurosci 7:5)."""
    value: float
    length_um: float
    cap_um: float = math.inf

    def __call__(self, distance_um: float, context: MorphologyContext) -> float:
        return self.value * (1.0 + min(distance_um, self.cap_um) / self.length_um)


@dataclass(frozen=True)
class Between:
    """`inner` distribution inside [start_um, end_um), `outside` elsewhere: splits a gradient
    between two mechanisms (proximal and distal A-type K at 100 um)."""
    inner: object
    start_um: float
    end_um: float
    outside: float = 0.0

    def __call__(self, distance_um: float, context: MorphologyContext) -> float:
        if self.start_um <= distance_um < self.end_um:
            return self.inner(distance_um, context)
        return self.outside
