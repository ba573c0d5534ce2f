"""deploy/: the cluster-launcher YAMLs validate against the schema inside the installed Ray,
every pinned Ray version is the installed one, the KubeRay job runs a command our CLI
accepts on a sweep file it can load, the Prometheus config is valid, and the Grafana
dashboard queries only metric names the exporter really emits."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import ray
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
LAUNCHER_FILES = ("cluster-local.yaml", "cluster-aws.yaml")
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
                "bool", "offset"}


def test_deploy_folder_has_every_piece():
    for name in LAUNCHER_FILES + ("kuberay-raycluster.yaml", "kuberay-rayjob.yaml", "prometheus.yml",
                                  "grafana-dashboard.json", "Dockerfile", "README.md"):
        assert (DEPLOY / name).is_file(), name


@pytest.mark.parametrize("name", LAUNCHER_FILES)
def test_launcher_yaml_validates_against_rays_schema(name):
    import jsonschema
    from ray.autoscaler._private.util import validate_config
    schema_path = Path(ray.__file__).parent / "autoscaler" / "ray-schema.json"
    config = yaml.safe_load((DEPLOY / name).read_text())
    jsonschema.validate(config, json.loads(schema_path.read_text()))
    validate_config(config)   # Ray's own checks on top of the schema (node types, synced files)


def test_schema_validation_catches_a_broken_launcher_file():
    import jsonschema
    from ray.autoscaler._private.util import validate_config
    config = yaml.safe_load((DEPLOY / "cluster-local.yaml").read_text())
    config["provider"] = {"head_ip": "10.0.0.1"}   # no provider type
    with pytest.raises(jsonschema.ValidationError):
        validate_config(config)


def _pins(text: str) -> list[str]:
    patterns = (r"ray(?:\[[a-z,]+\])?==([0-9][0-9a-z.]*)", r"rayproject/ray:([0-9][0-9a-z.]*?)(?:-py|\s|$)",
                r"rayVersion:\s*\"?([0-9][0-9a-z.]*)", r"RAY_VERSION=([0-9][0-9a-z.]*)", r"-ray([0-9][0-9.]*[0-9])")
    return [m for p in patterns for m in re.findall(p, text)]


def test_every_pinned_ray_version_is_the_installed_one():
    found = {}
    for path in sorted(DEPLOY.iterdir()):
        if path.is_file():
            found[path.name] = _pins(path.read_text())
    for name in ("cluster-local.yaml", "cluster-aws.yaml", "kuberay-raycluster.yaml", "kuberay-rayjob.yaml",
                 "Dockerfile"):
        assert found[name], f"{name} pins no Ray version"
    wrong = {name: pins for name, pins in found.items() if any(p != ray.__version__ for p in pins)}
    assert not wrong, f"installed Ray is {ray.__version__}; deploy files pin {wrong}"


def test_kuberay_manifests_are_well_formed_and_the_job_runs_a_valid_sweep(tmp_path):
    from lolpim.orchestration.cli import build_parser
    from lolpim.orchestration.sweep import load_sweep
    cluster = yaml.safe_load((DEPLOY / "kuberay-raycluster.yaml").read_text())
    assert (cluster["apiVersion"], cluster["kind"]) == ("ray.io/v1", "RayCluster")
    assert cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"]
    docs = {d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "kuberay-rayjob.yaml").read_text())}
    job = docs["RayJob"]
    assert job["apiVersion"] == "ray.io/v1"
    argv = job["spec"]["entrypoint"].split()
    assert argv[:2] == ["lolpim", "sweep"]
    args = build_parser().parse_args(argv[1:])   # raises SystemExit on an unknown flag
    assert args.address == "auto"
    # the sweep file the ConfigMap mounts at /config loads and expands to a real grid
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(docs["ConfigMap"]["data"]["sweep.toml"])
    assert len(load_sweep(sweep).points()) == 2 * 4 * 3
    mounts = {m["mountPath"] for m in job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
              ["containers"][0]["volumeMounts"]}
    assert {"/config", "/results"} <= mounts


def test_prometheus_config_is_valid():
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert "file_sd_configs" in jobs["ray"] and jobs["lolpim"]["static_configs"][0]["targets"]
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian package prometheus) is not installed; structure checked only")
    done = subprocess.run([promtool, "check", "config", str(DEPLOY / "prometheus.yml")], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr


def dashboard_metric_names(dashboard: dict) -> set[str]:
    """Metric names in the dashboard's PromQL: identifiers that are not functions, keywords,
    label names (inside {} or by/on/... lists) or durations."""
    names = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = re.sub(r'"[^"]*"', "", target["expr"])
            expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
            expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
            for ident in re.findall(r"\b[A-Za-z_:][A-Za-z0-9_:]*\b(?!\s*\()", expr):
                if ident not in PROMQL_WORDS and not re.fullmatch(r"\d", ident):
                    names.add(ident)
    return names


def emitted_names(tiny) -> set[str]:
    """Sample names from a real scrape of the exporter after a small LLM run and a small
    plasticity run (what the dashboard can rely on)."""
    from prometheus_client.parser import text_string_to_metric_families

    from lolpim.actors.kernel.inline import InlineExecutor
    from lolpim.orchestration.llm.result_types import ActorRoles
    from lolpim.orchestration.metrics import MetricsExporter
    exporter = MetricsExporter()
    llm = tiny.llm()
    InlineExecutor(on_metrics=exporter.sink(str(llm.kind), ActorRoles.of(llm.spec))).run(llm.spec)
    InlineExecutor(on_metrics=exporter.sink()).run(tiny.plasticity())
    return {s.name for fam in text_string_to_metric_families(exporter.render()) for s in fam.samples}


@pytest.mark.slow
def test_dashboard_uses_only_emitted_metric_names(tiny):
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    used = dashboard_metric_names(dashboard)
    assert "lolpim_tokens_generated_total" in used and "lolpim_window_duration_seconds_bucket" in used
    missing = used - emitted_names(tiny)
    assert not missing, f"the dashboard queries metrics the code never emits: {sorted(missing)}"
