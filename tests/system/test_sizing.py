"""`lolpim size` (orchestration/sizing.py): the fewest PIM modules for a model and context, and
analytic throughput estimates checked against full simulations of the same setups."""
import json

import pytest

from lolpim.orchestration import config
from lolpim.orchestration.cli import main
from lolpim.orchestration.compare import run_systems
from lolpim.orchestration.llm_config import RunConfig
from lolpim.orchestration.sizing import _pim_size, size


def test_fewest_modules_is_the_fewest():
    """Llama-3.1-70B with one 128K request: the fewest count holds it, one module fewer cannot."""
    result = size("llama3.1-70b", 131072, output_tokens=256, doublings=0)
    fewest = result.pim[0]
    assert fewest.requests_held >= 1
    assert _pim_size("llama3.1-70b", "lolpim-module", fewest.modules - 1, 131072, 256, 64) is None


def test_estimates_match_the_simulation_within_10_percent():
    """Qwen1.5-7B at 32K: every row's PIM estimate and the GPU estimate against the simulated
    steady decode throughput of the same system and trace."""
    result = size("qwen1.5-7b", 32768, output_tokens=64, requests=16, gpus=2, doublings=2)
    assert [p.modules for p in result.pim] == [result.pim[0].modules * 2 ** k for k in range(3)]
    for row in result.pim:
        cfg = config.load(RunConfig, None, [
            "model=qwen1.5-7b", "workload.source=fixed", "workload.input_tokens=32768", "workload.output_tokens=64",
            "workload.requests=16", f"lolpim.modules={row.modules}", f"lolpim.tensor_parallel={row.tensor_parallel}",
            "gpu.count=2"])
        simulated = {s["system"]: s["steady_throughput_tokens_per_s"]
                     for s in run_systems(cfg, ("lolpim", "gpu"), "inline", 0)["systems"]}
        assert row.tokens_per_s == pytest.approx(simulated["lolpim"], rel=0.10), row
        assert result.gpu.tokens_per_s == pytest.approx(simulated["gpu"], rel=0.10)


def test_more_modules_hold_more_requests_and_run_faster():
    rows = size("llama3.1-8b", 65536, doublings=3).pim
    assert all(b.requests_held > a.requests_held and b.tokens_per_s > a.tokens_per_s for a, b in zip(rows, rows[1:]))


@pytest.mark.parametrize("args,field", [
    (["--model", "llama3.1-70b", "--context", "131072", "--module", "bogus"], "'module'"),
    (["--model", "llama3.1-70b", "--context", "0"], "'context'"),
    (["--model", "llama3.1-70b", "--context", "131072", "--gpus", "3"], "'gpus'"),
    (["--model", "llama3.1-70b", "--context", "1310720", "--max-modules", "8"], "'max_modules'"),
])
def test_bad_input_names_the_field(args, field, capsys):
    assert main(["size", *args]) == 2
    assert field in capsys.readouterr().err


def test_cli_json_has_the_rows_and_a_runnable_command(capsys):
    assert main(["size", "--model", "qwen1.5-7b", "--context", "32768", "--gpus", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pim"][0]["modules"] >= 1 and out["gpu"]["count"] == 2
    assert out["run_command"].startswith("lolpim run --set model=qwen1.5-7b")
