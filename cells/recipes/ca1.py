"""CA1 pyramidal cell, after Poirazi, Brannon & Mel 2003 (Neuron 37:977) and the channel
distributions of Migliore, Hoffman, Magee & Johnston 1999 (J Comput Neurosci 7:5).

Na in soma and dendrites (with slow inactivation in dendrites, Migliore 1999), proximal and
distal A-type K whose density rises linearly with distance (Hoffman et al. 1997), Ih rising
sigmoidally along the trunk (Magee 1998), HVA/LVA Ca, SK and Im.

Published values (kept): somatic Na 0.032 S/cm2 and dendritic Kdr 0.01 S/cm2 (Migliore et
al. 1999), the A-type K kinetics split at 100 um and its linear rise with distance
(x(1 + d/100 um), capped at 350 um; Hoffman et al. 1997 as modelled by Migliore et al. 1999),
Ih rising sigmoidally along the trunk (Magee 1998), synaptic kinetics as in TARGETS.md
(Poirazi et al. 2003). The dendritic spine factor 1.5 (on Cm and 1/Rm), the Ih, Ca and SK
densities and the apical synaptic weights are this recipe's earlier choices, not checked
against the papers here.

Tuned here, against Golding et al. 2005, Magee & Cook 2000, the bAP ratio, Schiller et al.
2000, Poirazi 2003 and Losonczy & Magee 2006 on the built-in tree and on CA1 n120 (figures
from `bridge validate ca1 --fast` and single-protocol probes; docs/validation.md and CHANGELOG.md):
- A-type K 0.021 S/cm2 at the soma instead of Migliore's 0.048, rising x(1 + d/100 um) along
  the apical dendrites only: with 0.048 the KA window current dominates the resting
  conductance (rest -74.5 mV, steady-state attenuation 0.77 at 100 um, no firing up to
  0.5 nA). Basal dendrites keep the somatic density with proximal kinetics: the gradient was
  measured along the apical trunk (Hoffman et al. 1997), and a rising basal KADist held the
  built-in rest at -72.7 mV (6 of ~19 nS resting conductance).
- Na: soma 0.032 (Migliore et al. 1999); obliques and tuft 0.030 (session 8; 0.028 before):
  the oblique spike stays under Poirazi's ~75 mV saturation (built-in 73.9 mV; 0.032 gave
  77.5 mV with the earlier rest and oblique diameters, cluster at 45 % of the branch) and
  n120's oblique threshold falls into Poirazi's range (below); trunk 0.014, so the bAP
  decrements: with uniform basal KA and basal Na 0.014 the built-in bAP ratio at 300 um is
  0.80 with full trunk Na, 0.74 /
  0.70 / 0.66 with x0.9 / 0.8 / 0.7; with basal Na 0.007, x0.7 / 0.6 / 0.5 give 0.735 /
  0.681 / 0.618 (target <= 0.7; n120 0.246 with x0.5); basal 0.007 (a quarter of the
  oblique density): with 0.014 or 0.0098 an AMPA-only basal cluster fires a Na spike (local
  jump at 14-15 synapses), so NMDA block does not abolish the basal spike; with 0.007 the
  jump needs NMDA (below).
- M current 0.0005 S/cm2 (x5 of the earlier 0.0001) and somatic Kdr 0.03 (x3): with the
  weaker AHP, n120 went into depolarisation block at 0.5 nA (troughs near -54 mV). Im x5
  alone gives graded firing on both trees; somatic Kdr x3-6 alone does not, and its share
  in the final f-I was not isolated.
- Axon stub: fast transient Na (NaTa) 3 S/cm2 and Kv3 1 S/cm2, the order of Hay et al.
  2011's axon initial segment (3.14 / 1.02), instead of ten times the somatic NaCA1 with
  twice the dendritic Kdr (Migliore et al. 1999's axon). With the old axon n120 still
  blocked at 0.5 nA (0/0/0/14/22/6 spikes at 0.05/0.1/0.2/0.3/0.4/0.5 nA, 500 ms); with
  this one it fires 0/0/0/10/33/47 and the built-in tree 0/0/0/0/8/15 (rheobase 0.4 nA),
  with trunk Na unchanged (built-in bAP ratio 0.618 -> 0.665, n120 0.247). With the
  session 8 rest (below): n120 0/0/0/16/31/36, built-in 0/0/0/0/11/17; bAP ratio 0.679 /
  0.248.
- Synapses: basal inputs AMPA 0.3 nS / NMDA 2 nS (the l5pc weights, Schiller et al.'s basal
  inputs), apical AMPA 0.5 / NMDA 0.8 nS. One weight for both could not give the basal
  NMDA spike and the timing-sensitive oblique Na spike (session 4: with NMDA 2 nS an input
  spread over 8 ms still fires the oblique spike; with AMPA 0.4 / NMDA 1.3 nS the basal
  response is graded, 78 % NMDA charge). Basal cluster sweep at 150 um (session 8): built-in
  3.7 mV at the soma, half-width 36 ms, NMDA 90 % of the charge, abolished by NMDA block;
  n120 6.2 mV, 23 ms, 91 %, abolished.
- Rm 40 kOhm cm2 (dendrites 40/1.5) and Ra 100 Ohm cm instead of 28 kOhm cm2 and 150 Ohm cm:
  with the original values the EPSP attenuation from 100/300 um was ~0.42/0.09 (Magee & Cook
  0.67/0.28) and steady-state attenuation too strong (0.77/0.58 at 100/200 um). Ra 100 is at
  the low end of values used for CA1 models; EPSP attenuation on the built-in tree is
  dominated by axial/capacitive filtering.

- Leak reversal -58 mV (session 8; -65 before): the resting A-type K conductance (5.7 of
  ~18 nS on the built-in tree) held the soma at -71.5 mV (built-in and n120); with -58 it
  rests at -69.0 / -68.9 mV. A
  dendritic spike threshold and height are measured from rest, so the depolarised rest
  lowers n120's oblique threshold (34.5 mV expected with e_pas -65 and Na 0.028; 31.7 with
  Na 0.030 alone, 31.1 with e_pas -60 alone, 28.6 with e_pas -58 and Na 0.030) and the
  built-in spike height (75.6 mV with Na 0.030 alone, 73.9 now). It also lowers the built-in
  threshold count, and with it the somatic dV/dt below threshold (0.38 V/s at e_pas -55,
  bound 0.475): the built-in obliques were made thicker (cells/morphology/builtin.py,
  diameter 1.0 -> 0.8 um instead of 0.9 -> 0.6; n120's obliques are 0.48-1.1 um), which
  gives 0.53 V/s.
  Tried and dropped for n120's oblique threshold (session 7 with e_pas -65, session 8):
  oblique Na 0.032 alone (n120 31.6 mV, built-in saturation 77.5 mV); apical NMDA 1.0 /
  1.2 nS (32.0 / 32.2 mV; 1.0 loses n120's dV/dt jump); doubled dendritic Kdr (saturation
  unchanged); obliques taking the A-type K density of the trunk at their origin (n120 31.8
  mV and no dV/dt jump; built-in saturation 85.5 mV); e_pas -55 / -60 with oblique Na 0.028
  (n120 28.3 / 31.1 mV, but its somatic dV/dt rises by only 0.47 / 0.49 V/s per synapse at
  threshold, bound 0.5); other n120 obliques (branch 51 at 223 um: 37.1 mV; branches 30 /
  31 at 422-440 um: 33-34 mV).

Both trees pass all 23 rows (`bridge validate ca1 --fast`, session 8). Narrowest margins:
built-in saturation 73.9 mV (<= 75), dV/dt above threshold 3.82 V/s (<= 3.96), EPSP
attenuation at 300 um 0.152 (>= 0.138), steady-state attenuation at 200 um 0.686 (>= 0.66),
bAP ratio 0.679 (<= 0.7); n120's dV/dt jump 0.53 V/s per synapse (>= 0.5).
"""
from functools import partial

