"""Issue 16 point 3, end to end: `--model hf:<config.json>` on the command line gives exactly what
the built-in preset of the same architecture gives, in `estimate` (every system, decode and
prefill), `size` and `run`. Only the model's name may differ (it is the config's path)."""
import json
from pathlib import Path

import pytest

from lolpim.orchestration.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "hf"
# two architectures of different families: Llama 3.1 (GQA, 128K vocabulary) and Qwen 1.5 (MHA)
MODELS = ("llama3.1-8b", "qwen1.5-7b")


def _json(argv, capsys) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def _named(out: dict, hf: str, name: str) -> dict:
    """``out`` with the config's path (as given, or made absolute) written as the preset's name."""
    text = json.dumps(out, sort_keys=True)
    for spelling in (f"hf:{Path(hf[3:]).resolve()}", hf):
        text = text.replace(spelling, name)
    return json.loads(text)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("system, extra", [("gpu", ["--modules", "2"]), ("gpu-pim", []),
                                           ("pim", ["--modules", "4"]), ("pim", ["--prefill"])])
def test_estimate_of_a_config_json_equals_the_preset(name, system, extra, capsys):
    hf = f"hf:{DATA / name / 'config.json'}"
    argv = ["estimate", "--system", system, "--batch", "8", "--context", "8192", "--json", *extra]
    preset = _json(argv + ["--model", name], capsys)
    from_hf = _json(argv + ["--model", hf], capsys)
    assert from_hf["model"] == f"hf:{Path(hf[3:]).resolve()}"      # it really read the file
    assert from_hf["total_s"] > 0
    assert _named(from_hf, hf, name) == preset


@pytest.mark.parametrize("name", MODELS)
def test_size_of_a_config_json_equals_the_preset(name, capsys):
    hf = f"hf:{DATA / name / 'config.json'}"
    argv = ["size", "--context", "32512", "--gpus", "2", "--json"]   # + 256 output: 32K
    preset = _json(argv + ["--model", name], capsys)
    from_hf = _json(argv + ["--model", hf], capsys)
    assert from_hf["pim"] and from_hf["pim"][0]["modules"] >= 1
    assert _named(from_hf, hf, name) == preset


def _without_wall_times(value):
    if isinstance(value, dict):
        return {k: _without_wall_times(v) for k, v in value.items() if "wall" not in k}
    if isinstance(value, list):
        return [_without_wall_times(v) for v in value]
    return value


def test_run_of_a_config_json_equals_the_preset(capsys):
    name = "llama3.1-8b"
    hf = f"hf:{DATA / name / 'config.json'}"
    argv = ["run", "--executor", "inline", "--json", "--set", "workload.source=fixed", "--set", "workload.requests=4",
            "--set", "workload.input_tokens=2048", "--set", "workload.output_tokens=8", "--set", "systems=lolpim,gpu"]
    preset = _without_wall_times(_json(argv + ["--set", f"model={name}"], capsys))
    from_hf = _without_wall_times(_json(argv + ["--set", f"model={hf}"], capsys))
    assert _named(from_hf, hf, name) == preset
