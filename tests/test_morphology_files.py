"""Real-world SWC files: every kind of file has a defined outcome (docs/cells.md, "SWC
files the reader meets"): accepted, accepted with a one-line warning naming file:line, or
refused with one line naming file:line. Each kind is a small file written here."""
from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from cells.morphology import MorphologyWarning, SWCError, read_swc

# Basal dendrite and apical trunk used by most files below (samples 10..., soma id 1).
DENDRITES = """\
10 3 0 -10 0 1 1
11 3 0 -30 0 1 10
20 4 0 10 0 2 1
21 4 0 60 0 1.5 20
"""

MULTI_POINT_SOMA = """\
1 1 0 0 0 3 -1
2 1 0 4 0 5 1
3 1 0 8 0 3 2
10 3 0 -10 0 1 1
11 3 0 -30 0 1 10
20 4 0 10 0 2 3
21 4 0 60 0 1.5 20
"""

# NeuroMorpho's 3-point soma: the centre, then centre -/+ r along y, both children of it.
CYLINDER_SOMA = "1 1 0 0 0 6 -1\n2 1 0 -6 0 6 1\n3 1 0 6 0 6 1\n" + DENDRITES


def contour_soma(n: int = 12, r: float = 8.0) -> str:
    """A soma outline of n samples around (5, 5, 0), each the parent of the next (ids 1,
    101, 102, ...; the dendrites hang off sample 1)."""
    ids = [1] + [100 + k for k in range(1, n)]
    rows = []
    for k in range(n):
        a = 2 * math.pi * k / n
        rows.append(f"{ids[k]} 1 {5 + r * math.cos(a):.4f} {5 + r * math.sin(a):.4f} 0 0.5 {ids[k - 1] if k else -1}")
    return "\n".join(rows) + "\n" + DENDRITES


# A soma sample at the tip of the basal dendrite too (a soma at both ends of a chain).
SOMA_AT_BOTH_ENDS = "1 1 0 0 0 5 -1\n" + DENDRITES + "12 1 0 -40 0 5 11\n"

# Two soma groups, each a root.
TWO_SOMA_ROOTS = "1 1 0 0 0 5 -1\n" + DENDRITES + "30 1 100 0 0 5 -1\n31 3 100 -10 0 1 30\n"

# A dendrite tree with its own root (a neurite traced apart from the soma).
SECOND_ROOT = "1 1 0 0 0 5 -1\n" + DENDRITES + "30 3 50 0 0 1 -1\n31 3 50 -10 0 1 30\n"

# Basal chain 10-11-12-13 with a side branch from 11 (mid-chain) and a trifurcation at 13.
BRANCH_POINTS = """\
1 1 0 0 0 5 -1
10 3 0 -10 0 1 1
11 3 0 -20 0 1 10
12 3 0 -30 0 1 11
13 3 0 -40 0 1 12
14 3 10 -20 0 0.5 11
15 3 0 -50 0 0.5 13
16 3 10 -50 0 0.5 13
17 3 -10 -50 0 0.5 13
20 4 0 10 0 2 1
21 4 0 60 0 1.5 20
"""

# An axon from the soma with two basal dendrites starting on axon samples (as in a real
# CA1 reconstruction): one from the middle of the axon's chain, one from its tip.
DENDRITES_ON_AXON = """\
1 1 0 0 0 5 -1
2 2 0 -8 0 0.5 1
3 2 0 -20 0 0.5 2
4 2 0 -40 0 0.5 3
5 3 10 -25 0 1 3
6 3 20 -30 0 1 5
7 3 0 -50 0 0.8 4
20 4 0 10 0 2 1
21 4 0 60 0 1.5 20
"""

DUPLICATE_ID = "1 1 0 0 0 5 -1\n10 3 0 -10 0 1 1\n10 3 0 -30 0 1 10\n"

UNSORTED = "21 4 0 60 0 1.5 20\n11 3 0 -30 0 1 10\n1 1 0 0 0 5 -1\n20 4 0 10 0 2 1\n10 3 0 -10 0 1 1\n"

ONLY_CUSTOM_TYPES = "1 0 0 0 0 5 -1\n2 7 0 -10 0 1 1\n3 0 0 -30 0 1 2\n"

CUSTOM_TYPE_ON_SOMA = "1 1 0 0 0 5 -1\n2 0 0 -10 0 1 1\n3 3 0 -30 0 1 2\n"

NO_APICAL = "1 1 0 0 0 5 -1\n10 3 0 -10 0 1 1\n11 3 0 -30 0 1 10\n12 2 0 8 0 0.5 1\n"

GOOD = "# header\n1 1 0 0 0 5 -1\n10 3 0 -10 0 1 1\n"

