"""CA1 pyramidal cell, after Poirazi, Brannon & Mel 2003 (Neuron 37:977) and the channel
distributions of Migliore, Hoffman, Magee & Johnston 1999 (J Comput Neurosci 7:5).

Na in soma and dendrites (with slow inactivation in dendrites, Migliore 1999), proximal and
distal A-type K whose density rises linearly with distance (Hoffman et al. 1997), Ih rising
sigmoidally along the trunk (Magee 1998), HVA/LVA Ca, SK and Im.

Published values (kept): somatic/dendritic Na 0.032 S/cm2 and Kdr 0.01 S/cm2 (Migliore et
al. 1999), the A-type K kinetics split at 100 um and its linear rise with distance
(x(1 + d/100 um), capped at 350 um; Hoffman et al. 1997 as modelled by Migliore et al. 1999),
Ih rising sigmoidally along the trunk (Magee 1998), synaptic kinetics as in TARGETS.md
(Poirazi et al. 2003). The dendritic spine factor 1.5 (on Cm and 1/Rm), the Ih, Ca, SK and Im
densities and the synaptic weights are this recipe's earlier choices, not checked against the
papers here.

Tuned here (to meet Golding et al. 2005, Magee & Cook 2000, the bAP ratio and the Poirazi 2003
oblique sigmoid on the built-in tree and on CA1 n120):
- somatic A-type K 0.021 S/cm2 (scaling the whole dendritic gradient, x(1 + d/100 um)) instead
  of Migliore's 0.048: with 0.048 (x4.5 at 350 um) the KA
  window current at rest dominates the membrane conductance (rest -74.5 mV with e_pas -65,
  Golding steady-state attenuation 0.77 at 100 um, and no firing up to 0.5 nA). 0.024 keeps the
  bAP decrementing (ratio ~0.3 at 300 um; 0.016 gives ~0.75, i.e. non-decrementing).
  Lowered further from 0.024 to 0.021 for the f-I target: with 0.024 the dendritic KA window
  current (mostly KADist, ~1/3 of the resting conductance) holds rest at -73 mV, a 0.4 nA step
  reaches only -58.5 mV (threshold ~-53 mV) and the cell fires only at 0.5 nA (0 spikes at 0.4,
  12 at 0.5, fi_monotonic fails). Somatic-only changes did not move the rheobase (soma/axon KA
  0 or 0.012, soma Na 0.04-0.048, axon Na x15, soma Kdr 0.005, e_pas -62, more Ih: 0.4 nA
  still subthreshold), because rest is set by the dendritic KA. With 0.021: rheobase 0.4 nA,
  4 / 16 spikes at 0.4 / 0.5 nA, bAP ratio 0.28. Caveat: the bAP ratio has a cliff just below
  this value (0.0205 and 0.020 give 0.72, i.e. the bAP stops decrementing), so do not lower
  GKA further. On CA1 n120 the f-I still fails with 0.021 (23 spikes at 0.4 nA, depolarization
  block at 0.5 nA). Cost on the built-in tree (full --fast run, 15/16): the basal NMDA spike is
  no longer abolished by NMDA block (nmda_spike_abolished_by_nmda_block fails; presumably, not
  checked: with less KA the AMPA-only cluster still fires a dendritic Na spike); passed at 0.024.
  Oblique saturation 74.7 mV is just under the 75 mV bound.
- dendritic Na 0.028 S/cm2 (soma 0.032): the oblique Na spike peak then stays below the
  ~75 mV saturation bound (with 0.032 it reaches ~82 mV local).
- Rm 40 kOhm cm2 (dendrites 40/1.5) and Ra 100 Ohm cm instead of 28 kOhm cm2 and 150 Ohm cm:
  with the original values the EPSP attenuation from 100/300 um was ~0.42/0.09 (Magee & Cook
  0.67/0.28) and steady-state attenuation too strong (0.77/0.58 at 100/200 um). Ra 100 is at
  the low end of values used for CA1 models; it was chosen because EPSP attenuation on the
  built-in tree is dominated by axial/capacitive filtering.

Open (session 3, measured with the fast basal sweep at 100 um): the built-in basal
all-or-none response is a dendritic Na spike, not an NMDA spike, so NMDA block does not
abolish it. With basal Na removed there is no jump up to 30 synapses (local peak 36 mV; 39 mV
with NMDA weight x2); basal Na x0.5 removes the jump from the control sweep too. Thinner basal
dendrites (radius 0.6 -> 0.3 um instead of 1.0 -> 0.45) give Rin 57 MOhm and a 7.5 mV somatic
spike, still a Na spike when NMDA is blocked, and no jump at all with basal Na removed (local
47.5 vs 44.8 mV with NMDA blocked, at 30 synapses). Basal KA held at the somatic 0.021 (no
rise with distance) also leaves a Na spike in both sweeps. What would give a basal NMDA
spike here (thinner distal basal tips, slower AMPA decay, less dendritic K) is not decided.

Session 4, measured (fast sweeps on the built-in tree and n120; recipe left unchanged):
- AMPA 0.3 nS and NMDA 2 nS (the l5pc weights) with basal Na at half the apical density
  (in all basal dendrites; beyond 50 um only gives the same built-in numbers) give a Schiller-type NMDA spike at 150 um on both trees (built-in 3.8 mV,
  half-width 39 ms, NMDA 88 % of the somatic charge, abolished by NMDA block; n120 3.7 mV,
  34 ms, 88 %, abolished; n120 oblique jump 26.1 mV expected, in range). With the full basal Na
  the fast Na spike still sets the somatic peak (12.8 mV, half-width 10.6 ms) and survives
  NMDA block.
- The cost is in the oblique, which shares the synapse models: with NMDA 2 nS an input
  spread over 8 ms still fires the oblique spike (built-in dV/dt 2.67 V/s at threshold + 1;
  the spread row fails on n120 too), so Losonczy & Magee's spread abolition fails; built-in saturation 76.3 mV (bound
  75), dV/dt below threshold 0.26 V/s; and the halved basal Na moves the built-in rheobase to
  0.5 nA (f-I not monotonic), also when only beyond 50 um.
- AMPA 0.4 / NMDA 1.3 nS restores the spread abolition (0.17 / 0.21 V/s) but the basal
  response is graded at the soma and NMDA carries 78 % of its charge (< 80 %).
So one synapse model cannot give both the basal NMDA spike and the timing-sensitive oblique
Na spike on this recipe. Open decision: region-specific synaptic weights (basal vs apical
Schaffer/oriens inputs), or a change of dendritic K/Na that separates the two.
"""
from cells.distributions import Between, Linear, Sigmoid, Uniform
from cells.recipe import AxonStub, CellRecipe, Channel, Passive, SynapseModel

