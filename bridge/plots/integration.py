"""Dendritic integration figures: measured versus expected depolarisation with the linear
line and fitted transfer functions, and the distribution of fitted parameters."""
from __future__ import annotations

import numpy as np

from bridge.transfer import get_family

from bridge.plots._common import (distance_label, figure_and_axes, finite_range, identity_line,
                                  new_figure, type_color, type_order)

_CONDITION_COLORS = {"control": "#000000", "nmda_block": "#1f77b4", "na_block": "#d62728"}
_PLACEMENT_STYLE = {"clustered": ("o", "-"), "distributed": ("s", ":")}
_SITE_WORDS = {"local": "at the branch", "soma": "at the soma"}

def param_unit(family: str, param: str) -> str:
    """Unit of parameter `param` of transfer family `family` (x and y in mV; `bridge.transfer`)."""
    fam = get_family(family)
    return fam.param_units()[fam.param_names.index(param)]


def _check_site(site):
    if site not in _SITE_WORDS:
        raise ValueError(f"site must be 'local' or 'soma', got {site!r}")


def _labels(ax, site):
    ax.set_xlabel("expected (arithmetic sum of unitary peaks) (mV)")
    ax.set_ylabel(f"measured peak {_SITE_WORDS[site]} (mV)")


def _param_row(units, values):
    return {str(p): float(v) for p, v in zip(units["param"].values, values)}


def branch_fit(units, branch: int):
    """(family, {param: value}, r2) of `branch` in a units dataset; None when absent."""
    ids = np.asarray(units["branch"].values)
    hit = np.flatnonzero(ids == int(branch))
    if hit.size == 0:
        return None
    k = int(hit[0])
    return (str(units["family"].values[k]), _param_row(units, units["params"].values[k]),
            float(units["r2"].values[k]))


def type_fit(units, branch_type: str):
    """(family, {param: median}) of a branch type in a units dataset; None when absent."""
    names = [str(t) for t in units["branch_type"].values]
    if str(branch_type) not in names:
        return None
    k = names.index(str(branch_type))
    return str(units["type_family"].values[k]), _param_row(units, units["type_params_median"].values[k])


def _curve(family, params, lo, hi, n=200):
    from bridge.transfer import evaluate, get_family

    x = np.linspace(lo, hi, n)
    return x, evaluate(family, x, {p: params[p] for p in get_family(family).param_names})


def plot_integration(integration_ds, branch: int, units=None, placement=None, conditions=None,
                     site: str = "local", ax=None, title: str | None = None):
    """Measured versus expected peak depolarisation (mV) of one branch of the `integration`
    group: one series per (placement, condition), the identity line (linear summation) and,
    with a units dataset, the branch's fitted transfer curve (the type's median fit when the
    branch has none), drawn as stored: compare it with the site (local or soma) the fit
    was made on. placement/conditions: a name or a list (default: all). Returns the Figure.
    """
    _check_site(site)
    ids = [int(b) for b in integration_ds["branch"].values]
    if int(branch) not in ids:
        raise KeyError(f"branch {branch} is not in the integration dataset (have {ids})")
    d = integration_ds.isel(branch=ids.index(int(branch)))
    placements = _names(integration_ds, "placement", placement)
    conds = _names(integration_ds, "condition", conditions)
    fig, ax = figure_and_axes(ax)
    xs, ys = [], []
    for pl in placements:
        marker, ls = _PLACEMENT_STYLE.get(pl, ("^", "--"))
        for c in conds:
            x = np.asarray(d[f"expected_{site}_mV"].sel(placement=pl, condition=c).values, float)
            y = np.asarray(d[f"measured_{site}_mV"].sel(placement=pl, condition=c).values, float)
            ax.plot(x, y, marker=marker, ls=ls, ms=4, color=_CONDITION_COLORS.get(c),
                    label=f"{pl}, {c.replace('_', ' ')}")
            xs.append(x)
            ys.append(y)
    lo, hi = finite_range(*xs, [0.0])
    identity_line(ax, 0.0, hi)
    if units is not None:
        fit = branch_fit(units, branch)
        if fit is not None:
            fam, params, r2 = fit
            label = f"fit: {fam} (R\u00b2 = {r2:.2f})" if np.isfinite(r2) else f"fit: {fam}"
        else:
            fit = type_fit(units, str(d["branch_type"].values))
            if fit is not None:
                fam, params = fit
                label = f"{d['branch_type'].values} median fit: {fam}"
        if fit is not None:
            ax.plot(*_curve(fam, params, 0.0, hi), color="#ff7f0e", lw=2.0, label=label, zorder=3)
    _labels(ax, site)
    ax.set_title(title or f"Branch {int(branch)} ({d['branch_type'].values}, "
                 f"{float(d['path_distance_um']):.0f} \u00b5m)")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def _names(ds, dim, chosen):
    have = [str(v) for v in ds[dim].values]
    if chosen is None:
        return have
    chosen = [chosen] if isinstance(chosen, str) else list(chosen)
    for c in chosen:
        if c not in have:
            raise KeyError(f"no {dim} {c!r} (have {', '.join(have)})")
    return chosen


