"""Validation of the plasticity models against docs/anchors.md section 5 (tolerances in
orchestration/anchors/plasticity.py, printed by `lolpim validate --area plasticity`).

Rows whose miss is understood are strict xfails (the same convention as tests/system and
tests/hardware): they must keep failing until the model changes, and their cause is the row's
note, printed by `lolpim validate` and written in docs/plasticity-cascade.md. A row fails as a
plain test when it misses in a way the docs do not describe.
"""
import pytest

from lolpim.orchestration.anchors import plasticity as anchors


def _assert_all(checks):
    assert checks
    for c in checks:
        assert c.passed, c


# The rows of each anchor function the tests below are parametrised over, by name: collection
# runs no simulation (and compiles no kernel); test_every_row_is_listed keeps the lists in step.
ROW_NAMES = {
    anchors.pairing_curve_checks: (
        "cascade pairing: |dw| at V_h = -65 mV (no change near rest)",
        "cascade pairing: V_h of the depression trough",
        "cascade pairing: dw at the trough is a depression",
        "cascade pairing: V_h >= -30 mV points without potentiation",
    ),
    anchors.pairing_crossover_checks: (
        "cascade pairing: V_h of the crossover, depression -> potentiation (-40..-30 mV)",
    ),
    anchors.stdp_window_checks: (
        "cascade STDP: points in (0, +20] ms without LTP",
        "cascade STDP: points in [-20, 0) ms without LTD",
        "cascade STDP: peak LTP (+80..+100%)",
        "cascade STDP: delta-t of peak LTP (near +5 ms)",
        "cascade STDP: peak LTD (-30..-50%)",
        "cascade STDP: LTP width / LTD width (< 1: LTP side narrower)",
        "cascade STDP: LTP 1/e width vs tau+ of the exponential fit",
        "cascade STDP: LTD 1/e width vs tau- of the exponential fit",
    ),
    anchors.stdp_late_checks: (
        "cascade STDP: delta-t of the lowest dw at +30..+100 ms (second depression window)",
        "cascade STDP: lowest dw at +30..+100 ms (second depression window)",
        "cascade STDP: largest |dw| at +30..+100 ms (no change beyond the LTP window, |dw| <= 0.1)",
    ),
    anchors.sjostrom_table_checks: (
        "cascade Sjostrom table, all 10 points: right sign (>= 8 of 10)",
        "cascade Sjostrom table, all 10 points: within 0.25 (>= 7 of 10)",
    ),
    anchors.sjostrom_fitted_checks: (
        "cascade Sjostrom fitted points (0.1 and 50 Hz): right sign (>= 4 of 4)",
        "cascade Sjostrom fitted points (0.1 and 50 Hz): within 0.25 (>= 3 of 4)",
    ),
    anchors.sjostrom_held_out_checks: (
        "cascade Sjostrom check points (10, 20, 40 Hz): right sign (>= 5 of 6)",
        "cascade Sjostrom check points (10, 20, 40 Hz): within 0.25 (>= 5 of 6)",
    ),
    anchors.bcm_checks: (
        "cascade BCM (cortical, 900 pulses at rest, default history): frequencies on the wrong side of the "
        "crossover (LTD below, LTP above)",
        "cascade BCM (cortical, 900 pulses at rest, default history): crossover frequency (Dudek & Bear ~10 Hz)",
        "cascade BCM (cortical): crossover lower after a low-activity history than after a high-activity one "
        "(1 = yes)",
    ),
    anchors.bound_checks: (
        "cascade hippocampal set: largest spine bAP, 40 mV x (1 + boost gain 1.15), at most the cited bound",
        "cascade cortical set: largest spine bAP, 25 mV x (1 + boost gain 2), at most the cited bound",
    ),
}


@pytest.mark.parametrize("function", ROW_NAMES, ids=lambda f: f.__name__)
def test_every_row_is_listed(function, anchor_rows):
    assert list(anchor_rows(function)) == list(ROW_NAMES[function])


def _rows(*functions):
    """(function, row name) parameters, the row name as test id."""
    return [pytest.param(f, name, id=name) for f in functions for name in ROW_NAMES[f]]


