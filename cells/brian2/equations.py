"""The Brian2 model equations of a recipe: membrane currents, synaptic conductances, and the
per-step update code (NEURON's BREAKPOINT currents and nrn_state, in NEURON's order).

Units are declared (Brian2 checks them) wherever the expression is our own:
- passive: g_pas in siemens/meter**2, e_pas in volt;
- channels: gbar_<mech>, g_ion in siemens/meter**2; gE_ion (sum of g * E) and ica in
  amp/meter**2; eca in volt; gates dimensionless;
- synapses: conductances r_<kind>, d_<kind> and weights w_<kind> in siemens.
Kept dimensionless, in the .mod files' units, because they enter the rate expressions of
`cells.brian2_kinetics` verbatim (checked against NEURON to 1e-6 by
tests/test_brian2_kinetics.py, with v written `v/mV`): the RANGE parameters of the
channels (ehcn mV, ztau ms, ar, kd mM, hill), cai (mM) and CaDyn's parameters (gamma,
decay ms, depth um, minCai mM).
"""
from __future__ import annotations

from dataclasses import dataclass

from cells.brian2_kinetics import (CA_DYNAMICS, CADYN_DEFAULTS, CAO_MM, FARADAY_C_PER_MOL, GAS_CONSTANT_J_PER_K_MOL,
                                   MECHANISMS, SynapseKinetics, cadyn_drive, gate_tau_name, mg_block, rate_code)
from cells.recipe import CellRecipe

CA_READERS = ("CaHVA", "CaLVA", "SK")   # read cai: need CaDyn where they are inserted


def to_neuron_units(dim) -> float:
    """Factor from a Brian2 variable's SI value to NEURON's unit (mV, S/cm2, mA/cm2, uS, nA),
    so recordings come back in the units NeuronCell gives; 1 for dimensionless variables."""
    from brian2 import amp, meter, siemens, volt

    for unit, factor in ((volt, 1e3), (siemens / meter ** 2, 1e-4), (amp / meter ** 2, 0.1),
                         (siemens, 1e6), (amp, 1e9)):
        if unit.dim == dim:
            return factor
    return 1.0