# (kind, text, outcome, line, words): outcome "accepted" / "warning" / "refused"; line is
# the file line the warning or refusal names (None: the file as a whole).
CASES = [
    ("multi-point soma", MULTI_POINT_SOMA, "accepted", None, None),
    ("cylinder soma (3-point)", CYLINDER_SOMA, "accepted", None, None),
    ("contour soma", contour_soma(), "warning", 1, "soma is a contour of 12 samples"),
    ("soma at both ends of a chain", SOMA_AT_BOTH_ENDS, "refused", 6, "one connected group"),
    ("two soma roots", TWO_SOMA_ROOTS, "refused", 6, "second root"),
    ("non-somatic branch points, trifurcation", BRANCH_POINTS, "accepted", None, None),
    ("dendrites on the axon", DENDRITES_ON_AXON, "warning", 5, "2 dendrite branches hang off the axon"),
    ("several roots", SECOND_ROOT, "refused", 6, "second root"),
    ("duplicate ids", DUPLICATE_ID, "refused", 3, "duplicate sample id 10 (first on line 2)"),
    ("unsorted samples", UNSORTED, "accepted", None, None),
    ("only custom types", ONLY_CUSTOM_TYPES, "refused", None, "no soma sample (type 1); types in the file: 0, 7"),
    ("custom type on the soma", CUSTOM_TYPE_ON_SOMA, "refused", 2, "has type 0 and hangs off the soma"),
    ("no apical tree", NO_APICAL, "accepted", None, None),
    ("cut inside a number (columns)", GOOD + "11 3 0 -3", "refused", 4, "got 4 (the file ends inside this line"),
    ("cut inside a number (parent id)", GOOD + "11 3 0 -30 0 1 -", "refused", 4, "'-' is not a number (the file ends"),
    # a cut inside the parent id that leaves another sample's id ("10" -> "1") is a valid
    # file: nothing can tell; accepted
    ("cut inside the parent id, still an id", GOOD + "11 3 0 -30 0 1 1", "accepted", None, None),
    ("cut inside a number (radius)", GOOD + "11 3 0 -30 0 0.", "refused", 4, "got 6 (the file ends"),
]


