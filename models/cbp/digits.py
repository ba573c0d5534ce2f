"""scikit-learn's 8x8 handwritten digits, split and scaled deterministically."""
from __future__ import annotations

import numpy as np

from lolpim.core.errors import ParameterError


def load_digits_split(seed: int, test_fraction: float = 0.2):
    """(x_train, y_train, x_test, y_test); pixels scaled to [0, 1]; stratified by class."""
    if not 0 < test_fraction < 1:
        raise ParameterError("test_fraction", "must be in (0, 1)")
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # scikit-learn ships with the 'test' extra
        raise ParameterError("dataset", "the digits task needs scikit-learn "
                                        "(pip install 'lolpim[test]')") from exc
    digits = load_digits()
    x = digits.data.astype(float) / 16.0
    y = digits.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        test[members[:int(round(test_fraction * members.size))]] = True
    return x[~test], y[~test], x[test], y[test]
