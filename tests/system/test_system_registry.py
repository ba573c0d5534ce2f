"""The registry of system kinds (issue 25 item 3): every built-in kind is one descriptor, a new
kind (registered in-process, or installed as a plugin package through the `lolpim.systems`
entry points) runs beside the built-in ones in `lolpim run` and in sweeps, bad plugins are
refused naming the plugin, and a user's own hardware preset is accepted as file:<path>.toml."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest

from lolpim.core.errors import ConfigError, UserError
from lolpim.hardware.pim import load_pim_module
from lolpim.hardware.pim.attention import AttentionMapping
from lolpim.hardware.pim.cent_dataflow import CentDataflow
from lolpim.hardware.systems.config import (BASELINE_ENDS, GpuSystemConfig, LolpimSystemConfig, StageKind,
                                            SystemKind)
from lolpim.hardware.systems.stage_costs import StageCost, StageSpec
from lolpim.orchestration import config
from lolpim.orchestration.cli import main
from lolpim.orchestration.commands import plot
from lolpim.orchestration.llm import registry
from lolpim.orchestration.llm.compare import run_systems
from lolpim.orchestration.llm.config import RunConfig
from lolpim.orchestration.llm.systems import build_pim

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "examples" / "plugin_system"
SMALL = ["model=llama2-7b", "workload.source=fixed", "workload.requests=4", "workload.input_tokens=512",
         "workload.output_tokens=8"]


@pytest.fixture
def own_registry(monkeypatch):
    """The registry as it is, restored after the test (kinds registered in it are dropped)."""
    monkeypatch.setattr(registry, "_KINDS", dict(registry.kinds()))
    return registry


@dataclass(frozen=True)
class MiniPimConfig(LolpimSystemConfig):
    module: str = field(default="cent-module", metadata={"preset": "pim"})


def _register_mini(name="mini-pim", **kw):
    return registry.system_kind(name, kw.pop("config", MiniPimConfig), label="mini", pim=True, **kw)(build_pim)


# ------------------------------------------------------------------ the built-in kinds

def test_every_built_in_kind_is_one_descriptor():
    kinds = registry.kinds()
    assert set(SystemKind) <= set(kinds)
    assert registry.pim_kinds() == ("lolpim", "cent", "neupims", "lolpim-xpu")
    assert registry.speedup_references() == ("lolpim", "lolpim-xpu")
    assert registry.bracketed() == BASELINE_ENDS
    for kind in kinds.values():
        assert registry.check_spec(kind) == ""
        # what used to be PRESET_KEYS: the fields that name presets, from the config class itself
        assert all(preset in ("pim", "gpu", "hbm_pim") for preset in kind.preset_keys.values())
    assert registry.get("lolpim").preset_keys == {"lolpim.module": "pim"}
    assert registry.get("gpu-pim").preset_keys == {"gpu_pim.device": "gpu", "gpu_pim.hbm_pim": "hbm_pim"}
    # plot names, order and styles (colours as before the registry)
    assert plot.system_name("gpu-pim") == "GPU+PIM" and plot.system_style("cent") == ("--", "s")
    assert plot.system_colours()["lolpim"] == "#1f77b4" and plot.system_name("unknown") == "unknown"
    with pytest.raises(UserError, match="unknown system kind 'tpu'; registered: lolpim, cent, gpu"):
        registry.get("tpu")


# ------------------------------------------------------------------ a kind registered in-process

def test_a_registered_kind_runs_beside_the_built_in_ones(own_registry):
    _register_mini()
    cfg = config.load(RunConfig, None, [*SMALL, "systems=lolpim,mini-pim,cent", "mini_pim.kv_mode=static"])
    assert isinstance(cfg.mini_pim, MiniPimConfig) and cfg.table("mini-pim").kv_mode == "static"
    assert config.to_dict(cfg)["mini_pim"]["module"] == "cent-module"
    rows = {s["system"]: s for s in run_systems(cfg, cfg.systems, "inline", 0).to_dict()["systems"]}
    assert list(rows) == ["lolpim", "mini-pim", "cent"]
    # LoL-PIM's builder on CENT's module, static KV, token-centric: CENT's own best end (the same
    # module, KV and mapping), as the bracket ran it (here slower than CENT's head-first, so not credited)
    best = rows["cent"]["bracket"]["best"]
    assert rows["mini-pim"]["throughput_tokens_per_s"] == pytest.approx(
        best.get("best_not_faster", best)["throughput_tokens_per_s"], rel=1e-12)
    assert rows["mini-pim"]["description"].startswith("8 x cent-module")
    # its table's keys are checked as a built-in table's are
    with pytest.raises(ConfigError, match="mini_pim.module.*unknown PIM module preset 'nope'"):
        config.load(RunConfig, None, [*SMALL, "mini_pim.module=nope"])
    with pytest.raises(ConfigError, match="config key 'mini_pim.kv_mode'.*allowed values: 'dynamic', 'static'"):
        config.load(RunConfig, None, [*SMALL, "mini_pim.kv_mode=statc"])


def test_a_registered_kind_may_carry_a_bracket(own_registry):
    _register_mini(baseline_ends={"published": {"kv_mode": "static"}, "best": {"kv_mode": "dynamic"}})
    cfg = config.load(RunConfig, None, [*SMALL, "systems=lolpim,mini-pim"])
    mini = run_systems(cfg, cfg.systems, "inline", 0).to_dict()["systems"][1]
    assert mini["row_end"] == "best" and set(mini["bracket"]) == {"best", "published"}


@pytest.mark.parametrize("kw, match", [
    ({"name": "lolpim"}, "the name is taken by a built-in kind"),
    ({"name": "My_PIM"}, "lower-case letters and digits"),
    ({"name": "workload"}, "reserved"),
    ({"config": GpuSystemConfig}, "a PIM kind's config needs 'module' and 'modules'"),
    ({"config": dict}, "frozen dataclass"),
    ({"baseline_ends": {"best": {}}}, "exactly the ends"),
    ({"baseline_ends": {"best": {"kv_mode": "static"}, "published": {"kv_mod": "static"}}},
     "sets 'kv_mod', not a field of MiniPimConfig"),
])
def test_an_invalid_or_clashing_kind_is_refused(own_registry, kw, match):
    with pytest.raises(registry.PluginError, match=match):
        _register_mini(**kw)


# ------------------------------------------------------------------ plugins through entry points

def _entry_points(monkeypatch, *points: tuple[str, str]):
    eps = [metadata.EntryPoint(name, value, registry.ENTRY_POINT_GROUP) for name, value in points]
    monkeypatch.setattr(registry.metadata, "entry_points", lambda group: eps if group == registry.ENTRY_POINT_GROUP
                        else [])
    monkeypatch.setattr(registry, "_plugins_loaded", False)


def test_a_plugin_that_fails_to_import_is_named(own_registry, monkeypatch, capsys):
    _entry_points(monkeypatch, ("broken", "lolpim_no_such_plugin_module"))
    assert main(["run", "--executor", "inline", *sum((["--set", s] for s in SMALL), [])]) == 2
    err = capsys.readouterr().err
    assert "plugin 'broken' (lolpim_no_such_plugin_module)" in err and "import failed: ModuleNotFoundError" in err
    assert "Traceback" not in err


def test_a_plugin_reusing_a_built_in_name_is_refused(own_registry, monkeypatch, tmp_path):
    (tmp_path / "lolpim_test_clash.py").write_text(
        "from lolpim.orchestration.llm.registry import system_kind\n"
        "from lolpim.orchestration.llm.systems import build_pim\n"
        "from lolpim.hardware.systems.config import LolpimSystemConfig\n"
        "system_kind('cent', LolpimSystemConfig, label='not CENT', pim=True)(build_pim)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _entry_points(monkeypatch, ("clash", "lolpim_test_clash"))
    with pytest.raises(registry.PluginError, match=r"system kind 'cent' \(plugin 'clash' \(lolpim_test_clash\)\): "
                                                   "the name is taken by a built-in kind"):
        registry.kinds()


def test_a_plugin_registering_nothing_is_refused(own_registry, monkeypatch, tmp_path):
    (tmp_path / "lolpim_test_empty.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _entry_points(monkeypatch, ("empty", "lolpim_test_empty"))
    with pytest.raises(registry.PluginError, match=r"plugin 'empty' \(lolpim_test_empty\): registered no system kind"):
        registry.kinds()


# ------------------------------------------------------------------ file:<path>.toml presets

def _own_module(tmp_path, file="my-module.toml", **changes) -> Path:
    """A copy of the cent-module preset, with ``changes`` (None drops a key)."""
    lines = (ROOT / "hardware/presets/pim/cent-module.toml").read_text().splitlines()
    for key, value in changes.items():
        lines = [line for line in lines if not re.match(rf"{key}\s*=", line)]
        if value is not None:
            lines.append(f"{key} = {json.dumps(value)}")
    path = tmp_path / file
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_file_preset_is_the_same_module_as_the_built_in_one(tmp_path, monkeypatch):
    path = _own_module(tmp_path, name="my-module")
    monkeypatch.chdir(tmp_path)   # a relative path is made absolute once, when the config is built
    own = config.load(RunConfig, None, [*SMALL, "systems=lolpim", "lolpim.module=file:my-module.toml"])
    assert own.lolpim.module == f"file:{path}"
    built_in = config.load(RunConfig, None, [*SMALL, "systems=lolpim", "lolpim.module=cent-module"])
    a, b = (run_systems(c, c.systems, "inline", 0).to_dict()["systems"][0] for c in (own, built_in))
    assert a["throughput_tokens_per_s"] == b["throughput_tokens_per_s"]
    assert a["description"].split(";")[1:] == b["description"].split(";")[1:]


@pytest.mark.parametrize("changes, match", [
    ({"channels": 0},
     r"'lolpim.module': 'channels': got 0; allowed range: >= 1 \(in pim preset file .*my-module.toml\)"),
    ({"chanels": 16}, r"'lolpim.module': 'chanels': unknown key; allowed keys here: .*channels.* "
                      r"\(in pim preset file .*my-module.toml\)"),
    ({"channels": None}, r"'lolpim.module': 'channels': is missing \(in pim preset file .*my-module.toml\)"),
    ({"channels": "16"}, r"'lolpim.module': 'channels': expected an integer, got '16' \(in pim preset file "),
])
def test_a_bad_file_preset_names_the_key_and_the_file(tmp_path, capsys, changes, match):
    path = _own_module(tmp_path, **changes)
    assert main(["run", "--executor", "inline", "--set", f"lolpim.module=file:{path}"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert re.search(match, err), err


@pytest.mark.parametrize("value, match", [
    ("file:/nonexistent/m.toml", r"'gpu.device'.*cannot read '/nonexistent/m.toml': it does not exist"),
    ("file:/etc/hostname", r"'gpu.device'.*a gpu preset file is given as file:<path>.toml"),
])
def test_a_missing_or_misnamed_file_preset_is_refused(capsys, value, match):
    assert main(["run", "--executor", "inline", "--set", f"gpu.device={value}"]) == 2
    assert re.search(match, capsys.readouterr().err)


# ------------------------------------------------------------------ the example plugin, installed

def install_plugin(site: Path) -> Path:
    """Install examples/plugin_system into folder ``site`` as pip would: the module and a
    dist-info whose entry_points.txt is the package's own [project.entry-points] table. (A real
    `pip install` needs the `wheel` package to build it offline: test_pip_installs_the_plugin.)"""
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in points.items())
        for group, points in project["entry-points"].items()))
    for module in tomllib.loads((PLUGIN / "pyproject.toml").read_text())["tool"]["setuptools"]["py-modules"]:
        shutil.copy(PLUGIN / f"{module}.py", site)
    return site


def lolpim(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "lolpim.orchestration.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def _run_json(site: Path, executor: str) -> dict:
    sets = [a for s in [*SMALL, "systems=lolpim,toy-pim,cent,gpu"] for a in ("--set", s)]
    done = lolpim(site, "run", "--executor", executor, "--json", *sets)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for s in result["systems"]:   # the simulator's own wall time differs run to run
        s.pop("wall_s")
        for end in s.get("bracket", {}).values():
            end.pop("wall_s")
    result.pop("executor")
    return result


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    return install_plugin(tmp_path_factory.mktemp("site"))


@pytest.mark.slow
def test_the_plugin_package_adds_a_kind_to_lolpim_run_and_sweeps(plugin_site, tmp_path):
    inline = _run_json(plugin_site, "inline")
    rows = {s["system"]: s for s in inline["systems"]}
    assert list(rows) == ["lolpim", "toy-pim", "cent", "gpu"]
    assert rows["toy-pim"]["description"].startswith("8 x cent-module")
    assert rows["toy-pim"]["speedup"] == pytest.approx(rows["lolpim"]["throughput_tokens_per_s"]
                                                        / rows["toy-pim"]["throughput_tokens_per_s"])
    assert inline["config"]["toy_pim"]["module"] == "cent-module"
    # the plugin's own key is checked as a built-in one
    bad = lolpim(plugin_site, "run", "--executor", "inline", "--set", "toy_pim.kv_mode=statc")
    assert bad.returncode == 2 and "config key 'toy_pim.kv_mode'" in bad.stderr
    # in a sweep (--serial: this process), with its modules axis, and plotted with its label
    (tmp_path / "sweep.toml").write_text(
        '[set]\nmodel = "llama2-7b"\n"workload.requests" = 4\n"workload.output_tokens" = 8\n'
        '[grid]\nsystem = ["lolpim", "toy-pim"]\nmodules = [4, 8]\ncontext = [512]\n')
    done = lolpim(plugin_site, "sweep", str(tmp_path / "sweep.toml"), "--serial", "--results",
                  str(tmp_path / "r.jsonl"), "--json")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    toy = {r["point"]["modules"]: r["result"] for r in records if r["point"]["system"] == "toy-pim"}
    assert sorted(toy) == [4, 8] and toy[8]["devices"] == 8
    assert toy[8]["throughput_tokens_per_s"] == pytest.approx(rows["toy-pim"]["throughput_tokens_per_s"], rel=1e-12)
    done = lolpim(plugin_site, "plot", str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "plots"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "plots" / "throughput_vs_modules.png").is_file()


@pytest.mark.ray
@pytest.mark.slow
def test_the_plugin_runs_on_ray_as_inline(plugin_site, tmp_path):
    inline, ray = _run_json(plugin_site, "inline"), _run_json(plugin_site, "ray")
    assert ray == inline
    # and its sweep points run as Ray tasks, with the numbers of the inline run
    (tmp_path / "sweep.toml").write_text(
        '[set]\nmodel = "llama2-7b"\n"workload.requests" = 4\n"workload.output_tokens" = 8\n'
        '"workload.input_tokens" = 512\n"workload.source" = "fixed"\n[grid]\nsystem = ["toy-pim", "cent"]\n')
    done = lolpim(plugin_site, "sweep", str(tmp_path / "sweep.toml"), "--results", str(tmp_path / "r.jsonl"))
    assert done.returncode == 0, done.stderr
    records = {json.loads(line)["point"]["system"]: json.loads(line)["result"]
               for line in (tmp_path / "r.jsonl").read_text().splitlines()}
    rows = {s["system"]: s for s in inline["systems"]}
    for kind in ("toy-pim", "cent"):
        assert records[kind]["throughput_tokens_per_s"] == rows[kind]["throughput_tokens_per_s"]


def _can_build_wheels() -> bool:
    """pip builds the example offline (no build isolation) with setuptools >= 70.1, or older
    setuptools with the `wheel` package."""
    return any(importlib.util.find_spec(m) is not None for m in ("wheel", "setuptools.command.bdist_wheel"))


@pytest.mark.slow
@pytest.mark.skipif(not _can_build_wheels(), reason="no offline wheel builder (setuptools >= 70.1 or 'wheel')")
def test_pip_installs_the_plugin(tmp_path):
    source = shutil.copytree(PLUGIN, tmp_path / "plugin_system")   # the build writes beside its sources
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                           "--target", str(tmp_path / "site"), str(source)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    ran = lolpim(tmp_path / "site", "run", "--executor", "inline", "--json",
                 *[a for s in [*SMALL, "systems=toy-pim"] for a in ("--set", s)])
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["systems"][0]["system"] == "toy-pim"


def test_size_and_estimate_take_a_file_preset(tmp_path, capsys):
    path = _own_module(tmp_path, name="my-module")
    for command in (["estimate", "--model", "llama2-7b", "--system", "pim", "--context", "1024"],
                    ["size", "--model", "llama2-7b", "--context", "1024"]):
        assert main([*command, "--module", "cent-module", "--json"]) == 0
        built_in = json.loads(capsys.readouterr().out)
        assert main([*command, "--module", f"file:{path}", "--json"]) == 0
        own = json.loads(capsys.readouterr().out)
        assert json.dumps(own).replace(f"file:{path}", "cent-module") == json.dumps(built_in)
        bad = _own_module(tmp_path, "bad.toml", channels=0)
        assert main([*command, "--module", f"file:{bad}"]) == 2
        err = capsys.readouterr().err
        assert "'channels': got 0; allowed range: >= 1 (in pim preset file" in err and str(bad) in err


def test_an_edited_file_preset_is_read_again(tmp_path):
    path = _own_module(tmp_path, channels=16)
    assert load_pim_module(f"file:{path}").channels == 16
    assert load_pim_module(f"file:{path}") is load_pim_module(f"file:{path}")   # one object per version
    _own_module(tmp_path, channels=8)
    os.utime(path, ns=(1, 1))   # a different modification time, however fast the edit
    assert load_pim_module(f"file:{path}").channels == 8


def test_stage_choices_are_enums():
    """A stage's kind, attention mapping and dataflow are enums, from their strings too; a wrong
    one names the allowed values."""
    spec = StageSpec(kind="pim", model="llama2-7b", layers=4, device="cent-module", partitioning="head-first",
                     dataflow="artifact")
    assert (spec.kind, spec.partitioning, spec.dataflow) == (StageKind.PIM, AttentionMapping.HEAD_FIRST,
                                                             CentDataflow.ARTIFACT)
    assert type(spec.kind) is StageKind and type(spec.build().partitioning) is AttentionMapping
    with pytest.raises(ValueError, match="unknown stage kind 'tpu'; allowed: pim, xpu, gpu, gpu-pim"):
        StageCost("tpu", "llama2-7b", 4, "cent-module")
    with pytest.raises(ValueError, match="dataflow 'artifact' applies to PIM stages only, not 'gpu'"):
        StageCost("gpu", "llama2-7b", 4, "a100-80gb", dataflow="artifact")
