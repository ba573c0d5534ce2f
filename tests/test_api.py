"""The Python API of the LLM side (docs/api.md, issue 25 items 1 and 2): ``import lolpim`` gives
compare/size/estimate/sweep, which the commands call too, so a notebook and the command line get
the same numbers, the same JSON and the same errors; results are typed dataclasses whose fields
are the JSON's values."""
import csv
import json
import math
import runpy
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

import lolpim
from lolpim.orchestration.cli import main
from lolpim.orchestration.dataframe import MissingExtraError
from lolpim.orchestration.llm.result_types import BracketEnd, SystemResult
from lolpim.orchestration.results import json_text

ROOT = Path(__file__).resolve().parents[1]
WORK = {"source": "fixed", "requests": 4, "input_tokens": 512, "output_tokens": 8}
SETS = ["systems=lolpim,gpu", "model=llama2-7b", "workload.source=fixed", "workload.requests=4",
        "workload.input_tokens=512", "workload.output_tokens=8"]


@pytest.fixture(scope="module")
def pair():
    """The issue's acceptance comparison: LoL-PIM and the GPU system on 4 fixed requests."""
    return lolpim.compare(systems=["lolpim", "gpu"], model="llama2-7b", workload=WORK, executor="inline")


def _without_wall_clock(obj):
    """``obj`` without its wall_s values: the host's wall clock, different in every run."""
    if isinstance(obj, dict):
        return {k: _without_wall_clock(v) for k, v in obj.items() if k != "wall_s"}
    if isinstance(obj, list):
        return [_without_wall_clock(v) for v in obj]
    return obj


def _cli(capsys, *args) -> str:
    assert main(list(args)) == 0
    return capsys.readouterr().out


def test_import_lolpim_works_outside_the_source_tree(tmp_path):
    code = "import lolpim, lolpim.orchestration; print(lolpim.compare.__name__, lolpim.size.__name__)"
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["compare", "size"]


def test_compare_gives_one_typed_row_per_system(pair):
    assert [s.system for s in pair.systems] == ["lolpim", "gpu"]
    assert all(isinstance(s, SystemResult) for s in pair.systems)
    for s in pair.systems:
        assert s.requests == 4 and s.output_tokens == 4 * 8 and len(s.per_request) == 4
        assert s.throughput_tokens_per_s == pytest.approx(s.output_tokens / s.makespan_s)
        assert s.decode_only and s.ttft_mean_s is None and s.queue_wait_mean_s is not None
        assert all(r.ttft_s is None and r.input_tokens == 512 and r.output_tokens == 8 for r in s.per_request)
    assert pair.system("lolpim").speedup == 1.0
    assert pair.system("gpu").speedup == pytest.approx(pair.system("lolpim").throughput_tokens_per_s
                                                       / pair.system("gpu").throughput_tokens_per_s)
    with pytest.raises(KeyError, match="no system 'cent'"):
        pair.system("cent")


def test_typed_fields_are_the_json_values(pair):
    """Every field of every SystemResult is the value its JSON carries, under the same key
    (the JSON keys are the ones docs and scripts read), and reading the JSON back gives the
    same result."""
    data = json.loads(pair.to_json())
    for s, d in zip(pair.systems, data["systems"]):
        for f in fields(SystemResult):
            value = getattr(s, f.name)
            if f.name == "hardware":
                assert d["hardware"] == json.loads(json.dumps(value.to_dict()))
                assert d["hardware"]["label"] == value.label == data["hardware"][s.system]
            elif f.name == "settings":
                assert all(d[k] == v for k, v in value.items())
            elif f.name == "per_request":
                assert [r["queue_wait_s"] for r in d["per_request"]] == [r.queue_wait_s for r in value]
                assert [r["tpot_s"] for r in d["per_request"]] == [r.tpot_s for r in value]
            elif f.name in ("bracket", "row_end", "speedup_bracket"):
                assert value is None and f.name not in d
            elif isinstance(value, float) and math.isnan(value):
                assert d[f.name] is None   # strict JSON: NaN is null
            else:
                assert d[f.name] == value, f.name
        again = SystemResult.from_dict(d)
        assert json.loads(json_text(again.to_dict())) == d