from cells.adapt import FreeParameter
from cells.distributions import Between, Linear, Sigmoid, Uniform
from cells.recipe import AxonStub, CellRecipe, Channel, Passive, SynapseModel
from cells.morphology import builtin_morphology
from cells.types import CellType, Cluster, Stimuli
from cells.validation.targets import CA1_TARGETS

GNA = 0.032     # S/cm2, Migliore et al. 1999
GKDR = 0.01     # S/cm2, Migliore et al. 1999
GKA = 0.021     # S/cm2 at the soma; Migliore et al. 1999 used 0.048 (tuned here, see docstring)
GNA_DEND = 0.030  # S/cm2 in obliques and tuft; Migliore et al. 1999: 0.032 (tuned here)
GNA_TRUNK = 0.014  # S/cm2 in the apical trunk (tuned here, see docstring)
GNA_BASAL = 0.007  # S/cm2 in basal dendrites (tuned here, see docstring)
GIM = 0.0005    # S/cm2 M current in soma and dendrites (tuned here, see docstring)
GNA_AXON = 3.0   # S/cm2 NaTa in the axon stub; Hay et al. 2011 AIS: 3.14 (tuned here, see docstring)
GK_AXON = 1.0    # S/cm2 Kv3 in the axon stub; Hay et al. 2011 AIS: 1.02 (tuned here)
GKDR_SOMA = 0.03  # S/cm2; Migliore et al. 1999: 0.01 (tuned here, see docstring)
RM = 40000.0    # ohm cm2 (tuned here; was 28000)
RA = 100.0      # ohm cm (tuned here; was 150)
E_PAS = -58.0   # mV leak reversal (tuned here, see docstring; was -65): rest -69 mV
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
        "Hay E, Hill S, Schürmann F, Markram H, Segev I (2011) PLoS Comput Biol 7:e1002107 (axon initial segment)",
    ),
    temperature_C=34.0,
    v_init_mV=-65.0,
    ena_mV=50.0,
    ek_mV=-90.0,
    passive=(
        ("all", Passive(cm_uF_per_cm2=1.0, g_pas_S_per_cm2=1 / RM, e_pas_mV=E_PAS, Ra_ohm_cm=RA)),
        ("dendrites", Passive(SPINE, SPINE / RM, E_PAS, RA)),  # spines add membrane area
    ),
    channels=(
        Channel("NaCA1", ("soma",), Uniform(GNA), params=(("ar", 1.0),)),
        Channel("NaCA1", ("oblique", "tuft"), Uniform(GNA_DEND), params=(("ar", 0.8),)),
        Channel("NaCA1", ("trunk",), Uniform(GNA_TRUNK), params=(("ar", 0.8),)),
        Channel("NaCA1", ("basal",), Uniform(GNA_BASAL), params=(("ar", 0.8),)),
        Channel("KdrCA1", ("soma",), Uniform(GKDR_SOMA)),
        Channel("KdrCA1", ("dendrites",), Uniform(GKDR)),
        # axon initial segment (stub): fast transient Na and Kv3-type K at Hay et al.'s AIS densities
        Channel("NaTa", ("axon",), Uniform(GNA_AXON)),
        Channel("Kv3", ("axon",), Uniform(GK_AXON)),
        Channel("KAProx", ("soma", "axon"), Uniform(GKA)),
        Channel("KAProx", ("apical",), Between(Linear(GKA, length_um=100.0), 0.0, KA_SWITCH_UM)),
        Channel("KADist", ("apical",), Between(Linear(GKA, length_um=100.0, cap_um=350.0), KA_SWITCH_UM, 1e9)),
        Channel("KAProx", ("basal",), Uniform(GKA)),
        Channel("Ih", ("soma", "dendrites"), Sigmoid(low=0.00005, high=0.0004, half_um=280.0, slope_um=50.0),
                params=(("ehcn", -30.0),)),
        Channel("CaHVA", ("soma", "dendrites"), Uniform(0.0001)),
        Channel("CaLVA", ("soma", "dendrites"), Uniform(0.0002)),
        Channel("SK", ("soma", "dendrites"), Uniform(0.0005)),
        Channel("Im", ("soma", "dendrites"), Uniform(GIM)),
        Channel("CaDyn", ("soma", "dendrites"), None, params=(("gamma", 0.0005), ("decay", 100.0))),
    ),
    synapses=(
        ("ampa", SynapseModel("AMPA", tau_rise_ms=0.3, tau_decay_ms=3.0, e_mV=0.0, weight_uS=0.0005,
                              region_weights_uS=(("basal", 0.0003),))),
        ("nmda", SynapseModel("NMDA", tau_rise_ms=2.0, tau_decay_ms=50.0, e_mV=0.0, weight_uS=0.0008,
                              params=(("mg", 1.0),), region_weights_uS=(("basal", 0.002),))),
        ("gabaa", SynapseModel("GABAA", tau_rise_ms=0.5, tau_decay_ms=7.0, e_mV=-80.0, weight_uS=0.001)),
    ),
    axon=AxonStub(n_sections=2, length_um=30.0, diam_um=1.0),
)


