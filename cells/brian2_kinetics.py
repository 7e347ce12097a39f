"""The channel kinetics of cells/mechanisms/*.mod, written a second time for Brian2.

Each `Mechanism` gives, from the same papers as its .mod file (cited there), the rate
functions as Brian2 expressions in NEURON's units: `v` is the membrane potential in mV,
time constants are in ms, `cai` in mM, conductances in S/cm2. `efun(x, k) = x / (1 -
exp(-x/k))` of the .mod files is written `k / exprel(-x/k)` (exact at x = 0). NEURON's
GLOBAL parameters become numbers in the expressions; RANGE parameters (`gbar`, `ar`,
`ehcn`, ...) become per-compartment variables named `<param>_<mechanism>`, as NEURON names
them on a segment.

tests/test_brian2_kinetics.py evaluates every steady state and time constant here through
Brian2 and the same quantities in NEURON (the .mod `rates` procedures), over -120..+60 mV,
and requires agreement to 1e-6 relative.

Integration is NEURON's `cnexp`: x <- xinf + (x - xinf) exp(-dt / xtau), with the rates at
the new membrane potential (`Brian2Cell` orders the updates as NEURON does).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

# NEURON 9 physical constants (CODATA 2018), as nrnunits.lib gives them to the .mod files
FARADAY_C_PER_MOL = 96485.33212331001
GAS_CONSTANT_J_PER_K_MOL = 8.31446261815324
CAO_MM = 2.0          # NEURON's default extracellular Ca (cao0_ca_ion)


def frt(celsius: float) -> float:
    """F/RT in 1/mV as the Migliore et al. 1999 .mod files write it (their rounded constants)."""
    return 1e-3 * 9.648e4 / (8.315 * (273.16 + celsius))


def nernst_ca_mV(cai_mM: float, celsius: float, cao_mM: float = CAO_MM) -> float:
    """eca as NEURON computes it from cai (written by CaDyn) and cao: RT/(2F) ln(cao/cai)."""
    ktf = 1000.0 * GAS_CONSTANT_J_PER_K_MOL * (celsius + 273.15) / FARADAY_C_PER_MOL
    return ktf / 2.0 * math.log(cao_mM / cai_mM)


@dataclass(frozen=True)
class Mechanism:
    """A channel: gates with steady states `<g>inf` and time constants `<g>tau` defined by
    `rates` (lines `name = expression`), conductance `gbar * conductance`, current
    `g * (v - erev)` carried by `ion` ("na", "k", "ca") or nonspecific (ion None)."""
    name: str
    ion: str | None
    erev: str                       # "ena", "ek", "eca" or a RANGE parameter such as "ehcn"
    gates: tuple[str, ...]
    conductance: str
    rates: str                      # `<g>tau` may instead be a RANGE parameter (SK's ztau)
    range_params: dict = field(default_factory=dict)   # RANGE PARAMETERs besides gbar: defaults
    temperature: tuple[float, float] | None = None     # (q10, tref): qt = q10 ** ((celsius - tref) / 10)

    def rate_lines(self, celsius: float) -> list[tuple[str, str]]:
        """(name, expression) of the rate functions at this temperature, in order."""
        lines = []
        if self.temperature is not None:
            q10, tref = self.temperature
            lines.append(("qt", repr(q10 ** ((celsius - tref) / 10.0))))
        for raw in self.rates.strip().splitlines():
            raw = raw.split("#")[0].strip()
            if not raw:
                continue
            name, expr = (s.strip() for s in raw.split("=", 1))
            lines.append((name, expr.replace("FRT", repr(frt(celsius)))))
        return lines


NA, K, CA = "na", "k", "ca"

MECHANISMS: dict[str, Mechanism] = {m.name: m for m in (
    Mechanism("NaTa", NA, "ena", ("m", "h"), "m**3*h", temperature=(2.3, 21.0), rates="""
        am = 0.182*6/exprel(-(v + 38)/6)
        bm = 0.124*6/exprel((v + 38)/6)
        minf = am/(am + bm)
        mtau = 1/((am + bm)*qt)
        ah = 0.015*6/exprel((v + 66)/6)
        bh = 0.015*6/exprel(-(v + 66)/6)
        hinf = ah/(ah + bh)
        htau = 1/((ah + bh)*qt)
    """),
    Mechanism("Nap", NA, "ena", ("m", "h"), "m**3*h", temperature=(2.3, 21.0), rates="""
        minf = 1/(1 + exp(-(v + 52.6)/4.6))
        am = 0.182*6/exprel(-(v + 38)/6)
        bm = 0.124*6/exprel((v + 38)/6)
        mtau = 6/((am + bm)*qt)
        hinf = 1/(1 + exp((v + 48.8)/10))
        ah = 2.88e-6*4.63/exprel((v + 17)/4.63)
        bh = 6.94e-6*2.63/exprel(-(v + 64.4)/2.63)
        htau = 1/((ah + bh)*qt)
    """),
    Mechanism("Kv3", K, "ek", ("m",), "m", temperature=(1.0, 34.0), rates="""
        minf = 1/(1 + exp(-(v - 18.7)/9.7))
        mtau = 4/(1 + exp(-(v + 46.56)/44.14))/qt
    """),
    Mechanism("KTst", K, "ek", ("m", "h"), "m**4*h", temperature=(2.3, 21.0), rates="""
        u = v + 10
        minf = 1/(1 + exp(-u/19))
        mtau = (0.34 + 0.92*exp(-((u + 71)/59)**2))/qt
        hinf = 1/(1 + exp((u + 66)/10))
        htau = (8 + 49*exp(-((u + 73)/23)**2))/qt
    """),
    Mechanism("KPst", K, "ek", ("m", "h"), "m**2*h", temperature=(2.3, 21.0), rates="""
        u = v + 10
        minf = 1/(1 + exp(-(u + 1)/12))
        mtau = (int(u < -50)*(1.25 + 175.03*exp(0.026*u)) + int(u >= -50)*(1.25 + 13*exp(-0.026*u)))/qt
        hinf = 1/(1 + exp((u + 54)/11))
        htau = (360 + (1010 + 24*(u + 55))*exp(-((u + 75)/48)**2))/qt
    """),
    Mechanism("CaHVA", CA, "eca", ("m", "h"), "m**2*h", temperature=(1.0, 34.0), rates="""
        am = 0.055*3.8/exprel(-(v + 27)/3.8)
        bm = 0.94*exp((-75 - v)/17)
        minf = am/(am + bm)
        mtau = 1/((am + bm)*qt)
        ah = 0.000457*exp((-13 - v)/50)
        bh = 0.0065/(exp((-15 - v)/28) + 1)
        hinf = ah/(ah + bh)
        htau = 1/((ah + bh)*qt)
    """),
    Mechanism("CaLVA", CA, "eca", ("m", "h"), "m**2*h", temperature=(2.3, 21.0), rates="""
        u = v + 10
        minf = 1/(1 + exp(-(u + 30)/6))
        mtau = (5 + 20/(1 + exp((u + 25)/5)))/qt
        hinf = 1/(1 + exp((u + 80)/6.4))
        htau = (20 + 50/(1 + exp((u + 40)/7)))/qt
    """),
    Mechanism("Ih", None, "ehcn", ("m",), "m", temperature=(1.0, 34.0), range_params={"ehcn": -45.0}, rates="""
        am = 0.00643*11.9/exprel((v + 154.9)/11.9)
        bm = 0.193*exp(v/33.1)
        minf = am/(am + bm)
        mtau = 1/((am + bm)*qt)
    """),
    Mechanism("Im", K, "ek", ("m",), "m", temperature=(2.3, 21.0), rates="""
        am = 3.3e-3*exp(0.1*(v + 35))
        bm = 3.3e-3*exp(-0.1*(v + 35))
        minf = am/(am + bm)
        mtau = 1/((am + bm)*qt)
    """),
    Mechanism("SK", K, "ek", ("z",), "z", range_params={"kd": 0.00043, "hill": 4.8, "ztau": 1.0}, rates="""
        c = cai + 1e-7*int(cai < 1e-7)
        zinf = 1/(1 + (kd/c)**hill)
    """),
    # Migliore et al. 1999 CA1 channels (F/RT written as in their .mod files)
    Mechanism("KAProx", K, "ek", ("n", "l"), "n*l", temperature=(5.0, 24.0), rates="""
        zeta = -1.5 + -1/(1 + exp((v - -40)/5))
        an = exp(zeta*(v - 11)*FRT)
        bn = exp(zeta*0.55*(v - 11)*FRT)
        ninf = 1/(1 + an)
        ntau = clip(bn/(qt*0.05*(1 + an)), 0.1, inf)
        al = exp(3*(v - -56)*FRT)
        linf = 1/(1 + al)
        ltau = clip(0.26*(v + 50), 2, inf)
    """),
    Mechanism("KADist", K, "ek", ("n", "l"), "n*l", temperature=(5.0, 24.0), rates="""
        zeta = -1.8 + -1/(1 + exp((v - -40)/5))
        an = exp(zeta*(v - -1)*FRT)
        bn = exp(zeta*0.39*(v - -1)*FRT)
        ninf = 1/(1 + an)
        ntau = clip(bn/(qt*0.1*(1 + an)), 0.1, inf)
        al = exp(3*(v - -56)*FRT)
        linf = 1/(1 + al)
        ltau = clip(0.26*(v + 50), 2, inf)
    """),
    Mechanism("KdrCA1", K, "ek", ("n",), "n", temperature=(1.0, 24.0), rates="""
        an = exp(-3*(v - 13)*FRT)
        bn = exp(-3*0.7*(v - 13)*FRT)
        ninf = 1/(1 + an)
        ntau = clip(bn/(qt*0.02*(1 + an)), 2, inf)
    """),
    Mechanism("NaCA1", NA, "ena", ("m", "h", "s"), "m**3*h*s", temperature=(2.0, 24.0), range_params={"ar": 1.0},
              rates="""
        am = 0.4*7.2/exprel(-(v - -30)/7.2)
        bm = 0.124*7.2/exprel((v - -30)/7.2)
        minf = am/(am + bm)
        mtau = clip(1/((am + bm)*qt), 0.02, inf)
        ah = 0.03*1.5/exprel(-(v - -45)/1.5)
        bh = 0.01*1.5/exprel((v - -45)/1.5)
        htau = clip(1/((ah + bh)*qt), 0.5, inf)
        hinf = 1/(1 + exp((v - -50)/4))
        c = 1/(1 + exp((v - -58)/2))
        sinf = c + ar*(1 - c)
        stau = clip(exp(12*0.2*(v - -60)*FRT)/(0.0003*(1 + exp(12*(v - -60)*FRT))), 10, inf)
    """),
)}

# NaCA1 names its slow-inactivation time constant `taus` in the .mod file
NEURON_TAU_NAMES = {("NaCA1", "s"): "taus"}

CA_DYNAMICS = "CaDyn"
CADYN_DEFAULTS = {"gamma": 0.05, "decay": 80.0, "depth": 0.1, "minCai": 1e-4}


def cadyn_drive(ica_mA_per_cm2: str, gamma: str, depth: str) -> str:
    """Influx term of CaDyn.mod in mM/ms: -1e4 ica gamma / (2 F depth)."""
    return f"(-10000*({ica_mA_per_cm2})*({gamma})/(2*{FARADAY_C_PER_MOL!r}*({depth})))"


@dataclass(frozen=True)
class SynapseKinetics:
    """AMPA.mod / NMDA.mod / GABAA.mod: dual exponential normalised to its peak."""
    tau_rise_ms: float
    tau_decay_ms: float

    @property
    def factor(self) -> float:
        tr = min(self.tau_rise_ms, 0.999 * self.tau_decay_ms)
        td = self.tau_decay_ms
        tp = tr * td / (td - tr) * math.log(td / tr)
        return 1.0 / (math.exp(-tp / td) - math.exp(-tp / tr))

    @property
    def rise_ms(self) -> float:
        return min(self.tau_rise_ms, 0.999 * self.tau_decay_ms)


def mg_block(v: str, mg_mM: float) -> str:
    """Jahr & Stevens 1990 (NMDA.mod): 1 / (1 + mg/3.57 exp(-0.062 v)), v in mV."""
    return f"(1/(1 + {mg_mM!r}/3.57*exp(-0.062*({v}))))"


def rate_code(mechanism: Mechanism, celsius: float, suffix: str, v: str = "(v/mV)") -> list[str]:
    """The rate functions as Brian2 statements `<name><suffix> = ...` (temporaries in an
    update block, or subexpressions when `: 1` is appended), `v` replaced by `v`."""
    from brian2.utils.stringtools import word_substitute

    lines = mechanism.rate_lines(celsius)
    rename = {n: f"{n}{suffix}" for n, _ in lines}
    rename.update({p: f"{p}{suffix}" for p in mechanism.range_params})
    rename["v"] = v
    return [f"{n}{suffix} = {word_substitute(expr, rename)}" for n, expr in lines]


def gate_tau_name(mechanism: Mechanism, gate: str) -> str:
    """`<gate>tau`: a rate function, or a RANGE parameter (SK's ztau)."""
    return f"{gate}tau"


def evaluate_rates(mechanism: Mechanism, celsius: float, inputs: dict) -> dict:
    """Every rate function of a mechanism (`minf`, `mtau`, ...), evaluated by Brian2 from the
    expressions above at the given `v` (mV), `cai` (mM) and RANGE parameters (arrays or
    numbers; missing RANGE parameters take the .mod defaults)."""
    import numpy as np
    from brian2 import NeuronGroup, prefs

    v = np.atleast_1d(np.asarray(inputs["v"], float))
    eqs = ["V : 1", "cai : 1"] + [f"{p} : 1" for p in mechanism.range_params]
    eqs += [f"{line} : 1" for line in rate_code(mechanism, celsius, suffix="", v="V")]
    from brian2.utils.logger import BrianLogger

    BrianLogger.suppress_name("unused_brian_object")   # a throw-away group, never run
    target = prefs.codegen.target
    prefs.codegen.target = "numpy"
    try:
        group = NeuronGroup(len(v), "\n".join(eqs), namespace={}, name="rates*")
        group.V = v
        group.cai = np.broadcast_to(np.asarray(inputs.get("cai", CADYN_DEFAULTS["minCai"]), float), v.shape)
        for p, default in mechanism.range_params.items():
            setattr(group, p, np.broadcast_to(np.asarray(inputs.get(p, default), float), v.shape))
        out = {name: np.array(getattr(group, name)[:]) for name, _ in mechanism.rate_lines(celsius)}
        for p in mechanism.range_params:
            out[p] = np.array(getattr(group, p)[:])
    finally:
        prefs.codegen.target = target
    return out


def steady_states(mechanism: Mechanism, celsius: float, inputs: dict) -> dict:
    """Gate -> steady state (`<gate>inf`) at the given inputs (NEURON's INITIAL blocks)."""
    rates = evaluate_rates(mechanism, celsius, inputs)
    return {g: rates[f"{g}inf"] for g in mechanism.gates}
