"""A units file as text: what `bridge fit` and `bridge demo` print."""
from __future__ import annotations

import numpy as np

from bridge.transfer import FAMILIES


def _fmt(v):
    if v is None or v != v:
        return "nan"
    return f"{v:.3g}"


def summary_table(units) -> str:
    """Per branch type: chosen families, median parameters of the type's family, median R^2,
    flagged branches; then the two-layer versus point-neuron variance explained."""
    names = [str(p) for p in units["param"].values]
    of = np.asarray(units["branch_type_of_branch"].values).astype(str)
    fams = np.asarray(units["family"].values).astype(str)
    flags = np.asarray(units["flags"].values).astype(str) if "flags" in units else np.full(of.size, "")
    rows = [("type", "n", "families chosen", "type family: median parameters", "median R^2", "flagged")]
    for i, t in enumerate(units["branch_type"].values):
        t = str(t)
        sel = of == t
        counts = {f: int(np.sum(fams[sel] == f)) for f in FAMILIES if np.any(fams[sel] == f)}
        fam_s = ", ".join(f"{f} {c}" for f, c in sorted(counts.items(), key=lambda kv: -kv[1]))
        tf = str(units["type_family"].values[i])
        med = units["type_params_median"].values[i]
        pn = FAMILIES[tf].param_names
        if tf == "spline":
            par = f"spline: {len(pn) // 2} knots"
        else:
            par = f"{tf}: " + ", ".join(f"{n}={_fmt(float(med[names.index(n)]))}" for n in pn)
        r2 = float(np.nanmedian(units["r2"].values[sel])) if np.any(np.isfinite(units["r2"].values[sel])) else float("nan")
        nflag = int(np.sum([bool(f) for f in flags[sel]]))
        rows.append((t, str(int(sel.sum())), fam_s, par, _fmt(r2), str(nflag)))
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    if "two_layer_variance_explained" in units:
        ve = units["two_layer_variance_explained"]
        models = [str(m) for m in units["model"].values]
        lines.append("")
        lines.append(f"variance explained on {units.attrs.get('two_layer_n_test', '?')} held-out patterns "
                     f"(fitted on {units.attrs.get('two_layer_n_train', '?')}; {units.sizes['subunit']} subunits):")
        targets = [str(t) for t in units["target"].values]
        lines += _ve_rows(models, targets, lambda m, t: float(ve.sel(target=t).values[m]),
                          lambda m, t: str(units["two_layer_flags"].sel(target=t).values[m]))
    return "\n".join(lines)


def _ve_rows(models, targets, ve, flag) -> list[str]:
    """Rows of variance explained (target x model; ve(m, t), flag(m, t) by model index) and
    the legend, with P03's figures as the reference."""
    trs = [["target"] + list(models)]
    for t in targets:
        trs.append([t] + [(f"{v * 100:.1f} %" if v == v else f"n/a ({flag(m, t) or 'nan'})")
                          for m, v in ((m, ve(m, t)) for m in range(len(models)))])
    w2 = [max(len(r[k]) for r in trs) for k in range(len(trs[0]))]
    out = ["  " + "  ".join(c.ljust(w) for c, w in zip(r, w2)).rstrip() for r in trs]
    out.append("  point_neuron: total active synapses through one output sigmoid; linear_weighted: one weight "
               "per branch input")
    out.append("  reference (Poirazi, Brannon & Mel 2003, CA1 model): two-layer 91 %, point neuron 37 %")
    return out


def dispersion_table(fit) -> str:
    """The cluster_dispersion fit (`bridge.fit.dispersion.DispersionFit`) as text."""
    r = fit.result
    fams = ", ".join(f"{f} {fit.families.count(f)}" for f in sorted(set(fit.families)))
    where = (f"measured on top of {fit.curve_context} synapses driven elsewhere" if fit.curve_context
             else "measured with the branch alone")
    lines = [f"cluster_dispersion: {len(fit.branch)} subunits, each its own branch's fit ({fams}; median R^2 "
             f"{_fmt(float(np.nanmedian(fit.r2)))}; curves {where}); variance explained on {r.n_test} "
             f"held-out runs (fitted on {r.n_train}):"]
    lines += _ve_rows(r.models, list(r.targets), lambda m, t: float(r.ve_test[m, r.targets.index(t)]),
                      lambda m, t: str(r.flags[m, r.targets.index(t)]))
    return "\n".join(lines)
