"""Synthetic characterization datasets with known transfer functions (tests, benchmarks).

Follows the characterization section of `bridge.schema` exactly (groups `integration`,
`timing`, `patterns`; root provenance attributes), so `bridge fit` reads it as it reads
the output of `bridge characterize`. The ground truth is returned alongside.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from bridge.schema import CHARACTERIZATION_SCHEMA_NAME, CHARACTERIZATION_SCHEMA_VERSION
from bridge.transfer import evaluate, logistic

TYPES = ("basal", "oblique", "trunk", "tuft")
PLACEMENTS = ("clustered", "distributed")
CONDITIONS = ("control", "nmda_block", "na_block")

# default (clustered, control) family and a parameter generator per branch type
TRUE_FAMILY = {"basal": "sigmoid", "oblique": "sigmoid", "trunk": "saturating", "tuft": "supralinear"}


def _true_params(btype, dist, rng):
    if btype in ("basal", "oblique"):
        # NMDA-spike-like: threshold falls with distance (thinner, higher impedance branches)
        return dict(threshold=18.0 - 0.03 * dist + rng.normal(0, 1.0), slope=rng.uniform(1.5, 3.0),
                    amplitude=rng.uniform(25, 40), baseline=0.0)
    if btype == "trunk":
        return dict(amplitude=rng.uniform(15, 25), scale=rng.uniform(10, 20))
    return dict(amplitude=rng.uniform(1.5, 3.0), scale=rng.uniform(12, 18))


def _curve(family, params, x):
    y = evaluate(family, x, params)
    if family == "sigmoid":
        y = y - evaluate(family, 0.0, params)     # a branch at rest responds 0 mV
    return y


def make_characterization(n_branches=12, n_synapses=30, seed=0, noise_mV=0.3, n_patterns=400,
                          timing=True, patterns=True, test_fraction=0.25):
    """(root attrs, {protocol: dataset}, truth). truth: per branch family/params (default
    curve), and the two-layer ground truth used for the patterns."""
    rng = np.random.default_rng(seed)
    nb, N = n_branches, n_synapses
    btype = np.array([TYPES[i % len(TYPES)] for i in range(nb)], dtype=object)
    dist = np.array([{"basal": 60, "oblique": 150, "trunk": 300, "tuft": 700}[t] for t in btype], float)
    dist = dist + rng.uniform(0, 100, nb)
    unit = rng.uniform(0.6, 1.2, (nb, 1, 1, N)) * np.ones((1, len(PLACEMENTS), len(CONDITIONS), 1))
    unit[:, :, 1] *= 0.6      # nmda block: smaller unitary EPSPs
    expected = np.cumsum(unit, axis=-1)
    measured = np.empty_like(expected)
    fams, pars = [], []
    for b in range(nb):
        p = _true_params(btype[b], dist[b], rng)
        f = TRUE_FAMILY[btype[b]]
        fams.append(f)
        pars.append(p)
        for ip, pl in enumerate(PLACEMENTS):
            for ic, cond in enumerate(CONDITIONS):
                x = expected[b, ip, ic]
                if cond == "nmda_block":
                    y = _curve("saturating", dict(amplitude=20.0, scale=25.0), x)
                elif pl == "distributed":
                    y = _curve("linear", dict(slope=0.9, offset=0.0), x)
                elif cond == "na_block" and f == "sigmoid":
                    y = _curve("sigmoid", {**p, "amplitude": 0.8 * p["amplitude"]}, x)
                else:
                    y = _curve(f, p, x)
                measured[b, ip, ic] = y + rng.normal(0, noise_mV, N)
    coords = {
        "branch": ("branch", np.arange(nb, dtype=np.int64) + 1),
        "branch_type": ("branch", btype),
        "path_distance_um": ("branch", dist, {"units": "um"}),
        "placement": ("placement", np.array(PLACEMENTS, dtype=object)),
        "condition": ("condition", np.array(CONDITIONS, dtype=object)),
        "n_synapses": ("n_synapses", np.arange(1, N + 1, dtype=np.int64)),
        "synapse": ("synapse", np.arange(N, dtype=np.int64)),
    }
    d4 = ("branch", "placement", "condition", "n_synapses")
    integ = xr.Dataset(
        {
            "measured_local_mV": (d4, measured, {"units": "mV"}),
            "measured_soma_mV": (d4, 0.2 * measured, {"units": "mV"}),
            "expected_local_mV": (d4, expected, {"units": "mV"}),
            "expected_soma_mV": (d4, 0.2 * expected, {"units": "mV"}),
            "unitary_local_mV": (("branch", "placement", "condition", "synapse"), unit, {"units": "mV"}),
            "unitary_soma_mV": (("branch", "placement", "condition", "synapse"), 0.2 * unit, {"units": "mV"}),
            "soma_spikes": (d4, np.zeros(measured.shape, np.int64), {"units": "1"}),
        },
        coords=coords, attrs={"protocol": "integration", "param_n_synapses": N},
    )
    groups = {"integration": integ}
    truth = {"family": fams, "params": pars, "branch": coords["branch"][1], "branch_type": btype}
    if timing:
        iv = np.array([0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0])
        tau = rng.uniform(5, 20, nb)
        amp = rng.uniform(5, 15, nb)
        base = rng.uniform(3, 6, nb)
        tm = base[:, None] + amp[:, None] * np.exp(-iv[None, :] / tau[:, None]) + rng.normal(0, 0.1, (nb, iv.size))
        groups["timing"] = xr.Dataset(
            {"measured_local_mV": (("branch", "interval_ms"), tm, {"units": "mV"}),
             "measured_soma_mV": (("branch", "interval_ms"), 0.2 * tm, {"units": "mV"}),
             "expected_local_mV": (("branch",), base + amp, {"units": "mV"}),
             "expected_soma_mV": (("branch",), 0.2 * (base + amp), {"units": "mV"})},
            coords={k: coords[k] for k in ("branch", "branch_type", "path_distance_um")}
            | {"interval_ms": ("interval_ms", iv, {"units": "ms"})},
            attrs={"protocol": "timing"})
        truth["tau_ms"] = tau
    if patterns:
        P = n_patterns
        # each pattern drives a random subset of branches, with a few synapses each
        drive = rng.random((P, nb)) < rng.uniform(0.1, 0.5, (P, 1))
        n_act = np.where(drive, rng.integers(1, N + 1, (P, nb)), 0)
        mv = unit[:, 0, 0].mean(-1)
        x = n_act * mv[None, :]
        S = np.column_stack([_curve(fams[b], pars[b], x[:, b]) for b in range(nb)])
        w = rng.uniform(0.5, 1.5, nb) * 0.25
        z = S @ w
        soma = -5 + 40 * logistic((z - np.percentile(z, 70)) / (0.15 * z.std() + 1e-9)) + 5
        soma = soma + rng.normal(0, 0.5, P)
        rate = np.maximum(0, (z - np.percentile(z, 60)) * 3) + rng.normal(0, 0.2, P).clip(0)
        split = np.where(rng.random(P) < test_fraction, "test", "train").astype(object)
        groups["patterns"] = xr.Dataset(
            {"n_active": (("pattern", "branch"), n_act.astype(np.int64), {"units": "1"}),
             "soma_peak_mV": (("pattern",), soma, {"units": "mV"}),
             "soma_rate_hz": (("pattern",), rate, {"units": "Hz"}),
             "soma_spikes": (("pattern",), (soma > 20).astype(np.int64), {"units": "1"})},
            coords={k: coords[k] for k in ("branch", "branch_type", "path_distance_um")}
            | {"split": ("pattern", split)},
            attrs={"protocol": "patterns"})
        truth["weights"] = w
    attrs = {
        "schema": CHARACTERIZATION_SCHEMA_NAME, "schema_version": CHARACTERIZATION_SCHEMA_VERSION,
        "project_version": "0.1.0", "simulator": "synthetic", "simulator_version": "0",
        "cell": "synthetic", "morphology_source": "builtin", "morphology_sha256": "0" * 64,
        "recipe_sha256": "0" * 64, "seed": int(seed), "dt_ms": 0.025, "temperature_C": 34.0,
        "created": "2026-01-01T00:00:00Z", "protocols": ",".join(groups),
    }
    return attrs, groups, truth


def write_characterization(path, attrs, groups) -> None:
    """Write a characterization file with `bridge.schema.write_characterization` (checked)."""
    from bridge.schema import write_characterization as write

    write(groups, attrs, path)


def make_dispersion_group(n_branches=12, seed=0, placements=10, noise_hz=1.0,
                          configs=((8, 4), (4, 8), (5, 7), (7, 5), (6, 6), (8, 5), (4, 10)),
                          curve_counts=(1, 2, 4, 6, 8, 10, 12), test_fraction=0.2):
    """A `cluster_dispersion` group (Poirazi, Brannon & Mel 2003's design, as the protocol
    plans it) whose firing rate comes from a known two-layer cell: subunits whose mean local
    depolarisation grows linearly (0.3 mV per synapse-mV) plus a sigmoid jump (threshold 5-9
    synapses), a weighted sum through an output sigmoid (0-60 Hz). Returns (dataset, truth)."""
    rng = np.random.default_rng(seed)
    B = n_branches
    mv = rng.uniform(0.5, 1.5, B)
    sub = [dict(threshold=float(t * m), slope=float(0.8 * m), amplitude=20.0, baseline=0.0)
           for t, m in zip(rng.uniform(5, 9, B), mv)]
    f = lambda b, n: 0.3 * np.asarray(n, float) * mv[b] + _curve("sigmoid", sub[b], np.asarray(n, float) * mv[b])  # noqa: E731
    w = rng.uniform(0.7, 1.3, B)
    rows = []
    for size, count in configs:
        for _ in range(placements):
            on = rng.choice(B, count, replace=False)
            moved = [rng.integers(0, B, size) for _ in range(count)]
            for d in range(count + 1):
                c = np.zeros(B, np.int64)
                for k in range(count):
                    if k < d:
                        np.add.at(c, moved[k], 1)
                    else:
                        c[on[k]] += size
                rows.append((size, count, d, c))
    n_active = np.stack([r[3] for r in rows])
    z = np.column_stack([f(b, n_active[:, b]) for b in range(B)]) @ w
    rate = 60.0 * logistic((z - np.percentile(z, 50)) / (0.25 * z.std())) + rng.normal(0, noise_hz, len(rows))
    rate = np.clip(rate, 0.0, None)
    counts = np.asarray(curve_counts)
    curves = np.stack([f(b, counts) for b in range(B)]) + rng.normal(0, 0.02, (B, counts.size))
    split = np.where(rng.random(len(rows)) < test_fraction, "test", "train").astype(object)
    col = lambda j: np.array([r[j] for r in rows], np.int64)  # noqa: E731
    ds = xr.Dataset(
        {"n_active": (("run", "branch"), n_active), "soma_rate_hz": (("run",), rate),
         "soma_spikes": (("run",), np.round(rate * 0.6).astype(np.int64)),
         "soma_mean_mV": (("run",), 0.2 * z), "local_mean_mV": (("run", "branch"), n_active * mv[None, :]),
         "cluster_size": (("run",), col(0)), "n_clusters": (("run",), col(1)),
         "placement_index": (("run",), np.zeros(len(rows), np.int64)), "n_dispersed": (("run",), col(2)),
         "total_synapses": (("run",), n_active.sum(1)),
         "curve_local_mean_mV": (("branch", "curve_n"), curves),
         "curve_soma_mean_mV": (("branch", "curve_n"), 0.1 * curves),
         "curve_soma_rate_hz": (("branch", "curve_n"), np.zeros_like(curves))},
        coords={"branch": ("branch", np.arange(1, B + 1, dtype=np.int64)),
                "branch_type": ("branch", np.array(["basal"] * B, dtype=object)),
                "path_distance_um": ("branch", rng.uniform(80, 250, B)),
                "run": ("run", np.arange(len(rows), dtype=np.int64)), "split": ("run", split),
                "curve_n": ("curve_n", counts.astype(np.int64))},
        attrs={"protocol": "cluster_dispersion"})
    return ds, {"mV_per_synapse": mv, "subunits": sub, "weights": w}


def write_dispersion_characterization(path, seed=0, **kw):
    """A characterization file with only a synthetic `cluster_dispersion` group."""
    ds, _ = make_dispersion_group(seed=seed, **kw)
    attrs = {
        "schema": CHARACTERIZATION_SCHEMA_NAME, "schema_version": CHARACTERIZATION_SCHEMA_VERSION,
        "project_version": "0.1.0", "simulator": "synthetic", "simulator_version": "0",
        "cell": "synthetic", "morphology_source": "builtin", "morphology_sha256": "0" * 64,
        "recipe_sha256": "0" * 64, "seed": int(seed), "dt_ms": 0.025, "temperature_C": 34.0,
        "created": "2026-01-01T00:00:00Z", "protocols": "cluster_dispersion",
    }
    write_characterization(path, attrs, {"cluster_dispersion": ds})
    return path
