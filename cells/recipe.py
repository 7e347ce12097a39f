"""A cell recipe: everything that defines a detailed cell model except the simulator.

morphology (built-in name or SWC) + passive properties per region + channel densities as
functions of path distance + synapse models. The NEURON and Brian2 backends both build
from a recipe; nothing about a cell's parameters is defined anywhere else.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields, is_dataclass

# Regions group branch types (see cells.morphology.BRANCH_TYPES).
REGIONS: dict[str, tuple[str, ...]] = {
    "soma": ("soma",),
    "axon": ("axon",),
    "basal": ("basal",),
    "apical": ("trunk", "oblique", "tuft"),
    "trunk": ("trunk",),
    "oblique": ("oblique",),
    "tuft": ("tuft",),
    "dendrites": ("basal", "trunk", "oblique", "tuft"),
    "all": ("soma", "axon", "basal", "trunk", "oblique", "tuft"),
}


@dataclass(frozen=True)
class Passive:
    cm_uF_per_cm2: float
    g_pas_S_per_cm2: float
    e_pas_mV: float
    Ra_ohm_cm: float


@dataclass(frozen=True)
class Channel:
    """One mechanism inserted in some regions; `gbar` is a distribution over path distance.

    `params` are other RANGE parameters of the mechanism (e.g. CaDyn's `gamma`), constant
    over the regions listed.
    """
    mechanism: str
    regions: tuple[str, ...]
    gbar: object | None                # a cells.distributions distribution (S/cm2); None: no density
    params: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class SynapseModel:
    """A synapse type: mechanism, kinetics and the peak conductance of one synapse.

    `weight_uS` is the default peak conductance; `region_weights_uS` overrides it per region
    ((region, uS), later entries override earlier), for inputs whose strength differs between
    dendritic domains (e.g. basal vs apical inputs)."""
    mechanism: str
    tau_rise_ms: float
    tau_decay_ms: float
    e_mV: float
    weight_uS: float
    params: tuple[tuple[str, float], ...] = ()
    region_weights_uS: tuple[tuple[str, float], ...] = ()

    def weight_for(self, branch_type: str) -> float:
        """Peak conductance (uS) of one synapse on a branch of this type."""
        weight = self.weight_uS
        for region, value in self.region_weights_uS:
            if region not in REGIONS:
                raise KeyError(f"synapse {self.mechanism}: unknown region {region!r}; choose from {', '.join(REGIONS)}")
            if branch_type in REGIONS[region]:
                weight = value
        return weight


@dataclass(frozen=True)
class AxonStub:
    """Reconstructed axons are cut and vary; like Hay et al. 2011 we replace them by a stub
    of `n_sections` cylinders of `length_um` and `diam_um` (an initial segment)."""
    n_sections: int = 2
    length_um: float = 30.0
    diam_um: float = 1.0


@dataclass(frozen=True)
class CellRecipe:
    name: str
    description: str
    references: tuple[str, ...]
    temperature_C: float
    v_init_mV: float
    ena_mV: float
    ek_mV: float
    passive: tuple[tuple[str, Passive], ...]  # (region, Passive); later entries override earlier
    channels: tuple[Channel, ...]
    synapses: tuple[tuple[str, SynapseModel], ...]  # ("ampa", ...), ("nmda", ...), ("gabaa", ...)
    axon: AxonStub = field(default_factory=AxonStub)
    d_lambda: float = 0.1
    d_lambda_freq_hz: float = 100.0

    def passive_for(self, branch_type: str) -> Passive:
        chosen = None
        for region, passive in self.passive:
            if branch_type in REGIONS[region]:
                chosen = passive
        if chosen is None:
            raise KeyError(f"recipe {self.name!r} gives no passive properties for {branch_type!r}")
        return chosen

    def channels_for(self, branch_type: str) -> list[Channel]:
        return [c for c in self.channels if any(branch_type in REGIONS[r] for r in c.regions)]

    def synapse(self, kind: str) -> SynapseModel:
        return dict(self.synapses)[kind]

    @property
    def mechanisms(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.mechanism for c in self.channels))

    def sha256(self) -> str:
        """Hash of every number and name in the recipe: provenance for datasets."""
        return hashlib.sha256(_canonical(self).encode()).hexdigest()


def _canonical(obj) -> str:
    if is_dataclass(obj):
        inner = ",".join(f"{f.name}={_canonical(getattr(obj, f.name))}" for f in fields(obj))
        return f"{type(obj).__name__}({inner})"
    if isinstance(obj, (tuple, list)):
        return "(" + ",".join(_canonical(x) for x in obj) + ")"
    if isinstance(obj, float):
        return repr(float(obj))
    return repr(obj)
