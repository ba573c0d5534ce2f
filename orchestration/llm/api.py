"""The Python API of the LLM side: ``lolpim.compare``, ``lolpim.size``, ``lolpim.estimate`` and
``lolpim.sweep`` (docs/api.md). The commands `lolpim run`, `size`, `estimate` and `sweep` call
these same functions, so a notebook and the command line check the same keys with the same
errors and get the same numbers.

Every function takes keyword arguments named as the command's config keys or flags; a key that
is not one raises ``ConfigError`` (a ``UserError``) naming it and the keys allowed, as the CLI
does, never a TypeError from deep inside.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from collections.abc import Callable, Mapping

from lolpim.core.errors import ConfigError, UserError
from lolpim.hardware.estimate import Estimate, estimate as estimate_step
from lolpim.hardware.links import ALLREDUCE_ALGORITHMS
from lolpim.hardware.systems.sizing import SizingResult
from lolpim.orchestration import config as cfgmod
from lolpim.orchestration.cli_checks import check_args, check_int_flags
from lolpim.orchestration.dataframe import to_dataframe
from lolpim.orchestration.executors import EXECUTORS
from lolpim.orchestration.llm import registry, sizing, step_estimate
from lolpim.orchestration.llm.compare import Comparison, run_systems
from lolpim.orchestration.llm.config import COMPARE, PIPELINE_DEMO, RunConfig
from lolpim.orchestration.llm.result_types import SystemResult
from lolpim.orchestration.commands.plot import plot_results, plottable, scaling_rows
from lolpim.orchestration.results import json_text, write_csv
from lolpim.orchestration.sweep import (SweepReport, SweepSpec, default_results, format_results, read_results,
                                        run_sweep, sweep_records, sweep_spec)


def checked_keys(fn: Callable) -> Callable:
    """``fn`` refusing an unknown keyword with ConfigError naming it and the allowed keys."""
    params = inspect.signature(fn).parameters
    allowed = [n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]

    @functools.wraps(fn)
    def call(*args, **kwargs):
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise ConfigError(unknown[0], f"unknown key of lolpim.{fn.__name__}; allowed keys: {', '.join(allowed)}")
        return fn(*args, **kwargs)
    return call


def _nest(keys: Mapping[str, Any]) -> dict:
    """Keyword arguments as nested tables: ``workload={'requests': 4}`` and ``**{'workload.requests': 4}``
    both set workload.requests (a dotted key after a table, so it wins)."""
    nested: dict = {}
    for key, value in sorted(keys.items(), key=lambda kv: "." in kv[0]):
        *parents, leaf = key.split(".")
        node = nested
        for i, part in enumerate(parents):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(".".join(parents[:i + 1]), f"is a value, and {key!r} gives it a key")
        node[leaf] = cfgmod.merge(node[leaf], value) if isinstance(node.get(leaf), dict) and isinstance(
            value, Mapping) else value
    return nested


# ------------------------------------------------------------------------------ compare

def run_config(config: str | Path | None = None, keys: Mapping | None = None) -> RunConfig:
    """The RunConfig of TOML file ``config`` (optional) with the nested tables ``keys`` over it
    (`lolpim run`: its --set pairs; ``lolpim.compare``: its keyword arguments)."""
    data = cfgmod.read_toml(config) if config is not None else {}
    return cfgmod.build(RunConfig, cfgmod.merge(data, keys or {}))


def _check_run(executor: str, seed: int, address: str | None, max_processes: int) -> None:
    """The run options, checked as the CLI checks its flags (the messages name the flags)."""
    if executor not in EXECUTORS:
        raise ConfigError("executor", f"got {executor!r}; allowed values: {', '.join(map(repr, EXECUTORS))}")
    check_args(SimpleNamespace(executor=executor, seed=seed, address=address, max_processes=max_processes))


def compare_config(cfg: RunConfig, executor: str = "inline", seed: int = 0, address: str | None = None,
                   max_processes: int = 1, show_progress: bool = False, when_idle=None,
                   timeline=None) -> Comparison:
    """Simulate the system(s) ``cfg`` names (``system``: one kind, or "compare" with ``systems``)."""
    _check_run(executor, seed, address, max_processes)
    if cfg.system == PIPELINE_DEMO:
        raise ConfigError("system", "pipeline-demo is a demo of the actor kernel (`lolpim run --set "
                                    "system=pipeline-demo`); compare runs the LLM systems: "
                                    f"{', '.join(registry.names())} or \"compare\"")
    kinds = cfg.systems if cfg.system == COMPARE else (cfg.system,)
    if not kinds or len(set(kinds)) < len(kinds):
        raise ConfigError("systems", f"got {[str(k) for k in kinds]}; system = \"compare\" needs one or more of "
                                     f"{', '.join(registry.names())}, each once")
    return run_systems(cfg, kinds, executor, seed, address, max_processes, show_progress, when_idle=when_idle,
                       timeline=timeline)


def compare(config: str | Path | None = None, *, executor: str = "inline", seed: int = 0,
            address: str | None = None, max_processes: int = 1, progress: bool = False,
            **keys) -> Comparison:
    """Simulate LoL-PIM and its baselines on one trace, as `lolpim run` does.

    ``keys`` are the config keys of `lolpim run --set`, as tables or dotted:
    ``compare(model="llama2-7b", workload={"requests": 4}, **{"lolpim.kv_mode": "static"})``;
    ``config`` a TOML file they override. ``executor``: "inline" (this process, the default here)
    or "ray"; the numbers are the same."""
    cfg = run_config(config, _nest(keys))
    return compare_config(cfg, executor, seed, address, max_processes, show_progress=progress)


# ------------------------------------------------------------------------------ size

@dataclass(frozen=True)
class Sizing:
    """What ``lolpim.size`` returns: the fewest PIM modules and their doublings, against GPUs."""
    result: SizingResult

    @property
    def rows(self):
        """The PIM rows (hardware/systems/sizing.PimSize), fewest modules first."""
        return self.result.pim

    @property
    def gpu(self):
        return self.result.gpu

    def table(self) -> str:
        return sizing.format_sizing(self.result)

    def to_dict(self) -> dict:
        return sizing.sizing_dict(self.result)

    def to_json(self) -> str:
        """The JSON `lolpim size --json` prints."""
        return json.dumps(self.to_dict(), indent=1)

    def to_dataframe(self):
        """One row per PIM row (modules, shape, requests held, tok/s, speedup over the GPUs)."""
        gpu = self.result.gpu
        rows = []
        for p in self.result.pim:
            row = {k: v for k, v in dataclasses.asdict(p).items() if k not in ("systems", "left_out")}
            row["speedup_over_gpu"] = p.tokens_per_s / gpu.tokens_per_s if gpu.tokens_per_s else None
            row["run_command"] = self.result.run_command(p)
            rows.append(row)
        return to_dataframe(rows)


@checked_keys
def size(model: str, *, context: int | None = None, trace: str | None = None, output_tokens: int | None = None,
         requests: int | None = None, seed: int = 0, module: str = "lolpim-module", gpu: str = "a100-80gb",
         gpus: int = 4, max_modules: int = 1024, doublings: int = 3, simulate: bool = False,
         executor: str = "inline") -> Sizing:
    """The fewest PIM modules that hold ``model`` and its longest request (``context`` prompt tokens,
    or the requests of ``trace``: a dataset name or a trace file), as `lolpim size`."""
    if (context is None) == (trace is None):
        raise ConfigError("context", "give context (prompt tokens per request) or trace (a dataset or trace "
                                     "file), one of them")
    flags = SimpleNamespace(context=context, output_tokens=output_tokens, requests=requests, gpus=gpus,
                            max_modules=max_modules, doublings=doublings)
    check_int_flags(flags, sizing.BOUNDS)
    _check_run(executor, seed, None, 1)
    result = sizing.size(model, context, output_tokens, requests, module, gpu, gpus, max_modules, doublings,
                         trace=trace, seed=seed)
    if simulate:
        result = sizing.simulate(result, executor)
    return Sizing(result)


# ------------------------------------------------------------------------------ estimate

@dataclass(frozen=True)
class StepEstimate:
    """What ``lolpim.estimate`` returns: one decode step (or prefill), part by part."""
    result: Estimate

    @property
    def total_s(self) -> float:
        return self.result.total_s

    def table(self) -> str:
        return step_estimate.format_estimate(self.result)

    def to_dict(self) -> dict:
        return self.result.to_dict()

    def to_json(self) -> str:
        """The JSON `lolpim estimate --json` prints."""
        return json.dumps(self.to_dict(), indent=1)

    def to_dataframe(self):
        """One row per part (QKV, attention, ..., communication), then the total."""
        parts = list(self.result.parts.items()) + [("total", self.result.total)]
        return to_dataframe([{"part": name, "time_s": c.time_s, "bytes": c.bytes_moved, "flops": c.flops,
                              "energy_j": c.energy_j, "bound": c.bound} for name, c in parts])


@checked_keys
def estimate(model: str, *, context: int, system: str = "gpu", device: str = "h200", module: str = "lolpim-module",
             modules: int = 1, hbm_pim: str = "attacc-bg", link: str | None = None, batch: int = 1,
             layers: int | None = None, prefill: bool = False, weight_bits: int = 16,
             partitioning: str = "token-centric", allreduce: str = "nccl-ring") -> StepEstimate:
    """Time, bytes, FLOPs and energy of one decode step (or, ``prefill=True``, one prefill) of
    ``model`` on a system, as `lolpim estimate`."""
    if allreduce not in ALLREDUCE_ALGORITHMS:
        raise ConfigError("allreduce", f"got {allreduce!r}; allowed values: {', '.join(ALLREDUCE_ALGORITHMS)}")
    step_estimate.check(SimpleNamespace(batch=batch, context=context, modules=modules, layers=layers,
                                        weight_bits=weight_bits, device=device, module=module, hbm_pim=hbm_pim,
                                        link=link, partitioning=partitioning))
    return StepEstimate(estimate_step(system, model, batch, context, device=device, module=module, modules=modules,
                                      layers=layers, prefill=prefill, hbm_pim_device=hbm_pim, link=link,
                                      weight_bits=weight_bits, partitioning=partitioning, allreduce=allreduce))


# ------------------------------------------------------------------------------ sweep

@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep as its results file holds it."""
    point: dict                     # its axes
    seed: int
    status: str                     # "ok" or "error"
    result: SystemResult | None     # None for an error
    error: str = ""
    model: str | None = None
    mean_input_tokens: float | None = None


