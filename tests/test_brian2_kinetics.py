"""Every gate of every channel: the Brian2 expressions (cells/brian2_kinetics.py) against the
NMODL originals (cells/mechanisms/*.mod), steady states and time constants over a voltage
range, to 1e-6 relative. NEURON's values come from each mechanism's own `rates` procedure
(its GLOBAL minf/mtau/... outputs) in a one-compartment section; Brian2's from the same
expressions the Brian2 cell integrates, evaluated by Brian2 itself."""
import numpy as np
import pytest

from cells.brian2_kinetics import (CADYN_DEFAULTS, MECHANISMS, NEURON_TAU_NAMES, SynapseKinetics,
                                   evaluate_rates, gate_tau_name, nernst_ca_mV)

# -120..+60 mV every 0.5 mV, plus the removable singularities of the rate functions
SINGULAR_MV = (-154.9, -66.0, -64.4, -45.0, -40.0, -38.0, -30.0, -27.0, -17.0, -15.0, 30.0, 45.0)
VOLTAGES_MV = np.unique(np.concatenate([np.arange(-120.0, 60.01, 0.5), SINGULAR_MV,
                                        np.array(SINGULAR_MV) + 1e-7]))
CAI_MM = np.concatenate([[0.0, 5e-8], np.logspace(-6, -2, 41)])
TEMPERATURES_C = (34.0, 24.0)
RANGE_VALUES = {("NaCA1", "ar"): 0.8, ("Ih", "ehcn"): -30.0}
RTOL = 1e-6

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def h():
    from neuron import h

    from cells.mechanisms import load_mechanisms

    load_mechanisms()
    return h


def neuron_rates(h, name: str, celsius: float, inputs: np.ndarray) -> dict:
    mech = MECHANISMS[name]
    sec = h.Section(name=f"probe_{name}")
    sec.insert(name)
    if name == "SK":
        sec.insert("CaDyn")
    for (m, p), value in RANGE_VALUES.items():
        if m == name:
            setattr(sec(0.5), f"{p}_{name}", value)
    h.celsius = celsius
    h.finitialize(-65.0)
    names = {}
    for g in mech.gates:
        names[f"{g}inf"] = f"{g}inf"
        if gate_tau_name(mech, g) not in mech.range_params:
            names[f"{g}tau"] = NEURON_TAU_NAMES.get((name, g), g + "tau")
    out = {k: np.zeros(inputs.size) for k in names}
    instance = getattr(sec(0.5), name)
    for i, x in enumerate(inputs):
        instance.rates(float(x))
        for k, range_name in names.items():
            out[k][i] = getattr(instance, range_name)
    return out


CASES = [pytest.param(name, T, id=f"{name}-{T:g}C") for name in MECHANISMS for T in TEMPERATURES_C]


@pytest.mark.parametrize("name,celsius", CASES)
def test_gates_match_nmodl(h, name, celsius):
    mech = MECHANISMS[name]
    inputs = CAI_MM if name == "SK" else VOLTAGES_MV
    expected = neuron_rates(h, name, celsius, inputs)
    params = {p: value for (m, p), value in RANGE_VALUES.items() if m == name}
    key = "cai" if name == "SK" else "v"
    got = evaluate_rates(mech, celsius, {"v": np.zeros(inputs.size) if key == "cai" else inputs,
                                         "cai": inputs if key == "cai" else 1e-4, **params})
    assert expected, f"{name}: no gate outputs compared"
    for quantity, values in expected.items():
        assert np.all(np.isfinite(values)), f"{name}: NEURON {quantity} not finite"
        np.testing.assert_allclose(got[quantity], values, rtol=RTOL, atol=0,
                                   err_msg=f"{name} {quantity} at {celsius} degC")


def test_calcium_reversal_matches_neuron(h):
    """eca from cai by Nernst (cao 2 mM) as NEURON computes it when CaDyn writes cai."""
    sec = h.Section(name="probe_ca")
    sec.insert("CaDyn")
    sec.insert("CaHVA")
    for celsius in TEMPERATURES_C:
        h.celsius = celsius
        h.finitialize(-70.0)
        cai = sec(0.5).cai
        assert cai == pytest.approx(CADYN_DEFAULTS["minCai"])
        assert nernst_ca_mV(cai, celsius) == pytest.approx(sec(0.5).eca, rel=1e-9)


def test_synapse_peak_normalisation():
    """One event of weight w peaks at w (the factor of AMPA.mod/NMDA.mod/GABAA.mod)."""
    for tr, td in ((0.3, 3.0), (2.0, 50.0), (0.5, 7.0)):
        k = SynapseKinetics(tr, td)
        t = np.linspace(0, 5 * td, 200001)
        g = k.factor * (np.exp(-t / td) - np.exp(-t / k.rise_ms))
        assert g.max() == pytest.approx(1.0, rel=1e-6)
