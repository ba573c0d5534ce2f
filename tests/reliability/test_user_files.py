"""Every user file is read behind one guard (issue 26, class 1): whatever a library raises while
parsing or interpreting it -- Python's integer-digit limit, a TypeError from a list where a
string belongs, gzip/zlib/struct errors, a division by a hand-edited zero -- is exit code 2 and
one line naming the file (core.presets.parsing), never a traceback. In this process, fast."""
import gzip
import json

import pytest

from lolpim.orchestration.cli import main

RUN = ["run", "--executor", "inline", "--set", "workload.source=fixed", "--set", "workload.requests=2"]
HF = {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
      "intermediate_size": 11008, "vocab_size": 32000, "max_position_embeddings": 4096}
IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _idx_dir(folder, first: bytes):
    folder.mkdir()
    for name in IDX:
        (folder / f"{name}.gz").write_bytes(first)
    return folder


def _sweep_results(tmp_path):
    """Two plottable records, then one hand-edited: an axis value that a figure formats as a number."""
    rec = {"id": "a", "status": "ok", "seed": 0, "point": {"system": "lolpim", "modules": 8}, "model": "llama2-7b",
           "result": {"system": "lolpim", "devices": 8, "stages": 8, "tpot_mean_s": 0.001, "kv_used_utilisation": 0.1,
                      "module_utilisation": 0.5, "events": 10, "wall_s": 0.1, "throughput_tokens_per_s": 100.0,
                      "hardware": {"label": "8 x lolpim-module"}},
           "trace": {"trace": "fixed", "requests": 4, "mean_input_tokens": 512.0, "mean_output_tokens": 8.0}}
    other = json.loads(json.dumps(rec))
    other.update(id="b", point={"system": "lolpim", "modules": "sixteen"})
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(rec) + "\n" + json.dumps(other) + "\n")
    return path


CASES = {
    # case: (files under tmp_path -> argv, text the one line must hold)
    "toml-int-digit-limit": (lambda t: (t / "c.toml").write_text("model = 1" + "1" * 5000 + "\n") and
                             RUN + [str(t / "c.toml")], "c.toml"),
    "hf-list-for-a-string": (lambda t: (t / "config.json").write_text(json.dumps(dict(HF, torch_dtype=["x"]))) and
                             RUN + ["--set", f"model=hf:{t / 'config.json'}"], "config.json"),
    "hf-int-digit-limit": (lambda t: (t / "config.json").write_text('{"hidden_size": 1' + "0" * 5000 + "}") and
                           RUN + ["--set", f"model=hf:{t / 'config.json'}"], "config.json"),
    "idx-truncated-gzip": (lambda t: ["hebbian", "digits", "--idx-dir",
                                      str(_idx_dir(t / "idx", gzip.compress(b"\0\0\x08\x03" + b"\0" * 40)[:20]))],
                           "train-images-idx3-ubyte.gz"),
    "idx-short-header": (lambda t: ["hebbian", "digits", "--idx-dir",
                                    str(_idx_dir(t / "idx", gzip.compress(b"\0\0\x08\x03\0\0")))],
                         "train-images-idx3-ubyte.gz"),
    "plot-hand-edited": (lambda t: ["plot", str(_sweep_results(t)), "--out", str(t / "plots")], "r.jsonl"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_user_file_is_one_line_naming_it(case, tmp_path, capsys):
    make, named = CASES[case]
    argv = make(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("lolpim: error: ") and named in lines[0], err
