"""Published targets the cell models are validated against; each names its source.

A cell type lists its targets (`CellType.targets`, cells.types); the built-in types' are here.

Numbers come from ../shared/reference/TARGETS.md unless a row says otherwise. "Pass" is
mean +- 3 SD where a source gives mean +- SD; ranges and qualitative criteria are made
numbers here, next to their source.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    feature: str
    unit: str
    source: str
    mean: float = math.nan
    sd: float = math.nan
    lower: float = -math.inf
    upper: float = math.inf
    n_sd: float = 3.0

    @property
    def bounds(self) -> tuple[float, float]:
        if not math.isnan(self.mean):
            return self.mean - self.n_sd * self.sd, self.mean + self.n_sd * self.sd
        return self.lower, self.upper

    def passes(self, value: float) -> bool:
        lo, hi = self.bounds
        return (not math.isnan(value)) and lo <= value <= hi

    def describe(self) -> str:
        if not math.isnan(self.mean):
            return f"{self.mean:g} ± {self.sd:g} {self.unit}".strip()
        lo, hi = self.lower, self.upper
        if lo == -math.inf:
            return f"≤ {hi:g} {self.unit}".strip()
        if hi == math.inf:
            return f"≥ {lo:g} {self.unit}".strip()
        if self.unit == "bool":
            return "yes"
        return f"{lo:g}–{hi:g} {self.unit}".strip()


def flag(feature: str, source: str) -> Target:
    """A yes/no criterion: measured 1.0 passes, 0.0 fails."""
    return Target(feature, "bool", source, lower=0.5, upper=1.5)


HAY = "Hay et al. 2011 (PLoS Comput Biol 7:e1002107), BluePyOpt L5PC features"
SCHILLER = "Schiller et al. 2000 (Nature 404:285)"
NMDA_CHARGE_FRACTION = 0.8   # NMDA receptors carry >= 80 % of an NMDA spike's charge (Schiller et al. 2000)
POIRAZI = "Poirazi, Brannon & Mel 2003 (Neuron 37:977), Fig. local dEPSP expected vs actual"
POLSKY = "Polsky, Mel & Schiller 2004 (Nat Neurosci 7:621)"
LARKUM = "Larkum, Zhu & Sakmann 1999 (Nature 398:338); Hay et al. 2011"
MAGEE_COOK = "Magee & Cook 2000 (Nat Neurosci 3:895), compiled by Tomko et al. 2021"
GOLDING = "Golding et al. 2005 (J Physiol 568:69), digitised cells 1-3"
LOSONCZY = "Losonczy & Magee 2006 (Neuron 50:291), digitised somatic dV/dt vs inputs relative to threshold"
# The digitised dV/dt points carry no SD: "pass" is within +-50 % of their mean, 0.95 V/s for
# the two counts below threshold (0.88, 1.01) and 2.64 V/s from threshold on (2.61, 2.77, 2.53).
# Not in TARGETS.md: broad ranges of somatic whole-cell recordings.
L5_PASSIVE = "typical of thick-tufted L5 somata in vitro (e.g. Stuart & Spruston 1998 J Neurosci 18:3501; Hay et al. 2011 model)"
CA1_PASSIVE = "typical of CA1 somata in vitro (Spruston & Johnston 1992 J Neurophysiol 67:508; Golding et al. 2005)"
CA1_BAP = "Spruston et al. 1995 (Science 268:297); Golding, Kath & Spruston 2001 (J Neurophysiol 86:2998)"
CA1_FI = "regular firing rising with current (e.g. Staff, Jung, Thiagarajan, Yao & Spruston 2000, J Neurophysiol 84:2398)"

# The basal NMDA spike, the same rows for both cells.
NMDA_SPIKE = (
    flag("nmda_spike_all_or_none", SCHILLER),
    Target("nmda_spike_soma_amplitude_mV", "mV", SCHILLER, mean=5.9, sd=1.5),
    Target("nmda_spike_soma_half_width_ms", "ms", SCHILLER, mean=64.0, sd=20.0),
    Target("nmda_spike_nmda_charge_fraction", "", SCHILLER, lower=NMDA_CHARGE_FRACTION, upper=1.0),
    flag("nmda_spike_abolished_by_nmda_block", SCHILLER),
)

# The targets of the two built-in cell types (their `CellType.targets`, cells.types).
L5PC_TARGETS = (
    Target("input_resistance_MOhm", "MΩ", L5_PASSIVE, lower=15.0, upper=80.0),
    Target("membrane_tau_ms", "ms", L5_PASSIVE, lower=5.0, upper=35.0),
    Target("fi_step1_hz", "Hz", HAY, mean=6.0, sd=1.22),
    Target("fi_step2_hz", "Hz", HAY, mean=8.5, sd=0.98),
    Target("fi_step3_hz", "Hz", HAY, mean=17.5, sd=0.8),
    Target("first_spike_step1_ms", "ms", HAY, mean=27.25, sd=5.72),
    Target("first_spike_step2_ms", "ms", HAY, mean=19.75, sd=2.88),
    Target("first_spike_step3_ms", "ms", HAY, mean=10.5, sd=1.36),
    Target("bap_amplitude_660um_mV", "mV", HAY, mean=45.0, sd=10.0),
    Target("bap_amplitude_800um_mV", "mV", HAY, mean=36.0, sd=9.33),
    Target("bap_soma_ap_height_mV", "mV", HAY, mean=25.0, sd=5.0),
    Target("bap_soma_spike_count", "", HAY, lower=1, upper=1),
    flag("bac_dendritic_input_alone_no_spike", LARKUM),
    flag("bac_somatic_ap_alone_no_ca_spike", LARKUM),
    flag("bac_together_ca_spike_and_burst", LARKUM),
    *NMDA_SPIKE,
    flag("clustered_integration_sigmoidal", POLSKY),
)

CA1_TARGETS = (
    Target("input_resistance_MOhm", "MΩ", CA1_PASSIVE, lower=30.0, upper=150.0),
    Target("membrane_tau_ms", "ms", CA1_PASSIVE, lower=8.0, upper=45.0),
    Target("fi_rheobase_nA", "nA", CA1_FI, lower=0.05, upper=0.5),
    flag("fi_monotonic", CA1_FI),
    Target("bap_ratio_300um", "", CA1_BAP, lower=0.1, upper=0.7),
    Target("ss_attenuation_100um", "", GOLDING, lower=0.80, upper=0.96),
    Target("ss_attenuation_200um", "", GOLDING, lower=0.66, upper=0.88),
    Target("epsp_attenuation_100um", "", MAGEE_COOK, mean=0.67, sd=0.075),
    Target("epsp_attenuation_200um", "", MAGEE_COOK, mean=0.485, sd=0.108),
    Target("epsp_attenuation_300um", "", MAGEE_COOK, mean=0.282, sd=0.048),
    *NMDA_SPIKE,
    flag("clustered_integration_sigmoidal", POIRAZI),
    Target("clustered_jump_expected_mV", "mV", POIRAZI, lower=12.0, upper=32.0),
    Target("clustered_saturation_mV", "mV", POIRAZI, lower=35.0, upper=75.0),
    Target("na_spike_dvdt_below_V_per_s", "V/s", LOSONCZY, lower=0.95 * 0.5, upper=0.95 * 1.5),
    Target("na_spike_dvdt_above_V_per_s", "V/s", LOSONCZY, lower=2.64 * 0.5, upper=2.64 * 1.5),
    flag("na_spike_dvdt_jump", LOSONCZY),
    flag("na_spike_abolished_by_na_block", LOSONCZY),
    flag("na_spike_abolished_by_spread", LOSONCZY),
)
