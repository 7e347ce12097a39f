"""The long whole-cell drives, tiny: cluster_dispersion (Poirazi, Brannon & Mel 2003) and
invivo (Beniaguev, Segev & London 2021) on ca1; plan, contents, kill -9 and resume, Dask
(issue 19). A file of its own so that pytest-xdist runs it beside test_characterize."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from bridge.characterize import Settings, prepare
from bridge.cli import main
from bridge.schema import open_characterization
from characterize_helpers import _parts, _reference_run, assert_same_data, cli

pytestmark = pytest.mark.timeout(600)

# the long whole-cell drives on ca1, tiny: cluster_dispersion with 2 placements x 3 dispersion levels and
# 4 branch curves of 3 points (3 tasks); invivo with 2 simulations x 2 conditions (4 tasks)
DISPERSION = ["ca1", "--protocols", "cluster_dispersion,invivo", "--dispersion-configs", "2x2",
              "--dispersion-placements", "2", "--dispersion-branches", "4", "--dispersion-ms", "40",
              "--dispersion-curve", "1,2,3", "--invivo-sims", "2", "--invivo-ms", "60", "--invivo-exc-hz", "1,4",
              "--invivo-inh-hz", "2,5", "--invivo-bursts", "0.2,3", "--dt", "0.05", "--no-progress"]
N_DISPERSION_TASKS = 7


# ------------------------------------------------------------------------------ cluster_dispersion (ca1)
def test_dispersion_plan_keeps_the_total_and_disperses_one_cluster_at_a_time():
    s = Settings(dispersion_configs=((4, 3), (3, 4)), dispersion_placements=2, dispersion_branches=8)
    ctx, tasks = prepare("ca1", protocols="cluster_dispersion", settings=s)
    from bridge.characterize.protocols import _dispersion_layout
    lay = _dispersion_layout(ctx)
    rows = lay["rows"]
    nc = len(s.dispersion_curve_counts)
    assert len(rows) == 2 * (3 + 1) + 2 * (4 + 1) and len(lay["curves"]) == 8 * (nc + 1)
    # each branch's curve: the context alone (n = 0), then n of its own synapses on top of the same context of
    # 12 synapses (the smallest total, 4x3 = 3x4) on the other input branches and the inhibition, same trains
    assert lay["n_context"] == 12
    for j, b in enumerate(lay["branches"]):
        curve = lay["curves"][j * (nc + 1): (j + 1) * (nc + 1)]
        context = curve[0][0][0]
        assert len(context) == 12 and all(site[0] != b for site in context)
        for n, run in zip((0,) + s.dispersion_curve_counts, curve):
            (exc, _, exc_trains), (inh, kinds, inh_trains) = run
            assert exc[:n] == [site for site in exc[:n] if site[0] == b] and exc[n:] == context
            assert exc_trains[n:] == curve[0][0][2] and inh == curve[0][1][0] and kinds == ("gabaa",)
            assert len(inh) == s.dispersion_inhibitory and inh_trains == curve[0][1][2]
        assert curve[-1][0][0][:2] == curve[2][0][0][:2]          # nested: n = 2 are the first 2 of the largest n
    lay0 = _dispersion_layout(prepare("ca1", protocols="cluster_dispersion",
                                      settings=Settings(**{**s.__dict__, "dispersion_curve_context": 0}))[0])
    assert lay0["n_context"] == 0 and len(lay0["curves"]) == 8 * nc and all(len(c[0][0]) in s.dispersion_curve_counts
                                                                              and not c[1][0] for c in lay0["curves"])
    for size, count, p, d, counts in rows:
        assert counts.sum() == size * count                      # the total never changes
        assert (counts >= size).sum() >= count - d                # the clusters not yet dispersed
        if d == 0:
            assert sorted(counts[counts > 0]) == [size] * count   # all clustered, on distinct branches
    # dispersing adds: level d + 1 keeps level d's dispersed synapses
    run = {(r[0], r[1], r[2], r[3]): i for i, r in enumerate(rows)}
    exc = lambda key: lay["runs"][run[key]][0][0]                # noqa: E731  (dispersed first, then clusters)
    for d in range(3):
        assert exc((4, 3, 1, d + 1))[: 4 * d] == exc((4, 3, 1, d))[: 4 * d]
        assert exc((4, 3, 1, d + 1))[4 * d: 4 * d + 4] != exc((4, 3, 1, d))[4 * d: 4 * d + 4]
    # the same plan from the same seed; trains at ~the rate with the dead time
    ctx2, tasks2 = prepare("ca1", protocols="cluster_dispersion", settings=s)
    assert tasks == tasks2
    trains = [t for run_ in lay["runs"] for _, _, tr in run_ for t in tr]
    isi = np.concatenate([np.diff(t) for t in trains if len(t) > 1])
    assert isi.min() >= 1.0 - 1e-9
    rate = sum(len(t) for t in trains) / len(trains) / (s.dispersion_duration_ms / 1000)
    assert abs(rate - 50.0) < 3.0


def test_dispersion_needs_enough_terminal_branches(tmp_path, capsys):
    out = tmp_path / "x.nc"
    assert main(["characterize", "ca1", "--protocols", "cluster_dispersion", "--dispersion-configs", "2x500",
                 "--workers", "0", "-o", str(out)]) == 2
    assert "the configurations need 500" in capsys.readouterr().err and not out.exists()


@pytest.fixture(scope="module")
def dispersion_reference(tmp_path_factory):
    return _reference_run(tmp_path_factory, "disp", [*DISPERSION, "--workers", "0"])


def test_dispersion_contents(dispersion_reference):
    g = open_characterization(dispersion_reference)["cluster_dispersion"]
    assert g.sizes == {"run": 6, "branch": 4, "curve_n": 3}
    assert np.all(g.total_synapses.values == 4) and list(g.n_dispersed.values) == [0, 1, 2] * 2
    assert np.array_equal(g.n_active.sum("branch").values, g.total_synapses.values)
    # more synapses on the branch: more depolarisation there, above its context's (4 synapses elsewhere)
    assert g.attrs["param_dispersion_curve_context"] == 4 and g.curve_context_local_mean_mV.dims == ("branch",)
    assert np.all(np.diff(g.curve_local_mean_mV.values, axis=1) > 0)
    assert np.all(g.curve_local_mean_mV.sel(curve_n=1) > g.curve_context_local_mean_mV)
    assert float(g.local_mean_mV.min()) > -1 and g.soma_rate_hz.attrs["units"] == "Hz"


def test_invivo_contents(dispersion_reference):
    from bridge.characterize.invivo import dense_inputs
    g = open_characterization(dispersion_reference)["invivo"]
    assert g.sizes["condition"] == 2 and g.sizes["sim"] == 2 and g.sizes["time_ms"] == 60
    assert list(g.condition.values) == ["control", "ampa_only"]
    n_syn = g.sizes["synapse"]
    assert n_syn > 200 and (g.synapse_class == 0).sum() == (g.synapse_class == 1).sum()
    x = dense_inputs(g)
    assert x.shape == (2, 60, n_syn) and x.max() == 1            # at most one event per synapse and ms
    np.testing.assert_array_equal(x.sum(axis=(1, 2)), g.sim_event_count.values)
    sim1 = dense_inputs(g, sims=[1])[0]
    np.testing.assert_array_equal(sim1, x[1])
    # the two conditions see the same inputs and start from the same rest, then differ (NMDA removed)
    v = g.soma_mV.values
    assert v[0, 0, 0] == v[1, 0, 0] and np.abs(v[0] - v[1]).max() > 0.01
    assert g.soma_spike_count.dims == ("condition", "sim") and g.event_time_ms.attrs["units"] == "ms"
    # planned events follow the rates: more excitatory events where the excitatory rate is higher
    # ... drawn from the ranges given on the command line (--invivo-exc-hz 1,4 --invivo-inh-hz 2,5)
    assert float(g.exc_rate_hz.min()) >= 1.0 - 1e-6 and float(g.exc_rate_hz.max()) <= 4.0 + 1e-6
    assert float(g.inh_rate_hz.min()) >= 2.0 - 1e-6 and float(g.inh_rate_hz.max()) <= 5.0 + 1e-6
    assert list(g.attrs["param_invivo_exc_rate_hz"]) == [1.0, 4.0]
    assert (g.attrs["param_invivo_burst_fraction"], g.attrs["param_invivo_burst_factor"]) == (0.2, 3.0)


@pytest.mark.parametrize("flag,value,says", [("--invivo-exc-hz", "3,1", "needs 0 <= LO <= HI"),
                                             ("--invivo-inh-hz", "2", "expected LO,HI in Hz"),
                                             ("--invivo-bursts", "0.1", "expected FRACTION,FACTOR"),
                                             ("--invivo-bursts", "1.5,4", "needs 0 <= FRACTION <= 1"),
                                             ("--invivo-bursts", "0.1,0.5", "FACTOR >= 1")])
def test_invivo_rate_ranges_are_checked_before_anything_runs(tmp_path, capsys, flag, value, says):
    out = tmp_path / "x.nc"
    assert main(["characterize", "ca1", "--protocols", "invivo", flag, value, "--workers", "0", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and flag in err and says in err and not out.exists()


def test_long_protocols_kill_resume_and_dask_give_identical_data(dispersion_reference, dask_cluster, tmp_path):
    out = tmp_path / "resumed.nc"
    proc = subprocess.Popen([sys.executable, "-m", "bridge.cli", "characterize", *DISPERSION, "--workers", "1",
                             "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(_parts(out)) < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = _parts(out)
    assert 1 <= len(done) < N_DISPERSION_TASKS, "kill came too late to test a resume"
    run2 = cli([*DISPERSION, "--workers", "2", "-o", str(out)])
    assert run2.returncode == 0, run2.stderr
    assert f"resuming: {len(done)} of {N_DISPERSION_TASKS} tasks already done" in run2.stderr
    assert_same_data(out, dispersion_reference)
    address, _ = dask_cluster
    out2 = tmp_path / "dask.nc"
    run3 = cli([*DISPERSION, "--scheduler", address, "-o", str(out2)])
    assert run3.returncode == 0, run3.stderr
    assert_same_data(out2, dispersion_reference)
