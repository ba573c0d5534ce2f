"""`lolpim plasticity` writes CSV/JSON/PNG and prints JSON; bad combinations exit with code 2."""
import csv
import json
import math

import pytest

from lolpim.orchestration.cli import main

# a small ocular-dominance network: 2 neurons x 2 eyes x 5 synapses, 1 s binocular, 2 s deprived
OD_SMALL = ["plasticity", "ocular-dominance", "--neurons", "2", "--synapses", "5",
            "--binocular-s", "1", "--deprivation-s", "2"]
CONTROL_KEYS = {"deprived_change", "open_change", "shift", "post_rate_hz", "deprived_vs_control", "open_vs_control",
                "shift_vs_control", "deprived_half_time_s", "open_half_time_s", "bap_mean_mV", "bap_max_mV", "control"}
CONTROLS = ("binocular", "ttx", "lid_suture", "no_boost_rate_matched", "uniform_bap")


def _od_json(capsys, *extra) -> dict:
    assert main([*OD_SMALL, "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def _numbers(result: dict) -> dict:
    """What must not depend on the executor or the blocks (wall times and work rates do)."""
    s = result["summary"]
    return {"rows": result["rows"], "runs": result["runs"], "steady_state": s["steady_state"],
            "controls": s["controls"], "criteria": s["criteria"],
            "work": (s["integration_steps"], s["synapse_events"], s["runs"], s["simulated_s"])}


@pytest.fixture(scope="module")
def od_inline():
    """The small network on the inline executor, one block (shared by the tests below)."""
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main([*OD_SMALL, "--json"]) == 0
    return json.loads(buf.getvalue())


def test_graupner_brunel_stdp_json_and_files(tmp_path, capsys):
    assert main(["plasticity", "stdp", "--model", "graupner-brunel", "--pairs", "30", "--json",
                 "--out", str(tmp_path)]) == 0
    result = json.loads(capsys.readouterr().out)
    dw = {round(r[0], 1): r[1] for r in result["rows"]}
    assert dw[-24.0] < 0 < dw[5.5]
    for ext in ("csv", "json", "png"):
        assert (tmp_path / f"plasticity_stdp.{ext}").stat().st_size > 0


def test_frequency_reports_all_ten_sjostrom_points(capsys):
    assert main(["plasticity", "frequency", "--model", "graupner-brunel", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["comparison"]) == 10
    assert {c["delta_t"] for c in result["comparison"]} == {"+10ms", "-10ms"}


def test_pairing_needs_the_cascade_model(capsys):
    assert main(["plasticity", "pairing", "--model", "graupner-brunel"]) == 2
    assert "cascade" in capsys.readouterr().err


def test_unknown_parameter_set_is_a_user_error(capsys):
    assert main(["plasticity", "stdp", "--params", "cerebellar"]) == 2
    assert "cerebellar" in capsys.readouterr().err


# -- ocular dominance ------------------------------------------------------------------------


def test_ocular_dominance_json_summary(od_inline):
    r = od_inline
    assert r["columns"][:4] == ["time_s", "w_left_steady", "w_left_p10_steady", "w_left_p90_steady"]
    for name in CONTROLS:
        assert f"w_left_{name}" in r["columns"] and f"w_right_{name}" in r["columns"]
    assert all(len(row) == len(r["columns"]) for row in r["rows"])
    times = [row[0] for row in r["rows"]]
    assert times[0] == 0 and times[-1] == pytest.approx(3.0) and 1.0 in times   # a sample on each boundary
    s = r["summary"]
    st = s["steady_state"]
    assert (st["binocular_s"], st["fixed"]) == (1.0, True)            # --binocular-s 1: a fixed phase
    assert st["drift_per_s"] is None and not st["settled"]            # 1 s: shorter than two drift windows
    assert set(s["controls"]) == set(CONTROLS) | {"no_homeostasis"}      # the network variant has homeostasis
    ctrl = s["controls"]["binocular"]
    for name, c in s["controls"].items():
        assert CONTROL_KEYS <= set(c), name
        assert c["shift"] == pytest.approx(c["open_change"] - c["deprived_change"])
        own = s["controls"][name].get("own_binocular", ctrl)
        assert c["deprived_vs_control"] == pytest.approx(c["deprived_change"] - own["deprived_change"])
        assert c["open_vs_control"] == pytest.approx(c["open_change"] - own["open_change"])
    assert ctrl["deprived_vs_control"] == 0 and ctrl["control"] == "binocular"
    # the specificity controls: no boosting (every bAP at one amplitude), rate searched / amplitude matched
    a, b = s["controls"]["no_boost_rate_matched"], s["controls"]["uniform_bap"]
    assert a["control"] == "no_boost_rate_matched_binocular" and b["control"] == "uniform_bap_binocular"
    # the homeostatic threshold's control: fixed threshold, its own binocular control; the set point is
    # read at the onset in the runs with homeostasis, never in the one without
    h = s["controls"]["no_homeostasis"]
    assert h["control"] == "no_homeostasis_binocular" and h["homeostasis"]["threshold_shift_mV"] == 0.0
    assert h["homeostasis"]["set_point_hz"] is None and s["controls"]["lid_suture"]["homeostasis"]["set_point_hz"] > 0
    assert isinstance(s["criteria"]["open_above_control_without_homeostasis"], bool)
    assert a["bap_max_mV"] in (None, pytest.approx(r["params"]["bap_amplitude_mV"]))
    assert b["bap_amplitude_mV"] == pytest.approx(s["controls"]["lid_suture"]["bap_mean_mV"])
    assert a["rate_search"]["rate_hz"] == a["post_rate_hz"] and a["rate_search"]["runs"] >= 1
    assert a["rate_search"]["target_hz"] == s["controls"]["lid_suture"]["post_rate_hz"]
    for name in ("deprived_below_control", "suture_deeper_than_ttx", "open_above_control", "deprived_first",
                 "specificity_needed"):
        assert isinstance(s["criteria"][name], bool)
    assert s["criteria"]["higher_suture_rate_deepens"] is None          # one sutured rate: not measured
    assert (s["neurons"], s["synapses_per_eye"], s["executor"], s["processes"], s["blocks"]) == (2, 5, "inline", 1, 1)
    assert s["variant"] == "network" and r["variant"]["name"] == "network"
    # every run x 2 eyes x K x S synapses x its simulated s / 0.1 ms, over the wall time of all runs
    expected = 2 * 2 * 5 * s["simulated_s"] / 1e-4 / s["wall_s"]
    assert s["synapse_steps_per_s"] == pytest.approx(expected)
    assert s["simulated_s"] == pytest.approx(1.0 + 2.0 * (s["runs"] - 1))   # the phase, then each run of 2 s
    assert [p["name"] for p in r["runs"]["lid_suture"]["phases"]] == ["deprivation"]


def test_ocular_dominance_with_recovery(capsys):
    """--recovery-s: the lid-suture run goes on with both eyes open; the comparisons stay over the
    deprivation interval."""
    r = _od_json(capsys, "--recovery-s", "1")
    assert [p["name"] for p in r["runs"]["lid_suture"]["phases"]] == ["deprivation", "recovery"]
    assert [p["name"] for p in r["runs"]["binocular"]["phases"]] == ["deprivation"]
    assert r["rows"][-1][0] == pytest.approx(4.0) and r["summary"]["controls"]["lid_suture"]["deprived_half_time_s"] \
        in (None, 1.0, 2.0)


def test_ocular_dominance_blocks_do_not_change_the_results(od_inline, capsys):
    two = _od_json(capsys, "--blocks", "2")
    assert two["summary"]["blocks"] == 2
    assert _numbers(two) == _numbers(od_inline)


def test_ocular_dominance_text_and_files(tmp_path, capsys):
    assert main([*OD_SMALL, "--variant", "seed", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    for word in ("variant 'seed'", "binocular phase 1 s (fixed length)", "TTX", "lid suture",
                 "(a) no boost, rate matched", "(b) uniform bAP", "specificity ratio", "criteria:",
                 "synapse-steps/s", "wall"):
        assert word in text
    assert ("PASS" in text) or ("FAIL" in text)
    stem = tmp_path / "plasticity_ocular_dominance"
    for ext in ("csv", "json", "png"):
        assert stem.with_suffix(f".{ext}").stat().st_size > 0
    with open(stem.with_suffix(".csv")) as fh:
        header = next(csv.reader(fh))
    saved = json.loads(stem.with_suffix(".json").read_text())
    assert header == saved["columns"] and saved["summary"]["variant"] == "seed"


def test_ocular_dominance_defaults_come_from_the_config():
    from lolpim.models.plasticity.ocular_dominance import OcularDominanceConfig
    from lolpim.orchestration.cli import build_parser
    from lolpim.orchestration.flags import config_from_args
    from lolpim.orchestration.learning_config import OcularDominanceRun
    from lolpim.orchestration.plasticity.ocular_dominance import plan
    run = config_from_args(OcularDominanceRun, build_parser().parse_args(["plasticity", "ocular-dominance"]))
    assert run == OcularDominanceRun()          # the flags' defaults are the config's
    settings = plan(run)
    d = OcularDominanceConfig()
    # no --binocular-s: the binocular phase runs until it has settled (None)
    assert settings["durations"] == {"binocular_s": None, "deprivation_s": d.deprivation_s,
                                     "recovery_s": d.recovery_s}
    assert settings["sutured_rate_hz"] == d.sutured_rate_hz
    assert (settings["neurons"], settings["synapses"]) == (d.neurons, d.synapses_per_eye)
    assert (settings["executor"], settings["processes"], settings["blocks"]) == ("inline", 1, 1)


@pytest.mark.ray
def test_ocular_dominance_on_ray_matches_inline(ray_session, capsys):
    # shorter phases than OD_SMALL: Ray costs ~2 ms of round trips per 1 ms window
    short = ["--binocular-s", "0.5", "--deprivation-s", "1"]
    inline = _od_json(capsys, *short)
    ray_result = _od_json(capsys, *short, "--executor", "ray", "--processes", "2")
    s = ray_result["summary"]
    assert (s["executor"], s["processes"], s["blocks"]) == ("ray", 2, 2)
    assert (inline["summary"]["executor"], inline["summary"]["blocks"]) == ("inline", 1)
    assert _numbers(ray_result) == _numbers(inline)


@pytest.mark.parametrize("extra, flag", [
    (["--neurons", "0"], "--neurons"),
    (["--synapses", "0"], "--synapses"),
    (["--blocks", "3"], "--blocks"),
    (["--blocks", "0"], "--blocks"),
    (["--processes", "2"], "--processes"),                    # inline has no processes
    (["--address", "auto"], "--address"),
    (["--executor", "ray", "--processes", "0"], "--processes"),
    (["--binocular-s", "-1"], "--binocular-s"),
    (["--binocular-s", "0"], "--binocular-s"),                # the controls start from its end state
    (["--sutured-rate-hz", "-1"], "--sutured-rate-hz"),
    (["--sutured-rate-hz", "nan"], "--sutured-rate-hz"),
    (["--deprivation-s", "nan"], "--deprivation-s"),
    (["--deprivation-s", "0"], "--deprivation-s"),
    (["--recovery-s", "inf"], "--recovery-s"),
    (["--sample-s", "0"], "--sample-s"),
    (["--sample-s", "5"], "--sample-s"),                      # longer than the deprivation phase
    (["--sample-s", "1e-6"], "--sample-s"),                   # millions of samples
    (["--variant", "bogus"], "--variant"),
    (["--neurons", "1000000", "--synapses", "100000000"], "--neurons"),   # ~19 PB of synapse state
])
def test_ocular_dominance_bad_values_exit_2(extra, flag, capsys):
    assert main([*OD_SMALL, *extra]) == 2
    err = capsys.readouterr().err
    assert flag in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_ocular_dominance_memory_message_names_the_size(capsys):
    assert main([*OD_SMALL, "--neurons", "1000000", "--synapses", "100000000"]) == 2
    err = capsys.readouterr().err
    assert "GiB" in err and "this machine" in err and "--synapses 100000000" in err


def test_ocular_dominance_flags_on_another_protocol_are_an_error(capsys):
    assert main(["plasticity", "stdp", "--model", "graupner-brunel", "--executor", "ray"]) == 2
    assert "--executor" in capsys.readouterr().err


def test_json_has_no_infinities():
    # a zero boosted shift gives an infinite specificity ratio: written as null, not the non-JSON Infinity
    from lolpim.orchestration.results import json_safe   # what the OD run writes its JSON through
    assert json_safe({"a": [math.inf, 1.0], "b": math.nan}) == {"a": [None, 1.0], "b": None}


@pytest.mark.parametrize("argv, message", [
    (["plasticity", "stdp", "--pairs", "1000000000"], "--pairs: got 1000000000; allowed range: 1 .. 100000"),
    (["plasticity", "ocular-dominance", "--binocular-s", "1e7"], "must total at most 3600 s"),
])
def test_runs_too_large_to_hold_exit_2_before_allocating(capsys, argv, message):
    """Issue 14: `stdp --pairs 1e9` reached 18.9 GB and `ocular-dominance --binocular-s 1e7`
    grew past 4.7 GB before failing; both are refused up front, naming the flag."""
    from lolpim.orchestration.cli import main
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("value", ["inf", "nan", "1e-300", "-1", "1e6"])
def test_frequency_outside_the_protocol_range_exits_2(value, capsys):
    """--frequency inf ran with inf Hz and 1e-300 simulated forever (issue 14)."""
    assert main(["plasticity", "stdp", "--pairs", "2", "--frequency", value]) == 2
    err = capsys.readouterr().err.strip()
    assert "--frequency" in err and len(err.splitlines()) == 1


@pytest.fixture(scope="module")
def bcm_json():
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["plasticity", "bcm", "--json"]) == 0
    return json.loads(buf.getvalue())


def test_bcm_json_rows_and_crossover(bcm_json):
    """`lolpim plasticity bcm --json`: rows [{frequency_hz, dw}] at 1..100 Hz, LTD at 1 Hz, LTP at
    100 Hz, the crossover between; the set, why, and its bAPs against the bound are stated."""
    r = bcm_json
    assert [row["frequency_hz"] for row in r["rows"]] == [1.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0]
    assert set(r["rows"][0]) == {"frequency_hz", "dw"}
    assert r["rows"][0]["dw"] < 0 < r["rows"][-1]["dw"]
    assert 1.0 < r["crossover_hz"] < 100.0
    assert r["param_set"]["name"] == "cortical" and "visual cortex" in r["param_set"]["why"]
    assert r["bap"]["within_bound"] and r["bap"]["max_mV"] <= r["bap"]["bound_mV"]
    assert r["history"]["nmda_gain"] == pytest.approx(1.0)


def test_bcm_history_moves_the_crossover(capsys):
    """A low-activity history lowers the crossover, a high-activity one raises it (the metaplastic
    NMDA gain); the default run carries both for comparison."""
    def crossover(*history):
        assert main(["plasticity", "bcm", "--json", *history]) == 0
        return json.loads(capsys.readouterr().out)["crossover_hz"]
    low = crossover("--history-rate-hz", "0.1", "--history-s", "20000")
    high = crossover("--history-rate-hz", "0.8", "--history-s", "20000")
    assert low < high


def test_bcm_files_and_text(tmp_path, capsys):
    assert main(["plasticity", "bcm", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "crossover" in out and "spine bAP" in out and "parameter set: cortical" in out
    rows = list(csv.reader((tmp_path / "plasticity_bcm.csv").open()))
    assert rows[0] == ["frequency_hz", "dw"] and len(rows) == 8
    assert (tmp_path / "plasticity_bcm.png").stat().st_size > 0


@pytest.mark.parametrize("argv, message", [
    (["plasticity", "bcm", "--history-rate-hz", "-1"], "--history-rate-hz: got -1.0; allowed range"),
    (["plasticity", "bcm", "--history-s", "-5"], "--history-s: got -5.0; allowed range"),
    (["plasticity", "stdp", "--history-rate-hz", "1"], "--history-rate-hz: applies to the bcm protocol only"),
    (["plasticity", "bcm", "--model", "graupner-brunel"], "needs the cascade model"),
    (["plasticity", "bcm", "--frequency", "5"], "--frequency: applies to"),
    (["plasticity", "bcm", "--no-boost"], "the BCM protocol has no postsynaptic spikes"),
])
def test_bcm_bad_flags_exit_2(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv, name", [
    (["plasticity", "pairing", "--pairs", "3"], "hippocampal"),
    (["plasticity", "stdp", "--pairs", "3"], "hippocampal"),
    (["plasticity", "frequency", "--frequency", "50"], "cortical"),
    (["plasticity", "stdp", "--pairs", "3", "--params", "cortical"], "cortical"),
])
def test_cascade_protocols_state_their_set_and_bap_bound(argv, name, capsys):
    """Issue 23 item 2: each cascade protocol's JSON names its parameter set and why, and its
    largest spine bAP against the cited bound."""
    assert main([*argv, "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["param_set"]["name"] == name and r["param_set"]["why"]
    assert ("--params" in argv) == r["param_set"]["why"].startswith("chosen with --params")
    assert r["bap"]["within_bound"] and r["bap"]["max_mV"] <= r["bap"]["bound_mV"] == 87.0
