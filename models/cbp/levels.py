"""Allowed weight values for each constraint, in units of the layer scale a.

Every constrained layer keeps one fixed scale a = mean |W| of its pretrained weights;
its weights may only take ``a * unit_levels``. Storing unit levels (not absolute ones)
lets one table serve every layer and makes the packed export independent of a.
"""
from __future__ import annotations

import numpy as np

from lolpim.core.errors import ParameterError
from lolpim.core.schema import FieldProblem, field, frozen


@frozen
class LevelSet:
    name: str
    # sorted ascending (__post_init__), multiples of the layer scale
    unit_levels: tuple[float, ...]
    # bits per weight when packed (ceil(log2(#levels))); the codes are uint8 (export.py)
    weight_bits: int = field(min=1, max=8)

    def __post_init__(self):   # after the declared ranges
        levels = np.asarray(self.unit_levels, dtype=float)
        if levels.size < 2 or np.any(np.diff(levels) <= 0):
            raise FieldProblem("unit_levels", "need at least two strictly ascending levels")
        if 2 ** self.weight_bits < levels.size:
            raise FieldProblem("weight_bits", f"{self.weight_bits} bits cannot index {levels.size} levels")

    @property
    def levels(self) -> np.ndarray:
        return np.asarray(self.unit_levels, dtype=float)

    @property
    def midpoints(self) -> np.ndarray:
        q = self.levels
        return (q[1:] + q[:-1]) / 2

    @property
    def gaps(self) -> np.ndarray:
        return np.diff(self.levels)

    def codes(self, weights: np.ndarray, scale: float) -> np.ndarray:
        """Index of the nearest level for each weight (ties go to the upper level)."""
        return np.searchsorted(self.midpoints * scale, weights, side="right").astype(np.uint8)

    def round(self, weights: np.ndarray, scale: float) -> np.ndarray:
        """Weights snapped to the nearest allowed value a * q (values beyond the range clip)."""
        return self.levels[self.codes(weights, scale)] * scale


CONSTRAINTS: dict[str, LevelSet] = {
    "binary": LevelSet("binary", (-1.0, 1.0), 1),
    "ternary": LevelSet("ternary", (-1.0, 0.0, 1.0), 2),
    "shift1": LevelSet("shift1", (-1.0, -0.5, 0.0, 0.5, 1.0), 3),
    "shift2": LevelSet("shift2", (-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0), 3),
}


def level_set(name: str) -> LevelSet:
    try:
        return CONSTRAINTS[name]
    except KeyError:
        raise ParameterError("constraint", f"'{name}' is not one of "
                                           f"{', '.join(CONSTRAINTS)}") from None


def layer_scale(pretrained_weights: np.ndarray) -> float:
    """The fixed per-layer scale a = mean |W| of the pretrained layer."""
    a = float(np.mean(np.abs(pretrained_weights)))
    if not a > 0:
        raise ParameterError("pretrained_weights", "mean |W| must be > 0 to set a scale")
    return a