def test_bracket_ends_are_typed_and_round_trip_through_json():
    """A bracketed baseline (CENT: as published, head-first; at its best, token-centric)."""
    c = lolpim.compare(systems=["lolpim", "cent"], model="llama2-7b", workload=WORK)
    cent = c.system("cent")
    assert set(cent.bracket) == {"best", "published"} and all(isinstance(b, BracketEnd) for b in cent.bracket.values())
    assert cent.speedup_bracket == (cent.bracket["best"].speedup, cent.bracket["published"].speedup)
    row = json.loads(c.to_json())["systems"][1]
    assert row["speedup_bracket"] == list(cent.speedup_bracket) and row["row_end"] == cent.row_end
    for end, b in cent.bracket.items():
        assert row["bracket"][end]["is_row"] == b.is_row and row["bracket"][end]["speedup"] == b.speedup
        assert row["bracket"][end]["attention_mapping"] == b.run.attention_mapping
        assert "per_request" not in row["bracket"][end]
    assert json.loads(json_text(SystemResult.from_dict(row).to_dict())) == row


def test_cli_run_json_and_table_equal_the_api(pair, capsys):
    """One code path: `lolpim run --json` is c.to_json() for the same config, and the table is
    c.table() (wall_s aside: the wall clock of each run)."""
    args = [a for s in SETS for a in ("--set", s)]
    cli = json.loads(_cli(capsys, "run", "--executor", "inline", "--json", *args))
    assert _without_wall_clock(cli) == _without_wall_clock(json.loads(pair.to_json()))
    assert _cli(capsys, "run", "--executor", "inline", *args).rstrip("\n") == pair.table()


def test_dotted_keys_tables_and_a_toml_file_give_the_same_config(tmp_path):
    from lolpim.orchestration.llm.api import run_config
    from lolpim.orchestration.llm.api import _nest
    nested = run_config(None, _nest({"model": "llama2-7b", "workload": WORK, "lolpim": {"kv_mode": "static"}}))
    dotted = run_config(None, _nest({"model": "llama2-7b", "lolpim.kv_mode": "static",
                                     **{f"workload.{k}": v for k, v in WORK.items()}}))
    path = tmp_path / "run.toml"
    path.write_text('model = "llama2-7b"\n[workload]\nsource = "fixed"\nrequests = 4\ninput_tokens = 512\n'
                    'output_tokens = 8\n')
    from_file = run_config(path, _nest({"lolpim.kv_mode": "static"}))
    assert nested == dotted == from_file
    assert str(nested.lolpim.kv_mode) == "static" and nested.workload.requests == 4


@pytest.mark.parametrize("call, key, allowed", [
    (lambda: lolpim.compare(modle="llama2-7b"), "modle", "model"),
    (lambda: lolpim.compare(workload={"requets": 4}), "workload.requets", "requests"),
    (lambda: lolpim.compare(**{"lolpim.kv_mode": "statc"}), "lolpim.kv_mode", "'static'"),
    (lambda: lolpim.compare(systems=["lolpim", "tpu"]), "systems", "gpu-pim"),
    (lambda: lolpim.compare(executor="threads"), "executor", "'inline'"),
    (lambda: lolpim.size("llama2-7b", contxt=4096), "contxt", "context"),
    (lambda: lolpim.size("llama2-7b"), "context", "trace"),
    (lambda: lolpim.estimate("llama2-7b", context=512, devcie="h100"), "devcie", "device"),
    (lambda: lolpim.sweep(grid={"system": ["lolpim"]}), "results", "JSON lines"),
    (lambda: lolpim.sweep(gird={"system": ["lolpim"]}, results="x.jsonl"), "gird", "grid"),
])
def test_a_bad_key_raises_a_user_error_naming_it_and_what_is_allowed(call, key, allowed):
    with pytest.raises(lolpim.UserError) as err:
        call()
    assert isinstance(err.value, lolpim.ConfigError) and err.value.key == key
    assert f"'{key}'" in str(err.value) and allowed in str(err.value)


