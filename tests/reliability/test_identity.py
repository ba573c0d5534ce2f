"""A file is known by what it is, not only by its name (issue 26, classes 6 and 8): two sweeps
on one results file through a hard link cannot both run; `--results` naming a device, a pipe or
a file that is not a results file is refused before anything (its lock file included) is
created, and that file is left as it was; `results = "."` names a folder, not a file; a
sweep's models are checked when the file loads; a trace CSV saved with a byte-order mark
reads as without one. In this process, fast."""
import os

import numpy as np
import pytest

from lolpim.core.errors import UserError
from lolpim.orchestration.cli import main

SWEEP = '[set]\nmodel = "llama2-7b"\n[grid]\nsystem = ["lolpim"]\n'


def test_two_sweeps_on_one_file_through_a_hard_link_cannot_both_run(tmp_path):
    from lolpim.orchestration.sweep import ResultsFile
    first = tmp_path / "r.jsonl"
    first.write_text('{"id": "a", "status": "ok"}\n')
    os.link(first, tmp_path / "same.jsonl")
    with ResultsFile(first):
        with pytest.raises(UserError, match="another sweep is writing .*hard link"):
            with ResultsFile(tmp_path / "same.jsonl"):
                pass
    with ResultsFile(tmp_path / "same.jsonl"):   # free again once the first is done
        pass


@pytest.mark.parametrize("kind", ["fifo", "not-results", "dev-null"])
def test_a_results_path_that_is_no_results_file_is_refused_untouched(kind, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text(SWEEP)
    if kind == "fifo":
        target = tmp_path / "fifo"
        os.mkfifo(target)
    elif kind == "not-results":
        target = tmp_path / "notes.txt"
        target.write_text("my notes\nnot JSON\n")
    else:
        target = "/dev/null"
        if os.path.exists("/dev/null.lock"):
            pytest.skip("/dev/null.lock is there already (an older version's)")
    assert main(["sweep", "s.toml", "--results", str(target), "--serial"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(target) in err, err
    assert not os.path.exists(f"{target}.lock") and not os.path.exists(f"{target}.corrupt")
    if kind == "not-results":
        assert target.read_text() == "my notes\nnot JSON\n"


@pytest.mark.parametrize("value", [".", "sub/", "./"])
def test_a_sweep_files_results_key_must_name_a_file(value, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text(f'results = "{value}"\n' + SWEEP)
    assert main(["sweep", "s.toml", "--serial"]) == 2
    err = capsys.readouterr().err
    assert "'results'" in err and "names a folder" in err, err
    assert not (tmp_path / "results").is_file()


@pytest.mark.parametrize("model", ["nope", "hf:missing/config.json"])
def test_a_sweeps_models_are_checked_when_it_loads(model, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text(f'[grid]\nsystem = ["lolpim"]\nmodel = ["llama2-7b", "{model}"]\n')
    assert main(["sweep", "s.toml", "--serial"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "'model'" in err, err
    assert not (tmp_path / "results").exists()           # nothing ran, nothing was written


def test_a_trace_csv_with_a_byte_order_mark_reads_as_without(tmp_path):
    from lolpim.models.llm.workload import load_trace_csv
    text = "input_tokens,output_tokens,arrival_s\r\n512,8,0\r\n1024,16,0.5\r\n"
    (tmp_path / "plain.csv").write_text(text, encoding="utf-8")
    (tmp_path / "bom.csv").write_text(text, encoding="utf-8-sig")     # Excel's "CSV UTF-8"
    plain, bom = load_trace_csv(tmp_path / "plain.csv"), load_trace_csv(tmp_path / "bom.csv")
    assert np.array_equal(plain.input_tokens, bom.input_tokens) and np.array_equal(plain.arrival_s, bom.arrival_s)
    assert list(bom.input_tokens) == [512, 1024]
