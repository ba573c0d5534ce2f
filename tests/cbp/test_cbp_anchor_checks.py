"""Validation rows for CBP (orchestration/anchors/cbp.py).

- CFS after the window schedule ~0: Kim & Jeong, NeurIPS 2021 (arXiv 2110.02550),
  the constraint is satisfied as g grows; checked as mean Y/a <= 0.1 (absolute; 5% of the
  binary maximum 2) on the digits MLP with binary weights, g past 100.
- Binary test-accuracy drop vs full precision within 3 points (issue 7 acceptance).
"""
import pytest

from lolpim.orchestration.validation import all_checks


@pytest.mark.slow
def test_cbp_anchor_rows_pass():
    checks = all_checks({"cbp"})
    assert len(checks) == 2
    for c in checks:
        assert c.passed, c
