"""Validate a cell model against published targets (cells.validation.targets).

    from cells.validation import validate
    report = validate("l5pc")              # runs the protocols in NEURON
    print(report.table()); report.passed

The plan (which protocols) and the targets belong to the cell type (`cells.types`); the
protocols (`cells.validation.protocols`) are compositions of the shared experiments
(`cells.experiments`), so "validated" and "characterized" mean the same experiment.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from cells.types import get_cell_type
from cells.validation import protocols as P


@dataclass
class Row:
    feature: str
    target: str
    measured: float
    passed: bool
    source: str
    unit: str


@dataclass
class Report:
    cell: str
    morphology: str
    simulator: str
    rows: list[Row]
    seconds: float
    results: dict = field(default_factory=dict, repr=False)   # raw protocol outputs for figures

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    def table(self) -> str:
        head = f"{'feature':40s} {'target':>22s} {'measured':>10s}  result"
        lines = [f"{self.cell} on {self.morphology} ({self.simulator}, {self.seconds:.0f} s)", head, "-" * len(head)]
        for r in self.rows:
            measured = ("yes" if r.measured == 1.0 else "no") if r.unit == "bool" else f"{r.measured:.3g}"
            lines.append(f"{r.feature:40s} {r.target:>22s} {measured:>10s}  {'pass' if r.passed else 'FAIL'}")
        n_fail = sum(not r.passed for r in self.rows)
        lines.append(f"{len(self.rows) - n_fail} passed, {n_fail} failed")
        return "\n".join(lines)

    def sources(self) -> str:
        return "\n".join(f"  {s}" for s in dict.fromkeys(r.source for r in self.rows))


def protocol_plan(cell_name: str) -> tuple[str, ...]:
    """The validation protocols of a cell type, in order (its `CellType.validation`)."""
    return get_cell_type(cell_name).validation


def check_sites(cell_type, morphology, plan) -> None:
    """Refuse, before anything is simulated, a plan whose sites the morphology lacks: the
    apical path (bap, bac, attenuation) or a cluster's branch (nmda_basal, oblique)."""
    from cells.experiments.sites import cluster_branch, required_apical_path

    s = cell_type.stimuli
    if {"bap", "bac", "attenuation"} & set(plan):
        required_apical_path(morphology)
    for name, cluster in (("nmda_basal", s.nmda_basal), ("oblique", s.oblique)):
        if name in plan:
            cluster_branch(morphology, cluster.branch_type, cluster.distance_um, prefer=cluster.prefer)


def validate(cell_name: str, morphology=None, simulator: str = "neuron", fast: bool = False,
             protocols=None, progress=None, recipe=None) -> Report:
    """Run the validation protocols of `cell_name` and compare with its published targets.

    `fast` shortens the costly protocols (shorter f-I steps, fewer synapse counts, the basal
    NMDA sweep at 0.05 ms steps); the features and targets stay the same. `recipe`: run this recipe (e.g. adapted to the
    morphology, `cells.adapt`) instead of the cell type's."""
    from cells import load_morphology, make_cell_factory

    cell_type = get_cell_type(cell_name)
    morph = load_morphology(cell_name, morphology)
    make_cell = make_cell_factory(recipe or cell_type.recipe, morph, simulator)
    plan = [p for p in cell_type.validation if not protocols or p in protocols]
    check_sites(cell_type, morph, plan)
    start = time.perf_counter()
    results: dict = {}
    for name in plan:
        if progress:
            progress(name)
        results[name] = P.PROTOCOLS[name](make_cell, cell_type, fast)
    measured = {k: v for r in results.values() for k, v in r.items() if isinstance(v, (int, float))}
    rows = []
    for target in cell_type.targets:
        if target.feature not in measured:
            continue
        value = float(measured[target.feature])
        rows.append(Row(target.feature, target.describe(), value, target.passes(value), target.source, target.unit))
    return Report(cell_name, morph.source, simulator, rows, time.perf_counter() - start, results)


__all__ = ["Report", "Row", "validate", "protocol_plan"]