@dataclass(frozen=True)
class Sweep:
    """What ``lolpim.sweep`` returns: the report of this call and the sweep's points so far."""
    spec: SweepSpec
    report: SweepReport
    records: tuple[dict, ...]       # this sweep's records in the results file, in the order of its points

    @property
    def points(self) -> tuple[SweepPoint, ...]:
        out = []
        for r in self.records:
            ok = r.get("status") == "ok"
            out.append(SweepPoint(r.get("point", {}), r.get("seed", 0), r.get("status", "error"),
                                  SystemResult.from_dict(r["result"]) if ok else None, r.get("error", ""),
                                  r.get("model"), (r.get("trace") or {}).get("mean_input_tokens")))
        return tuple(out)

    def table(self) -> str:
        """The table `lolpim sweep` prints when it ends."""
        return format_results(self.spec, list(self.records))

    def to_json(self) -> str:
        """The JSON `lolpim sweep --json` prints (the report of this call)."""
        return json_text(dataclasses.asdict(self.report))

    def to_dataframe(self):
        """One row per point: its axes (axis_<name>), then the system's flat result."""
        return to_dataframe([{**{f"axis_{k}": v for k, v in p.point.items()}, "seed": p.seed, "status": p.status,
                              **(p.result.csv_row() if p.result else {"error": p.error})} for p in self.points])

    def plot(self, out: str | Path) -> list[Path]:
        """The scaling plots of `lolpim plot` and its points.csv, in folder ``out``."""
        records = [r for r in self.records if r.get("status") == "ok" and plottable(r)]
        if not records:
            raise UserError("this sweep has no finished points to plot")
        out = Path(out)
        return [write_csv(out / "points.csv", scaling_rows(records))] + plot_results(records, out)


