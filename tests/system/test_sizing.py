"""`lolpim size` (hardware/systems/sizing.py estimates, orchestration/llm/sizing.py builds/simulates):
the fewest PIM modules for a model and context, and analytic throughput estimates checked against full
simulations of the same setups."""
import json
import shlex

import pytest

from lolpim.core.errors import ParameterError
from lolpim.hardware.pim import load_pim_module
from lolpim.hardware.systems.plan import allowed_tensor_parallel, pim_module_count
from lolpim.orchestration import config
from lolpim.orchestration.cli import main
from lolpim.orchestration.llm.compare import run_systems
from lolpim.orchestration.llm.config import RunConfig
from lolpim.models.llm.workload import fixed_trace
from lolpim.hardware.systems.config import SystemKind
from lolpim.hardware.systems import sizing as estimates
from lolpim.hardware.systems.sizing import pim_size
from lolpim.models.llm.architecture import load_llm
from lolpim.orchestration.llm.systems import build, make_trace
from lolpim.orchestration.llm.sizing import size


def test_fewest_modules_is_the_fewest():
    """Llama-3.1-70B with one 128K request: the fewest count holds it, one module fewer cannot."""
    result = size("llama3.1-70b", 130816, output_tokens=256, doublings=0)   # the last token reaches 128K
    fewest = result.pim[0]
    assert fewest.requests_held >= 1
    assert pim_size(load_llm("llama3.1-70b"), "lolpim-module", fewest.modules - 1, fixed_trace(64, 130816, 256)) is None


@pytest.mark.slow
def test_estimates_match_the_simulation_within_10_percent():
    """Qwen1.5-7B at 32K: every row's PIM estimate and the GPU estimate against the simulated
    steady decode throughput of the same system and trace."""
    result = size("qwen1.5-7b", 32704, output_tokens=64, requests=16, gpus=2, doublings=2)
    assert [p.modules for p in result.pim] == [result.pim[0].modules * 2 ** k for k in range(3)]
    for row in result.pim:
        cfg = config.load(RunConfig, None, [
            "model=qwen1.5-7b", "workload.source=fixed", "workload.input_tokens=32704", "workload.output_tokens=64",
            "workload.requests=16", f"lolpim.modules={row.modules}", f"lolpim.tensor_parallel={row.tensor_parallel}",
            "gpu.count=2"])
        simulated = {s["system"]: s["steady_throughput_tokens_per_s"]
                     for s in run_systems(cfg, ("lolpim", "gpu"), "inline", 0).to_dict()["systems"]}
        assert row.tokens_per_s == pytest.approx(simulated["lolpim"], rel=0.10), row
        assert result.gpu.tokens_per_s == pytest.approx(simulated["gpu"], rel=0.10)


def test_more_modules_hold_more_requests_and_run_faster():
    rows = size("llama3.1-8b", 65536, doublings=3).pim
    assert all(b.requests_held > a.requests_held and b.tokens_per_s > a.tokens_per_s for a, b in zip(rows, rows[1:]))


@pytest.mark.parametrize("args,field", [
    (["--model", "llama3.1-70b", "--context", "130816", "--module", "bogus"], "'module'"),
    (["--model", "llama3.1-70b", "--context", "0"], "--context 0: allowed 1 .."),
    (["--model", "llama3.1-70b", "--context", "130816", "--gpus", "3"], "'gpus'"),
    (["--model", "llama3.1-70b-1m", "--context", "1048320", "--max-modules", "8"], "'max_modules'"),
    (["--model", "llama3.1-70b", "--context", "131072"], "131,072-token maximum context of llama3.1-70b"),
])
def test_bad_input_names_the_field(args, field, capsys):
    assert main(["size", *args]) == 2
    assert field in capsys.readouterr().err


