"""Figures of the bridge (matplotlib): morphology, traces, integration curves with fits, fit
parameter distributions, protocol summaries and accuracy versus parameters.

Every function takes data objects (a `cells.morphology.Morphology`, a dict of traces,
xarray datasets following `bridge.schema`, a units dataset), an optional `ax`, and returns
the matplotlib Figure. Figures are made without pyplot (`matplotlib.figure.Figure`), so
nothing here selects a backend or opens a window; in Jupyter a returned Figure displays
itself, elsewhere write it with :func:`save_figure`. Imports neither NEURON, Brian2 nor torch.

    from bridge.plots import plot_morphology, save_figure
    save_figure(plot_morphology(cells.load_morphology("l5pc"), color_by="Ih",
                                recipe=cells.get_recipe("l5pc")), "figs/ih.png")
"""
from bridge.plots._common import TYPE_COLORS, save_figure, type_color
from bridge.plots.fit_figures import write_fit_figures
from bridge.plots.integration import (branch_fit, param_unit, plot_fit_parameters, plot_integration,
                                      plot_integration_by_type, type_fit)
from bridge.plots.morphology import channel_density, plot_morphology
from bridge.plots.networks import (accuracy_table, plot_accuracy_vs_parameters, plot_learning_curves,
                                   plot_two_layer, variance_explained)
from bridge.plots.protocols import plot_bap, plot_fi, plot_invivo, plot_passive, plot_traces

__all__ = [
    "TYPE_COLORS", "accuracy_table", "branch_fit", "channel_density", "param_unit",
    "plot_accuracy_vs_parameters", "plot_bap", "plot_fi", "plot_fit_parameters",
    "plot_integration", "plot_integration_by_type", "plot_invivo", "plot_learning_curves", "plot_morphology",
    "plot_passive",
    "plot_traces", "plot_two_layer", "save_figure", "type_color", "type_fit",
    "variance_explained", "write_fit_figures",
]
