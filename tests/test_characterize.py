"""`bridge characterize`: protocols -> schema-checked dataset; local pool, Dask cluster with a
worker killed mid-sweep, kill -9 and resume; bad input refused in one line (issue 4).

Tiny settings throughout (l5pc built-in, a few synapses, short windows) so the file runs
in about two minutes on two cores.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from bridge.characterize import Settings, characterize, prepare
from bridge.characterize.protocols import CONDITIONS, PLACEMENTS, select_branches
from bridge.cli import main
from characterize_helpers import _parts, _reference_run, assert_same_data, cli
from bridge.schema import (CHARACTERIZATION_GROUPS, CHARACTERIZATION_SCHEMA_VERSION, open_characterization,
                           write_characterization)
from dendritic_errors import InputError

pytestmark = pytest.mark.timeout(600)

BIN = Path(sys.executable).parent
# 8 tasks x 3 simulations: the sweep of the cluster, the kill-and-resume and the determinism tests
SWEEP = ["l5pc", "--protocols", "integration", "--branches", "2", "--synapses", "3",
         "--conditions", "control,nmda_block", "--placements", "clustered", "--no-progress"]
N_SWEEP_TASKS = 8

TINY = Settings(branches=1, n_synapses=2, n_patterns=10, pattern_batch=5, passive_sites_per_type=1,
                passive_path_spacing_um=600.0, passive_step_ms=100.0, site_step_ms=50.0, window_ms=30.0,
                fi_currents_nA=(0.0, 1.0), fi_step_ms=100.0, intervals_ms=(0.0, 2.0), bac_window_ms=60.0,
                pattern_window_ms=20.0, pattern_synapses=3, dispersion_configs=((2, 2),), dispersion_placements=1,
                dispersion_branches=2, dispersion_duration_ms=20.0, dispersion_curve_counts=(1, 2, 3),
                invivo_simulations=2, invivo_duration_ms=30.0)


def data_of(path, group="integration") -> xr.Dataset:
    ds = open_characterization(path)[group]
    return ds.drop_attrs()


# ------------------------------------------------------------------------------ planning
def test_plan_is_seeded_and_stratified():
    # the default plan but 2 short in-vivo simulations: drawing the default 32 x 2 s of spike
    # trains for 1,558 synapses is 4 of the 9 s each plan takes (measured 2026-12-04)
    small = dict(invivo_simulations=2, invivo_duration_ms=500.0)
    ctx, tasks = prepare("l5pc", protocols="all", settings=Settings(**small))
    ctx2, tasks2 = prepare("l5pc", protocols="all", settings=Settings(**small))
    assert tasks == tasks2                                   # same seed -> same plan
    assert [t.key(ctx.config) for t in tasks] == [t.key(ctx2.config) for t in tasks2]
    _, other = prepare("l5pc", protocols="all", settings=Settings(seed=1, **small))
    assert other != tasks
    ids = select_branches(ctx.morphology, 3, 0)
    assert [ctx.btype(b) for b in ids] == ["basal", "oblique", "tuft"]
    assert {t.protocol for t in tasks} == set(CHARACTERIZATION_GROUPS)
    # the timing protocol's unitary responses are integration's very tasks: computed once
    assert len(tasks) == len(set(tasks))
    n_pat = sum(t.n_sims for t in tasks if t.protocol == "patterns")
    assert n_pat >= 1000


def test_patterns_vary_concentration_at_equal_total():
    """Poirazi, Brannon & Mel 2003: the same total input, concentrated on few branches or
    dispersed over many. Planning only (no simulation)."""
    from bridge.characterize.protocols import _patterns_layout, draw_pattern
    s = Settings()
    ctx, _ = prepare("l5pc", protocols="patterns", settings=s)
    lay = _patterns_layout(ctx)
    n, total = lay["n_active"], lay["total"]
    assert n.shape == (s.n_patterns, s.pattern_branches)
    assert np.array_equal(n.sum(1), total) and int(n.max()) <= s.pattern_synapses and int(n.min()) >= 0
    assert total.min() >= 1 and total.max() == s.pattern_total_max
    k = (n > 0).sum(1)
    assert np.all(k <= lay["targets"]) and np.all(lay["targets"] >= np.ceil(total / s.pattern_synapses))
    # at equal totals, both concentrated (<= 2 branches) and dispersed (>= 6 branches) patterns
    mixed = [t for t in range(20, 41) if (k[total == t] <= 2).any() and (k[total == t] >= 6).any()]
    assert len(mixed) >= 10, mixed
    # concentrated patterns are common (log-uniform k), not only the dispersed ones
    assert 0.15 < np.mean(k <= 2) < 0.6
    # each pattern from its own stream: the same with other batching / fewer patterns
    ctx2, _ = prepare("l5pc", protocols="patterns", settings=Settings(n_patterns=50, pattern_batch=7))
    assert np.array_equal(_patterns_layout(ctx2)["n_active"], n[:50])
    # the cap is kept by redistributing: a total that needs every branch at its cap
    for i in range(50):
        c, T, kk = draw_pattern(np.random.default_rng(i), 4, 5, 20)
        assert c.sum() == T and c.max() <= 5 and kk >= -(-T // 5)


def test_default_integration_covers_the_issue():
    s = Settings()
    assert s.n_synapses >= 30 and s.jitter_ms <= 1.0 and s.cluster_span_um <= 40.0
    assert s.conditions == CONDITIONS and s.placements == PLACEMENTS and s.n_patterns >= 1000


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("args, message", [
    (["purkinje"], "unknown cell 'purkinje'"),
    (["l5pc", "--protocols", "passive,nonsense"], "nonsense"),
    (["l5pc", "--branches", "many"], "--branches 'many'"),
    (["l5pc", "--branches", "0"], "--branches must be >= 1"),
    (["l5pc", "--branches", "1,2"], "not dendritic branch"),
    (["l5pc", "--branches", "100000"], "dendritic branches"),
    (["l5pc", "--scheduler", "not an address"], "not a scheduler address"),
    (["l5pc", "--scheduler", "tcp://127.0.0.1:1"], "cannot reach the Dask scheduler"),
    (["l5pc", "--simulator", "nest"], "unknown simulator"),
    (["l5pc", "--conditions", "control,ttx"], "unknown condition"),
    (["l5pc", "--workers", "-1"], "--workers"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "out.nc"
    assert main(["characterize", *args, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err, err
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_refused(tmp_path, capsys):
    out = tmp_path / "out.nc"
    out.write_bytes(b"precious")
    assert main(["characterize", "l5pc", "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == b"precious" and not Path(f"{out}.parts").exists()


def test_unknown_simulator_is_refused_cleanly(tmp_path, capsys):
    out = tmp_path / "o.nc"
    assert main(["characterize", "l5pc", "--simulator", "nest", "-o", str(out)]) == 2
    assert "nest" in capsys.readouterr().err
    assert not out.exists() and not Path(f"{out}.parts").exists()


# ------------------------------------------------------------------------------ every protocol, tiny
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny") / "tiny.nc"
    characterize("l5pc", out, protocols="all", settings=TINY, workers=2, progress=False, say=lambda m: None)
    return out


def test_every_protocol_follows_the_schema(tiny):
    groups = open_characterization(tiny)
    assert list(groups) == ["passive", "integration", "timing", "bap", "bac", "fi", "patterns", "cluster_dispersion",
                            "invivo"]
    for name, ds in groups.items():
        assert ds.attrs["protocol"] == name and ds.attrs["cell"] == "l5pc"
        for attr in ("project_version", "simulator", "simulator_version", "morphology_sha256",
                     "recipe_sha256", "seed", "dt_ms", "temperature_C", "created"):
            assert attr in ds.attrs
        for var in ds.data_vars.values():
            assert "units" in var.attrs, var.name
    assert not Path(f"{tiny}.parts").exists()                # checkpoints removed when done


def test_integration_contents(tiny):
    ds = open_characterization(tiny)["integration"]
    assert list(ds.condition.values) == list(CONDITIONS) and list(ds.placement.values) == list(PLACEMENTS)
    assert list(ds.n_synapses.values) == [1, 2]
    np.testing.assert_array_equal(ds.expected_local_mV.values, np.cumsum(ds.unitary_local_mV.values, axis=-1))
    # one synapse alone is its own unitary response
    np.testing.assert_allclose(ds.measured_local_mV.sel(n_synapses=1).values,
                               ds.unitary_local_mV.sel(synapse=0).values, rtol=1e-9)
    assert float(ds.measured_local_mV.min()) > 0
    # NMDA block lowers the response; the clustered synapses sit on the recorded branch
    ctrl = ds.measured_local_mV.sel(condition="control", n_synapses=2)
    apv = ds.measured_local_mV.sel(condition="nmda_block", n_synapses=2)
    assert bool((apv < ctrl).all())
    assert (ds.synapse_branch.sel(placement="clustered") == ds.branch).all()
    assert "NaTa" in ds.attrs["condition_na_block"]


def test_other_protocols_contents(tiny):
    g = open_characterization(tiny)
    p = g["passive"]
    assert 5 < float(p.input_resistance_MOhm) < 500 and 1 < float(p.membrane_tau_ms) < 100
    assert bool((p.epsp_attenuation < 1).all()) and bool((p.ss_attenuation <= 1.0001).all())
    assert float(g["fi"].n_spikes.sel(current_nA=1.0)) > 0 and float(g["fi"].n_spikes.sel(current_nA=0.0)) == 0
    bap = g["bap"]
    assert bap.branch_type.values[0] == "soma" and float(bap.bap_amplitude_mV[0]) > 80
    assert list(g["bac"].stimulus.values) == ["soma", "dendrite", "both"]
    pat = g["patterns"]
    assert pat.sizes == {"pattern": 10, "branch": 12, "curve_n": 3}
    # each pattern branch's own curve: one synapse alone is its own unitary response
    np.testing.assert_allclose(pat.curve_measured_local_mV.sel(curve_n=1), pat.curve_unitary_local_mV.sel(curve_n=1))
    np.testing.assert_allclose(pat.curve_expected_local_mV, pat.curve_unitary_local_mV.cumsum("curve_n"))
    assert (pat.split == "test").sum() == 2 and (pat.split == "train").sum() == 8
    assert pat.n_active.dtype.kind == "i" and int(pat.n_active.max()) <= TINY.pattern_synapses
    assert np.array_equal(pat.total_active.values, pat.n_active.sum("branch").values)
    assert pat.total_active.attrs["units"] == "1" and pat.n_target_branches.attrs["units"] == "1"
    t = g["timing"]
    assert t.measured_local_mV.sizes == {"branch": 1, "interval_ms": 2}


# ------------------------------------------------------------------------------ the schema refuses bad files
def _rewrite(src, dst, edit_group=None, root_attrs=None):
    groups = {k: v for k, v in open_characterization(src).items()}
    tree = {"/": xr.Dataset(attrs={**groups["fi"].attrs, "protocols": ",".join(groups), **(root_attrs or {})})}
    for k, v in groups.items():
        tree[f"/{k}"] = edit_group(k, v) if edit_group else v
    xr.DataTree.from_dict(tree).to_netcdf(dst, engine="h5netcdf")


def test_reader_refuses_bad_files(tiny, tmp_path):
    bad = tmp_path / "bad.nc"
    _rewrite(tiny, bad, lambda k, v: v.drop_vars("soma_spikes") if k == "integration" else v)
    with pytest.raises(InputError, match="missing variable 'soma_spikes'"):
        open_characterization(bad)
    bad.unlink()
    _rewrite(tiny, bad, lambda k, v: v.assign(rate_hz=("x", np.zeros(3), {"units": "Hz"})) if k == "fi" else v)
    with pytest.raises(InputError, match="'rate_hz' has dims"):
        open_characterization(bad)
    bad.unlink()
    _rewrite(tiny, bad, root_attrs={"schema_version": CHARACTERIZATION_SCHEMA_VERSION + 1})
    with pytest.raises(InputError, match="newer"):
        open_characterization(bad)
    truncated = tmp_path / "truncated.nc"
    data = Path(tiny).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cannot read"):
        open_characterization(truncated)
    with pytest.raises(InputError, match="no such"):
        open_characterization(tmp_path / "absent.nc")
    groups = open_characterization(tiny)
    groups["fi"] = groups["fi"].drop_vars("rate_hz")
    with pytest.raises(InputError, match="rate_hz"):
        write_characterization(groups, groups["bap"].attrs, tmp_path / "never.nc")
    assert not (tmp_path / "never.nc").exists()


# ------------------------------------------------------------------------------ sweep: local reference
@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return _reference_run(tmp_path_factory, "ref", [*SWEEP, "--workers", "2"])


# ------------------------------------------------------------------------------ kill -9 and resume
def test_kill_and_resume_recomputes_nothing(reference, tmp_path):
    out = tmp_path / "resumed.nc"
    log1, log2 = tmp_path / "run1.log", tmp_path / "run2.log"
    proc = subprocess.Popen([sys.executable, "-m", "bridge.cli", "characterize", *SWEEP, "--workers", "1",
                             "-o", str(out)], env={**os.environ, "BRIDGE_CHARACTERIZE_LOG": str(log1)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(_parts(out)) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = _parts(out)
    assert 2 <= len(done_before) < N_SWEEP_TASKS, "kill came too late to test a resume"
    assert not out.exists()
    run2 = cli([*SWEEP, "--workers", "1", "-o", str(out)], env={"BRIDGE_CHARACTERIZE_LOG": str(log2)})
    assert run2.returncode == 0, run2.stderr
    assert f"resuming: {len(done_before)} of {N_SWEEP_TASKS} tasks already done" in run2.stderr
    recomputed = {line.split()[0] for line in log2.read_text().splitlines()}
    assert not recomputed & done_before                      # nothing finished was computed again
    assert len(recomputed) == N_SWEEP_TASKS - len(done_before)
    assert not Path(f"{out}.parts").exists()
    assert_same_data(out, reference)                         # identical to an uninterrupted run


# ------------------------------------------------------------------------------ Dask cluster, a worker killed
def test_dask_cluster_with_a_worker_killed_gives_identical_results(reference, dask_cluster, tmp_path):
    address, workers = dask_cluster
    out = tmp_path / "dask.nc"
    proc = subprocess.Popen([sys.executable, "-m", "bridge.cli", "characterize", *SWEEP, "--scheduler", address,
                             "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while len(_parts(out)) < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "sweep ended before a worker could be killed"
    os.kill(workers[0].pid, signal.SIGKILL)                  # mid-sweep: it holds a running task
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert len(_parts(out)) == 0 and out.exists()
    assert workers[0].poll() is not None
    assert_same_data(out, reference)


# ------------------------------------------------------------------ a failed run leaves no trace
FI = ["characterize", "l5pc", "--protocols", "fi", "--workers", "0", "--no-progress"]
N_FI_TASKS = 8


@pytest.mark.parametrize("exc,code,words", [
    (RuntimeError("segfault in a mechanism"), 3, "internal error: RuntimeError: segfault in a mechanism"),
    (KeyboardInterrupt(), 130, "interrupted"),
])
def test_failed_start_leaves_nothing(tmp_path, capsys, monkeypatch, exc, code, words):
    import bridge.characterize.tasks as tasks

    def broken(config, p):
        raise exc
    monkeypatch.setitem(tasks.KINDS, "fi", broken)
    out = tmp_path / "out.nc"
    assert main([*FI, "-o", str(out)]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"bridge characterize: {words}" + (" (run with --debug for the traceback)" if code == 3 else "")
    assert "checkpointed" not in err[-1] and not any("Traceback" in line for line in err)
    assert list(tmp_path.iterdir()) == []                   # no out.nc, no out.nc.parts


def test_failed_run_keeps_finished_tasks_and_says_so(tmp_path, capsys, monkeypatch):
    import bridge.characterize.protocols as protocols
    import bridge.characterize.tasks as tasks

    calls = []

    def first_only(config, p):
        calls.append(p)
        if len(calls) > 1:
            raise RuntimeError("worker died")
        return {"fake": np.zeros(3)}
    monkeypatch.setitem(tasks.KINDS, "fi", first_only)
    out = tmp_path / "out.nc"
    parts = Path(f"{out}.parts")
    assert main([*FI, "-o", str(out)]) == 3
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (f"bridge characterize: internal error: RuntimeError: worker died; 1 of {N_FI_TASKS} tasks "
                   f"are checkpointed in {parts}; rerun the same command to resume "
                   f"(run with --debug for the traceback)")
    assert not out.exists() and len(list(parts.glob("*.npz"))) == 1
    # the rerun computes only the missing tasks; a failure after every task finished keeps them all
    calls.clear()
    monkeypatch.setitem(tasks.KINDS, "fi", lambda config, p: calls.append(p) or {"fake": np.zeros(3)})

    def broken_assemble(ctx, results):
        raise ValueError("cannot assemble")
    monkeypatch.setattr(protocols, "assemble", broken_assemble)
    assert main([*FI, "-o", str(out)]) == 3
    assert len(calls) == N_FI_TASKS - 1
    assert f"{N_FI_TASKS} of {N_FI_TASKS} tasks are checkpointed" in capsys.readouterr().err
    assert not out.exists() and len(list(parts.glob("*.npz"))) == N_FI_TASKS


def test_failed_run_keeps_a_folder_it_did_not_create(tmp_path, monkeypatch):
    """Checkpoints of another configuration (or anything else) in OUT.nc.parts are not ours to delete."""
    import bridge.characterize.tasks as tasks

    def broken(config, p):
        raise RuntimeError("no")
    monkeypatch.setitem(tasks.KINDS, "fi", broken)
    out = tmp_path / "out.nc"
    parts = Path(f"{out}.parts")
    parts.mkdir()
    (parts / "config.json").write_text("{}")
    with pytest.raises(RuntimeError):
        characterize("l5pc", out, protocols="fi", workers=0, progress=False, say=lambda m: None)
    assert (parts / "config.json").read_text() == "{}" and not out.exists()


# ------------------------------------------------------- a cell without an apical dendrite
BASAL_ONLY = """# soma and two basal dendrites, no trunk or tuft
1 1 0 0 0 10 -1
2 3 0 -10 0 1 1
3 3 0 -60 0 0.8 2
4 3 0 -120 0 0.6 3
5 3 10 0 0 1 1
6 3 60 0 0 0.8 5
7 3 120 10 0 0.6 6
"""


@pytest.mark.parametrize("protocols", ["bac", "bap,bac", "all"])
def test_protocols_needing_an_apical_dendrite_are_refused_before_simulating(tmp_path, capsys, monkeypatch,
                                                                           protocols):
    import bridge.characterize.tasks as tasks

    swc = tmp_path / "basal_only.swc"
    swc.write_text(BASAL_ONLY)
    for kind in tasks.KINDS:                     # nothing may be simulated
        monkeypatch.setitem(tasks.KINDS, kind, lambda config, p: pytest.fail("simulated"))
    out = tmp_path / "out.nc"
    assert main(["characterize", "l5pc", "--morphology", str(swc), "--protocols", protocols, "--branches", "1",
                 "--workers", "0", "--no-progress", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (f"bridge characterize: error: --protocols bac: {swc} has no apical dendrite (no trunk or "
                   f"tuft branch); leave bac out of --protocols\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["basal_only.swc"]   # no out.nc, no out.nc.parts


def test_bap_and_passive_plan_on_basal_dendrites_only(tmp_path):
    """bAP records at the soma and every dendritic branch, passive adds the apical path only
    when there is one: both plan (and run) on a cell with basal dendrites only."""
    swc = tmp_path / "basal_only.swc"
    swc.write_text(BASAL_ONLY)
    ctx, plan = prepare("l5pc", swc, protocols="bap,passive")
    assert sorted({t.kind for t in plan}) == ["bap", "passive_site", "passive_soma"]
    basal = {b.id for b in ctx.morphology.of_type("basal")}
    assert {dict(t.p)["site_branch"] for t in plan if t.kind == "passive_site"} <= basal
    bap = next(t for t in plan if t.kind == "bap")
    assert {b for b, _ in dict(bap.p)["sites"]} <= {0, *(b.id for b in ctx.morphology.of_type("basal"))}
