"""The CLI and config loader: errors name the key and what is allowed; exit code 2."""
import json
from dataclasses import dataclass, field

import pytest

from lolpim.orchestration import config
from lolpim.orchestration.cli import main
from lolpim.core.errors import ConfigError, UserError


@dataclass(frozen=True)
class Inner:
    rate_hz: float = field(default=1.0, metadata={"min": 0.0, "max": 100.0})
    mode: str = field(default="fast", metadata={"choices": ("fast", "slow")})


@dataclass(frozen=True)
class Outer:
    count: int = field(default=3, metadata={"min": 1})
    inner: Inner = field(default_factory=Inner)


def test_toml_and_overrides_are_typed_and_merged(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("count = 5\n[inner]\nrate_hz = 2\n")
    cfg = config.load(Outer, path, ["inner.mode=slow"])
    assert cfg == Outer(count=5, inner=Inner(rate_hz=2.0, mode="slow"))


@pytest.mark.parametrize("overrides, message", [
    (["colour=red"], "config key 'colour': unknown key; allowed keys here: count, inner"),
    (["inner.speed=3"], "config key 'inner.speed': unknown key; allowed keys here: mode, rate_hz"),
    (["count=three"], "config key 'count': expected an integer, got 'three'"),
    (["count=0"], "config key 'count': got 0; allowed range: >= 1"),
    (["inner.rate_hz=500"], "config key 'inner.rate_hz': got 500.0; allowed range: 0.0 .. 100.0"),
    (["inner.mode=medium"], "config key 'inner.mode': got 'medium'; allowed values: 'fast', 'slow'"),
])
def test_bad_overrides_name_the_key_and_what_is_allowed(overrides, message):
    with pytest.raises(ConfigError) as err:
        config.load(Outer, None, overrides)
    assert str(err.value) == message


def test_wrong_type_in_toml_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('count = "many"\n')
    with pytest.raises(ConfigError, match="config key 'count': expected an integer, got 'many'"):
        config.load(Outer, path)


def test_missing_config_file_and_bad_toml(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        config.load(Outer, tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("count = = 1")
    with pytest.raises(UserError, match="is not valid TOML"):
        config.load(Outer, bad)


def test_cli_exit_code_2_and_message_for_a_bad_key(capsys):
    assert main(["run", "--executor", "inline", "--set", "pipeline.stagez=4"]) == 2
    err = capsys.readouterr().err
    assert "lolpim: error: config key 'pipeline.stagez': unknown key; allowed keys here:" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("setting", ["pim_capacity_gib=nan", "pipeline.jitter=nan", "pipeline.service_skew=nan",
                                     "gpu.activation_reserve_fraction=nan", "workload.arrival_rate_per_s=inf",
                                     "pim_capacity_gib=inf"])
def test_cli_non_finite_values_are_refused_naming_the_key(capsys, setting):
    """Issue 14: NaN passed every range check (comparisons with NaN are false) and inf passed
    lower bounds; both must exit 2 naming the key before anything runs."""
    assert main(["run", "--executor", "inline", "--set", setting]) == 2
    err = capsys.readouterr().err
    key = setting.split("=")[0]
    assert f"config key '{key}': got" in err and "must be a finite number" in err
    assert "Traceback" not in err


def test_cli_out_of_range_value(capsys):
    assert main(["run", "--executor", "inline", "--set", "pipeline.link_latency_s=-1"]) == 2
    assert "config key 'pipeline.link_latency_s': got -1.0; allowed range: 1e-12 .. 1.0" in capsys.readouterr().err


def test_cli_version_and_help(capsys):
    assert main(["version", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["lolpim"] and info["ray"]
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "run" in capsys.readouterr().out


def test_cli_pipeline_demo_json_and_out_files(capsys, tmp_path):
    rc = main(["run", "--executor", "inline", "--set", "system=pipeline-demo", "--set", "pipeline.stages=4",
               "--set", "pipeline.rounds=10", "--json", "--out", str(tmp_path)])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["simulated"]["makespan_s"] == pytest.approx(summary["analytic"]["makespan_s"], rel=1e-9)
    assert (tmp_path / "result.json").is_file() and (tmp_path / "stages.csv").is_file()


def test_validate_json_lists_every_row_with_its_status(capsys):
    assert main(["validate", "--area", "hardware_pim", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all({"name", "source", "expected", "simulated", "passed", "known_miss", "kind", "status"}
                        <= set(r) for r in rows)
    assert all(r["passed"] for r in rows) and all(r["kind"] == "consistency" for r in rows)


def _help(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_plasticity_stdp_help_is_its_own(capsys):
    text = _help(capsys, ["plasticity", "stdp"])
    assert "--pairs" in text and "default 60" in text and "--frequency" in text
    assert "--neurons" not in text and "--executor" not in text and "--seed" not in text


def test_plasticity_ocular_dominance_help_lists_its_options_and_defaults(capsys):
    from lolpim.models.plasticity.ocular_dominance import OcularDominanceConfig
    text = _help(capsys, ["plasticity", "ocular-dominance"])
    for flag in ("--neurons", "--synapses", "--executor", "--processes", "--variant", "--seed", "--out"):
        assert flag in text
    assert "--pairs" not in text and "--no-boost" not in text
    assert f"(default {OcularDominanceConfig().neurons:g};" in text      # filled from the config


def test_plasticity_help_lists_every_protocol(capsys):
    from lolpim.orchestration.commands.plasticity import PROTOCOLS
    text = _help(capsys, ["plasticity"])
    assert all(p in text for p in PROTOCOLS)
    assert "--pairs" in _help(capsys, ["plasticity", "pairing"])
    assert "--pairs" not in _help(capsys, ["plasticity", "frequency"])


def test_plasticity_existing_command_lines_still_parse(tmp_path):
    from lolpim.orchestration.cli import build_parser
    parser = build_parser()
    a = parser.parse_args(["plasticity", "stdp", "--model", "cascade", "--pairs", "60"])
    assert (a.protocol, a.model, a.pairs, a.frequency, a.no_boost) == ("stdp", "cascade", 60, 1.0, False)
    a = parser.parse_args(["plasticity", "ocular-dominance", "--neurons", "4", "--synapses", "50", "--executor", "ray",
                           "--processes", "2", "--json", "--out", str(tmp_path)])
    assert (a.protocol, a.neurons, a.synapses, a.executor, a.processes, a.json, a.out, a.seed) == \
        ("ocular-dominance", 4, 50, "ray", 2, True, str(tmp_path), 0)


@pytest.mark.parametrize("argv, flag", [
    (["stdp", "--seed", "1"], "--seed"),
    (["frequency", "--pairs", "5"], "--pairs"),
    (["ocular-dominance", "--pairs", "5"], "--pairs"),
    (["ocular-dominance", "--no-boost"], "--no-boost"),
    (["pairing", "--neurons", "3"], "--neurons"),
])
def test_plasticity_flag_of_another_protocol_exits_2_naming_it(argv, flag, capsys):
    assert main(["plasticity", *argv]) == 2
    err = capsys.readouterr().err
    assert flag in err and "only" in err and "Traceback" not in err


def test_plasticity_stdp_runs_with_its_options(capsys):
    assert main(["plasticity", "stdp", "--model", "cascade", "--pairs", "60", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["protocol"] == "stdp" and result["rows"]


def test_validate_unknown_area_exits_2_listing_the_areas(capsys):
    from lolpim.orchestration.anchors import AREAS
    assert main(["validate", "--area", "foo"]) == 2
    err = capsys.readouterr().err
    assert "'foo'" in err and all(area in err for area in AREAS) and len(err.strip().splitlines()) == 1


def test_validate_help_lists_the_areas(capsys):
    from lolpim.orchestration.anchors import AREAS
    text = " ".join(_help(capsys, ["validate"]).split())
    assert all(area in text for area in AREAS) and "--area hardware" in text


def test_every_anchor_module_has_an_area_and_every_area_selects_modules():
    from lolpim.orchestration import validation
    from lolpim.orchestration.anchors import AREAS
    listed = [m for modules in AREAS.values() for m in modules]
    assert sorted(listed) == validation.anchor_modules()           # a new module must be given an area
    for area, modules in AREAS.items():
        assert validation.select_modules([area]) == sorted(modules)
        assert validation.select_modules([area.upper()]) == sorted(modules)
    assert validation.select_modules(["hardware_pim"]) == ["hardware_pim"]   # one module still works


@pytest.mark.parametrize("area", ["hardware", "cbp", "hebbian"])   # the fast areas; lolpim and plasticity take minutes
def test_validate_area_shown_in_the_table_selects_its_rows(area, capsys):
    assert main(["validate", "--area", area, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and {r["area"] for r in rows} == {area}


def test_a_check_whose_area_is_not_its_modules_is_an_error(monkeypatch):
    import types

    from lolpim.orchestration import validation
    fake = types.SimpleNamespace(
        checks=lambda: [validation.AnchorCheck("elsewhere", "x", "s", 1.0, 1.0, 0.1, kind="consistency")])
    monkeypatch.setattr(validation.importlib, "import_module", lambda name: fake)
    with pytest.raises(ValueError, match="elsewhere"):
        validation.all_checks({"cbp"})


def _synthetic_checks():
    from lolpim.orchestration.validation import AnchorCheck
    long = "a very long check name " * 9
    return [AnchorCheck("plasticity", long, "a long source, " * 10, 16.8, 17.3, 0.25, unit=" ms"),
            AnchorCheck("hardware", "short", "measured here: hardware/gpu/data/h200.json", 4653.0, 4576.0, 0.1,
                        unit=" GB/s"),
            AnchorCheck("lolpim", "bounded " + "x" * 150, "src", 1.0, 1.9e9, 0.5, "bound", unit=" tok/s"),
            AnchorCheck("lolpim", "at most", "src", 1.0, 5.0, 0.1, "at_most",
                        note="known miss: " + "because of a documented cause, " * 8, documented_as_miss=True)]


def test_validate_table_lines_fit_120_columns(monkeypatch):
    from lolpim.orchestration import validation
    from lolpim.orchestration.validation import DocumentedMiss, format_table
    checks = _synthetic_checks()
    monkeypatch.setattr(validation, "documented_misses", lambda: {"at most": DocumentedMiss(5.0, (4.5, 5.5))})
    text = format_table(checks)
    assert max(len(line) for line in text.splitlines()) <= 120
    assert "a very long check name" in text and "..." in text      # wrapped, then cut
    assert "[1] a long source" in text                               # sources listed in full below
    assert "MISS* at most: known miss" in text and "FAIL" in text and "PASS" in text


def test_validate_out_writes_every_row_in_full(tmp_path, capsys):
    assert main(["validate", "--area", "hardware_pim", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "validation.json").read_text())
    assert rows and (tmp_path / "validation.csv").read_text().count("\n") == len(rows) + 1
    assert "wrote" in capsys.readouterr().out


def test_validate_progress_goes_to_stderr(capsys):
    assert main(["validate", "--area", "hardware", "--progress", "--json"]) == 0
    out, err = capsys.readouterr()
    json.loads(out)
    assert "hardware_gpu" in err and "hardware_pim" in err and "2 modules" in err


# --- the LLM systems' choices are enums (hardware/systems/config.py) ------------------------------

def test_system_choices_parse_into_enums_and_stay_their_strings():
    from lolpim.hardware.systems.config import CentDataflow, KvMode, Partitioning, SystemKind
    from lolpim.orchestration.llm.config import RunConfig
    cfg = config.load(RunConfig, None, ["lolpim.kv_mode=static", "cent.dataflow=artifact", "systems=cent,gpu",
                                        "lolpim.partitioning=head-first"])
    assert cfg.lolpim.kv_mode is KvMode.STATIC and cfg.cent.dataflow is CentDataflow.ARTIFACT
    assert cfg.lolpim.partitioning is Partitioning.HEAD_FIRST and cfg.systems == (SystemKind.CENT, SystemKind.GPU)
    # the strings files and the CLI use are unchanged
    assert json.dumps(config.to_dict(cfg)["lolpim"]["kv_mode"]) == '"static"' and f"{cfg.cent.dataflow}" == "artifact"


@pytest.mark.parametrize("override, message", [
    ("lolpim.kv_mode=statc", "config key 'lolpim.kv_mode': got 'statc'; allowed values: 'dynamic', 'static'"),
    ("cent.kv_mode=Static", "config key 'cent.kv_mode': got 'Static'; allowed values: 'dynamic', 'static'"),
    ("lolpim.parallelism=data", "config key 'lolpim.parallelism': got 'data'; allowed values: 'pipeline', 'tensor'"),
    ("prefill=after", "config key 'prefill': got 'after'; allowed values: 'before', 'inline', 'attached-gpu'"),
])
def test_a_mistyped_choice_is_refused_never_a_default(override, message):
    from lolpim.orchestration.llm.config import RunConfig
    with pytest.raises(ConfigError) as err:
        config.load(RunConfig, None, [override])
    assert str(err.value) == message


def test_system_configs_built_in_python_check_their_choices_too():
    from lolpim.hardware.systems.config import KvMode, LolpimSystemConfig
    assert LolpimSystemConfig(kv_mode="static").kv_mode is KvMode.STATIC
    with pytest.raises(ConfigError, match="'kv_mode': got 'statc'; allowed values: 'dynamic', 'static'"):
        LolpimSystemConfig(kv_mode="statc")


def test_lolpim_and_cent_share_one_pim_base():
    from dataclasses import fields

    from lolpim.hardware.systems.config import CentSystemConfig, LolpimSystemConfig, PimSystemConfig
    base = {f.name for f in fields(PimSystemConfig)}
    assert base <= {f.name for f in fields(LolpimSystemConfig)} and base <= {f.name for f in fields(CentSystemConfig)}
    assert {"chunk_bytes", "weight_bits"} <= base


def test_every_system_kind_has_its_config_table():
    from lolpim.hardware.systems.config import SystemKind
    from lolpim.orchestration.llm import registry
    from lolpim.orchestration.llm.config import RunConfig
    assert set(SystemKind) <= set(registry.names())   # every built-in name is a registered kind
    cfg = RunConfig()
    for kind in registry.kinds().values():   # each kind's table is a RunConfig key holding its config
        assert isinstance(getattr(cfg, kind.table), kind.config) and cfg.table(kind.name) is getattr(cfg, kind.table)
        assert kind.table in config.to_dict(cfg)


def test_old_pim_capacity_key_is_accepted_with_a_notice(capsys):
    """Issue 21: one unit for memory, GiB; `pim_capacity_gb` (always GiB) is now `pim_capacity_gib`,
    and the old key still works with a one-line notice; both at once is refused naming the key."""
    from lolpim.orchestration import config as cfgmod
    from lolpim.orchestration.llm.config import RunConfig
    cfgmod._noticed.clear()
    cfg = cfgmod.load(RunConfig, None, ["pim_capacity_gb=64"])
    assert cfg.pim_capacity_gib == 64.0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'pim_capacity_gb' is now 'pim_capacity_gib'" in err
    assert main(["run", "--set", "pim_capacity_gb=64", "--set", "pim_capacity_gib=64"]) == 2
    assert "pim_capacity_gb" in capsys.readouterr().err