def read(path):
    """read_swc, with the MorphologyWarnings it issued."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        morph = read_swc(path)
    return morph, [w for w in caught if issubclass(w.category, MorphologyWarning)]


@pytest.mark.parametrize("kind, text, outcome, line, words", CASES, ids=[c[0] for c in CASES])
def test_file_kind_outcome(tmp_path, kind, text, outcome, line, words):
    path = tmp_path / "cell.swc"
    path.write_text(text)
    where = f"{path}:{line}: " if line else f"{path}: "
    if outcome == "refused":
        with pytest.raises(SWCError) as info:
            read_swc(path)
        message = str(info.value)
        assert message.startswith(where) and words in message and "\n" not in message, message
        return
    morph, caught = read(path)
    assert [str(w.message) for w in caught] == list(morph.warnings)
    if outcome == "accepted":
        assert morph.warnings == ()
    else:
        (message,) = morph.warnings
        assert message.startswith(where) and words in message and "\n" not in message, message
    for b in morph.branches[1:]:      # the invariant both simulators rely on
        assert b.type == "axon" or morph.branches[b.parent_id].type != "axon"


def test_cylinder_soma_is_the_cylinder_it_stands_for(tmp_path):
    (tmp_path / "c.swc").write_text(CYLINDER_SOMA)
    soma = read_swc(tmp_path / "c.swc").soma
    assert soma.length_um == pytest.approx(12.0)
    assert soma.surface_area_um2 == pytest.approx(4 * math.pi * 6.0 ** 2)


def test_contour_soma_becomes_a_centred_cylinder(tmp_path):
    (tmp_path / "c.swc").write_text(contour_soma(n=12, r=8.0))
    soma = read(tmp_path / "c.swc")[0].soma
    np.testing.assert_allclose(soma.xyzr_um[:, [0, 2]], [[5, 0], [5, 0]], atol=1e-6)
    assert soma.xyzr_um[:, 1].mean() == pytest.approx(5.0)
    assert soma.xyzr_um[0, 3] == pytest.approx(8.0, rel=1e-3)
    assert soma.length_um == pytest.approx(16.0, rel=1e-3)


def test_a_stacked_soma_is_not_a_contour(tmp_path):
    """Four soma samples in a line stay a cable along them."""
    text = "1 1 0 0 0 3 -1\n2 1 0 3 0 5 1\n3 1 0 6 0 5 2\n4 1 0 9 0 3 3\n10 3 0 -10 0 1 1\n"
    (tmp_path / "s.swc").write_text(text)
    morph, caught = read(tmp_path / "s.swc")
    assert caught == [] and morph.soma.xyzr_um.shape == (4, 4)


def test_branch_points_and_trifurcation(tmp_path):
    (tmp_path / "b.swc").write_text(BRANCH_POINTS)
    m = read_swc(tmp_path / "b.swc")
    basal = m.of_type("basal")
    # 10-11 | 11-12-13 | the three children of 13 | the side branch 11-14 (depth first,
    # earliest sample first)
    assert [(b.parent_id, b.order) for b in basal] == [(0, 1), (1, 2), (2, 3), (2, 3), (2, 3), (1, 2)]
    np.testing.assert_allclose(basal[5].xyzr_um[:, :2], [[0, -20], [10, -20]])
    assert len(m.children(2)) == 3
    assert m.branches[3].path_distance_um == pytest.approx(30.0)


def test_unsorted_file_gives_the_sorted_files_tree(tmp_path):
    rows = UNSORTED.splitlines()
    (tmp_path / "u.swc").write_text(UNSORTED)
    (tmp_path / "s.swc").write_text("\n".join(sorted(rows, key=lambda r: int(r.split()[0]))) + "\n")
    a, b = read_swc(tmp_path / "u.swc"), read_swc(tmp_path / "s.swc")

    def tree(m):      # branch numbering follows file order; the tree does not
        return sorted((x.type, x.order, x.path_distance_um, x.xyzr_um.tobytes()) for x in m.branches)
    assert tree(a) == tree(b) and len(a.branches) == 3


def test_dendrites_on_the_axon_hang_off_the_soma(tmp_path):
    (tmp_path / "a.swc").write_text(DENDRITES_ON_AXON)
    m, _ = read(tmp_path / "a.swc")
    moved = sorted((b for b in m.of_type("basal") if b.parent_id == 0), key=lambda b: -b.xyzr_um[0, 1])
    assert len(moved) == 2 and not [b for b in m.of_type("basal") if b.parent_id != 0]
    for b in moved:
        assert (b.parent_x, b.order, b.path_distance_um) == (0.5, 1, 0.0)
    # each keeps its own points, starting at the axon sample it hung off
    np.testing.assert_allclose(moved[0].xyzr_um[:, :3], [[0, -20, 0], [10, -25, 0], [20, -30, 0]])
    np.testing.assert_allclose(moved[1].xyzr_um[:, :3], [[0, -40, 0], [0, -50, 0]])
    assert m.total_length_um("axon") == pytest.approx(32.0)   # the axon itself is kept (from sample 2)
    assert "lines 5, 7" in m.warnings[0]


# ------------------------------------------------------------------ simulators
def test_dendrites_on_the_axon_build_in_neuron(tmp_path):
    from cells import get_recipe
    from cells.neuron_cell import NeuronCell

    (tmp_path / "a.swc").write_text(DENDRITES_ON_AXON)
    m, _ = read(tmp_path / "a.swc")
    cell = NeuronCell(get_recipe("ca1"), m)
    for b in m.of_type("basal"):
        seg = cell.sections[b.id].parentseg()
        assert seg.sec == cell.sections[0] and seg.x == 0.5
    cell.record("soma", 0, 0.5)
    v = cell.run(tstop_ms=2.0)["soma"]
    assert np.all(np.isfinite(v))


def test_dendrites_on_the_axon_build_in_brian2(tmp_path):
    from cells import get_recipe
    from cells.brian2 import Brian2Cell

    (tmp_path / "a.swc").write_text(DENDRITES_ON_AXON)
    m, _ = read(tmp_path / "a.swc")
    cell = Brian2Cell(get_recipe("ca1"), m)
    pieces = cell.layout.pieces
    for b in m.of_type("basal"):
        (piece,) = [p for p in pieces if p.key == ("branch", b.id)]
        assert pieces[piece.parent].key == ("branch", 0)
    # every non-axon branch is in the layout (nothing dropped with the axon)
    laid = {p.key for p in pieces}
    assert all(("branch", b.id) in laid for b in m.branches if b.type != "axon")


# ------------------------------------------------------------------ command line
def test_cli_refused_file_is_one_line_exit_2(tmp_path):
    swc = tmp_path / "bad.swc"
    swc.write_text(GOOD + "11 3 0 -3")
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "validate", "l5pc", "--fast", "--morphology", str(swc)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"bridge validate: error: {swc}:4: expected 7 columns")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_cli_prints_a_reader_warning_as_one_line(tmp_path, capsys, monkeypatch):
    """The dendrites-on-axon file has no apical tree here, so validate warns, then refuses
    before simulating."""
    import cells.validation.protocols as P
    from bridge.cli import main

    for name in P.PROTOCOLS:
        monkeypatch.setitem(P.PROTOCOLS, name, lambda *a: pytest.fail("simulated"))
    swc = tmp_path / "axon_dendrites.swc"
    swc.write_text("\n".join(r for r in DENDRITES_ON_AXON.splitlines() if r.split()[1] != "4") + "\n")
    assert main(["validate", "l5pc", "--fast", "--morphology", str(swc)]) == 2
    warning, error = capsys.readouterr().err.splitlines()
    assert warning.startswith(f"bridge validate: warning: {swc}:5: 2 dendrite branches hang off the axon")
    assert error == f"bridge validate: error: {swc}: no apical dendrite (no trunk or tuft branch)"
