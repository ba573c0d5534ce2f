"""Nothing is accepted silently (issue 26, class 3): a flag that does not apply to the
subcommand, an empty string standing for "default" or "all", a value of the wrong kind that
Python would take for another (`true` as 1 expert), data outside its domain (labels outside
0..9, NaN pixels) -- each is exit code 2 and one line naming the flag or key. In this process,
fast: every case is refused before anything runs."""
import json
import struct

import numpy as np
import pytest

from lolpim.orchestration.cli import main

RUN = ["run", "--executor", "inline", "--set", "workload.source=fixed", "--set", "workload.requests=2"]
HF = {"model_type": "mixtral", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
      "intermediate_size": 14336, "vocab_size": 32000, "max_position_embeddings": 4096,
      "num_local_experts": True, "num_experts_per_tok": 2}
IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _idx(array: np.ndarray, code: int, dtype: str) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtype).tobytes()


def _mnist(folder, labels=(0, 1, 2, 3), pixel=1.0):
    folder.mkdir()
    images = np.full((len(labels), 2, 2), pixel)
    for name in IDX:
        data = (_idx(np.array(labels), 0x08, "u1") if "labels" in name else _idx(images, 0x0D, ">f4"))
        (folder / name).write_bytes(data)
    return str(folder)


CASES = [
    ("hebbian-epochs-for-multiply", lambda t: ["hebbian", "multiply", "--epochs", "3"], "--epochs"),
    ("hebbian-module-for-multiply", lambda t: ["hebbian", "multiply", "--module", "nope"], "--module"),
    ("hebbian-idx-dir-for-multiply", lambda t: ["hebbian", "multiply", "--idx-dir", "/nonexistent"], "--idx-dir"),
    ("hebbian-max-operand-for-digits", lambda t: ["hebbian", "digits", "--max-operand", "5"], "--max-operand"),
    ("hebbian-empty-idx-dir", lambda t: ["hebbian", "digits", "--idx-dir", ""], "--idx-dir"),
    ("plasticity-empty-params", lambda t: ["plasticity", "stdp", "--params", ""], "--params"),
    ("validate-empty-area", lambda t: ["validate", "--area", ""], "--area"),
    ("validate-comma-area", lambda t: ["validate", "--area", ","], "--area"),
    ("run-empty-out", lambda t: RUN + ["--out", ""], "--out"),
    ("linger-without-port", lambda t: RUN + ["--metrics-linger-s", "5"], "--metrics-linger-s"),
    ("host-without-port", lambda t: RUN + ["--metrics-host", "0.0.0.0"], "--metrics-host"),
    ("estimate-partitioning", lambda t: ["estimate", "--system", "gpu", "--model", "llama2-7b", "--context", "100",
                                         "--partitioning", "nope"], "--partitioning"),
    ("hf-experts-true", lambda t: (t / "config.json").write_text(json.dumps(HF)) and
     RUN + ["--set", f"model=hf:{t / 'config.json'}"], "num_local_experts"),
    ("idx-label-11", lambda t: ["hebbian", "digits", "--idx-dir", _mnist(t / "m", labels=(0, 1, 11, 3))],
     "labels must be one digit"),
    ("idx-nan-pixels", lambda t: ["hebbian", "digits", "--idx-dir", _mnist(t / "m", pixel=float("nan"))], "NaN"),
]


@pytest.mark.parametrize("case,make,named", CASES, ids=[c[0] for c in CASES])
def test_what_does_not_apply_is_refused_by_name(case, make, named, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(make(tmp_path)) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert named in lines[0], err