@pytest.mark.parametrize("function, name", _rows(anchors.pairing_curve_checks))
def test_cascade_pairing_curve(function, name, anchor_row):
    """Shouval 2002-style pairing (100 pulses at 1 Hz, clamp at V_h; docs/anchors.md section 5): |dw| <= 0.05 at
    -65 mV, the depression trough between -55 and -40 mV, potentiation at every V_h >= -30 mV
    (all calibration targets of the hippocampal set)."""
    check = anchor_row(function, name)   # a documented miss is a strict xfail, decided there
    assert check.passed, check


@pytest.mark.parametrize("function, name", _rows(anchors.pairing_crossover_checks))
def test_cascade_pairing_crossover(function, name, anchor_row):
    """Pairing crossover (docs/anchors.md section 5, experiments.toml crossover_range_mV): the interpolated V_h
    where dw turns from depression to potentiation must lie in -40..-30 mV, no widened tolerance.
    Not fitted. Documented miss (strict xfail) while it sits just below, in -41.5..-40 mV (the
    model gives about -40.8 mV); anywhere else it is a plain failure."""
    check = anchor_row(function, name)
    assert check.passed, check


@pytest.mark.parametrize("function, name", _rows(anchors.stdp_window_checks))
def test_cascade_stdp_curve(function, name, anchor_row):
    """Bi & Poo 1998 (60 pairs at 1 Hz): LTP on (0, +20] ms, LTD on [-20, 0) ms, peak LTP in
    +80..+100% within 0..10 ms, peak LTD in -30..-50%, LTP side narrower; 1/e widths within 50%
    of tau+ = 16.8 ms and tau- = 33.7 ms (widths not fitted)."""
    check = anchor_row(function, name)
    assert check.passed, check


@pytest.mark.parametrize("function, name", _rows(anchors.stdp_late_checks))
def test_cascade_stdp_beyond_the_ltp_window(function, name, anchor_row):
    """+30..+100 ms after pre. The model's documented second depression window (slow NMDA
    unbinding; docs/plasticity-cascade.md section 1): its lowest dw at +40..+50 ms and within
    -0.37 +- 0.05, so the text cannot drift. Against Bi & Poo 1998 Fig. 7 (changes scattered
    around zero there): |dw| <= 0.1 at every point, a documented miss (strict xfail) while the
    window is the documented one."""
    check = anchor_row(function, name)
    assert check.passed, check


@pytest.mark.parametrize("function, name", _rows(anchors.sjostrom_table_checks, anchors.sjostrom_fitted_checks))
def test_cascade_sjostrom_table_and_fitted_points(function, name, anchor_row):
    """Sjostrom, Turrigiano & Nelson 2001 (5 pairs per burst, 15 bursts 10 s apart; +-10 ms): all
    10 points, right sign at >= 8 and within 0.25 at >= 7 (the acceptance as written); the 4
    fitted points (0.1 and 50 Hz rows, the cortical set's calibration) at the same rates, >= 4 of
    4 signs and >= 3 of 4 within 0.25."""
    check = anchor_row(function, name)
    assert check.passed, check


@pytest.mark.parametrize("function, name", _rows(anchors.sjostrom_held_out_checks))
def test_cascade_sjostrom_check_points(function, name, anchor_row):
    """Sjostrom 2001, the 6 check points (10, 20 and 40 Hz rows, not fitted), at the 10-point
    acceptance rates rounded up: right sign at >= 5 of 6 (the model: 5), within 0.25 at >= 5 of 6
    (the model: 3; a documented miss, strict xfail, while the points outside are the documented
    10 Hz +10 ms, 20 Hz +10 ms and 20 Hz -10 ms)."""
    check = anchor_row(function, name)
    assert check.passed, check


@pytest.mark.parametrize("function, name", _rows(anchors.bcm_checks))
def test_cascade_bcm_protocol(function, name, anchor_row):
    """Dudek & Bear 1992 / Kirkwood, Rioult & Bear 1996 (900 pulses at rest, cortical set, no
    parameter chosen on it): every frequency below the crossover depresses and every one above
    potentiates; the crossover is lower after a low-activity history (0 Hz) than after a high one
    (1 Hz). Against the published ~10 Hz (5..20 Hz, our tolerance) the crossover (41 Hz) is a
    documented miss (strict xfail) while it lies in 35..50 Hz."""
    check = anchor_row(function, name)
    assert check.passed, check


