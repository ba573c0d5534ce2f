"""The main job through the CLI: same numbers inline and on Ray, files written, and each
LoL-PIM mechanism switchable with one flag."""
import json

import pytest

from lolpim.orchestration.cli import main

SMALL = ["--set", "model=llama2-7b", "--set", "workload.source=fixed", "--set", "workload.input_tokens=3000",
         "--set", "workload.output_tokens=12", "--set", "workload.requests=6", "--set", "pim_capacity_gib=64"]


def run_json(capsys, *args) -> dict:
    assert main(["run", *SMALL, *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def strip_wall(result: dict) -> list:
    def strip(s):
        out = {k: v for k, v in s.items() if k != "wall_s"}
        if "bracket" in s:     # the baseline's ends are runs too
            out["bracket"] = {end: strip(run) for end, run in s["bracket"].items()}
        return out
    return [strip(s) for s in result["systems"]]


@pytest.mark.ray
def test_main_job_is_identical_inline_and_on_ray(capsys, tmp_path, ray_session):
    inline = run_json(capsys, "--executor", "inline")
    on_ray = run_json(capsys, "--executor", "ray", "--out", str(tmp_path))
    assert [s["system"] for s in inline["systems"]] == ["lolpim", "gpu", "gpu-pim", "cent"]
    assert strip_wall(inline) == strip_wall(on_ray)
    assert inline["systems"][3]["speedup_bracket"] == on_ray["systems"][3]["speedup_bracket"]
    for name in ("comparison.json", "comparison.csv", "comparison.png", "requests.csv"):
        assert (tmp_path / name).stat().st_size > 0
    assert len((tmp_path / "requests.csv").read_text().splitlines()) == 1 + 4 * 6   # header + requests
    lolpim = inline["systems"][0]
    assert lolpim["output_tokens"] == 6 * 12 and lolpim["speedup"] == 1.0


def test_table_output_names_every_column(capsys):
    assert main(["run", *SMALL, "--executor", "inline", "--set", "systems=lolpim,gpu"]) == 0
    out = capsys.readouterr().out
    for column in ("tok/s", "TPOT ms", "p99 ms", "queue wait s", "KV used", "KV alloc", "busy", "J/token", "tok/s/W",
                   "speedup"):
        assert column in out


@pytest.mark.parametrize("flag, value", [("lolpim.kv_mode", "static"), ("lolpim.partitioning", "head-first"),
                                         ("lolpim.parallelism", "tensor")])
def test_each_mechanism_is_one_flag(capsys, flag, value):
    base = run_json(capsys, "--executor", "inline", "--set", "systems=lolpim")["systems"][0]
    ablated = run_json(capsys, "--executor", "inline", "--set", "systems=lolpim", "--set", f"{flag}={value}")
    ablated = ablated["systems"][0]
    assert value.split("-")[0] in ablated["description"]
    assert ablated["throughput_tokens_per_s"] != base["throughput_tokens_per_s"]


@pytest.mark.slow
def test_static_kv_reservation_holds_fewer_tokens_than_dynamic(capsys):
    # static reserves the dataset's 32K context limit per request; requests average ~14K
    common = ["--executor", "inline", "--set", "systems=lolpim", "--set", "workload.source=longbench-qmsum",
              "--set", "model=qwen1.5-7b", "--set", "pim_capacity_gib=128", "--set", "workload.requests=24"]
    dynamic = run_json(capsys, *common)["systems"][0]
    static = run_json(capsys, *common, "--set", "lolpim.kv_mode=static")["systems"][0]
    assert static["kv_used_utilisation"] < 0.6 * dynamic["kv_used_utilisation"]


def test_unknown_system_is_a_clear_error(capsys):
    assert main(["run", "--set", "systems=lolpim,tpu", "--executor", "inline"]) == 2
    assert "config key 'systems': element [1]: got 'tpu'; allowed values: 'lolpim', 'gpu', 'gpu-pim', 'cent'" in capsys.readouterr().err


def test_too_few_modules_for_the_weights_is_a_clear_error(capsys):
    assert main(["run", "--set", "model=llama2-70b", "--set", "pim_capacity_gib=64", "--executor", "inline",
                 "--set", "workload.source=fixed", "--set", "workload.input_tokens=2048", "--set", "systems=lolpim"]) == 2
    err = capsys.readouterr().err
    assert "use more modules" in err and "Traceback" not in err


def test_prefill_modes(capsys):
    """before: prompts prefilled ahead (TTFT = wait for memory); inline: each system's own
    passes (PIM near-memory unit / GPU) charge prefill; attached-gpu: an A100 prefills for PIM."""
    common = ["--executor", "inline", "--set", "systems=lolpim,gpu"]
    before = {s["system"]: s for s in run_json(capsys, *common)["systems"]}
    inline = {s["system"]: s for s in run_json(capsys, *common, "--set", "prefill=inline")["systems"]}
    attached = {s["system"]: s for s in run_json(capsys, *common, "--set", "prefill=attached-gpu")["systems"]}
    for system in ("lolpim", "gpu"):
        # decode-only: no TTFT is claimed, the first-token delay is named a queue wait
        assert before[system]["ttft_mean_s"] is None and before[system]["decode_only"]
        assert inline[system]["queue_wait_mean_s"] is None and not inline[system]["decode_only"]
        assert inline[system]["ttft_mean_s"] > before[system]["queue_wait_mean_s"]
    # the GPU prefills much faster than the PIM near-memory unit (3 TFLOPS)
    assert attached["lolpim"]["ttft_mean_s"] < inline["lolpim"]["ttft_mean_s"]
    assert all(s["output_tokens"] == 6 * 12 for s in (*inline.values(), *attached.values()))
