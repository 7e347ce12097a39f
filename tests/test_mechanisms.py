"""The project's NMODL mechanisms: compile/cache, steady states, synapses, Ca dynamics.

The first run compiles the mechanisms (~10-60 s, cached afterwards); the tests themselves
take a few seconds.
"""
from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from cells import mechanisms

DENSITY_MECHANISMS = ("NaTa", "Nap", "Kv3", "KTst", "KPst", "Ih", "Im", "CaHVA", "CaLVA", "SK", "CaDyn",
                      "NaCA1", "KdrCA1", "KAProx", "KADist")
POINT_PROCESSES = ("AMPA", "NMDA", "GABAA")


@pytest.fixture(scope="module")
def h():
    mechanisms.load_mechanisms()
    from neuron import h

    h.load_file("stdrun.hoc")
    h.celsius = 34.0
    h.dt = 0.025
    return h


def _section(h, *mechs, gbar=1e-6):
    sec = h.Section(name="cmp")
    sec.L = sec.diam = 10.0
    sec.nseg = 1
    sec.insert("pas")
    sec(0.5).pas.g = 1e-5
    sec(0.5).pas.e = -70.0
    for mech in mechs:
        sec.insert(mech)
        if hasattr(sec(0.5), f"gbar_{mech}"):
            setattr(sec(0.5), f"gbar_{mech}", gbar)
    return sec


def _clamp(h, sec, amp, dur=1e9):
    clamp = h.SEClamp(sec(0.5))
    clamp.rs = 0.01
    clamp.dur1 = dur
    clamp.amp1 = amp
    return clamp


# ------------------------------------------------------------------ compile + cache
def test_import_does_not_import_neuron():
    code = "import sys, cells.mechanisms as m; print(m.MOD_DIR); assert 'neuron' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_all_mod_files_present():
    names = {p.stem for p in mechanisms.mod_files()}
    assert names == set(DENSITY_MECHANISMS) | set(POINT_PROCESSES)


def test_load_is_cached_and_idempotent(h):
    folder = mechanisms.load_mechanisms()
    assert folder == mechanisms.compiled_dir()
    assert folder.parent.name == "nrnmech" and len(folder.name) == 16
    assert mechanisms._find_library(folder) is not None
    assert mechanisms.load_mechanisms() is folder   # second call: nothing to do


