"""Fit dendritic transfer functions and a two-layer cell model to a characterization file.

Reads the output of `bridge characterize` (groups `integration`, `patterns`, optionally
`timing`), fits every branch's measured local response against the expected linear sum
and against the number of synapses (families: linear, sigmoid, supralinear, saturating,
monotone spline; chosen per curve by BIC unless --family forces one), fits the two-layer
model (Poirazi, Brannon & Mel 2003), a point-neuron baseline (total input, equal
weights, one output sigmoid) and a weighted linear model on the train patterns,
and writes a units file (schema `bridge.units` v2, see bridge/schema.py) atomically.

Prints, per branch type, the chosen families, median parameters and median R^2, and the
variance explained on the held-out patterns by the two-layer models, the point neuron and
the weighted linear model.
A branch whose default curve is empty, flat or non-monotone stops the command (exit 2,
no file) unless --skip-bad drops it.

examples:
  bridge fit char.nc -o units.nc
  bridge fit char.nc -o units.nc --family sigmoid --plots figs/
  bridge fit char.nc -o units.nc --no-two-layer --skip-bad
"""
from __future__ import annotations

import os
import sys

NAME = "fit"
HELP = "fit transfer functions and a two-layer model to a characterization (writes a units file)"

FAMILY_CHOICES = ("auto", "linear", "sigmoid", "supralinear", "saturating", "spline")


def add_arguments(p) -> None:
    p.add_argument("characterization", metavar="CHAR.nc", help="output of `bridge characterize`")
    p.add_argument("-o", "--output", required=True, metavar="UNITS.nc", help="units file to write")
    p.add_argument("--family", default="auto", choices=FAMILY_CHOICES,
                   help="transfer family for every branch (default auto: chosen per curve by --criterion)")
    p.add_argument("--criterion", default="bic", choices=("bic", "aic"),
                   help="model selection criterion (default bic; the simpler family wins within 2 units)")
    p.add_argument("--placement", default=None, help="placement of the default fit (default clustered)")
    p.add_argument("--condition", default=None, help="condition of the default fit (default control)")
    p.add_argument("--skip-bad", action="store_true",
                   help="drop branches whose default curve is empty, flat or non-monotone instead of stopping")
    p.add_argument("--no-two-layer", action="store_true", help="do not fit the two-layer model (no patterns needed)")
    p.add_argument("--ridge", type=float, default=1e-2, help="ridge penalty of the two-layer weights (default 0.01)")
    p.add_argument("--plots", metavar="DIR", default=None, help="write PNG figures of the fits to DIR")


def _fmt(v):
    if v is None or v != v:
        return "nan"
    return f"{v:.3g}"


def summary_table(units) -> str:
    """Per branch type: chosen families, median parameters of the type's family, median R^2,
    flagged branches; then the two-layer versus point-neuron variance explained."""
    import numpy as np

    from bridge.transfer import FAMILIES

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
        head = ["target"] + models
        trs = [head]
        for t in units["target"].values:
            vals = ve.sel(target=t).values
            fl = units["two_layer_flags"].sel(target=t).values
            trs.append([str(t)] + [(f"{v * 100:.1f} %" if v == v else f"n/a ({f or 'nan'})") for v, f in zip(vals, fl)])
        w2 = [max(len(r[k]) for r in trs) for k in range(len(head))]
        lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, w2)).rstrip() for r in trs]
        lines.append("  point_neuron: total active synapses through one output sigmoid; linear_weighted: one weight "
                     "per branch input")
        lines.append("  reference (Poirazi, Brannon & Mel 2003, CA1 model): two-layer 91 %, point neuron 37 %")
    return "\n".join(lines)


