"""The learning side of the Python API (orchestration/api_learning.py): the same settings,
checks and results as the CLI, which calls it; the examples run."""
import dataclasses
import json
import runpy
from pathlib import Path

import pytest
from lolpim.core.errors import ParameterError, UserError
from lolpim.models.plasticity.ocular_dominance import OcularDominanceConfig
from lolpim.orchestration import api_learning as learn
from lolpim.orchestration.cli import main
from lolpim.orchestration.learning_config import (
    PROTOCOL_RUNS,
    CbpRun,
    HebbianRun,
    OcularDominanceRun,
    StdpRun,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _cli_json(capsys, argv) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("call, argv", [
    (lambda: learn.stdp(model="graupner-brunel", pairs=2), ["plasticity", "stdp", "--model", "graupner-brunel",
                                                            "--pairs", "2"]),
    (lambda: learn.frequency(model="graupner-brunel", frequency_hz=10.0),
     ["plasticity", "frequency", "--model", "graupner-brunel", "--frequency", "10"]),
    (lambda: learn.hebbian("multiply", max_operand=4), ["hebbian", "multiply", "--max-operand", "4"]),
    (lambda: learn.hebbian("factorize", numbers=(6, 7)), ["hebbian", "factorize", "6", "7"]),
    (lambda: learn.cbp(epochs=1, pretrain_epochs=1, hidden=(4, 4), quiet=True),
     ["cbp", "--epochs", "1", "--pretrain-epochs", "1", "--hidden", "4", "4", "--quiet"]),
], ids=["stdp", "frequency", "multiply", "factorize", "cbp"])
def test_api_result_is_the_cli_json(call, argv, capsys):
    """One code path: the CLI's --json is the API result's to_json() for the same settings."""
    result = call()
    assert json.loads(result.to_json()) == _cli_json(capsys, [*argv, "--json"])
    assert result.table().strip()


def test_plasticity_result_is_typed():
    r = learn.stdp(model="graupner-brunel", pairs=2)
    assert (r.protocol, r.model, r.columns) == ("stdp", "graupner-brunel", ("delta_t_ms", "dw"))
    assert isinstance(r.config, StdpRun) and r.config.pairs == 2
    assert len(r.rows) == len(r.data["rows"]) > 100 and all(len(row) == 2 for row in r.rows)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.protocol = "bcm"


def test_write_gives_the_cli_files(tmp_path):
    files = learn.stdp(model="graupner-brunel", pairs=2).write(tmp_path)
    assert sorted(p.name for p in files) == ["plasticity_stdp.csv", "plasticity_stdp.json", "plasticity_stdp.png"]
    assert all(p.stat().st_size > 0 for p in files)


@pytest.mark.parametrize("call, message", [
    (lambda: learn.stdp(pairs=0), "'pairs': got 0; allowed range: 1 .. 100000"),
    (lambda: learn.stdp(frequency_hz=float("nan")), "'frequency_hz': got nan; must be a finite number"),
    (lambda: learn.stdp(pairs="many"), "'pairs': expected an integer, got 'many'"),
    (lambda: learn.stdp(pair=3),
     "'pair': unknown key; allowed keys here: frequency_hz, model, no_boost, pairs, params"),
    (lambda: learn.bcm(model="graupner-brunel"), "'model': protocol 'bcm' needs the cascade model"),
    (lambda: learn.plasticity("ltp"), "'protocol': got 'ltp'; allowed values: 'pairing', 'stdp'"),
    (lambda: learn.hebbian("multiply", epochs=3), "'epochs': applies to digits only, not 'multiply'"),
    (lambda: learn.cbp(hidden=(8,)), "'hidden': got 1 layer(s); give two or more"),
    (lambda: learn.ocular_dominance(blocks=3, neurons=2),
     "'blocks': got 3; allowed range: 1 .. 2 (the neurons, 'neurons')"),
    (lambda: learn.stdp(learn.CbpRun()), "'config': expected a StdpRun, got CbpRun"),
])
def test_a_bad_setting_is_a_user_error_naming_it(call, message):
    with pytest.raises(ParameterError) as err:
        call()
    assert isinstance(err.value, UserError) and message in str(err.value)


def test_the_same_declaration_names_the_flag_on_the_command_line(capsys):
    """One declaration, one problem text: in Python it names the setting, on the CLI the flag."""
    with pytest.raises(ParameterError) as err:
        learn.ocular_dominance(sample_s=5.0, deprivation_s=2.0)
    assert str(err.value) == "'sample_s': must be at most 'deprivation_s' (2 s), got 5"
    assert main(["plasticity", "ocular-dominance", "--sample-s", "5", "--deprivation-s", "2"]) == 2
    assert capsys.readouterr().err.strip() == "lolpim: error: --sample-s: must be at most --deprivation-s (2 s), got 5"


def test_a_config_and_settings_over_it():
    base = StdpRun(model="graupner-brunel", pairs=3)
    assert learn.stdp(base).config == base
    r = learn.stdp(base, pairs=2)
    assert (r.config.model, r.config.pairs) == ("graupner-brunel", 2)
    with pytest.raises(ParameterError, match="'pairs': got 0"):
        StdpRun(pairs=0)                      # a config is checked when it is made, too


def test_every_config_field_is_a_flag_with_its_default(capsys):
    for protocol, cls in PROTOCOL_RUNS.items():
        with pytest.raises(SystemExit):
            main(["plasticity", protocol, "--help"])
        text = capsys.readouterr().out
        for f in dataclasses.fields(cls):
            flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
            assert flag in text, (protocol, flag)
    # ocular dominance takes its defaults from the network's own config, not a copy
    run, model = OcularDominanceRun(), OcularDominanceConfig()
    assert (run.neurons, run.synapses, run.deprivation_s, run.sutured_rate_hz) == \
        (model.neurons, model.synapses_per_eye, model.deprivation_s, model.sutured_rate_hz)
    assert {f.name for f in dataclasses.fields(HebbianRun)} >= {"task", "seeds", "max_operand"}
    assert CbpRun().hidden == (128, 128, 128)


@pytest.mark.parametrize("name", ["plasticity.py", "learning.py"])
def test_examples_run(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    out = capsys.readouterr().out
    assert "Traceback" not in out and out.count("\n") > 5
    assert "# %%" in (EXAMPLES / name).read_text()


def test_to_dataframe_has_the_result_columns():
    pytest.importorskip("pandas")
    df = learn.stdp(model="graupner-brunel", pairs=2).to_dataframe()
    assert list(df.columns) == ["delta_t_ms", "dw"] and len(df) > 100
    assert list(learn.hebbian("multiply", max_operand=4).to_dataframe().columns) == ["seed", "recall_accuracy"]


# -- the cortical sheet (od-map) -------------------------------------------------------------------

TIMING = ("wall_s", "run_wall_s", "synapse_events_per_s")   # the only keys two runs may differ in
SHEET = dict(size=4, synapses=2, binocular_s=1.0, deprivation_s=0.5, seed=1)
SHEET_FLAGS = ["plasticity", "od-map", "--size", "4", "--synapses", "2", "--binocular-s", "1", "--deprivation-s",
               "0.5", "--seed", "1"]


def _untimed(data: dict) -> dict:
    summary = {k: v for k, v in data["summary"].items() if k not in TIMING}
    return {**data, "summary": summary}


def test_od_map_cli_prints_the_api_result(capsys, monkeypatch, tmp_path):
    """The command calls lolpim.od_map: its --json is that result's to_json(), its --out that
    result's write(); another call with the same settings gives the same map (wall times aside)."""
    made = []
    real = learn.od_map
    monkeypatch.setattr(learn, "od_map", lambda *a, **kw: made.append(real(*a, **kw)) or made[-1])
    printed = _cli_json(capsys, [*SHEET_FLAGS, "--json", "--out", str(tmp_path / "cli")])
    (result,) = made
    assert printed == json.loads(result.to_json())
    assert json.loads((tmp_path / "cli" / "od_map.json").read_text()) == printed
    again = real(**SHEET)
    assert _untimed(json.loads(again.to_json())) == _untimed(printed)
    assert isinstance(again.config, learn.OdMapRun) and again.config == result.config
    assert again.finished and again.binocular_s == 1.0 and len(again.timeline) == 1
    assert again.summary["deprivation"]["deprivation_s"] == 0.5 and again.od_index().shape == (4, 4)
    assert "od-map: 4 x 4 neurons x 2 synapses per eye" in again.table()
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == ["od_map.csv", "od_map.json", "od_map.png"]
    assert len((tmp_path / "cli" / "od_map.csv").read_text().splitlines()) == 1 + 16


def test_od_map_ctrl_c_keeps_the_map_of_the_last_finished_segment(monkeypatch, capsys, tmp_path):
    """Ctrl-C in the second binocular segment: lolpim.od_map raises OdMapInterrupted holding the
    first segment's map, and the command writes it to --out and exits 130."""
    from lolpim.orchestration.plasticity import od_map as sheet
    monkeypatch.setattr(sheet, "SEGMENT_S", 1.0)
    real_run = sheet.Runner.run

    def stop_in_second(self, cfg, label, *a, **kw):
        if cfg.start_s >= 1.0:
            raise KeyboardInterrupt
        return real_run(self, cfg, label, *a, **kw)
    monkeypatch.setattr(sheet.Runner, "run", stop_in_second)
    with pytest.raises(learn.OdMapInterrupted) as stop:
        learn.od_map(size=4, synapses=2, binocular_s=3.0)
    assert isinstance(stop.value, KeyboardInterrupt)
    r = stop.value.result
    assert (r.finished, r.binocular_s, len(r.timeline)) == (False, 1.0, 1)
    assert main([*SHEET_FLAGS[:6], "--binocular-s", "3", "--out", str(tmp_path)]) == 130
    assert "od-map: stopped after 1 s binocular" in capsys.readouterr().err
    out = json.loads((tmp_path / "od_map.json").read_text())
    assert out["finished"] is False and out["binocular_s"] == 1.0 and len(out["timeline"]) == 1


@pytest.mark.parametrize("settings, message", [
    ({"tiles": "3"}, "'tiles': must be AxB (tiles across x tiles down, e.g. 2x2), got '3'"),
    ({"tiles": "5x1", "size": 4}, "'tiles': got '5x1'; each count must be in 1 .. 4 (the sheet's side, 'size')"),
    ({"processes": 2}, "'processes': needs 'executor' ray (the inline executor is one process)"),
    ({"executor": "ray", "processes": 4, "tiles": "1x2"}, "'processes': 4 needs at least as many tiles; 'tiles' 1x2"),
    ({"executor": "ray", "processes": 8, "size": 4}, "'processes': got 8; the default tiling is one row of tiles"),
    ({"binocular_s": 1.0005}, "'binocular_s': must be a number of seconds in whole ms, got 1.0005"),
    ({"binocular_s": 3000.0, "deprivation_s": 700.0}, "'binocular_s': plus 'deprivation_s' must be at most 3600 s"),
    ({"sutured_rate_hz": 101.0}, "'sutured_rate_hz': got 101.0; allowed range: 0.0 .. 100.0"),
    ({"size": 3}, "'size': got 3; allowed range: 4 .. 256"),
])
def test_od_map_bad_setting_names_it(settings, message):
    with pytest.raises(ParameterError) as err:
        learn.od_map(**settings)
    assert message in str(err.value)


def test_every_od_map_field_is_a_flag(capsys):
    with pytest.raises(SystemExit):
        main(["plasticity", "od-map", "--help"])
    text = capsys.readouterr().out
    for f in dataclasses.fields(learn.OdMapRun):
        assert "--" + f.name.replace("_", "-") in text, f.name
    run = learn.OdMapRun()    # the historical defaults
    assert (run.size, run.synapses, run.binocular_s, run.deprivation_s, run.sutured_rate_hz, run.seed) == \
        (16, 100, 100.0, 0.0, 1.0, 0)
    assert (run.process_count(), run.tile_counts()) == (1, (1, 1))
    assert learn.OdMapRun(executor="ray").tile_counts() == (1, 2)


@pytest.mark.ray
def test_od_map_inline_and_ray_give_the_same_map(ray_session):
    """The same sheet on Ray (two processes, a tile each) as inline (one tile): the same weights
    and statistics; only the executor's own facts differ."""
    inline = learn.od_map(size=4, synapses=2, binocular_s=1.0, deprivation_s=1.0, show_progress=False)
    on_ray = learn.od_map(size=4, synapses=2, binocular_s=1.0, deprivation_s=1.0, executor="ray", processes=2,
                          show_progress=False)
    assert on_ray.summary["tiles"] == [1, 2] and on_ray.summary["processes"] == 2
    assert on_ray.summary["cross_process_messages"] > 0
    a, b = json.loads(inline.to_json()), json.loads(on_ray.to_json())
    assert a["timeline"] == b["timeline"] and a["summary"]["deprivation"] == b["summary"]["deprivation"]
    import numpy as np
    np.testing.assert_array_equal(inline.data["final"]["w"], on_ray.data["final"]["w"])
