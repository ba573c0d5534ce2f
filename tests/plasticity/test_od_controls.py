"""orchestration/plasticity/od_controls.py: the rate search of the no-boost control and the
acceptance criteria, on stand-in runs (the network runs are tested in test_plasticity_cli.py and
the anchors)."""
import math

import numpy as np
import pytest

from lolpim.models.plasticity import ocular_dominance as od
from lolpim.orchestration.plasticity import od_controls as oc

CFG = od.OcularDominanceConfig(neurons=8, deprivation_s=15.0)


def _search(monkeypatch, rate_of_scale, target):
    monkeypatch.setattr(oc, "_condition_run",
                        lambda runner, cfg, states, cond, label, params=None, epsp_scale=1.0:
                        {"post_rate_hz": rate_of_scale(epsp_scale)})
    return oc.rate_matched(None, CFG, None, None, target)


@pytest.mark.parametrize("rate, target", [(lambda x: 0.2 * x ** 2, 0.5), (lambda x: 0.9 * x ** 3, 0.3),
                                          (lambda x: 0.4 * x, 0.41)], ids=["up", "down", "at 1"])
def test_rate_search_finds_the_scale_within_tolerance(monkeypatch, rate, target):
    run, record = _search(monkeypatch, rate, target)
    assert record["matched"] and abs(run["post_rate_hz"] - target) <= record["tolerance_hz"]
    assert record["tolerance_hz"] == pytest.approx(max(0.05 * target, 1 / (8 * 15.0)))
    assert record["runs"] <= oc.RateSearch().max_runs and record["tried"][0][0] == 1.0
    assert record["epsp_scale"] == pytest.approx(next(s for s, r in record["tried"] if r == run["post_rate_hz"]))


def test_rate_search_reports_an_unreachable_target(monkeypatch):
    """A neuron that cannot reach the rate even at the largest scale: the closest run, not matched."""
    run, record = _search(monkeypatch, lambda x: 0.01 * x, 5.0)
    assert not record["matched"] and record["epsp_scale"] == oc.RateSearch().high
    assert run["post_rate_hz"] == pytest.approx(0.08)


def _control(dep, opn, dep_ctrl=0.0, open_ctrl=0.0, shift_ctrl=None, half=(1.0, 5.0)):
    d, o = dep - dep_ctrl, opn - open_ctrl
    return {"deprived_change": dep, "open_change": opn, "deprived_vs_control": d, "open_vs_control": o,
            "shift_vs_control": o - d if shift_ctrl is None else shift_ctrl,
            "deprived_half_time_s": half[0], "open_half_time_s": half[1]}


def test_criteria_follow_the_definitions():
    controls = {"binocular": _control(-0.01, -0.01), "ttx": _control(-0.02, 0.05, -0.01, -0.01),
                "lid_suture": _control(-0.05, 0.06, -0.01, -0.01),
                "no_boost_rate_matched": _control(0, 0, shift_ctrl=0.01),
                "uniform_bap": _control(0, 0, shift_ctrl=0.03)}
    sweep = [{"sutured_rate_hz": 1.0, "deprived_vs_control": -0.04},
             {"sutured_rate_hz": 3.0, "deprived_vs_control": -0.06}]
    c = oc.criteria(controls, sweep)
    assert c["deprived_below_control"] and c["suture_deeper_than_ttx"] and c["open_above_control"]
    assert c["deprived_first"] and c["higher_suture_rate_deepens"]
    boosted = 0.07 + 0.04
    assert c["specificity_ratio"]["uniform_bap"] == pytest.approx(0.03 / boosted)
    assert c["specificity_needed"]
    controls["uniform_bap"]["shift_vs_control"] = 0.6 * boosted      # a non-specific bAP does most of it
    assert not oc.criteria(controls, sweep)["specificity_needed"]
    controls["lid_suture"]["shift_vs_control"] = -0.01                 # no boosted shift: nothing to need
    c = oc.criteria(controls, sweep[:1])
    assert math.isinf(c["specificity_ratio"]["uniform_bap"]) and not c["specificity_needed"]
    assert c["higher_suture_rate_deepens"] is None


def _run(dep_end, open_end, start=1.0):
    """A stand-in condition run from a shared state (every neuron at ``start``): per-neuron end weights."""
    dep_end, open_end = np.asarray(dep_end, float), np.asarray(open_end, float)
    t = [0.0, 1.0]
    return {"deprived_change": dep_end.mean() / start - 1, "open_change": open_end.mean() / start - 1,
            "neurons": {"deprived": dep_end / start, "open": open_end / start},
            "series": {"time_s": t, "w_left": [start, dep_end.mean()], "w_right": [start, open_end.mean()]}}