SWEEP_TABLES = ("grid", "set", "baseline", "points", "seed", "max_points")


@checked_keys
def sweep(path: str | Path | None = None, *, grid: dict | None = None, set: dict | None = None,
          baseline: list | None = None, points: list | None = None, seed: int | None = None,
          max_points: int | None = None, config: str | Path | None = None, results: str | Path | None = None,
          serial: bool = True, address: str | None = None, max_in_flight: int | None = None,
          retry_errors: bool = False, progress=None) -> Sweep:
    """Run a sweep, as `lolpim sweep`: from a sweep file ``path``, or from its tables given here
    (``grid``, ``set``, ``baseline``, ``points``, ``seed``, ``max_points``). ``config``: a base
    RunConfig file; ``results``: the results file (JSON lines; needed without ``path``). Points
    already in the results file are not run again. ``serial`` (the default here) runs the points
    in this process; ``serial=False`` runs them as Ray tasks."""
    tables = {k: v for k, v in dict(grid=grid, set=set, baseline=baseline, points=points, seed=seed,
                                     max_points=max_points).items() if v is not None}
    if path is not None and tables:
        raise ConfigError(next(iter(tables)), "give a sweep file or its tables, not both")
    if path is None and not tables:
        raise ConfigError("grid", "give a sweep file (path) or its tables (grid, points, ...)")
    if path is None and results is None:
        raise ConfigError("results", "needed when the sweep is given as tables: the results file (JSON lines)")
    check_args(SimpleNamespace(serial=serial, address=address, max_in_flight=max_in_flight))
    if path is not None:
        spec = sweep_spec(cfgmod.read_toml(path, "sweep"), path, config)
        results_path = Path(results or spec.results or default_results(path))
    else:
        spec = sweep_spec(tables, "lolpim.sweep", config)
        assert results is not None   # refused above when the sweep is given as tables
        results_path = Path(results)
    report = run_sweep(spec, results_path, address=address, serial=serial, max_in_flight=max_in_flight,
                       retry_errors=retry_errors, progress=progress)
    records = sweep_records(spec, read_results(results_path)) if results_path.exists() else []
    return Sweep(spec, report, tuple(records))


__all__ = ["Comparison", "Sizing", "StepEstimate", "Sweep", "SweepPoint", "SystemResult", "UserError", "compare",
           "estimate", "size", "sweep"]
