"""Thick-tufted layer 5 pyramidal cell, after Hay, Hill, Schürmann, Markram & Segev 2011
(PLoS Comput Biol 7:e1002107).

Channel densities and their distributions are the published model's (its Table of fitted
parameters): Ih rising exponentially along the apical tree (Kole, Hallermann & Stuart
2006), a Ca hot zone of HVA/LVA Ca channels at 685-885 um, SK and Im in the apical tree,
dendritic spines folded into cm = 2 uF/cm2 and a larger g_pas in dendrites. The kinetics
are written in cells/mechanisms from the channel papers Hay et al. cite.
Synapses: AMPA + NMDA (Jahr & Stevens 1990 block), 0.3 nS AMPA and 2 nS NMDA peak
conductance per synapse, within the ranges used for basal NMDA spikes (NMDA/AMPA >= 2;
e.g. Major, Polsky, Denk, Schiller & Tank 2008, J Neurophysiol 99:2584).

TUNING. Our kinetics are written from the channel papers and the morphologies are not
Hay's own NEURON files (single-point soma, axon stub of 1 um), so the published densities
gave too little firing (0/5.6/11.7 Hz for Hay's three steps on cell1) and too tall somatic
APs (+42 mV). Changed, all at the soma: NaTa x0.75, Nap x3, K_Tst x0.5, SK x0.2; and
e_pas -87 instead of -90 mV everywhere. Everything else is Hay et al. 2011 as published.

TUNING, second round (session 3), for the step latencies and the built-in morphology's
rheobase: soma/basal Ih x4 (0.0008 instead of 0.0002 S/cm2) and e_pas -83 mV. Before it,
the built-in tree (Rin 32 MOhm against cell1's 42) did not fire at step 1 and cell1's
first spike at step 1 came at 53 ms (target 27.25 +- 5.72). Somatic and axonal channel
densities did not move either (NaTa, Nap, KTst, KPst, CaLVA, axonal NaTa/Nap/KPst/KTst,
each x0.3-6): the latency is set by how fast the soma charges; a more depolarised rest with
more Ih (a larger, depolarising resting conductance) charges it faster. Raising Rin through
the morphology instead (fewer or thinner obliques, fewer basal leaves, a smaller soma) made
a single bAP fire the Ca hot zone. 1 s steps, cell1: 7.4/10.1/19.1 Hz, first spike
30.5/19.1/7.8 ms; built-in: 4.7/8.9/17.9 Hz, 49.5/25.2/9.3 ms. The somatic Ih density is a
tuning choice here, not checked against Kole et al. 2006's somatic recordings.
"""
from functools import partial

from cells.adapt import FreeParameter
from cells.distributions import Exponential, Uniform, Window
from cells.recipe import AxonStub, CellRecipe, Channel, Passive, SynapseModel
from cells.morphology import builtin_morphology
from cells.types import CellType, Cluster, Stimuli
from cells.validation.targets import L5PC_TARGETS

E_PAS_MV = -83.0  # tuned (Hay et al. 2011: -90); see TUNING

HOT_ZONE_UM = (685.0, 885.0)  # Hay et al. 2011, Ca hot zone around the main bifurcation

