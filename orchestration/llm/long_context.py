"""The long-context study (issue 16): LoL-PIM over CENT on PIM-only modules and over NeuPIMs on
xPU+PIM modules, at 32K, 128K and 1M tokens, next to LoL-PIM v3's reported ratios.

The cases and the protocol are data (hardware/systems/presets/long_context_study.toml): LoL-PIM
systems choose their own shape (pipelines side by side included); each baseline is simulated at
both ends of its bracket (as published and at its best: hardware/systems/config.py
BASELINE_ENDS), each end at every tensor-parallel width its modules allow as one pipeline, the
best end also with every count of pipelines side by side (so its own automatic shape,
``tensor_parallel = 0`` with data_parallel's default, is among those simulated), and each end is
credited with its fastest, so a ratio never rests on a baseline in a poor shape, and every ratio
is a bracket [vs best, vs published]. The published end keeps one pipeline, the shape its paper
describes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from lolpim.core.errors import ParameterError
from lolpim.core.presets import read_toml
from lolpim.hardware.pim import load_pim_module
from lolpim.hardware.pim.attention import pim_attention_cost
from lolpim.hardware.systems import cent_study
from lolpim.hardware.systems.config import BRACKET_ENDS, SystemKind
from lolpim.hardware.systems.mac_utilisation import mac_utilisation
from lolpim.hardware.systems.plan import pim_module_count
from lolpim.models.llm.architecture import load_llm
from lolpim.orchestration import config
from lolpim.orchestration.llm.compare import run_systems
from lolpim.orchestration.llm import registry
from lolpim.orchestration.llm.config import RunConfig
from lolpim.orchestration.llm.result_types import ActorRoles, SystemResult
from lolpim.orchestration.llm.systems import build, make_trace, pim_system_config

STUDY_FILE = Path(cent_study.SETUP_FILE).parent / "long_context_study.toml"   # beside CENT's setup
# (system, the baseline it is compared with): PIM-only, then xPU+PIM
PAIRS = ((SystemKind.LOLPIM, SystemKind.CENT), (SystemKind.LOLPIM_XPU, SystemKind.NEUPIMS))


@dataclass(frozen=True)
class StudyCase:
    label: str                  # context class: "32K", "128K", "1M"
    model: str
    source: str                 # a dataset of models/llm/datasets.toml, or "fixed"
    pim_capacity_gib: float
    requests: int
    output_tokens: int
    input_tokens: int = 0       # source = "fixed" only

    def overrides(self) -> list[str]:
        out = [f"model={self.model}", f"workload.source={self.source}", f"pim_capacity_gib={self.pim_capacity_gib}",
               f"workload.requests={self.requests}", f"workload.output_tokens={self.output_tokens}"]
        if self.input_tokens:
            out.append(f"workload.input_tokens={self.input_tokens}")
        return out

    @property
    def title(self) -> str:
        return f"{self.label}: {self.model}, {self.source}, {self.pim_capacity_gib:g} GiB PIM"


@dataclass(frozen=True)
class SystemRun:
    system: str
    description: str            # the hardware and shape behind the numbers
    modules: int
    tensor_parallel: int        # modules per stage
    throughput_tokens_per_s: float
    tpot_mean_s: float
    kv_used_utilisation: float
    # PIM-only systems: useful MAC FLOPs / (the banks' peak x modules x makespan); None on xPU+PIM
    # modules, whose FC MACs run on the matrix units, not the banks
    mac_utilisation: float | None
    # attention's channel utilisation on one module of the first stage, one request at the
    # trace's longest context (hardware/pim/attention.py): how much of the banks a 1M-token
    # head keeps busy in this shape
    attention_channel_utilisation: float
    # baselines: (shape, tok/s) of every feasible shape, a shape (tensor_parallel, pipelines)
    tried: tuple = ()
    attention_mapping: str = ""
    end: str = ""               # baselines: "published" or "best" (BASELINE_ENDS)
    # mean share of the run the stages compute; mac_utilisation / module_busy is the MAC
    # utilisation over busy module time (the definition the CENT-at-1M row checks, docs/anchors.md)
    module_busy: float = 0.0
    pipelines: int = 1          # side by side (data parallel), each modules / pipelines

    @property
    def shape(self) -> str:
        """pipelines x stages x modules per stage ("8 x 4" for one pipeline)."""
        one = f"{self.modules // (self.pipelines * self.tensor_parallel)} x {self.tensor_parallel}"
        return one if self.pipelines == 1 else f"{self.pipelines} x {one}"

    @property
    def mac_utilisation_busy(self) -> float | None:
        """Useful MAC FLOPs / (the banks' peak x modules x the time the modules compute)."""
        if self.mac_utilisation is None or self.module_busy <= 0:
            return None
        return self.mac_utilisation / self.module_busy


def end_key(baseline: str, end: str) -> str:
    """The key of a baseline's run at one end in CaseResult.runs: "cent" (published), "cent best"."""
    return baseline if end == "published" else f"{baseline} {end}"


@dataclass(frozen=True)
class CaseResult:
    case: StudyCase
    runs: dict = field(default_factory=dict)    # system (or end_key) -> SystemRun

    def ratio(self, system: str, baseline: str) -> float:
        """``system``'s throughput over ``baseline``'s (a baseline name alone: as published)."""
        return self.runs[system].throughput_tokens_per_s / self.runs[baseline].throughput_tokens_per_s

    def best_run(self, baseline: str) -> SystemRun:
        """The baseline at its best: the faster of its best end and its published end (a best end
        slower than the published one on a case is not credited)."""
        best, published = self.runs[end_key(baseline, "best")], self.runs[baseline]
        return best if best.throughput_tokens_per_s >= published.throughput_tokens_per_s else published

    def bracket(self, system: str, baseline: str) -> tuple[float, float]:
        """``system``'s speedup over ``baseline`` as [vs best, vs published]."""
        tps = self.runs[system].throughput_tokens_per_s
        return tps / self.best_run(baseline).throughput_tokens_per_s, self.ratio(system, baseline)


def load_study() -> tuple[tuple[StudyCase, ...], dict]:
    """The study's cases and the paper's figures, from the data file."""
    data = read_toml(STUDY_FILE, "long-context study")
    return tuple(StudyCase(**c) for c in data["cases"]), dict(data["published"])


def _simulate(case: StudyCase, kind: SystemKind, extra: tuple[str, ...] = ()) -> tuple[SystemResult, RunConfig]:
    cfg = config.load(RunConfig, None, [*case.overrides(), *extra])
    return run_systems(cfg, (kind,), "inline", 0).systems[0], cfg


def _record(case: StudyCase, kind: SystemKind, summary: SystemResult, cfg: RunConfig, tp: int, tried=(),
            end: str = "") -> SystemRun:
    sub = pim_system_config(kind, cfg)
    trace = make_trace(cfg, 0)
    util = None
    if sub.stage_kind == "pim":
        util = mac_utilisation(load_llm(cfg.model), load_pim_module(sub.module), summary.devices,
                               trace.input_tokens, trace.output_tokens, summary.makespan_s)
    return SystemRun(str(kind), summary.description, summary.devices, tp, summary.throughput_tokens_per_s,
                     summary.tpot_mean_s, summary.kv_used_utilisation, util,
                     _attention_utilisation(build(kind, cfg, trace, 0), trace), tuple(tried),
                     summary.attention_mapping or "", end, summary.module_utilisation, _pipelines(summary))


def _pipelines(summary: SystemResult) -> int:
    return int(summary.settings.get("pipelines", 1))


def _width(summary: SystemResult) -> int:
    """Modules per stage of a simulated PIM system."""
    return int(summary.devices // (_pipelines(summary) * summary.stages))


def _attention_utilisation(system, trace) -> float:
    first = ActorRoles.of(system.spec).stages[0]
    stage = next(a.params.cost for a in system.spec.actors if a.name == first).build()
    longest = int((trace.input_tokens + trace.output_tokens).max())
    cost = pim_attention_cost(stage.pim_spec, stage.shard, [longest], stage.partitioning, stage.channel_kv_tokens)
    return cost.detail["channel_utilisation"]


def _best_baseline(case: StudyCase, kind: SystemKind, end: str = "published") -> SystemRun:
    """The baseline at one end of its bracket, at each tensor-parallel width its modules allow as
    one pipeline and, at its best end, also as every count of pipelines side by side that divides
    the modules and has a request to serve (which includes the baseline's automatic shape); the
    fastest is kept."""
    spec = registry.get(kind)
    table = spec.table
    end_keys = tuple(f"{table}.{key}={value}" for key, value in registry.bracketed()[kind][end].items())
    cfg = config.load(RunConfig, None, [*case.overrides(), *end_keys])
    sub = pim_system_config(kind, cfg)
    n = pim_module_count(load_pim_module(sub.module), sub.modules, cfg.pim_capacity_gib)
    best, tried = None, []
    counts = [r for r in range(1, min(n, case.requests) + 1) if n % r == 0] if end == "best" else [1]
    shapes = [(f"{table}.tensor_parallel={tp}", f"{table}.data_parallel={r}")
              for r in counts for tp in range(1, n // r + 1) if (n // r) % tp == 0]
    for keys in shapes:
        try:
            summary, run_cfg = _simulate(case, kind, (*end_keys, *keys))
        except ParameterError:      # too many stages for the layers, no KV room, a request too long
            continue
        shape = (_width(summary), _pipelines(summary))
        tried.append((shape, summary.throughput_tokens_per_s))
        if best is None or summary.throughput_tokens_per_s > best[0].throughput_tokens_per_s:
            best = (summary, run_cfg, shape[0])
    if best is None:
        raise ParameterError(table, f"no tensor-parallel width of {n} modules can serve {case.title}")
    return _record(case, kind, *best, tried=tried, end=end)


def _lolpim(case: StudyCase, kind: SystemKind) -> SystemRun:
    summary, cfg = _simulate(case, kind, (f"{registry.get(kind).table}.tensor_parallel=0",))
    return _record(case, kind, summary, cfg, _width(summary))


@cache
def run_case(case: StudyCase) -> CaseResult:
    """Every system of the study on one case (inline executor; cached per process)."""
    runs = {}
    for system, baseline in PAIRS:
        runs[str(system)] = _lolpim(case, system)
        for end in BRACKET_ENDS:
            runs[end_key(str(baseline), end)] = _best_baseline(case, baseline, end)
    return CaseResult(case, runs)


def run_study(progress=None) -> tuple[list[CaseResult], dict]:
    cases, published = load_study()
    results = []
    for i, case in enumerate(cases):
        results.append(run_case(case))
        if progress:
            progress(i + 1, len(cases), case)
    return results, published
