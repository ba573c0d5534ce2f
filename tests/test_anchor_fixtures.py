"""The anchor_row fixture (tests/conftest.py) keeps documented misses strict xfails at run time."""
import pytest

from lolpim.orchestration.validation import AnchorCheck


def _rows():
    passing = AnchorCheck("lolpim", "passes", "src", 0.0, 0.05, 0.1, "bound")
    failing = AnchorCheck("lolpim", "fails", "src", 0.0, 1.0, 0.1, "bound")
    miss = AnchorCheck("lolpim", "documented miss", "src", 0.0, 1.0, 0.1, "bound", note="known miss: why")
    fixed = AnchorCheck("lolpim", "documented miss, fixed", "src", 0.0, 0.05, 0.1, "bound", note="known miss: why")
    return [passing, failing, miss, fixed]


def test_a_documented_miss_xfails_while_it_fails_and_fails_once_it_passes(anchor_row):
    assert anchor_row(_rows, "passes").passed
    assert not anchor_row(_rows, "fails").passed          # returned: the test's own assert fails it
    with pytest.raises(pytest.xfail.Exception, match="known miss: why"):
        anchor_row(_rows, "documented miss")
    with pytest.raises(pytest.fail.Exception, match="XPASS"):
        anchor_row(_rows, "documented miss, fixed")


def test_a_row_missing_from_the_computed_rows_fails(anchor_row):
    with pytest.raises(AssertionError, match="no row 'renamed'"):
        anchor_row(_rows, "renamed")