def test_against_gives_the_paired_standard_error_of_the_neurons():
    """The difference's standard error is that of the neurons' paired differences: a control whose
    neurons wander the same way as the run's leaves a small error, an unrelated one a large error."""
    run = _run([0.90, 0.95, 1.00, 0.97], [1.10, 1.00, 1.05, 1.02])
    shadow = _run([0.93, 0.98, 1.03, 1.00], [1.08, 0.98, 1.03, 1.00])       # same wander, offset
    scattered = _run([1.05, 0.90, 0.95, 1.12], [0.95, 1.10, 0.98, 1.04])
    near = oc.against(run, shadow, 0.0, 1.0)
    assert near["deprived_vs_control"] == pytest.approx(-0.03)
    assert near["deprived_vs_control_se"] == pytest.approx(0.0, abs=1e-12)
    far = oc.against(run, scattered, 0.0, 1.0)
    diffs = np.array([0.90 - 1.05, 0.95 - 0.90, 1.00 - 0.95, 0.97 - 1.12])
    assert far["deprived_vs_control"] == pytest.approx(diffs.mean())
    assert far["deprived_vs_control_se"] == pytest.approx(diffs.std(ddof=1) / 2)
    opn = np.array([0.15, -0.10, 0.07, -0.02])
    assert far["shift_vs_control_se"] == pytest.approx((opn - diffs).std(ddof=1) / 2)
    assert oc._z(-0.02, 0.01) == pytest.approx(-2.0) and oc._z(0.1, None) is None


def test_docs_od_tables_are_those_of_the_stored_results():
    """docs/plasticity-cascade.md's generated OD blocks are what benchmarks/od_controls_grid.py and
    benchmarks/od_calibration.py render from their stored results (docs/figures/od_*.json): rerun
    them with --docs (or `make docs-figures PARTS=od-controls`) after changing either."""
    import json
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root / "benchmarks"))
    import docs_figures
    import od_calibration
    import od_controls_grid as grid
    doc = root / "docs" / "plasticity-cascade.md"
    points = json.loads((root / "docs" / "figures" / "od_controls.json").read_text())
    assert docs_figures.read_block(doc, "od-controls-grid") == grid.markdown(grid.GRID_HEAD, grid.grid_rows(points))
    assert docs_figures.read_block(doc, "od-controls-specificity") == grid.markdown(grid.SPEC_HEAD,
                                                                                   grid.specificity_rows(points))
    assert grid.markdown(["criterion"], []).splitlines()[0] in docs_figures.read_block(doc, "od-controls-summary")
    assert {(p["synapses"], p["seed"]) for p in points} == {(s, seed) for s in (50, 200, 1000) for seed in range(5)}
    cal = json.loads((root / "docs" / "figures" / "od_calibration.json").read_text())
    rows, best = od_calibration.table(cal)
    assert od_calibration.markdown(od_calibration.HEAD, rows) in docs_figures.read_block(doc, "od-calibration")
    assert best == od.load_variant("network").neuron.eye_epsp_mV          # the preset holds the choice
    homeo = json.loads((root / "docs" / "figures" / "od_calibration_homeostasis.json").read_text())
    rows, best = od_calibration.table(homeo, "homeo_tau_s")
    assert od_calibration.markdown(od_calibration.HOMEO_HEAD, rows) in docs_figures.read_block(
        doc, "od-calibration-homeostasis")
    assert best == 10.0     # on the 15 s protocol; the delay calibration below chose the preset's tau since
    assert {p["seed"] for p in homeo} == set(od_calibration.SEEDS)            # calibration rows only, no grid seed
    protocol = json.loads((root / "docs" / "figures" / "od_calibration_protocol.json").read_text())
    rows, best = od_calibration.protocol_table(protocol)
    assert od_calibration.markdown(od_calibration.PROTOCOL_HEAD, rows) in docs_figures.read_block(
        doc, "od-calibration-protocol")
    assert {p["seed"] for p in protocol} == set(od_calibration.SEEDS)         # calibration rows only
    assert best == "15 s, tau 10 s (4 d)"           # K = 32 came from it; the delay calibration chose the rest
    delay = json.loads((root / "docs" / "figures" / "od_calibration_delay.json").read_text())
    rows, best = od_calibration.delay_table(delay)
    assert od_calibration.markdown(od_calibration.DELAY_HEAD, rows) in docs_figures.read_block(
        doc, "od-calibration-delay")
    assert {p["seed"] for p in delay} == set(od_calibration.SEEDS)            # calibration rows only
    # the validation grid runs the protocol the calibrations chose
    from lolpim.orchestration.anchors import plasticity as anchors
    chosen = next(p for p in delay if p["protocol"] == best)
    assert (chosen["neurons"], chosen["deprivation_s"]) == (anchors.OD_NEURONS, anchors.OD_DEPRIVATION_S)
    assert (chosen["tau_s"], chosen["seconds_per_day"], chosen["delay_s"]) == (
        anchors.od_protocol()["homeo_tau_s"], anchors.od_protocol()["homeo_seconds_per_day"],
        anchors.od_protocol()["homeo_delay_s"])
    assert od.OcularDominanceConfig().deprivation_s == anchors.OD_DEPRIVATION_S   # the CLI's default too
    import od_power
    power = json.loads((root / "docs" / "figures" / "od_power.json").read_text())
    assert od_power.markdown(od_power.HEAD, od_power.rows(power)) in docs_figures.read_block(doc, "od-power")
    homeostat = json.loads((root / "docs" / "figures" / "od_power_homeostat.json").read_text())
    assert od_power.markdown(od_power.HOMEOSTAT_HEAD, od_power.homeostat_rows(homeostat)) in \
        docs_figures.read_block(doc, "od-power-homeostat")