def plot_integration_by_type(integration_ds, units=None, placement: str = "clustered",
                             condition: str = "control", site: str = "local", ncols: int = 3):
    """One panel per branch type: every branch of the type as a thin line (measured against
    expected, mV), the identity line and, with a units dataset, the type's median fit.
    Branch lines carry gid "branch-<id>". Returns the Figure."""
    _check_site(site)
    _names(integration_ds, "placement", placement)
    _names(integration_ds, "condition", condition)
    d = integration_ds.sel(placement=placement, condition=condition)
    types_of = np.asarray(d["branch_type"].values).astype(str)
    types = type_order(types_of)
    ncols = max(1, min(ncols, len(types)))
    nrows = -(-len(types) // ncols)
    fig, axes = new_figure(nrows, ncols, figsize=(4.0 * ncols, 3.6 * nrows), sharex=False)
    x_all = np.asarray(d[f"expected_{site}_mV"].values, float)
    y_all = np.asarray(d[f"measured_{site}_mV"].values, float)
    for n, t in enumerate(types):
        ax = axes[n // ncols, n % ncols]
        rows = np.flatnonzero(types_of == t)
        color = type_color(t)
        for j, k in enumerate(rows):
            ax.plot(x_all[k], y_all[k], lw=0.7, alpha=0.6, color=color,
                    gid=f"branch-{int(d['branch'].values[k])}",
                    label=f"branches (n = {len(rows)})" if j == 0 else "_nolegend_")
        _, hi = finite_range(x_all[rows], [0.0])
        identity_line(ax, 0.0, hi)
        tf = type_fit(units, t) if units is not None else None
        if tf is not None:
            ax.plot(*_curve(*tf, 0.0, hi), color="k", lw=2.2, label=f"median fit: {tf[0]}", zorder=3)
        _labels(ax, site)
        ax.set_title(f"{t}")
        ax.legend(loc="upper left", fontsize=7)
    for n in range(len(types), nrows * ncols):
        axes[n // ncols, n % ncols].set_visible(False)
    fig.suptitle(f"Integration by branch type ({placement}, {condition.replace('_', ' ')})")
    return fig


def plot_fit_parameters(units_ds, param: str | None = None, family: str | None = None,
                        x: str = "path_distance_um", ax=None, bins: int = 15):
    """A fitted parameter against path distance (um), coloured by branch type (error bars:
    standard errors), beside its histogram per type.

    Only branches whose family uses `param` are drawn; `family` picks one when several
    families share the name (default: the most common among those). `param` defaults to
    the first parameter of the most common family. ax: one Axes (scatter only) or two
    (scatter, histogram); default a new two-panel Figure. Returns the Figure.
    """
    from bridge.transfer import get_family

    fams = np.asarray(units_ds["family"].values).astype(str)
    if family is None:
        cands = [f for f in fams if param is None or param in get_family(f).param_names]
        if not cands:
            raise ValueError(f"no branch has a family with parameter {param!r}")
        family = max(dict.fromkeys(cands), key=cands.count)
    if param is None:
        param = get_family(family).param_names[0]
    if param not in get_family(family).param_names:
        raise ValueError(f"family {family!r} has no parameter {param!r}")
    pnames = [str(p) for p in units_ds["param"].values]
    sel = fams == family
    vals = np.asarray(units_ds["params"].values, float)[sel, pnames.index(param)]
    errs = np.asarray(units_ds["params_std"].values, float)[sel, pnames.index(param)]
    xv = np.asarray(units_ds[x].values, float)[sel]
    types = np.asarray(units_ds["branch_type_of_branch"].values).astype(str)[sel]
    unit = param_unit(family, param)

    if ax is None:
        fig, axes = new_figure(1, 2, figsize=(10.0, 4.0))
        ax_s, ax_h = axes[0, 0], axes[0, 1]
    elif isinstance(ax, (list, tuple, np.ndarray)):
        ax_s, ax_h = ax[0], ax[1]
        fig = ax_s.figure
    else:
        fig, ax_s, ax_h = ax.figure, ax, None
    ylabel = f"{family} {param} ({unit})"
    ok = np.isfinite(vals)
    edges = np.histogram_bin_edges(vals[ok], bins=bins) if ok.any() else bins
    for t in type_order(types):
        m = types == t
        e = np.where(np.isfinite(errs[m]), errs[m], 0.0)
        ax_s.errorbar(xv[m], vals[m], yerr=e if np.any(e > 0) else None, marker="o", ms=4, ls="",
                      color=type_color(t), capsize=2, label=f"{t} ({int(m.sum())})")
        if ax_h is not None:
            ax_h.hist(vals[m & ok], bins=edges, histtype="step", lw=1.5, color=type_color(t), label=t)
    ax_s.set_xlabel(distance_label() if x == "path_distance_um"
                    else f"{x} ({units_ds[x].attrs.get('units', '1')})")
    ax_s.set_ylabel(ylabel)
    ax_s.set_title(f"{family} {param} along the dendrites")
    ax_s.legend(title="branch type (n)", loc="best", fontsize=8)
    if ax_h is not None:
        ax_h.set_xlabel(ylabel)
        ax_h.set_ylabel("branches (count)")
        ax_h.set_title(f"{family} {param} by branch type")
        ax_h.legend(loc="best", fontsize=8)
    return fig