def write_plots(result, folder) -> list[str]:
    """PNG figures: fits per branch type (measured points, fitted curve, linear line),
    fitted parameters against distance, two-layer predictions. Returns the paths."""
    import numpy as np

    units, integ = result.units, result.groups["integration"]
    dpl, dco = units.attrs["default_placement"], units.attrs["default_condition"]
    os.makedirs(folder, exist_ok=True)
    out = []
    from bridge.plots import (plot_fit_parameters, plot_integration, plot_integration_by_type, plot_two_layer,
                              save_figure)
    from bridge.plots._common import new_figure

    out.append(save_figure(plot_integration_by_type(integ, units, placement=dpl, condition=dco),
                           os.path.join(folder, "integration_by_type.png")))
    of = np.asarray(units["branch_type_of_branch"].values).astype(str)
    dist = np.asarray(units["path_distance_um"].values, float)
    for t in dict.fromkeys(of):
        rows = np.flatnonzero(of == t)
        rows = rows[np.argsort(dist[rows])]
        if rows.size > 12:
            rows = rows[np.linspace(0, rows.size - 1, 12).round().astype(int)]
        ncols = min(4, rows.size)
        nrows = -(-rows.size // ncols)
        fig, axes = new_figure(nrows, ncols, figsize=(4.0 * ncols, 3.4 * nrows))
        for k, r in enumerate(rows):
            plot_integration(integ, int(units["branch"].values[r]), units=units, placement=dpl,
                             conditions=dco, ax=axes[k // ncols, k % ncols])
        for k in range(rows.size, nrows * ncols):
            axes[k // ncols, k % ncols].set_visible(False)
        fig.suptitle(f"{t}: measured vs expected ({dpl}, {dco}), fitted curve, linear line")
        out.append(save_figure(fig, os.path.join(folder, f"fits_{t}.png")))
    for fam in dict.fromkeys(np.asarray(units["type_family"].values).astype(str)):
        if fam in ("spline",):
            continue
        from bridge.transfer import FAMILIES
        for pn in FAMILIES[fam].param_names:
            out.append(save_figure(plot_fit_parameters(units, param=pn, family=fam),
                                   os.path.join(folder, f"params_{fam}_{pn}.png")))
    if "two_layer_predicted" in units:
        test = np.asarray(units["pattern_split"].values).astype(str) == "test"
        for t in units["target"].values:
            pred = {str(m): units["two_layer_predicted"].sel(model=m, target=t).values[test]
                    for m in units["model"].values}
            meas = units["two_layer_measured"].sel(target=t).values[test]
            if not np.any(np.isfinite(meas)) or not any(np.any(np.isfinite(p)) for p in pred.values()):
                continue
            out.append(save_figure(plot_two_layer(pred, meas, variable=str(t), split="test"),
                                   os.path.join(folder, f"two_layer_{t}.png")))
    return [str(p) for p in out]


def run(args) -> int:
    from cells.errors import InputError

    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir):
        raise InputError(f"output directory {out_dir} does not exist")
    if os.path.abspath(args.output) == os.path.abspath(args.characterization):
        raise InputError("-o must not be the characterization file itself")
    if args.ridge < 0:
        raise InputError(f"--ridge must be >= 0, got {args.ridge}")
    from bridge.fit.pipeline import fit_characterization
    from bridge.schema import write_units

    res = fit_characterization(args.characterization, family=args.family, criterion=args.criterion,
                               skip_bad=args.skip_bad, two_layer=not args.no_two_layer,
                               placement=args.placement, condition=args.condition, ridge=args.ridge)
    for _, msg in res.skipped:
        print(f"bridge fit: skipped {msg}", file=sys.stderr)
    for msg in res.warnings[:20]:
        print(f"bridge fit: warning: {msg}", file=sys.stderr)
    if len(res.warnings) > 20:
        print(f"bridge fit: warning: ... and {len(res.warnings) - 20} more", file=sys.stderr)
    u = res.units
    s = res.seconds
    print(f"{u.attrs.get('cell', '?')}: {u.sizes['branch']} branches fitted "
          f"(default curve: {u.attrs['default_placement']}, {u.attrs['default_condition']}; "
          f"selection: {u.attrs['selection_criterion']}, family {u.attrs['fit_family']}); "
          f"branch fits {s['branches']:.2f} s, "
          f"two-layer {s['two_layer']:.1f} s")
    print(summary_table(u))
    write_units(u, args.output)
    print(f"wrote {args.output}")
    if args.plots:
        paths = write_plots(res, args.plots)
        print(f"wrote {len(paths)} figures to {args.plots}")
    return 0
