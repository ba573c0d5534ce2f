"""`lolpim cbp`: JSON on stdout, CSV/JSON/PNG/packed weights under --out, errors exit 2."""
import json

import numpy as np
import pytest

from lolpim.models.cbp.export import load_packed
from lolpim.models.cbp.levels import level_set
from lolpim.orchestration.cli import main

TINY = ["--epochs", "4", "--pretrain-epochs", "3", "--hidden", "12", "12", "--p-max", "2", "--quiet"]


@pytest.mark.slow
def test_json_and_out_files(tmp_path, capsys):
    assert main(["cbp", "--constraint", "ternary", "--json", "--pim", "--out", str(tmp_path), *TINY]) == 0
    report = json.loads(capsys.readouterr().out)
    (run,) = report["runs"]
    (pim_row,) = report["pim"]["ternary/cbp/seed0"]
    # a 12x12 layer fills one column per bank at any precision, so only "no more" holds here
    assert pim_row["weight_bits"] == 2 and pim_row["bank_bytes"] <= pim_row["bank_bytes_bf16"]
    assert run["constraint"] == "ternary" and run["weight_bits"] == 2 and 0 <= run["test_acc"] <= 1
    assert len(report["summary"]) == 1
    for name in ("runs.csv", "summary.csv", "results.json", "curves.png"):
        assert (tmp_path / name).stat().st_size > 0
    (layer,) = load_packed(tmp_path / "weights_ternary_cbp_seed0.npz")
    assert layer.shape == (12, 12)
    assert set(np.unique(layer.weights() / layer.scale)) <= set(level_set("ternary").levels)


def test_ablation_runs_three_variants(capsys):
    assert main(["cbp", "--constraint", "binary", "--ablation", *TINY]) == 0
    out = capsys.readouterr().out
    for variant in ("cbp", "round_finetune", "no_window"):
        assert variant in out


def test_bad_flags_exit_2(capsys):
    assert main(["cbp", "--epochs", "0", "--quiet"]) == 2
    assert main(["cbp", "--hidden", "16", "--quiet"]) == 2   # needs >= 2 hidden layers
    assert "error" in capsys.readouterr().err


def test_too_large_or_impossible_flags_exit_2_with_one_line(capsys):
    """issue 14: --hidden 100000 100000 died in numpy allocating 75 GiB; now refused up front."""
    for flags, flag in ((["--hidden", "100000", "100000"], "--hidden"), (["--hidden", "0", "5"], "--hidden"),
                        (["--epochs", "0"], "--epochs"), (["--p-max", "-3"], "--p-max"),
                        (["--seeds", "100000000"], "--seeds"),
                        (["--pretrain-epochs", "10000000000"], "--pretrain-epochs")):
        assert main(["cbp", "--quiet", *flags]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and flag in err, (flags, err)
    main(["cbp", "--quiet", "--hidden", "100000", "100000"])
    assert "GiB" in capsys.readouterr().err