def test_bad_values_are_the_clis_errors(capsys):
    """A value out of range or an unknown preset: the same UserError as the command's."""
    with pytest.raises(lolpim.UserError, match="--gpus 0: allowed 1 .. "):
        lolpim.size("llama2-7b", context=1024, gpus=0)
    assert main(["size", "--model", "llama2-7b", "--context", "1024", "--gpus", "0"]) == 2
    assert "--gpus 0: allowed 1 .. " in capsys.readouterr().err
    with pytest.raises(lolpim.UserError, match="--device 'h1000': unknown; allowed: "):
        lolpim.estimate("llama2-7b", context=512, device="h1000")
    with pytest.raises(lolpim.UserError, match="'workload.requests': got 0; allowed range: 1 .. "):
        lolpim.compare(workload={"requests": 0})


def test_size_and_estimate_equal_their_commands(capsys):
    sized = lolpim.size("llama2-7b", context=2048, output_tokens=64, doublings=1)
    assert sized.to_json() == _cli(capsys, "size", "--model", "llama2-7b", "--context", "2048", "--output-tokens",
                                   "64", "--doublings", "1", "--json").rstrip("\n")
    assert sized.table() == _cli(capsys, "size", "--model", "llama2-7b", "--context", "2048", "--output-tokens",
                                 "64", "--doublings", "1").rstrip("\n")
    assert [r.modules for r in sized.rows] == [sized.rows[0].modules, 2 * sized.rows[0].modules]
    step = lolpim.estimate("llama2-7b", context=2048, batch=8, system="pim", modules=8)
    assert step.to_json() == _cli(capsys, "estimate", "--model", "llama2-7b", "--context", "2048", "--batch", "8",
                                  "--system", "pim", "--modules", "8", "--json").rstrip("\n")
    assert step.total_s == pytest.approx(sum(c.time_s for c in step.result.parts.values()))


def test_sweep_from_tables_gives_typed_points_equal_to_its_results_file(tmp_path):
    results = tmp_path / "s.jsonl"
    done = lolpim.sweep(grid={"system": ["lolpim"], "modules": [2, 4]}, set={"model": "llama2-7b", "workload": WORK},
                        results=results)
    assert (done.report.points, done.report.ran, done.report.errors) == (2, 2, 0)
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert [p.point for p in done.points] == [{"system": "lolpim", "modules": 2}, {"system": "lolpim", "modules": 4}]
    for p, rec in zip(done.points, records):
        assert p.status == "ok" and p.result.devices == rec["point"]["modules"]
        assert p.result.throughput_tokens_per_s == rec["result"]["throughput_tokens_per_s"] > 0
        assert p.result.speedup is None and "speedup" not in rec["result"]
    assert "2 x lolpim-module" in done.table() and "4 x lolpim-module" in done.table()
    again = lolpim.sweep(grid={"system": ["lolpim"], "modules": [2, 4]}, set={"model": "llama2-7b", "workload": WORK},
                         results=results)
    assert (again.report.skipped, again.report.ran) == (2, 0) and again.records == done.records
    written = done.plot(tmp_path / "plots")
    assert [p.name for p in written[:2]] == ["points.csv", "throughput_vs_modules.png"]
    rows = list(csv.DictReader(written[0].open()))
    assert [float(r["throughput_tokens_per_s"]) for r in rows] == [p.result.throughput_tokens_per_s
                                                                  for p in done.points]


def test_to_dataframe_names_the_extra_when_pandas_is_missing(pair, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)   # as if it were not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'lolpim\[dataframe\]'"):
        pair.to_dataframe()


def test_to_dataframe_has_one_row_per_system(pair):
    pd = pytest.importorskip("pandas")
    frame = pair.to_dataframe()
    assert isinstance(frame, pd.DataFrame) and list(frame["system"]) == ["lolpim", "gpu"]
    assert list(frame["throughput_tokens_per_s"]) == [s.throughput_tokens_per_s for s in pair.systems]


def test_the_llm_example_notebook_runs(tmp_path, monkeypatch, capsys):
    """examples/llm_compare.py (percent format) runs as a script, start to end."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    runpy.run_path(str(ROOT / "examples" / "llm_compare.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "speedup" in out and "fewest:" in out and "{'modules': 4, 'system': 'lolpim'}" in out
