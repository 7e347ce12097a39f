"""The validation features as tests: every published target of each cell, fast protocols.

One module-scoped validation run per cell and morphology; each feature is its own test so
a failure names the feature, its target and the measured value.
"""
import pytest

from cells.validation import validate
from cells.validation.targets import TARGETS

CASES = [("l5pc", None), ("ca1", None)]
SHARED = {"l5pc": "l5pc_hay2011_cell1.swc", "ca1": "ca1_n120.swc"}


@pytest.fixture(scope="module")
def reports():
    return {}


def _report(reports, cell, morphology):
    key = (cell, str(morphology))
    if key not in reports:
        reports[key] = validate(cell, morphology=morphology, fast=True)
    return reports[key]


@pytest.mark.parametrize("cell", ["l5pc", "ca1"])
@pytest.mark.parametrize("feature", sorted({f for t in TARGETS.values() for f in t}))
def test_builtin_feature(reports, cell, feature):
    if feature not in TARGETS[cell]:
        pytest.skip(f"{feature} is not a target for {cell}")
    report = _report(reports, cell, None)
    row = {r.feature: r for r in report.rows}.get(feature)
    assert row is not None, f"{cell}: feature {feature} was not measured"
    assert row.passed, f"{cell}: {feature} = {row.measured:.3g}, target {row.target} ({row.source})"


@pytest.mark.parametrize("cell", ["l5pc", "ca1"])
def test_shared_morphology_passes(reports, cell, shared_morphology):
    path = shared_morphology(SHARED[cell])
    report = _report(reports, cell, path)
    failed = [f"{r.feature}={r.measured:.3g} (target {r.target})" for r in report.rows if not r.passed]
    assert not failed, f"{cell} on {path.name}: " + "; ".join(failed)
