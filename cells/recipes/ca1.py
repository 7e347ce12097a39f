"""CA1 pyramidal cell, after Poirazi, Brannon & Mel 2003 (Neuron 37:977) and the channel
distributions of Migliore, Hoffman, Magee & Johnston 1999 (J Comput Neurosci 7:5).

Na in soma and dendrites (with slow inactivation in dendrites, Migliore 1999), proximal and
distal A-type K whose density rises linearly with distance (Hoffman et al. 1997), Ih rising
sigmoidally along the trunk (Magee 1998), HVA/LVA Ca, SK and Im. Passive properties were
set so the cell meets the attenuation data of Golding et al. 2005 and Magee & Cook 2000.
"""
from cells.distributions import Between, Linear, Sigmoid, Uniform
from cells.recipe import AxonStub, CellRecipe, Channel, Passive, SynapseModel

GNA = 0.032     # S/cm2, Migliore et al. 1999
GKDR = 0.01     # S/cm2, Migliore et al. 1999
GKA = 0.048     # S/cm2 at the soma, Migliore et al. 1999
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
        ("all", Passive(cm_uF_per_cm2=1.0, g_pas_S_per_cm2=1 / 28000, e_pas_mV=-65.0, Ra_ohm_cm=150.0)),
        ("dendrites", Passive(1.5, 1.5 / 28000, -65.0, 150.0)),  # spines double membrane beyond ~ soma
    ),
    channels=(
        Channel("NaCA1", ("soma",), Uniform(GNA), params=(("ar", 1.0),)),
        Channel("NaCA1", ("dendrites",), Uniform(GNA), params=(("ar", 0.8),)),
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