def test_validate_rows_of_the_stored_grid(monkeypatch):
    """The OD validate rows (orchestration/anchors/plasticity.py) made from the stored grid results
    (docs/figures/od_controls.json, what the rows' own runs give): each row passes, or fails
    exactly as docs/plasticity-cascade.md section 3 documents (MISS*, DOC_OD_MISSES); a documented
    miss must still fail (the strict-xfail rule, applied to rows too slow to run in the suite)."""
    from pathlib import Path
    from lolpim.orchestration.anchors import plasticity as anchors
    # the rows read the grid the way `benchmarks/known_misses.py --od-grid` makes them (OD_GRID_ENV)
    monkeypatch.setenv(anchors.OD_GRID_ENV, str(Path(__file__).resolve().parents[2] / "docs/figures/od_controls.json"))
    anchors.od_experiment.cache_clear()
    try:
        rows = anchors.ocular_dominance_checks()
    finally:
        anchors.od_experiment.cache_clear()       # later tests compute their own experiments
    assert len(rows) == 33 and all(r.kind for r in rows)
    plain_fails = [r.name for r in rows if not r.passed and not r.known_miss]
    assert not plain_fails, plain_fails
    assert sum(r.known_miss for r in rows) == len(anchors.DOC_OD_MISSES)     # each documented miss is used
    assert all(r.passed for r in rows if "deeper" in r.name or "deepens" in r.name or "largest spine" in r.name)


def test_deprivation_only_experiment_matches_the_full_one_from_a_shared_binocular_phase():
    """specificity=False (the calibration's cheaper experiment) gives the full experiment's own
    conditions number for number, its specificity criteria None; and a binocular phase run once
    and passed in (``steady``) gives what the experiment's own phase gives."""
    from lolpim.actors.kernel.inline import InlineExecutor
    from lolpim.models.plasticity import cascade
    params = cascade.load_params("cortical")
    cfg = od.OcularDominanceConfig(neurons=2, synapses_per_eye=10, deprivation_s=3.0,
                                   contrast_spread=od.load_variant("network").contrast_spread)
    runner = lambda: oc.Runner(InlineExecutor(), params, "network", 3)
    full = oc.experiment(runner(), cfg, fixed_binocular_s=5.0, extra_sutured_rates_hz=(3.0,))["summary"]
    steady = oc.binocular_phase(runner(), cfg, od.SteadyState(), fixed_s=5.0)
    short = oc.experiment(runner(), cfg, extra_sutured_rates_hz=(3.0,), specificity=False, steady=steady)["summary"]
    assert set(short["controls"]) == {"binocular", "ttx", "lid_suture"}
    for name in short["controls"]:
        assert short["controls"][name] == {k: v for k, v in full["controls"][name].items() if k != "control"} | \
            {"control": "binocular"}
    assert short["sutured_rate_sweep"] == full["sutured_rate_sweep"]
    assert short["criteria"]["specificity_needed"] is None and short["criteria"]["specificity_ratio"] is None
    for key in ("deprived_below_control", "suture_deeper_than_ttx", "higher_suture_rate_deepens", "deprived_first"):
        assert short["criteria"][key] == full["criteria"][key]
