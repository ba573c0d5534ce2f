"""The CBP constraint function: a sawtooth that is zero at every allowed level.

Between two neighbouring levels q_i < q_{i+1} the constraint rises with slope 2 from
each level to a peak (height dq_i) at the midpoint m_i; outside [q_min, q_max] it grows
linearly with slope 2. The pseudo-Lagrangian adds lambda * cs(w; g) per weight, so the
sign of the slope pushes every weight towards its nearest level.

The unconstrained window switches the constraint off where |w - m_i| < dq_i / (2g):
at g = 1 it covers the whole interior (only out-of-range weights are pulled back);
as g grows it shrinks to the midpoints, so more and more weights feel the pull.
Weights near a midpoint are genuinely undecided, and leaving them to the loss lets the
data choose their level instead of the constraint forcing an arbitrary one.
"""
from __future__ import annotations

import math

import numpy as np

from lolpim.core.errors import ParameterError

from lolpim.models.cbp.levels import LevelSet

SLOPE = 2.0


def g_at(step: int) -> float:
    """The window parameter after ``step`` updates: 1, 2, ..., 10, 20, 30, ..."""
    if step < 0:
        raise ParameterError("step", "must be >= 0")
    return float(step + 1) if step < 10 else float(10 * (step - 8))


def constraint(weights: np.ndarray, levels: LevelSet, scale: float,
               g: float = math.inf) -> tuple[np.ndarray, np.ndarray]:
    """cs(w; g) and d cs / d w, elementwise, in weight units. g = inf means no window."""
    if not g >= 1:
        raise ParameterError("g", f"must be >= 1 (got {g})")
    q = levels.levels * scale
    w = np.asarray(weights, dtype=float)
    # interval index i with q_i <= w < q_{i+1}, clipped so out-of-range weights use the edge interval
    i = np.clip(np.searchsorted(q, w, side="right") - 1, 0, q.size - 2)
    lower, upper = q[i], q[i + 1]
    to_lower, to_upper = w - lower, upper - w
    nearer_lower = to_lower < to_upper
    value = SLOPE * np.minimum(to_lower, to_upper)
    slope = np.where(nearer_lower, SLOPE, -SLOPE)
    below, above = w < q[0], w > q[-1]
    # outside the range the same formula already gives 2 * distance; only the slope sign differs
    value = np.where(below, SLOPE * (q[0] - w), np.where(above, SLOPE * (w - q[-1]), value))
    slope = np.where(below, -SLOPE, np.where(above, SLOPE, slope))
    if math.isfinite(g):
        inside = ~(below | above)
        window = inside & (np.abs(w - (lower + upper) / 2) < (upper - lower) / (2 * g))
        value = np.where(window, 0.0, value)
        slope = np.where(window, 0.0, slope)
    return value, slope


def constraint_failure_score(weights: np.ndarray, levels: LevelSet, scale: float) -> float:
    """CFS = mean Y(w) over a layer, with no window, in units of the layer scale a.

    Dividing by a makes layers (and runs) comparable: 0 means every latent weight sits
    on a level; a weight at a binary midpoint (w = 0) contributes 2.
    """
    value, _ = constraint(weights, levels, scale, math.inf)
    return float(np.mean(value) / scale)