def test_cli_json_has_the_rows_and_a_runnable_command(capsys):
    assert main(["size", "--model", "qwen1.5-7b", "--context", "32512", "--gpus", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pim"][0]["modules"] >= 1 and out["gpu"]["count"] == 2
    assert out["run_command"].startswith("lolpim run --set model=qwen1.5-7b")


def _command_config(command: str) -> RunConfig:
    """The RunConfig that `lolpim run` builds from a printed command line."""
    words = shlex.split(command)
    assert words[:2] == ["lolpim", "run"], command
    overrides = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
    assert set(words[2::2]) <= {"--set", "--seed"}, command   # nothing but --set KEY=VALUE (and --seed)
    return config.load(RunConfig, None, overrides)


def test_printed_command_for_70b_at_128k_builds_every_system_it_names(capsys):
    """Issue 13 point 6: the command `lolpim size` printed ran all four systems with CENT at the
    default 128 GB and failed ('cent-module of stage 0 holds 17.9 GB ... no room for KV'). Every
    row's command now names only systems that build, CENT and GPU+PIM at the row's PIM capacity,
    and says why a system is left out."""
    assert main(["size", "--model", "llama3.1-70b", "--context", "130816", "--gpus", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["estimate"] == "fixed-length" and out["run_command"] == out["run_commands"][0]
    for row, command in zip(out["pim"], out["run_commands"]):
        cfg = _command_config(command)
        assert cfg.lolpim.modules == row["modules"] and cfg.lolpim.tensor_parallel == row["tensor_parallel"]
        assert cfg.pim_capacity_gib == pytest.approx(row["capacity_gib"]) and cfg.gpu.count == 4
        assert set(cfg.systems) == set(row["systems"]) and {"lolpim", "gpu"} <= set(cfg.systems)
        assert set(cfg.systems) | {k for k, _ in row["left_out"]} == set(SystemKind)
        trace = make_trace(cfg, 0)
        assert int((trace.input_tokens + trace.output_tokens).max()) == 131072
        for kind in cfg.systems:
            build(kind, cfg, trace, 0)
    # the fewest (12 modules, 192 GiB): CENT's static KV holds a 128K request only 4-way (each
    # module keeps 2 of the 8 KV heads), the shape the command now gives it; pipelined it cannot
    assert out["pim"][0]["left_out"] == [] and _command_config(out["run_commands"][0]).cent.tensor_parallel == 4


def _overrides(command: str) -> list[str]:
    words = shlex.split(command)
    return [words[i + 1] for i, w in enumerate(words) if w == "--set"]


def _line_70b_128k() -> list[str]:
    """The `--set` values of the line `lolpim size --model llama3.1-70b --context 130816` prints."""
    result = size("llama3.1-70b", 130816, output_tokens=256, doublings=0)   # 128K with the output
    return _overrides(result.run_command(result.pim[0]))


PIM_TABLES = {"lolpim": "lolpim", "cent": "cent", "neupims": "neupims", "lolpim-xpu": "lolpim_xpu"}


def test_size_line_gives_every_pim_system_its_best_shape():
    """Issue 21 item 7: the line set LoL-PIM's shape but left NeuPIMs and LoL-PIM-xPU as 6-stage
    pure pipelines (LoL-PIM 11.87x NeuPIMs). Every PIM system it runs now has the width its own
    `tensor_parallel = 0` picks on the same work."""
    line = _line_70b_128k()
    cfg = config.load(RunConfig, None, line)
    trace = make_trace(cfg, 0)
    assert {str(k) for k in cfg.systems} >= set(PIM_TABLES)
    for kind, table in PIM_TABLES.items():
        auto = config.load(RunConfig, None, [*line, f"{table}.tensor_parallel=0"])
        chosen, given = build(kind, auto, trace, 0), build(kind, cfg, trace, 0)
        assert "[chosen: auto" in chosen.description
        assert (given.devices, given.stages) == (chosen.devices, chosen.stages), (kind, chosen.description)


@pytest.mark.slow
def test_size_line_shapes_are_the_best_simulated():
    """Each PIM baseline of the 70B/128K line at every width its modules allow, simulated: the
    line's width is the fastest (measured: CENT 4-way 5.76 tok/s vs 2-way 5.64, pipelined it
    cannot hold a request; NeuPIMs 2-way 10.9 vs 7.4; LoL-PIM-xPU 2-way 14.8 vs 7.4)."""
    line = [o for o in _line_70b_128k() if not o.startswith("systems=")]
    cfg = config.load(RunConfig, None, line)
    model = load_llm(cfg.model)
    for kind in ("cent", "neupims", "lolpim-xpu"):
        table = PIM_TABLES[kind]
        sub = getattr(cfg, table)
        rates = {}
        for t in allowed_tensor_parallel(model, pim_module_count(load_pim_module(sub.module), 0, cfg.pim_capacity_gib)):
            try:
                run = run_systems(config.load(RunConfig, None, [*line, f"{table}.tensor_parallel={t}"]),
                                  (kind,), "inline", 0).to_dict()
            except ParameterError:
                continue
            rates[t] = run["systems"][0]["throughput_tokens_per_s"]
        assert len(rates) >= 2 and rates[sub.tensor_parallel] == max(rates.values()), (kind, rates)


@pytest.mark.parametrize("args", [
    ["--context", "4096", "--output-tokens", "8", "--requests", "8"],
    ["--trace", "longbench-qmsum", "--output-tokens", "8", "--requests", "6"],
])
def test_printed_command_runs(args, capsys):
    """A small model, few requests, short outputs: the printed command, run as `lolpim run`,
    simulates every system it names on the same work."""
    assert main(["size", "--model", "qwen1.5-7b", *args, "--gpus", "1", "--doublings", "0"]) == 0
    text = capsys.readouterr().out
    command = next(line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("simulate the fewest"))
    cfg = _command_config(command)
    assert main(["run", *shlex.split(command)[2:], "--executor", "inline", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [s["system"] for s in result["systems"]] == list(cfg.systems) and len(cfg.systems) >= 2
    assert result["requests"] == int(args[-1])
    if "--trace" in args:
        assert result["trace"] == "longbench-qmsum" and "trace estimate" in text
    else:
        assert "fixed-length estimate" in text


def test_trace_sizes_for_the_longest_request_of_the_same_trace_run_draws(capsys):
    """--trace NAME sizes for the trace `lolpim run` draws (same requests and seed): the fewest
    modules hold its longest request, one fewer cannot."""
    result = size("llama3.1-70b", trace="lveval-loogle-sd", requests=64, doublings=1)
    cfg = _command_config(result.run_command(result.pim[0]))
    trace = make_trace(cfg, 0)
    assert cfg.workload.source == "lveval-loogle-sd" and cfg.workload.requests == 64
    assert result.longest_tokens == int((trace.input_tokens + trace.output_tokens).max())
    assert result.context_tokens == round(trace.input_tokens.mean()) and result.estimate == "trace"
    assert pim_size(load_llm("llama3.1-70b"), "lolpim-module", result.pim[0].modules - 1, trace) is None
    assert main(["size", "--model", "llama3.1-70b", "--trace", "lveval-loogle-sd", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["trace"] == "lveval-loogle-sd" and out["estimate"] == "trace"
    assert "workload.source=lveval-loogle-sd" in out["run_command"]


def _trace_estimate_and_simulation():
    result = size("qwen1.5-7b", trace="longbench-qmsum", output_tokens=32, requests=16, gpus=1, doublings=2)
    assert [p.modules for p in result.pim] == [result.pim[0].modules * 2 ** k for k in range(3)]
    simulated = []
    for row in result.pim:
        cfg = config.load(RunConfig, None, result.run_overrides(row, ("lolpim", "gpu")))
        simulated.append({s["system"]: s["steady_throughput_tokens_per_s"]
                          for s in run_systems(cfg, ("lolpim", "gpu"), "inline", 0).to_dict()["systems"]})
    return result, simulated


def test_trace_estimates_match_the_simulation_within_10_percent():
    """Qwen1.5-7B on a 16-request LongBench-QMSum trace: every row's trace estimate against the
    simulated steady decode throughput of the printed command's LoL-PIM system.
    (Measured: 0.93-0.97x. With 64 requests and the dataset's outputs 1.03-1.07x. Where the KV
    holds only a few long requests, e.g. Llama-3.1-70B on lveval-loogle-sd with 12 modules, the
    estimate is 1.52x the simulation: docs/lolpim-system.md.)"""
    result, simulated = _trace_estimate_and_simulation()
    for row, sim in zip(result.pim, simulated):
        assert row.tokens_per_s == pytest.approx(sim["lolpim"], rel=0.10), row


@pytest.mark.xfail(strict=True, reason="known miss: 1 x A100 at its real 80 GiB (was 74.5) holds 9 of these "
                                       "requests, not 8; the estimate runs all 9 at the mean context (228-230 "
                                       "tok/s) while the simulated saturated batch fills 80% of the KV (196 "
                                       "tok/s, 1.17x): the few-held-requests optimism docs/lolpim-system.md "
                                       "names. At 74.5 GiB it was 1.03x.")
def test_trace_gpu_estimate_matches_the_simulation_within_10_percent():
    result, simulated = _trace_estimate_and_simulation()
    for sim in simulated:
        assert result.gpu.tokens_per_s == pytest.approx(sim["gpu"], rel=0.10)


def test_either_context_or_trace(capsys):
    with pytest.raises(Exception, match="'context'"):
        size("qwen1.5-7b")
    with pytest.raises(Exception, match="'context'"):
        size("qwen1.5-7b", 4096, trace="longbench-qmsum")
    with pytest.raises(Exception, match="'trace'"):
        size("qwen1.5-7b", trace="bogus")
    assert main(["size", "--model", "qwen1.5-7b", "--trace", "bogus"]) == 2
    assert "'trace'" in capsys.readouterr().err


def test_simulate_adds_simulated_rows(capsys):
    """--simulate runs each row's LoL-PIM system and the GPU system and prints estimate / simulation."""
    assert main(["size", "--model", "qwen1.5-7b", "--trace", "longbench-qmsum", "--output-tokens", "16",
                 "--requests", "8", "--gpus", "1", "--doublings", "1", "--simulate", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["pim"]) == 2 and out["gpu"]["simulated_tokens_per_s"] > 0
    for row in out["pim"]:
        assert row["tokens_per_s"] == pytest.approx(row["simulated_tokens_per_s"], rel=0.25)
    assert main(["size", "--model", "qwen1.5-7b", "--context", "4096", "--output-tokens", "8", "--requests", "8",
                 "--gpus", "1", "--doublings", "0", "--simulate"]) == 0
    text = capsys.readouterr().out
    assert "simulated tok/s" in text and "est. / sim." in text
    # 8 requests of 4,096 tokens never wait for memory: no steady rate to compare, said so (it printed "nan")
    assert "nan" not in text and "no steady decode rate" in text


def test_a_row_with_several_pipelines_gives_them_to_its_command():
    """Issue 24: the automatic shape weighs pipelines side by side (data_parallel's default), so a
    size row may be several pipelines, for LoL-PIM or a baseline; the row's command sets
    `<system>.data_parallel` for them (a given width alone is one pipeline) and builds each system
    in exactly the shape its own automatic choice gives. Llama-3.1-70B at 128K, 64 requests: at
    192 modules LoL-PIM takes 3 pipelines, NeuPIMs 6."""
    result = estimates.size("llama3.1-70b", 131000, output_tokens=16, requests=64, doublings=4)
    row = result.pim[-1]
    assert row.modules == 192 and row.pipelines > 1
    assert dict((t, r) for t, _, r in row.baseline_tensor_parallel)["neupims"] > 1
    line = _overrides(result.run_command(row))
    assert f"lolpim.data_parallel={row.pipelines}" in line
    cfg = config.load(RunConfig, None, line)
    trace = make_trace(cfg, 0)
    for kind, table in (("lolpim", "lolpim"), ("neupims", "neupims")):
        given = build(kind, cfg, trace, 0)
        auto = build(kind, config.load(RunConfig, None, [*line, f"{table}.tensor_parallel=0",
                                                         f"{table}.data_parallel=0"]), trace, 0)
        assert "[chosen: auto" in auto.description and given.settings == auto.settings
        assert (given.devices, given.stages) == (auto.devices, auto.stages)
    # a single-pipeline row's command reads as before: no data_parallel key
    assert result.pim[0].pipelines == 1 and not any("data_parallel" in o for o in
                                                     _overrides(result.run_command(result.pim[0])))
