"""The sawtooth constraint, its window, the g schedule and the CFS (docs/anchors.md section 6)."""
import math

import numpy as np
import pytest

from lolpim.core.errors import ParameterError
from lolpim.models.cbp.constraint import constraint, constraint_failure_score, g_at
from lolpim.models.cbp.levels import CONSTRAINTS, level_set

SCALE = 0.3


@pytest.mark.parametrize("name", sorted(CONSTRAINTS))
def test_zero_at_levels_peak_at_midpoints(name):
    levels = level_set(name)
    at_levels, _ = constraint(levels.levels * SCALE, levels, SCALE)
    assert np.allclose(at_levels, 0.0)
    at_mid, _ = constraint(levels.midpoints * SCALE, levels, SCALE)
    assert np.allclose(at_mid, levels.gaps * SCALE)   # slope 2 over half a gap


@pytest.mark.parametrize("name", sorted(CONSTRAINTS))
def test_slope_magnitude_two_everywhere_and_sign_points_to_nearest_level(name):
    levels = level_set(name)
    w = np.random.default_rng(1).uniform(-2.5 * SCALE, 2.5 * SCALE, 2000)
    value, slope = constraint(w, levels, SCALE)
    assert np.allclose(np.abs(slope), 2.0)
    h = 1e-7
    numeric = (constraint(w + h, levels, SCALE)[0] - constraint(w - h, levels, SCALE)[0]) / (2 * h)
    kinks = np.min(np.abs(w[:, None] - np.concatenate([levels.levels, levels.midpoints]) * SCALE), 1) < 1e-6
    assert np.allclose(numeric[~kinks], slope[~kinks], atol=1e-5)
    nearest = levels.round(w, SCALE)
    assert np.all(np.sign(w - nearest)[slope != 0] == np.sign(slope)[slope != 0])
    assert np.allclose(value, 2 * np.abs(w - nearest))


def test_linear_penalty_outside_range():
    levels = level_set("ternary")
    value, slope = constraint(np.array([-1.5, 1.25]) * SCALE, levels, SCALE)
    assert np.allclose(value, [2 * 0.5 * SCALE, 2 * 0.25 * SCALE])
    assert list(slope) == [-2.0, 2.0]


@pytest.mark.parametrize("g", [1.0, 2.0, 5.0, 30.0])
def test_window_switches_constraint_off_near_midpoints_only(g):
    levels = level_set("shift2")
    w = np.random.default_rng(2).uniform(-1.2 * SCALE, 1.2 * SCALE, 5000)
    value, slope = constraint(w, levels, SCALE, g)
    full, _ = constraint(w, levels, SCALE)
    q = levels.levels * SCALE
    i = np.clip(np.searchsorted(q, w, side="right") - 1, 0, q.size - 2)
    in_window = (np.abs(w) <= SCALE) & (np.abs(w - (q[i] + q[i + 1]) / 2) < (q[i + 1] - q[i]) / (2 * g))
    assert np.all(value[in_window] == 0) and np.all(slope[in_window] == 0)
    assert np.array_equal(value[~in_window], full[~in_window])
    if g == 1.0:  # the window covers the whole interior: only out-of-range weights are pulled
        assert np.all(value[np.abs(w) <= SCALE] == 0)


def test_g_schedule():
    assert [g_at(k) for k in range(14)] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 40, 50]
    with pytest.raises(ParameterError):
        constraint(np.zeros(3), level_set("binary"), SCALE, g=0.5)


def test_cfs_is_mean_y_in_units_of_scale():
    levels = level_set("binary")
    assert constraint_failure_score(np.array([-SCALE, SCALE]), levels, SCALE) == 0.0
    assert constraint_failure_score(np.array([0.0, SCALE]), levels, SCALE) == pytest.approx(1.0)
    assert math.isclose(constraint_failure_score(np.array([0.5 * SCALE]), levels, SCALE), 1.0)


def test_unknown_constraint_names_field():
    with pytest.raises(ParameterError, match="constraint"):
        level_set("quaternary")