GNA = 0.032     # S/cm2, Migliore et al. 1999
GKDR = 0.01     # S/cm2, Migliore et al. 1999
GKA = 0.021     # S/cm2 at the soma; Migliore et al. 1999 used 0.048 (tuned here, see docstring)
GNA_DEND = 0.028  # S/cm2 in dendrites; Migliore et al. 1999: 0.032 (tuned here)
RM = 40000.0    # ohm cm2 (tuned here; was 28000)
RA = 100.0      # ohm cm (tuned here; was 150)
SPINE = 1.5     # spine area factor on Cm and 1/Rm in dendrites
KA_SWITCH_UM = 100.0  # proximal -> distal A-type K kinetics (Migliore et al. 1999)

RECIPE = CellRecipe(
    name="ca1",
    description="CA1 pyramidal cell (rat hippocampus), Poirazi et al. 2003 / Migliore et al. 1999",
    references=(
        "Poirazi P, Brannon T, Mel BW (2003) Neuron 37:977",
        "Migliore M, Hoffman DA, Magee JC, Johnston D (1999) J Comput Neurosci 7:5",
        "Hoffman DA, Magee JC, Colbert CM, Johnston D (1997) Nature 387:869",
        "Magee JC (1998) J Neurosci 18:7613",
        "Golding NL, Mickus TJ, Katz Y, Kath WL, Spruston N (2005) J Physiol 568:69",
    ),
    temperature_C=34.0,
    v_init_mV=-65.0,
    ena_mV=50.0,
    ek_mV=-90.0,
    passive=(
        ("all", Passive(cm_uF_per_cm2=1.0, g_pas_S_per_cm2=1 / RM, e_pas_mV=-65.0, Ra_ohm_cm=RA)),
        ("dendrites", Passive(SPINE, SPINE / RM, -65.0, RA)),  # spines add membrane area
    ),
    channels=(
        Channel("NaCA1", ("soma",), Uniform(GNA), params=(("ar", 1.0),)),
        Channel("NaCA1", ("dendrites",), Uniform(GNA_DEND), params=(("ar", 0.8),)),
        Channel("NaCA1", ("axon",), Uniform(GNA * 10), params=(("ar", 1.0),)),
        Channel("KdrCA1", ("soma", "dendrites"), Uniform(GKDR)),
        Channel("KdrCA1", ("axon",), Uniform(GKDR * 2)),
        Channel("KAProx", ("soma", "axon"), Uniform(GKA)),
        Channel("KAProx", ("dendrites",), Between(Linear(GKA, length_um=100.0), 0.0, KA_SWITCH_UM)),
        Channel("KADist", ("dendrites",), Between(Linear(GKA, length_um=100.0, cap_um=350.0), KA_SWITCH_UM, 1e9)),
        Channel("Ih", ("soma", "dendrites"), Sigmoid(low=0.00005, high=0.0004, half_um=280.0, slope_um=50.0),
                params=(("ehcn", -30.0),)),
        Channel("CaHVA", ("soma", "dendrites"), Uniform(0.0001)),
        Channel("CaLVA", ("soma", "dendrites"), Uniform(0.0002)),
        Channel("SK", ("soma", "dendrites"), Uniform(0.0005)),
        Channel("Im", ("soma", "dendrites"), Uniform(0.0001)),
        Channel("CaDyn", ("soma", "dendrites"), None, params=(("gamma", 0.0005), ("decay", 100.0))),
    ),
    synapses=(
        ("ampa", SynapseModel("AMPA", tau_rise_ms=0.3, tau_decay_ms=3.0, e_mV=0.0, weight_uS=0.0005)),
        ("nmda", SynapseModel("NMDA", tau_rise_ms=2.0, tau_decay_ms=50.0, e_mV=0.0, weight_uS=0.0008,
                              params=(("mg", 1.0),))),
        ("gabaa", SynapseModel("GABAA", tau_rise_ms=0.5, tau_decay_ms=7.0, e_mV=-80.0, weight_uS=0.001)),
    ),
    axon=AxonStub(n_sections=2, length_um=30.0, diam_um=1.0),
)