RECIPE = CellRecipe(
    name="l5pc",
    description="Thick-tufted layer 5 pyramidal cell (rat somatosensory cortex), Hay et al. 2011",
    references=(
        "Hay E, Hill S, Schürmann F, Markram H, Segev I (2011) PLoS Comput Biol 7:e1002107",
        "Kole MHP, Hallermann S, Stuart GJ (2006) J Neurosci 26:1677",
        "Larkum ME, Zhu JJ, Sakmann B (1999) Nature 398:338",
        "Jahr CE, Stevens CF (1990) J Neurosci 10:3178",
    ),
    temperature_C=34.0,
    v_init_mV=-80.0,
    ena_mV=50.0,
    ek_mV=-85.0,
    passive=(
        ("all", Passive(cm_uF_per_cm2=1.0, g_pas_S_per_cm2=3.0e-5, e_pas_mV=E_PAS_MV, Ra_ohm_cm=100.0)),
        ("soma", Passive(1.0, 3.38e-5, E_PAS_MV, 100.0)),
        ("axon", Passive(1.0, 3.25e-5, E_PAS_MV, 100.0)),
        ("basal", Passive(2.0, 4.67e-5, E_PAS_MV, 100.0)),
        ("apical", Passive(2.0, 5.89e-5, E_PAS_MV, 100.0)),
    ),
    channels=(
        # soma
        Channel("NaTa", ("soma",), Uniform(2.04 * 0.75)),  # tuned: see TUNING
        Channel("Nap", ("soma",), Uniform(0.00172 * 3)),  # tuned
        Channel("Kv3", ("soma",), Uniform(0.693)),
        Channel("KTst", ("soma",), Uniform(0.0812 * 0.5)),  # tuned
        Channel("KPst", ("soma",), Uniform(0.00223)),
        Channel("SK", ("soma",), Uniform(0.0441 * 0.2)),  # tuned
        Channel("CaHVA", ("soma",), Uniform(0.000992)),
        Channel("CaLVA", ("soma",), Uniform(0.00343)),
        Channel("CaDyn", ("soma",), None, params=(("gamma", 0.000501), ("decay", 460.0))),
        Channel("Ih", ("soma", "basal"), Uniform(0.0002 * 4)),  # tuned: see TUNING
        # axon initial segment (stub)
        Channel("NaTa", ("axon",), Uniform(3.137968)),
        Channel("Nap", ("axon",), Uniform(0.006827)),
        Channel("Kv3", ("axon",), Uniform(1.021945)),
        Channel("KTst", ("axon",), Uniform(0.089259)),
        Channel("KPst", ("axon",), Uniform(0.973538)),
        Channel("SK", ("axon",), Uniform(0.007104)),
        Channel("CaHVA", ("axon",), Uniform(0.00099)),
        Channel("CaLVA", ("axon",), Uniform(0.008752)),
        Channel("CaDyn", ("axon",), None, params=(("gamma", 0.00291), ("decay", 287.198731))),
        # apical tree
        Channel("NaTa", ("apical",), Uniform(0.0213)),
        Channel("Kv3", ("apical",), Uniform(0.000261)),
        Channel("Im", ("apical",), Uniform(0.0000675)),
        Channel("SK", ("apical",), Uniform(0.0012)),
        Channel("Ih", ("apical",), Exponential(0.0002, offset=-0.8696, amplitude=2.087, rate=3.6161)),
        Channel("CaLVA", ("apical",), Window(0.0187, 0.0187 * 0.01, *HOT_ZONE_UM)),
        Channel("CaHVA", ("apical",), Window(0.000555, 0.000555 * 0.1, *HOT_ZONE_UM)),
        Channel("CaDyn", ("apical",), None, params=(("gamma", 0.000509), ("decay", 122.0))),
    ),
    synapses=(
        ("ampa", SynapseModel("AMPA", tau_rise_ms=0.3, tau_decay_ms=3.0, e_mV=0.0, weight_uS=0.0003)),
        ("nmda", SynapseModel("NMDA", tau_rise_ms=2.0, tau_decay_ms=50.0, e_mV=0.0, weight_uS=0.002,
                              params=(("mg", 1.0),))),
        ("gabaa", SynapseModel("GABAA", tau_rise_ms=0.5, tau_decay_ms=7.0, e_mV=-80.0, weight_uS=0.001)),
    ),
    axon=AxonStub(n_sections=2, length_um=30.0, diam_um=1.0),
)


