"""Spatial discretisation: the d_lambda rule (Hines & Carnevale, NEURON book ch. 5)."""
from __future__ import annotations

import math

import numpy as np

from .tree import Branch


def mean_diameter_um(branch: Branch) -> float:
    """Length-weighted mean diameter (um) of a branch (plain mean if it has no length)."""
    pts = branch.xyzr_um
    seg = np.linalg.norm(np.diff(pts[:, :3], axis=0), axis=1)
    d = pts[:-1, 3] + pts[1:, 3]                      # mean diameter of each segment
    if seg.sum() <= 0.0:
        return float(np.mean(2.0 * pts[:, 3]))
    return float(np.sum(seg * d) / seg.sum())


def lambda_f_um(diam_um: float, Ra_ohm_cm: float, cm_uF_per_cm2: float, freq_hz: float = 100.0) -> float:
    """AC length constant at `freq_hz` (um): 1e5 * sqrt(d / (4 pi f Ra cm)), d in um."""
    return 1e5 * math.sqrt(diam_um / (4.0 * math.pi * freq_hz * Ra_ohm_cm * cm_uF_per_cm2))


def nseg_d_lambda(branch: Branch, Ra_ohm_cm: float, cm_uF_per_cm2: float,
                  d_lambda: float = 0.1, freq_hz: float = 100.0) -> int:
    """Odd number of segments so that none is longer than d_lambda * lambda_f(freq_hz)."""
    return nseg_cable(branch.length_um, mean_diameter_um(branch), Ra_ohm_cm, cm_uF_per_cm2, d_lambda, freq_hz)


def nseg_cable(length_um: float, diam_um: float, Ra_ohm_cm: float, cm_uF_per_cm2: float,
               d_lambda: float = 0.1, freq_hz: float = 100.0) -> int:
    """The d_lambda rule for a cylinder: nseg = int((L / (d_lambda * lambda_f) + 0.9) / 2) * 2 + 1."""
    if Ra_ohm_cm <= 0 or cm_uF_per_cm2 <= 0 or d_lambda <= 0 or freq_hz <= 0:
        raise ValueError("Ra, cm, d_lambda and freq_hz must be positive")
    lam = lambda_f_um(diam_um, Ra_ohm_cm, cm_uF_per_cm2, freq_hz)
    return int((length_um / (d_lambda * lam) + 0.9) / 2) * 2 + 1
