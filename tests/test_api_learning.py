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
    (lambda: learn.stdp(pair=3), "'pair': unknown key; allowed keys here: frequency_hz, model, no_boost, pairs, params"),
    (lambda: learn.bcm(model="graupner-brunel"), "'model': protocol 'bcm' needs the cascade model"),
    (lambda: learn.plasticity("ltp"), "'protocol': got 'ltp'; allowed values: 'pairing', 'stdp'"),
    (lambda: learn.hebbian("multiply", epochs=3), "'epochs': applies to digits only, not 'multiply'"),
    (lambda: learn.cbp(hidden=(8,)), "'hidden': got 1 layer(s); give two or more"),
    (lambda: learn.ocular_dominance(blocks=3, neurons=2), "'blocks': got 3; allowed range: 1 .. 2 (the neurons, 'neurons')"),
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
