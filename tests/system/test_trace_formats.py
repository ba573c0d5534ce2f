"""Issue 25 item 6: the trace formats people have (Azure, BurstGPT, Mooncake, vidur and lolpim's own),
detected from the header or named, with time scaling and a request limit; each sample (invented
numbers in each format's layout, tests/data/traces/) runs through `lolpim run` and `size --trace`."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from lolpim.core.errors import ConfigError, ParameterError
from lolpim.models.llm.trace_formats import read_trace_file
from lolpim.models.llm.workload import load_trace_file
from lolpim.orchestration.cli import main
from lolpim.orchestration.llm.config import WorkloadConfig

TRACES = Path(__file__).parents[1] / "data" / "traces"

# per sample: its format, and (prompt, output, arrival s) in arrival order, worked out by hand
# from the file (arrivals from the earliest request, in seconds)
EXPECTED = {
    "lolpim.csv": ("lolpim", [120, 340, 75], [6, 4, 8], [0.0, 0.25, 0.5]),
    # TIMESTAMP 03:04:05.1, 05.6, 07.1, 09.1
    "azure.csv": ("azure", [210, 96, 430, 150], [5, 7, 3, 6], [0.0, 0.5, 2.0, 4.0]),
    # Timestamp 12, 13, 14, 17 s; the row at 13 s has 0 response tokens (a failed request)
    "burstgpt.csv": ("burstgpt", [180, 90, 310], [6, 5, 4], [0.0, 2.0, 5.0]),
    # timestamp 1000, 1500, 4000 ms
    "mooncake.jsonl": ("mooncake", [512, 300, 700], [6, 4, 5], [0.0, 0.5, 3.0]),
    "vidur.csv": ("vidur", [220, 180, 95], [5, 7, 4], [0.0, 0.4, 1.2]),
}
SAMPLES = sorted(EXPECTED)
TINY = ["--executor", "inline", "--set", "model=llama2-7b", "--set", "systems=lolpim", "--set", "bracket=false"]


@pytest.mark.parametrize("sample", SAMPLES)
def test_each_format_is_detected_and_parsed(sample):
    fmt, inputs, outputs, arrivals = EXPECTED[sample]
    found, inp, out, arr = read_trace_file(TRACES / sample)
    assert found == fmt
    assert inp.tolist() == inputs and out.tolist() == outputs
    assert np.allclose(arr, arrivals, rtol=0, atol=1e-9)
    named = load_trace_file(TRACES / sample, fmt)   # naming the format reads the same
    assert named.input_tokens.tolist() == inputs


@pytest.mark.parametrize("sample", SAMPLES)
def test_time_scale_and_request_limit(sample):
    _, inputs, _, arrivals = EXPECTED[sample]
    scaled = load_trace_file(TRACES / sample, time_scale=0.5)
    assert np.allclose(scaled.arrival_s, np.asarray(arrivals) * 0.5, rtol=0, atol=1e-9)
    first_two = load_trace_file(TRACES / sample, limit=2)
    assert len(first_two) == 2 and first_two.input_tokens.tolist() == inputs[:2]


def test_a_named_format_the_file_does_not_have_is_refused_naming_its_columns():
    with pytest.raises(ParameterError, match="lacks column\\(s\\) TIMESTAMP, ContextTokens, GeneratedTokens "
                                             "for trace format azure"):
        load_trace_file(TRACES / "vidur.csv", "azure")
    with pytest.raises(ParameterError, match="is JSONL, not CSV"):
        load_trace_file(TRACES / "mooncake.jsonl", "vidur")


def test_an_unknown_header_lists_the_formats(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("prompt,completion\n1,2\n")
    with pytest.raises(ParameterError, match="cannot tell its trace format from its header \\(prompt, completion\\)"
                                             ".*azure: TIMESTAMP, ContextTokens, GeneratedTokens"):
        load_trace_file(path)


def test_a_byte_order_mark_is_read_past_in_every_csv_format(tmp_path):
    for sample in SAMPLES:
        if sample.endswith(".csv"):
            bom = tmp_path / sample
            bom.write_bytes(b"\xef\xbb\xbf" + (TRACES / sample).read_bytes())
            assert load_trace_file(bom).input_tokens.tolist() == EXPECTED[sample][1]


def test_csv_path_alone_means_the_csv_source_and_beside_another_source_is_refused():
    assert WorkloadConfig(csv_path="t.csv").source == "csv"
    assert WorkloadConfig().source == "longbench-qmsum"
    with pytest.raises(ConfigError, match="workload.source"):
        WorkloadConfig(source="fixed", csv_path="t.csv")


@pytest.mark.parametrize("sample", SAMPLES)
def test_each_sample_runs_through_lolpim_run_with_input_tokens_per_request(sample, tmp_path, capsys):
    _, inputs, outputs, arrivals = EXPECTED[sample]
    out = tmp_path / "out"
    assert main(["run", *TINY, "--set", f"workload.csv_path={TRACES / sample}", "--set", "workload.time_scale=2",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    with (out / "requests.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["input_tokens"]) for r in rows] == inputs
    assert [int(r["output_tokens"]) for r in rows] == outputs
    assert np.allclose([float(r["arrival_s"]) for r in rows], np.asarray(arrivals) * 2, rtol=0, atol=1e-6)


def test_trace_requests_caps_the_rows_a_run_takes(tmp_path, capsys):
    assert main(["run", *TINY, "--set", f"workload.csv_path={TRACES / 'azure.csv'}", "--set",
                 "workload.trace_requests=3", "--json"]) == 0
    (system,) = json.loads(capsys.readouterr().out)["systems"]
    assert system["requests"] == 3


@pytest.mark.parametrize("sample", SAMPLES)
def test_each_sample_sizes_with_size_trace(sample, capsys):
    _, inputs, _, _ = EXPECTED[sample]
    path = str(TRACES / sample)
    assert main(["size", "--model", "llama2-7b", "--trace", path, "--doublings", "0", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["trace"] == path and result["requests"] == len(inputs)
    assert result["context_tokens"] == round(np.mean(inputs))
    assert f"--set workload.csv_path={path}" in result["run_command"]
    assert main(["size", "--model", "llama2-7b", "--trace", path, "--requests", "2", "--doublings", "0", "--json"]) == 0
    capped = json.loads(capsys.readouterr().out)
    assert capped["requests"] == 2 and "workload.trace_requests=2" in capped["run_command"]


@pytest.mark.parametrize("argv, says", [
    (["run", *TINY, "--set", "workload.csv_path={bad}", "--set", "workload.source=fixed"], "'workload.source'"),
    (["run", *TINY, "--set", "workload.csv_path={bad}"], "line 3, column 'GeneratedTokens'"),
    (["run", *TINY, "--set", "workload.csv_path={bad}", "--set", "workload.time_scale=0"], "workload.time_scale"),
    (["size", "--model", "llama2-7b", "--trace", "{bad}"], "line 3, column 'GeneratedTokens'"),
    (["size", "--model", "llama2-7b", "--trace", "{bad}", "--output-tokens", "4"], "'output_tokens'"),
    (["size", "--model", "llama2-7b", "--trace", "longbench"], "or a trace file's path"),
])
def test_bad_trace_files_exit_2_naming_the_file_and_column(argv, says, tmp_path, capsys):
    bad = tmp_path / "az.csv"
    bad.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2024-01-02 03:04:05,10,2\n2024-01-02 03:04:06,10,2.5\n")
    assert main([a.format(bad=bad) for a in argv]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    if "column" in says:
        assert str(bad) in err


def test_a_bad_jsonl_line_names_the_line(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"timestamp": 0, "input_length": 5, "output_length": 2}\n{"timestamp": 1, \n')
    with pytest.raises(ParameterError, match="m.jsonl' line 2 is not a JSON object"):
        load_trace_file(path)


def test_azure_times_count_as_written_whatever_the_machine_zone(tmp_path, monkeypatch):
    """01:59:59 to 03:00:01 is 3,602 s as written; in a zone that skips 02:00-03:00 that night
    (US daylight saving, 10 March 2024) the machine's local time would make it 2 s."""
    import time
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        path = tmp_path / "az.csv"
        path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2024-03-10 01:59:59,5,2\n2024-03-10 03:00:01,5,2\n")
        assert load_trace_file(path).arrival_s.tolist() == [0.0, 3602.0]
    finally:
        monkeypatch.undo()
        time.tzset()


def test_size_simulate_on_a_trace_that_never_fills_the_memory_says_so(capsys):
    """The sample's three requests never wait for KV memory, so the runs have no steady decode
    rate (NaN in the summary): the table shows '-' and says why, not 'nan'."""
    assert main(["size", "--model", "llama2-7b", "--trace", str(TRACES / "burstgpt.csv"), "--doublings", "0",
                 "--simulate"]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out and "no steady decode rate" in out