@pytest.mark.parametrize("function, name", _rows(anchors.bound_checks))
def test_no_shipped_set_exceeds_the_spine_bap_bound(function, name, anchor_row):
    """Golding, Kath & Spruston 2001 (presets/bounds.toml): every shipped set's fully boosted spine
    bAP is at most 87 mV (the hippocampal set's was 120 mV before issue 23)."""
    check = anchor_row(function, name)
    assert check.passed, check


@pytest.mark.parametrize("function", [f for f in ROW_NAMES], ids=lambda f: f.__name__)
def test_every_row_states_its_kind(function, anchor_rows):
    """Calibration, held-out or consistency (validation.KINDS) on every row of these functions;
    `lolpim validate` shows it."""
    from lolpim.orchestration.validation import KINDS
    assert all(c.kind in KINDS for c in anchor_rows(function).values())


def _assert_rows(checks):
    assert checks
    failed = [f"{c.name}: {c.simulated:.4g} (expected {c.expected:.4g}, {c.error_kind} {c.tolerance:.3g}); {c.note}"
              for c in checks if not c.passed]
    assert not failed, "\n".join(failed)


@pytest.mark.slow
def test_cascade_ocular_dominance_rows_on_a_reduced_grid():
    """The OD rows (orchestration/anchors/plasticity.py ocular_dominance_rows) on a reduced grid:
    seed 0 at S = 50, K = 8, 10 s of deprivation from a steady state. Every row is made and
    states its kind; the consistency rows hold (the phase settled, the rate of the no-boost
    control was matched). The experiment's own criteria are what `lolpim validate` reports over
    the full grid (seeds 0-4 x S in {50, 200, 1000}); docs/plasticity-cascade.md section 3 has
    the results."""
    rows = anchors.ocular_dominance_rows(50, seeds=(0,), neurons=8, deprivation_s=10.0)
    assert len(rows) == 11 and all(r.name.startswith("cascade OD, S = 50/eye, K = 8") for r in rows)
    kinds = [r.kind for r in rows]
    assert kinds.count("consistency") == 4 and kinds.count("calibration") == 7     # S = 50, seed 0: issue 12's rows
    settled = next(r for r in rows if "binocular phase settled" in r.name)
    matched = next(r for r in rows if "control's rate matched" in r.name)
    bap = next(r for r in rows if "largest spine bAP" in r.name)
    assert settled.passed, settled
    assert matched.passed, matched
    assert bap.passed and bap.simulated > 0, bap          # bAPs reached the spines, none above the bound


@pytest.mark.slow
def test_cascade_ocular_dominance_at_s_1000_short():
    """The large-S end at a fraction of the grid's cost (K = 8, S = 1000, a fixed 10 s binocular
    phase, 5 s of deprivation): the experiment runs from its state, the no-boost control's rate is
    searched and reported, and no spine bAP of any run exceeds the cited bound."""
    from lolpim.actors.kernel.inline import InlineExecutor
    from lolpim.models.plasticity import cascade
    from lolpim.models.plasticity import ocular_dominance as od
    from lolpim.orchestration.plasticity import od_controls
    params = cascade.load_params(anchors.OD_PARAMS)
    cfg = od.OcularDominanceConfig(neurons=8, synapses_per_eye=1000, deprivation_s=5.0,
                                   contrast_spread=od.load_variant("network").contrast_spread)
    runner = od_controls.Runner(InlineExecutor(), params, "network", 0)
    out = od_controls.experiment(runner, cfg, fixed_binocular_s=10.0)
    s = out["summary"]
    assert s["steady_state"]["binocular_s"] == 10.0 and s["controls"]["binocular"]["post_rate_hz"] > 0.5
    peaks = [c["bap_max_mV"] for c in s["controls"].values() if c["bap_max_mV"] is not None]
    assert peaks and max(peaks) <= cascade.bounds()["bap"]["max_amplitude_mV"]
    rs = s["controls"]["no_boost_rate_matched"]["rate_search"]
    assert rs["runs"] >= 1 and rs["rate_hz"] == s["controls"]["no_boost_rate_matched"]["post_rate_hz"]


