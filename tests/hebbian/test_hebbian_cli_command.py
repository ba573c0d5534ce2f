"""`lolpim hebbian` end to end: JSON on stdout, files under --out, errors as exit code 2."""
import json

from lolpim.orchestration.cli import main


def test_multiply_json_and_files(tmp_path, capsys):
    assert main(["hebbian", "multiply", "--json", "--out", str(tmp_path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["max_operand"] == 9 and result["products"] == 36
    run = result["runs"][0]
    assert run["recall_accuracy"] == 1.0 and run["wrong"] == []
    layer = run["layers"]["operands->pairs"]
    assert layer["curve"][-1]["recall_accuracy"] == 1.0
    assert layer["transitions"]["per_sample_first_epoch"] > layer["transitions"]["per_sample_last_epoch"]
    for name in ("results.json", "curves.csv", "learning_curves.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_factorize_text(capsys):
    assert main(["hebbian", "factorize", "12", "35", "37"]) == 0
    out = capsys.readouterr().out
    assert "12 = 2x2x3" in out and "35 = 5x7" in out and "37 = 37" in out and "WRONG" not in out


def test_digits_small_run_json(capsys):
    assert main(["hebbian", "digits", "--seeds", "2", "--epochs", "1", "--contacts", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["seed"] for r in result["runs"]] == [0, 1]
    assert 0.5 < result["test_accuracy_mean"] <= 1.0 and result["test_accuracy_std"] >= 0.0
    assert result["pim_inference"]["k_in"] == 448 and result["pim_inference"]["n_out"] == 20
    assert result["runs"][0]["transitions"]["per_sample_mean"] > 0


def test_bad_input_exits_2(capsys):
    assert main(["hebbian", "multiply", "--seeds", "0"]) == 2
    assert main(["hebbian", "multiply", "7"]) == 2
    assert main(["hebbian", "digits", "--idx-dir", "/nonexistent"]) == 2
    assert "error" in capsys.readouterr().err


def test_digits_from_an_idx_folder(tmp_path, capsys):
    """--idx-dir finds the four standard MNIST names (gzipped or not) and trains on them."""
    import gzip
    import struct

    import numpy as np
    rng = np.random.default_rng(0)

    def write(name, array, gz=False):
        raw = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
        (tmp_path / (name + (".gz" if gz else ""))).write_bytes(gzip.compress(raw) if gz else raw)

    write("train-images-idx3-ubyte", rng.integers(0, 256, (20, 6, 6)).astype(np.uint8), gz=True)
    write("train-labels-idx1-ubyte", (np.arange(20) % 10).astype(np.uint8))
    write("t10k-images-idx3-ubyte", rng.integers(0, 256, (10, 6, 6)).astype(np.uint8))
    write("t10k-labels-idx1-ubyte", (np.arange(10) % 10).astype(np.uint8), gz=True)
    assert main(["hebbian", "digits", "--idx-dir", str(tmp_path), "--seeds", "1", "--epochs", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["dataset"] == "IDX files" and result["inputs"] == 36 * 7


def test_huge_or_bad_numbers_exit_2_with_one_line(capsys):
    for args, flag in ((["digits", "--contacts", "100000000"], "--contacts"),
                       (["digits", "--epochs", "1000000000000"], "--epochs"),
                       (["digits", "--seeds", "10000000"], "--seeds")):
        assert main(["hebbian", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and flag in err, (args, err)
