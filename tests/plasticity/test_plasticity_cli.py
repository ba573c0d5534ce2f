"""`lolpim plasticity` writes CSV/JSON/PNG and prints JSON; bad combinations exit with code 2."""
import json

from lolpim.orchestration.cli import main


def test_graupner_brunel_stdp_json_and_files(tmp_path, capsys):
    assert main(["plasticity", "stdp", "--model", "graupner-brunel", "--pairs", "30", "--json",
                 "--out", str(tmp_path)]) == 0
    result = json.loads(capsys.readouterr().out)
    dw = {round(r[0], 1): r[1] for r in result["rows"]}
    assert dw[-24.0] < 0 < dw[5.5]
    for ext in ("csv", "json", "png"):
        assert (tmp_path / f"plasticity_stdp.{ext}").stat().st_size > 0


def test_frequency_reports_all_ten_sjostrom_points(capsys):
    assert main(["plasticity", "frequency", "--model", "graupner-brunel", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["comparison"]) == 10
    assert {c["delta_t"] for c in result["comparison"]} == {"+10ms", "-10ms"}


def test_pairing_needs_the_cascade_model(capsys):
    assert main(["plasticity", "pairing", "--model", "graupner-brunel"]) == 2
    assert "cascade" in capsys.readouterr().err


def test_unknown_parameter_set_is_a_user_error(capsys):
    assert main(["plasticity", "stdp", "--params", "cerebellar"]) == 2
    assert "cerebellar" in capsys.readouterr().err