def test_ocular_dominance_rows_are_made_only_when_asked_for():
    """Importing the anchors runs no simulation: the OD runs are cached functions the rows call."""
    import subprocess
    import sys
    code = ("import lolpim.orchestration.anchors.plasticity as a; "
            "assert a.od_experiment.cache_info().currsize == 0")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_one_sided_bound_rows():
    """within(lo=-inf): an 'at_most' row (simulated <= hi); inf and nan fail, any value below passes."""
    row = lambda x: anchors.within("r", "s", float("-inf"), 0.5, x)
    assert row(0.5).passed and row(-1e9).passed and row(-0.1).passed
    assert not row(0.51).passed and not row(float("inf")).passed and not row(float("nan")).passed
    assert row(0.2).error_kind == "at_most"


def test_graupner_brunel_dp_stdp_extrema():
    """Graupner & Brunel 2012 Fig. 2, DP set: LTD minimum within 3 ms of -25 ms and LTP maximum
    within 3 ms of +5 ms, for 60 and 30 pairs at 1 Hz; event-driven stochastic run within 0.03 of
    the analytic readout; cortical-slices set right-signed at >= 8 of the 10 Sjostrom points."""
    checks = anchors.graupner_brunel_checks()
    _assert_all(checks)
    assert [c.kind for c in checks] == ["held-out"] * 4 + ["consistency", "held-out"]


def test_ocular_dominance_kinds_follow_the_calibration_rows():
    """Issue 12 chose the network variant's metaplasticity and contrast at S = 50 and 200 on seeds
    0-4 (K = 4: the first neurons of the K = 8 grid see the same inputs), so those OD rows are
    calibration; S = 1000 and other seeds are held out (the eye EPSP was chosen on seeds 5-9 at
    S = 100, benchmarks/od_calibration.py, which no row uses)."""
    assert anchors.od_kind(50, range(5)) == "calibration"
    assert anchors.od_kind(200, (0, 3)) == "calibration"
    assert anchors.od_kind(1000, range(5)) == "held-out"
    assert anchors.od_kind(50, range(5, 10)) == "held-out"
    assert anchors.od_kind(100, range(5, 10)) == "held-out"


def test_crossover_is_interpolated_above_the_trough():
    """The crossover row's helper: linear interpolation of the first sign change from depression to
    potentiation above the trough; nan without a depression or without a crossing."""
    import numpy as np
    v = np.array([-70.0, -60.0, -50.0, -40.0, -30.0])
    assert anchors.pairing_crossover_mV(v, np.array([0.01, -0.1, -0.5, -0.1, 0.3])) == -37.5
    assert np.isnan(anchors.pairing_crossover_mV(v, np.array([-0.01, -0.1, -0.5, -0.3, -0.1])))
    assert np.isnan(anchors.pairing_crossover_mV(v, np.array([0.01, 0.1, 0.5, 0.6, 0.7])))


def test_only_the_documented_miss_is_excused():
    """known_miss: a row failing the documented way is MISS*, one failing another way stays a plain
    FAIL, and a row that passes keeps the note so its strict xfail reports the fix."""
    from lolpim.orchestration.validation import AnchorCheck
    failing = AnchorCheck("plasticity", "x", "src", 0.0, 1.0, 0.1, "bound")
    passing = AnchorCheck("plasticity", "x", "src", 0.0, 0.05, 0.1, "bound")
    # "x" has no recorded value: a documented miss without one is a FAIL (orchestration/validation.py)
    assert anchors.known_miss(failing, True, "why").documented_as_miss
    assert anchors.known_miss(failing, True, "why").status == "FAIL"
    assert not anchors.known_miss(failing, False, "why").documented_as_miss
    assert anchors.known_miss(passing, False, "why").note.startswith("known miss")