def test_compile_failure_raises_with_output(tmp_path, monkeypatch):
    bad = tmp_path / "mods"
    bad.mkdir()
    (bad / "Broken.mod").write_text("NEURON { SUFFIX Broken }\nBREAKPOINT { this is not nmodl }\n")
    monkeypatch.setattr(mechanisms, "MOD_DIR", bad)
    monkeypatch.setenv("BRIDGE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(RuntimeError, match="nrnivmodl failed"):
        mechanisms._ensure_compiled()
    leftovers = [p for p in (tmp_path / "cache" / "nrnmech").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []   # the temporary build folder is removed


# ------------------------------------------------------------------ every mechanism runs
@pytest.mark.parametrize("mech", DENSITY_MECHANISMS)
def test_density_mechanism_runs(h, mech):
    extra = ("CaHVA",) if mech == "CaDyn" else ()
    sec = _section(h, mech, *extra, gbar=1e-3)
    h.finitialize(-70.0)
    stim = h.IClamp(sec(0.5))
    stim.delay, stim.dur, stim.amp = 1.0, 5.0, 0.05
    h.continuerun(10.0)
    assert math.isfinite(sec(0.5).v)


@pytest.mark.parametrize("name", POINT_PROCESSES)
def test_point_process_runs(h, name):
    sec = _section(h)
    syn = getattr(h, name)(sec(0.5))
    nc = h.NetCon(None, syn)
    nc.weight[0] = 0.001
    h.finitialize(-70.0)
    nc.event(1.0)
    h.continuerun(10.0)
    assert syn.g > 0 and math.isfinite(sec(0.5).v)


# ------------------------------------------------------------------ steady-state activation
# (mechanism, gate, V at which the steady state is 0.5, source of that value)
HALF_POINTS = [
    ("NaTa", "m", -38 + 6 * math.log(0.124 / 0.182), "Colbert & Pan 2002 rates: alpha = beta"),
    ("NaTa", "h", -66.0, "Colbert & Pan 2002"),
    ("Nap", "m", -52.6, "Magistretti & Alonso 1999"),
    ("Nap", "h", -48.8, "Magistretti & Alonso 1999"),
    ("Kv3", "m", 18.7, "Rettig et al. 1992"),
    ("KTst", "m", -10.0, "Korngreen & Sakmann 2000, +10 mV shift of Hay et al. 2011"),
    ("KTst", "h", -76.0, "Korngreen & Sakmann 2000, +10 mV shift"),
    ("KPst", "m", -11.0, "Korngreen & Sakmann 2000, +10 mV shift"),
    ("KPst", "h", -64.0, "Korngreen & Sakmann 2000, +10 mV shift"),
    ("Ih", "m", -110.25, "Kole et al. 2006 rate functions (alpha = beta)"),
    ("Im", "m", -35.0, "Adams et al. 1982 as in Hay et al. 2011"),
    ("CaHVA", "m", -33.34, "Reuveni et al. 1993 rate functions (alpha = beta)"),
    ("CaHVA", "h", -58.49, "Reuveni et al. 1993 rate functions (alpha = beta)"),
    ("CaLVA", "m", -40.0, "Avery & Johnston 1996, +10 mV shift"),
    ("CaLVA", "h", -90.0, "Avery & Johnston 1996, +10 mV shift"),
    ("NaCA1", "m", -30 - 7.2 * math.log(0.4 / 0.124), "Migliore et al. 1999 (alpha = beta)"),
    ("NaCA1", "h", -50.0, "Migliore et al. 1999 (thinf)"),
    ("KdrCA1", "n", 13.0, "Migliore et al. 1999 (vhalfn)"),
    ("KAProx", "n", 11.0, "Migliore et al. 1999 (vhalfn, proximal)"),
    ("KAProx", "l", -56.0, "Migliore et al. 1999 (vhalfl)"),
    ("KADist", "n", -1.0, "Migliore et al. 1999 (vhalfn, distal)"),
    ("KADist", "l", -56.0, "Migliore et al. 1999 (vhalfl)"),
]
SLOW_GATES = {("Nap", "h"), ("KPst", "h"), ("CaHVA", "h")}   # tau of seconds: checked at finitialize


@pytest.mark.parametrize("mech,gate,v_half,source", HALF_POINTS, ids=[f"{m}.{g}" for m, g, *_ in HALF_POINTS])
def test_half_activation(h, mech, gate, v_half, source):
    sec = _section(h, mech)
    attr = f"{gate}_{mech}"
    if (mech, gate) in SLOW_GATES:
        values = []
        for v in (v_half - 5, v_half, v_half + 5):
            h.finitialize(v)
            values.append(getattr(sec(0.5), attr))
    else:
        clamp = _clamp(h, sec, v_half)
        h.dt = 0.1
        values = []
        for v in (v_half - 5, v_half, v_half + 5):
            clamp.amp1 = v
            h.finitialize(-70.0)
            h.continuerun(500.0)             # voltage clamp settles, gates reach steady state
            assert abs(sec(0.5).v - v) < 0.05
            values.append(getattr(sec(0.5), attr))
        h.dt = 0.025
    assert values[1] == pytest.approx(0.5, abs=0.01), source
    decreasing = gate in ("h", "l", "s") or mech == "Ih"   # Ih activates on hyperpolarisation
    if decreasing:
        assert values[0] > values[1] > values[2]
    else:
        assert values[0] < values[1] < values[2]


def test_activation_q10(h):
    """NaTa m relaxes 2.3x faster at 31 degC than at 21 degC (q10 2.3)."""
    sec = _section(h, "NaTa")
    clamp = h.SEClamp(sec(0.5))
    clamp.rs = 0.01
    clamp.dur1, clamp.amp1 = 1.0, -90.0
    clamp.dur2, clamp.amp2 = 1e9, -30.0
    m_rec = h.Vector().record(sec(0.5)._ref_m_NaTa)
    t_rec = h.Vector().record(h._ref_t)
    taus = []
    try:
        h.dt = 0.001
        for temp in (21.0, 31.0):
            h.celsius = temp
            h.finitialize(-90.0)
            h.continuerun(4.0)
            m, t = np.array(m_rec.to_python()), np.array(t_rec.to_python())
            m, t = m[t >= 1.0], t[t >= 1.0] - 1.0
            frac = (m - m[0]) / (m[-1] - m[0])
            taus.append(np.interp(1 - math.exp(-1), frac, t))   # frac is monotonic
    finally:
        h.celsius, h.dt = 34.0, 0.025
    assert taus[0] / taus[1] == pytest.approx(2.3, rel=0.03)


def test_nav_slow_inactivation_ar(h):
    """NaCA1 s: steady state 1 at rest, ar when depolarised; ar = 1 removes it."""
    sec = _section(h, "NaCA1")
    for ar in (1.0, 0.4):
        sec(0.5).NaCA1.ar = ar
        h.finitialize(-80.0)
        assert sec(0.5).s_NaCA1 == pytest.approx(1.0, abs=1e-3)
        h.finitialize(-20.0)
        assert sec(0.5).s_NaCA1 == pytest.approx(ar, abs=1e-3)


def test_sk_half_activation(h):
    """SK z_inf = 1/(1 + (0.43 uM / cai)^4.8): half at 0.43 uM (Koehler et al. 1996)."""
    sec = _section(h, "SK")
    for cai, expected in ((0.00043, 0.5), (0.0043, 1 / (1 + 0.1 ** 4.8)), (5e-5, 1 / (1 + 8.6 ** 4.8))):
        sec(0.5).cai = cai        # no mechanism writes cai here: it stays as set
        h.finitialize(-70.0)
        assert sec(0.5).cai == cai
        assert sec(0.5).z_SK == pytest.approx(expected, rel=1e-6)


# ------------------------------------------------------------------ Ih reversal
def test_ih_reversal(h):
    sec = _section(h, "Ih", gbar=1e-3)
    clamp = _clamp(h, sec, -45.0)
    currents = {}
    for v in (-90.0, -45.0, -20.0):
        clamp.amp1 = v
        h.finitialize(v)
        h.continuerun(1.0)
        currents[v] = sec(0.5).ihcn_Ih
    assert currents[-90.0] < 0 < currents[-20.0]
    assert abs(currents[-45.0]) < 1e-9
    sec(0.5).Ih.ehcn = -30.0
    clamp.amp1 = -30.0
    h.finitialize(-30.0)
    h.continuerun(1.0)
    assert abs(sec(0.5).ihcn_Ih) < 1e-9


# ------------------------------------------------------------------ synapses
def _run_events(h, name, times, weights, v_clamp=None, tstop=40.0, **params):
    sec = _section(h)
    syn = getattr(h, name)(sec(0.5))
    for key, value in params.items():
        setattr(syn, key, value)
    clamp = _clamp(h, sec, v_clamp) if v_clamp is not None else None
    ncs = []
    for w in weights:
        nc = h.NetCon(None, syn)
        nc.weight[0] = w
        ncs.append(nc)
    rec = {k: h.Vector().record(getattr(syn, f"_ref_{k}")) for k in ("g", "i")}
    if name == "NMDA":
        rec["B"] = h.Vector().record(syn._ref_B)
    rec["v"] = h.Vector().record(sec(0.5)._ref_v)
    rec["t"] = h.Vector().record(h._ref_t)
    h.finitialize(v_clamp if v_clamp is not None else -70.0)
    for nc, t in zip(ncs, times):
        nc.event(t)
    h.continuerun(tstop)
    out = {k: np.array(vec) for k, vec in rec.items()}
    del clamp
    return out


@pytest.mark.parametrize("name", POINT_PROCESSES)
def test_peak_conductance_equals_weight(h, name):
    w = 0.002
    one = _run_events(h, name, [5.0], [w], v_clamp=-70.0, tstop=5.0 + 200.0 if name == "NMDA" else 40.0)
    assert one["g"].max() == pytest.approx(w, rel=0.01)
    two = _run_events(h, name, [5.0, 5.0], [w, w], v_clamp=-70.0, tstop=5.0 + 200.0 if name == "NMDA" else 40.0)
    assert two["g"].max() == pytest.approx(2 * w, rel=0.01)
    np.testing.assert_allclose(two["g"], 2 * one["g"], rtol=1e-9, atol=1e-15)


def test_ampa_superposition_matches_analytic(h):
    tr, td, w = 0.3, 3.0, 0.001
    out = _run_events(h, "AMPA", [5.0, 7.0], [w, 0.5 * w], v_clamp=-60.0, tstop=30.0)
    tp = tr * td / (td - tr) * math.log(td / tr)
    f = 1 / (math.exp(-tp / td) - math.exp(-tp / tr))
    t = out["t"]

    def kernel(t0, weight):
        s = np.clip(t - t0, 0, None)
        return np.where(t >= t0, weight * f * (np.exp(-s / td) - np.exp(-s / tr)), 0.0)

    # g is recorded one step late on the fixed-step grid (computed from the states at t - dt)
    t = t - h.dt
    expected = kernel(5.0, w) + kernel(7.0, 0.5 * w)
    # events are applied at the step boundary; compare away from the event instants
    mask = (np.abs(t - 5.0) > 0.06) & (np.abs(t - 7.0) > 0.06)
    np.testing.assert_allclose(out["g"][mask], expected[mask], rtol=1e-6, atol=1e-6 * w)
    # i and g of a step are computed with the membrane potential at the start of that step
    np.testing.assert_allclose(out["i"][1:], out["g"][1:] * (out["v"][:-1] - 0.0), rtol=1e-9, atol=1e-15)


def test_gabaa_current_is_outward_above_reversal(h):
    out = _run_events(h, "GABAA", [2.0], [0.001], v_clamp=-60.0, tstop=20.0)
    k = out["g"].argmax()
    assert out["i"][k] > 0
    assert out["i"][k] == pytest.approx(out["g"][k] * (out["v"][k] + 80.0), rel=1e-9)


def jahr_stevens(v, mg=1.0):
    return 1.0 / (1.0 + mg / 3.57 * np.exp(-0.062 * v))


@pytest.mark.parametrize("mg", [1.0, 2.0])
def test_nmda_mg_block(h, mg):
    voltages = (-80.0, -60.0, -40.0, -20.0, 0.0 + 1e-3, 20.0)
    runs = {v: _run_events(h, "NMDA", [2.0], [0.001], v_clamp=v, tstop=40.0, mg=mg) for v in voltages}
    for v, out in runs.items():
        # B, g and i of a step are computed with the membrane potential at the start of the step
        v_used = out["v"][:-1]
        np.testing.assert_allclose(out["B"][1:], jahr_stevens(v_used, mg), rtol=1e-9)
        np.testing.assert_allclose(out["i"][1:], out["g"][1:] * out["B"][1:] * v_used, rtol=1e-9, atol=1e-18)
        assert np.all(np.abs(out["v"] - v) < 1e-3)     # the clamp holds
    # current ratio relative to a depolarised voltage follows B(V) (V - e) at every time point
    ref = runs[20.0]
    for v, out in runs.items():
        active = out["g"] > 1e-6
        ratio = out["i"][1:][active[1:]] / ref["i"][1:][active[1:]]
        drive, drive_ref = jahr_stevens(out["v"][:-1], mg) * out["v"][:-1], jahr_stevens(ref["v"][:-1], mg) * ref["v"][:-1]
        np.testing.assert_allclose(ratio, (drive / drive_ref)[active[1:]], rtol=1e-6)
    peak_ratio = runs[-60.0]["i"].min() / runs[20.0]["i"].max()
    assert peak_ratio == pytest.approx(jahr_stevens(-60.0, mg) * -60.0 / (jahr_stevens(20.0, mg) * 20.0), rel=1e-3)


# ------------------------------------------------------------------ Ca dynamics
def test_cadyn_rise_and_decay(h):
    decay = 80.0
    sec = _section(h, "CaHVA", "CaDyn", gbar=1e-3)
    sec(0.5).CaDyn.gamma = 0.05
    sec(0.5).CaDyn.decay = decay
    clamp = h.SEClamp(sec(0.5))
    clamp.rs = 0.01
    clamp.dur1, clamp.amp1 = 10.0, -70.0
    clamp.dur2, clamp.amp2 = 50.0, 0.0
    clamp.dur3, clamp.amp3 = 1e9, -90.0
    cai = h.Vector().record(sec(0.5)._ref_cai)
    t = h.Vector().record(h._ref_t)
    h.dt = 0.05
    h.finitialize(-70.0)
    assert sec(0.5).cai == pytest.approx(1e-4)
    h.continuerun(60.0 + 4 * decay)
    h.dt = 0.025
    cai, t = np.array(cai), np.array(t)
    assert cai[np.searchsorted(t, 59.9)] > 5e-4          # Ca rises during the depolarisation
    # decay back to minCai with time constant `decay` (fit well after the HVA channels close)
    sel = (t > 70.0) & (t < 60.0 + 3 * decay)
    slope = np.polyfit(t[sel], np.log(cai[sel] - 1e-4), 1)[0]
    assert -1 / slope == pytest.approx(decay, rel=0.03)
    assert cai[-1] < 1e-4 + 0.05 * (cai.max() - 1e-4)