# The cell type: recipe, stimuli, validation plan and protocols in one declaration (cells.types).
CELL_TYPE = CellType(
    name="ca1",
    description=RECIPE.description,
    recipe=RECIPE,
    builtin_morphology=partial(builtin_morphology, "ca1"),   # seed -> the generated tree
    stimuli=Stimuli(
        # a brief somatic pulse that fires one AP (2 nA x 2 ms, the value validated since session 1;
        # the NEURON-Brian2 comparison used 5 ms before the redesign)
        bap_pulse=(2.0, 2.0),
        bap_distances_um=(100.0, 200.0, 300.0),     # bAP ratio at 300 um (Spruston et al. 1995; Golding et al. 2001)
        fi_currents_nA=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7),
        fi_validation_nA=(0.05, 0.1, 0.2, 0.3, 0.4, 0.5),   # rheobase and monotonic rise (Staff et al. 2000)
        fi_validation_ms=500.0,
        attenuation_distances_um=(100.0, 200.0, 300.0),     # Golding et al. 2005; Magee & Cook 2000
        # Schiller et al. 2000's basal NMDA spike, ~150 um from the soma
        nmda_basal=Cluster("basal", 150.0, prefer="closest", branch_x=0.6),
        # Losonczy & Magee 2006 / Poirazi et al. 2003: an oblique ~150 um from the soma; the cluster
        # centred at 45 % of its branch is 140 um from the soma on the built-in tree (at 60 % the
        # built-in dV/dt below threshold was 0.36 V/s; CHANGELOG, session 6)
        oblique=Cluster("oblique", 150.0, prefer="closest", branch_x=0.45, sigmoid=True),
    ),
    validation=("passive", "fi", "bap", "attenuation", "nmda_basal", "oblique"),
    targets=CA1_TARGETS,
    protocols=("passive", "integration", "timing", "bap", "fi", "patterns", "cluster_dispersion", "invivo"),
    # What `bridge adapt` may rescale on a tree the recipe was not tuned on (cells.adapt; Hay et
    # al. 2013, J Neurophysiol 109:2972). From benchmarks/generalization.py's ca1 failures: the
    # oblique spike's somatic dV/dt (built-in seed 1) and non-monotonic f-I (n120 trunk x0.7);
    # the densities these act on were themselves tuned here (docstring).
    free_parameters=(
        FreeParameter("oblique_Na", ("NaCA1",), ("oblique", "tuft"), 0.6, 1.5, ("oblique",),
                      "Na in obliques and tuft: the oblique Na spike's threshold and size"),
        FreeParameter("soma_Kdr", ("KdrCA1",), ("soma",), 0.33, 3.0, ("fi",),
                      "delayed-rectifier K at the soma: repolarisation, depolarisation block"),
        FreeParameter("Im", ("Im",), ("soma", "dendrites"), 0.33, 3.0, ("fi",),
                      "M current: adaptation, and so a graded f-I curve"),
    ),
)