# The cell type: recipe, stimuli, validation plan and protocols in one declaration (cells.types).
CELL_TYPE = CellType(
    name="l5pc",
    description=RECIPE.description,
    recipe=RECIPE,
    builtin_morphology=partial(builtin_morphology, "l5pc"),   # seed -> the generated tree
    stimuli=Stimuli(
        bap_pulse=(1.9, 5.0),                       # Hay et al. 2011: 1.9 nA x 5 ms somatic pulse
        bap_distances_um=(660.0, 800.0),            # Hay et al. 2011's bAP recording sites
        fi_currents_nA=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4),   # an f-I curve from rest to ~20 Hz
        fi_validation_nA=(0.458, 0.562, 0.95),      # Hay et al. 2011 / BluePyOpt L5PC: three 2 s steps
        fi_validation_ms=2000.0,
        fi_validation_fast_ms=1000.0,               # --fast: 1 s steps (the rates are steady after ~0.5 s)
        fi_holding_nA=-0.126,                       # ... on a -0.126 nA holding current
        bac_site_um=700.0,                          # inside Hay's hot zone (685-885 um); TARGETS: ~620-800 um
        # Schiller et al. 2000 stimulated basal branches ~100-150 um from the soma that could be
        # targeted visually: the thickest terminal basal branch within 50 um of 120 um.
        nmda_basal=Cluster("basal", 120.0, prefer="thickest", branch_x=0.6, sigmoid=True),
    ),
    validation=("passive", "fi", "bap", "bac", "nmda_basal"),
    targets=L5PC_TARGETS,
    protocols=("passive", "integration", "timing", "bap", "bac", "fi", "patterns", "cluster_dispersion", "invivo"),
    # What `bridge adapt` may rescale on a tree the recipe was not tuned on (cells.adapt), after
    # Hay, Schürmann, Markram & Segev 2013 (J Neurophysiol 109:2972), who refitted a few
    # conductances per reconstruction. Chosen from the failures of benchmarks/generalization.py
    # (docs/benchmarks/generalization_l5pc.md): too fast firing at step 3 and depolarisation
    # block (somatic Nap, tuned x3 on cell1), too large or small bAPs, a Ca zone fired by a bAP
    # alone or not by BAC. Bounds: a factor of 3-5 either way, the spread of Hay et al. 2011's
    # acceptable models' somatic and apical densities is of that order.
    free_parameters=(
        FreeParameter("soma_Nap", ("Nap",), ("soma",), 0.2, 2.0, ("fi",),
                      "persistent Na at the soma: rheobase, first-spike latency, depolarisation block"),
        FreeParameter("soma_SK", ("SK",), ("soma",), 0.2, 5.0, ("fi",),
                      "SK (Ca-activated K) at the soma: the AHP, and so the f-I slope"),
        # Added after the four others left built-in seed 1 at one failure, the step-1 latency
        # (50 ms, target <= 44.4): less Nap ends the block but delays the first spike; the soma's
        # Ih (tuned x4 for that latency, TUNING) charges the soma faster without a persistent Na.
        FreeParameter("soma_basal_Ih", ("Ih",), ("soma", "basal"), 0.33, 3.0, ("passive", "fi"),
                      "Ih at the soma and basal dendrites: resting conductance, so input resistance, "
                      "time constant and the first-spike latency"),
        FreeParameter("apical_NaTa", ("NaTa",), ("apical",), 0.33, 3.0, ("bap", "bac"),
                      "transient Na in the apical tree: bAP amplitude at 660/800 um"),
        FreeParameter("hot_zone_Ca", ("CaLVA", "CaHVA"), ("apical",), 0.33, 3.0, ("bac",),
                      "the hot zone's Ca channels: the Ca spike with BAC, none with a bAP alone"),
        # Added when the five above left built-in seeds 1 and 6 failing only the step-1 latency
        # (49-67 ms, target <= 44.4): the recipe's -83 mV was itself tuned for that latency
        # (TUNING, round 2), and a few mV less negative gave both trees every passive and f-I
        # target without bringing the block back (docs/cells.md). Bounds +-5 mV: Hay et al.
        # 2011 used -90 mV, our tuning moved it 7 mV. The resting potential acts on every
        # protocol, the basal NMDA sweep too (seed 1 at +3 mV lost its sigmoidal response), but
        # that sweep (~5 min) stays out of the objective: the final validation checks it.
        FreeParameter("leak_reversal", ("pas",), ("all", "soma", "axon", "basal", "apical"), -5.0, 5.0,
                      ("passive", "fi", "bap", "bac"),
                      "the leak reversal e_pas everywhere, shifted: resting potential, so rheobase and the "
                      "first-spike latency", kind="shift_mV"),
    ),
)
