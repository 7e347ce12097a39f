"""Where protocols stimulate and record: sites chosen from the morphology by rule.

A site is (branch_id, x). Rules are stated here once so every protocol, simulator and
morphology picks the same places.
"""
from __future__ import annotations

import numpy as np

from cells.morphology import Morphology
from dendritic_errors import InputError


def apical_path(morphology: Morphology) -> list[int]:
    """Branch ids from the soma along the trunk and on through the tuft, following at each
    bifurcation the child whose subtree reaches furthest (the 'main apical path')."""
    reach = _subtree_reach(morphology)
    path, current = [], 0
    while True:
        kids = [b for b in morphology.children(current) if b.type in ("trunk", "tuft")]
        if not kids:
            return path
        current = max(kids, key=lambda b: (b.type == "trunk", reach[b.id])).id
        path.append(current)


def site_at_distance(morphology: Morphology, path: list[int], distance_um: float) -> tuple[int, float]:
    """The point of a branch path at a given path distance from the soma (clipped to its end)."""
    for branch_id in path:
        b = morphology.branches[branch_id]
        start, end = b.path_distance_at(0.0), b.path_distance_at(1.0)
        if distance_um <= end:
            return branch_id, float(np.clip((distance_um - start) / max(end - start, 1e-9), 0.0, 1.0))
    return path[-1], 1.0


def cluster_branch(morphology: Morphology, branch_type: str, target_distance_um: float,
                   min_length_um: float = 40.0, prefer: str = "closest") -> int:
    """A terminal branch of `branch_type`, long enough for a cluster, near `target_distance_um`.

    prefer="closest": the midpoint closest to the target distance (ties: the thinner branch);
    prefer="thickest": the thickest branch whose midpoint lies within 50 um of the target
    (reconstructed terminal basal dendrites can be very thin; Schiller et al. 2000 stimulated
    basal branches ~100-150 um from the soma that could be targeted visually)."""
    candidates = [b for b in morphology.of_type(branch_type)
                  if not morphology.children(b.id) and b.length_um >= min_length_um]
    if not candidates:
        candidates = [b for b in morphology.of_type(branch_type) if b.length_um >= min_length_um / 2]
    if not candidates:
        raise InputError(f"{morphology.source}: no {branch_type} branch of at least {min_length_um / 2:g} um")

    def offset(b):
        return abs(b.path_distance_at(0.5) - target_distance_um)

    if prefer == "thickest":
        near = [b for b in candidates if offset(b) <= 50.0] or candidates
        return max(near, key=lambda b: float(np.mean(b.diameters_um))).id
    return min(candidates, key=lambda b: (offset(b), float(np.mean(b.diameters_um)))).id


def cluster_positions(morphology: Morphology, branch_id: int, n: int, span_um: float,
                      centre_x: float = 0.6) -> np.ndarray:
    """n synapse positions (x) spread evenly over `span_um` around centre_x of a branch."""
    length = morphology.branches[branch_id].length_um
    half = min(span_um, length) / 2.0 / length
    centre = float(np.clip(centre_x, half, 1.0 - half))
    if n == 1:
        return np.array([centre])
    return np.linspace(centre - half, centre + half, n)


def centre_out_order(n: int) -> np.ndarray:
    """0..n-1 reordered so that every prefix is spread over the whole cluster (bit reversal):
    the first n synapses of a cluster of N stay centred as n grows."""
    idx = np.arange(n)
    key = np.array([int(f"{i:016b}"[::-1], 2) for i in idx])
    return idx[np.argsort(key, kind="stable")]


def clustered_sites(morphology: Morphology, branch_id: int, n: int, span_um: float,
                    centre_x: float = 0.6) -> tuple[list[tuple[int, float]], float]:
    """n sites within `span_um` around `centre_x` of a branch, in centre-out order, and the
    recording position (the cluster's centre)."""
    positions = cluster_positions(morphology, branch_id, n, span_um, centre_x)
    centre = float(np.median(positions))
    return [(int(branch_id), float(x)) for x in positions[centre_out_order(n)]], centre


def required_apical_path(morphology: Morphology) -> list[int]:
    """`apical_path`, refusing (InputError) a tree without an apical dendrite: the
    protocols that stimulate or record on it cannot run there."""
    path = apical_path(morphology)
    if not path:
        raise InputError(f"{morphology.source}: no apical dendrite (no trunk or tuft branch)")
    return path


def apical_sites(morphology: Morphology, distances_um) -> list[tuple[int, float]]:
    """Sites on the main apical path at the given path distances."""
    path = required_apical_path(morphology)
    return [site_at_distance(morphology, path, float(d)) for d in distances_um]


def _subtree_reach(morphology: Morphology) -> dict[int, float]:
    reach: dict[int, float] = {}
    for b in reversed(morphology.branches):
        kids = morphology.children(b.id)
        reach[b.id] = max([reach[k.id] for k in kids], default=b.path_distance_at(1.0))
    return reach