@dataclass(frozen=True)
class Model:
    """The equations of one recipe's cell: its channels (without CaDyn) and synapse kinds."""
    recipe: CellRecipe
    mechanisms: tuple[str, ...]
    has_cadyn: bool
    kinds: dict                      # synapse kind -> cells.recipe.SynapseModel

    def equations(self) -> str:
        lines = ["g_pas : siemens/meter**2 (constant)", "e_pas : volt (constant)",
                 "stim_col : integer (constant)",
                 "g_ion : siemens/meter**2", "gE_ion : amp/meter**2"]   # sum of channel g, and of g * E
        for name in self.mechanisms:
            mech = MECHANISMS[name]
            lines.append(f"gbar_{name} : siemens/meter**2")
            lines += [f"{g}_{name} : 1" for g in mech.gates]
            lines += [f"{p}_{name} : 1" for p in mech.range_params]
        if self.has_cadyn:
            lines += ["cai : 1", "eca : volt", "ica : amp/meter**2"]
            lines += [f"{p}_{CA_DYNAMICS} : 1" for p in CADYN_DEFAULTS]
        syn_terms = []
        for kind, model in self.kinds.items():
            lines += [f"r_{kind} : siemens", f"d_{kind} : siemens"]
            block = ""
            if model.mechanism == "NMDA":
                block = "*" + mg_block("v/mV", dict(model.params).get("mg", 1.0))
            syn_terms.append(f"(d_{kind} - r_{kind}){block}*(v - {model.e_mV!r}*mV)")
        # channels are ohmic: i = g_ion v - gE_ion, with g_ion and gE_ion updated with the gates
        lines.append("Im = -(g_pas*(v - e_pas) + g_ion*v - gE_ion) : amp/meter**2")
        if syn_terms:
            lines.append(f"I_syn = -({' + '.join(syn_terms)}) : amp (point current)")
        lines.append("I_stim = bridge_stim(t, stim_col)*nA : amp (point current)")
        return "\n".join(lines)

    def synapse_model(self) -> str:
        return "\n".join(["frac : 1 (constant)"] + [f"w_{k} : siemens" for k in self.kinds])

    def on_pre(self) -> str:
        """Each event adds the peak-normalised dual exponential's jump to both its terms."""
        lines = []
        for kind, model in self.kinds.items():
            factor = SynapseKinetics(model.tau_rise_ms, model.tau_decay_ms).factor
            lines += [f"r_{kind}_post += frac*w_{kind}*{factor!r}", f"d_{kind}_post += frac*w_{kind}*{factor!r}"]
        return "\n".join(lines)

    def _conductance(self, name: str) -> str:
        from brian2.utils.stringtools import word_substitute

        mech = MECHANISMS[name]
        return "(" + word_substitute(mech.conductance, {g: f"{g}_{name}" for g in mech.gates}) + ")"

    def _erev(self, name: str) -> str:
        erev = MECHANISMS[name].erev
        fixed = {"ena": self.recipe.ena_mV, "ek": self.recipe.ek_mV}
        if erev in fixed:
            return f"{float(fixed[erev])!r}*mV"
        if erev == "eca":
            return "eca"
        return f"{erev}_{name}*mV"          # a RANGE parameter in mV (Ih's ehcn)

    def conductance_code(self) -> str:
        """g_ion, gE_ion (and ica) from the current gates: NEURON's BREAKPOINT currents."""
        g_terms, ge_terms = [], []
        for n in self.mechanisms:
            g = f"gbar_{n}*{self._conductance(n)}"
            g_terms.append(g)
            ge_terms.append(f"{g}*{self._erev(n)}")
        code = [f"g_ion = {' + '.join(g_terms) or '0*siemens/meter**2'}",
                f"gE_ion = {' + '.join(ge_terms) or '0*amp/meter**2'}"]
        if self.has_cadyn:
            terms = [f"gbar_{n}*{self._conductance(n)}*(v - eca)" for n in self.mechanisms
                     if MECHANISMS[n].ion == "ca"]
            code.append(f"ica = {' + '.join(terms) or '0*amp/meter**2'}")
        return "\n".join(code)

    def ktf2_mV(self) -> float:
        """RT/(2F) in mV at the recipe's temperature (Nernst for Ca)."""
        return 1000.0 * GAS_CONSTANT_J_PER_K_MOL * (self.recipe.temperature_C + 273.15) / FARADAY_C_PER_MOL / 2.0

    def eca_expression(self) -> str:
        return f"{self.ktf2_mV()!r}*mV*log({CAO_MM!r}/cai)"

    def update_blocks(self, index_range, n: int) -> list[tuple[int, int, str]]:
        """(lo, hi, code) blocks of NEURON's nrn_state, in order, each run on flat indices
        lo..hi-1 after the voltage solve; `index_range(mechanism)` gives a mechanism's range,
        `n` is the number of compartments. Steps over the same range share a block where
        their order allows (`merge_steps`): each block is a Brian2 object whose code is
        compiled and called at every time step, and each compartment sees the same
        operations in the same order either way."""
        return merge_steps(self.state_steps(index_range, n))

    def state_steps(self, index_range, n: int) -> list[tuple[int, int, str, frozenset]]:
        """NEURON's nrn_state as (lo, hi, code, after) steps, in NEURON's order; `after`: the
        indices of earlier steps this one must follow in each compartment (it reads what they
        write, or they read what it overwrites)."""
        from brian2.utils.stringtools import word_substitute

        steps = []
        if self.has_cadyn:       # reads the last step's ica, writes cai and eca
            lo, hi = index_range(CA_DYNAMICS)
            drive = cadyn_drive("ica/(mA/cm**2)", "gamma_CaDyn", "depth_CaDyn")
            code = (f"cai_inf = minCai_CaDyn + decay_CaDyn*{drive}\n"
                    f"cai = cai_inf + (cai - cai_inf)*exp(-dt/(decay_CaDyn*ms))\n"
                    f"eca = {self.eca_expression()}")
            steps.append((lo, hi, code, frozenset()))
        after_cadyn = frozenset(range(len(steps)))
        # the channels write only their own gates, so their order is free: those on every
        # compartment last, where the conductance step can join them
        for m in sorted(self.mechanisms, key=lambda m: (index_range(m) == (0, n), m)):
            mech = MECHANISMS[m]
            code = rate_code(mech, self.recipe.temperature_C, suffix=f"_{m}_r")
            code = [word_substitute(line, {f"{p}_{m}_r": f"{p}_{m}" for p in mech.range_params}) for line in code]
            for g in mech.gates:
                tau = f"{gate_tau_name(mech, g)}_{m}" + ("" if gate_tau_name(mech, g) in mech.range_params else "_r")
                code.append(f"{g}_{m} = {g}inf_{m}_r + ({g}_{m} - {g}inf_{m}_r)*exp(-dt/({tau}*ms))")
            steps.append((*index_range(m), "\n".join(code), after_cadyn))   # each writes its own gates only
        decay = []
        for kind, model in self.kinds.items():
            k = SynapseKinetics(model.tau_rise_ms, model.tau_decay_ms)
            decay += [f"r_{kind} = r_{kind}*exp(-dt/({k.rise_ms!r}*ms))",
                      f"d_{kind} = d_{kind}*exp(-dt/({model.tau_decay_ms!r}*ms))"]
        if decay:
            steps.append((0, n, "\n".join(decay), frozenset()))
        # reads every gate and eca; writes the ica that CaDyn read
        steps.append((0, n, self.conductance_code(), frozenset(range(len(steps)))))
        return steps

    def state_names(self) -> list[str]:
        """Every variable that changes during a run (saved after settling)."""
        names = ["v"]
        for m in self.mechanisms:
            names += [f"{g}_{m}" for g in MECHANISMS[m].gates]
        if self.has_cadyn:
            names += ["cai", "eca", "ica"]
        names += ["g_ion", "gE_ion"]
        for kind in self.kinds:
            names += [f"r_{kind}", f"d_{kind}"]
        return names


def merge_steps(steps) -> list[tuple[int, int, str]]:
    """(lo, hi, code) blocks from (lo, hi, code, after) steps: a step joins the last block on
    its own range that comes no earlier than any block holding a step it must follow, else
    starts a new block. Within a block the code runs compartment by compartment, steps in the
    order they joined, so each compartment's operations keep their order."""
    blocks, block_of = [], []                 # [lo, hi, [codes]]; step index -> block index
    for lo, hi, code, after in steps:
        first = max((block_of[i] for i in after), default=0)
        same = [b for b in range(first, len(blocks)) if blocks[b][:2] == [lo, hi]]
        if same:
            blocks[same[-1]][2].append(code)
            block_of.append(same[-1])
        else:
            blocks.append([lo, hi, [code]])
            block_of.append(len(blocks) - 1)
    return [(lo, hi, "\n".join(codes)) for lo, hi, codes in blocks]
