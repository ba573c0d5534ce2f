"""The anchor_row fixture (tests/conftest.py) keeps documented misses strict xfails at run time,
inside the band recorded for each (orchestration/anchors/known_misses.toml): a miss that passes,
drifts out of its band or was never recorded fails."""
from dataclasses import replace

import pytest

from lolpim.orchestration import validation
from lolpim.orchestration.validation import AnchorCheck, DocumentedMiss

RECORDED = {"documented miss": DocumentedMiss(1.0, (0.9, 1.1)),
            "documented miss, fixed": DocumentedMiss(1.0, (0.9, 1.1)),
            "documented miss, grown": DocumentedMiss(1.0, (0.9, 1.1))}


@pytest.fixture(autouse=True)
def recorded_misses(monkeypatch):
    monkeypatch.setattr(validation, "documented_misses", lambda: RECORDED)


def _rows():
    passing = AnchorCheck("lolpim", "passes", "src", 0.0, 0.05, 0.1, "bound")
    failing = AnchorCheck("lolpim", "fails", "src", 0.0, 1.0, 0.1, "bound")
    miss = AnchorCheck("lolpim", "documented miss", "src", 0.0, 1.0, 0.1, "bound",
                       note="known miss: why", documented_as_miss=True)
    fixed = AnchorCheck("lolpim", "documented miss, fixed", "src", 0.0, 0.05, 0.1, "bound",
                        note="known miss: why", documented_as_miss=True)
    grown = AnchorCheck("lolpim", "documented miss, grown", "src", 0.0, 1.5, 0.1, "bound",
                        note="known miss: why", documented_as_miss=True)
    unrecorded = AnchorCheck("lolpim", "undocumented value", "src", 0.0, 1.0, 0.1, "bound",
                             note="known miss: why", documented_as_miss=True)
    return [passing, failing, miss, fixed, grown, unrecorded]


def test_a_documented_miss_xfails_while_it_fails_and_fails_once_it_passes(anchor_row):
    assert anchor_row(_rows, "passes").passed
    assert not anchor_row(_rows, "fails").passed          # returned: the test's own assert fails it
    with pytest.raises(pytest.xfail.Exception, match="known miss: why"):
        anchor_row(_rows, "documented miss")
    with pytest.raises(pytest.fail.Exception, match="XPASS"):
        anchor_row(_rows, "documented miss, fixed")


def test_a_documented_miss_outside_its_band_fails(anchor_row):
    """Issue 22: a known miss could grow without limit (40.7x -> 400x) and stay MISS*."""
    with pytest.raises(pytest.fail.Exception, match="drifted.*now 1.5.*band \\[0.9, 1.1\\]"):
        anchor_row(_rows, "documented miss, grown")
    with pytest.raises(pytest.fail.Exception, match="no value recorded"):
        anchor_row(_rows, "undocumented value")


def test_status_of_a_drifted_miss_is_fail_and_validate_exits_1(monkeypatch, capsys):
    """The same through `lolpim validate`: a documented miss perturbed past its band turns the row
    into FAIL and the exit code into 1; inside the band it is MISS* and the exit code 0."""
    from lolpim.orchestration.cli import main
    rows = {r.name: r for r in _rows()}
    assert rows["documented miss"].status == "MISS*" and rows["documented miss, grown"].status == "FAIL"
    inside = [rows["passes"], rows["documented miss"], replace(rows["documented miss"], name="documented miss, grown",
                                                                  simulated=1.09)]
    computed = list(inside)
    from lolpim.orchestration.commands import validate as command
    monkeypatch.setattr(command, "all_checks", lambda *a, **k: computed)
    assert main(["validate", "--area", "hardware"]) == 0
    computed[2] = replace(inside[2], simulated=1.2)     # 20% past the documented value
    assert main(["validate", "--area", "hardware"]) == 1
    out = capsys.readouterr().out
    assert "FAIL documented miss, grown: drifted out of its band: now 1.2" in out
    assert main(["validate", "--area", "hardware", "--json"]) == 1
    import json
    data = json.loads(capsys.readouterr().out)
    assert data[1]["known_miss"] == {"documented": 1.0, "band": [0.9, 1.1]} and data[1]["status"] == "MISS*"
    assert data[2]["status"] == "FAIL" and data[0]["known_miss"] is None


def test_a_row_missing_from_the_computed_rows_fails(anchor_row):
    with pytest.raises(AssertionError, match="no row 'renamed'"):
        anchor_row(_rows, "renamed")


def test_recorded_misses_have_a_band_around_their_value(monkeypatch):
    """Every entry of the known-misses file has a band around its documented value."""
    monkeypatch.undo()
    for name, miss in validation.documented_misses().items():
        assert miss.band[0] <= miss.documented <= miss.band[1], name


def test_a_row_kind_must_be_one_of_the_three():
    with pytest.raises(ValueError, match="kind 'validated' is not one of calibration, held-out, consistency"):
        AnchorCheck("lolpim", "x", "src", 1.0, 1.0, 0.1, kind="validated")


def test_every_row_must_say_what_it_is_evidence_of(monkeypatch):
    """Issue 22: a row without a kind (calibration, held-out, consistency) is refused when the
    rows are gathered, so `validate --json` carries a kind on every row."""
    import types
    fake = types.SimpleNamespace(checks=lambda: [AnchorCheck("cbp", "unlabelled", "src", 1.0, 1.0, 0.1)])
    monkeypatch.setattr(validation.importlib, "import_module", lambda name: fake)
    with pytest.raises(ValueError, match="rows without a kind.*unlabelled"):
        validation.all_checks({"cbp"})


def test_a_documented_miss_is_a_typed_flag_its_note_agrees_with():
    """Issue 25: a documented miss is the row's documented_as_miss flag, not found by reading its
    note; a note and a flag that disagree are refused, and choices are enums."""
    from lolpim.orchestration.validation import ErrorKind, RowKind
    row = AnchorCheck("lolpim", "r", "src", 0.0, 1.0, 0.1, "bound", kind="held-out")
    assert row.error_kind is ErrorKind.BOUND and row.kind is RowKind.HELD_OUT and not row.documented_as_miss
    with pytest.raises(ValueError, match="documented_as_miss"):
        AnchorCheck("lolpim", "r", "src", 0.0, 1.0, 0.1, note="known miss: why")
    with pytest.raises(ValueError, match="documented_as_miss"):
        AnchorCheck("lolpim", "r", "src", 0.0, 1.0, 0.1, note="why", documented_as_miss=True)
    with pytest.raises(ValueError, match="error_kind 'boundd' is not one of relative, absolute, bound, at_most"):
        AnchorCheck("lolpim", "r", "src", 0.0, 1.0, 0.1, "boundd")
