"""Parameter sweeps: a grid of `lolpim run` points, run as Ray tasks, appended to a results
file (JSON lines) as each one finishes.

The sweep file (TOML):

    seed = 0                    # optional; a "seed" axis in [grid] overrides it
    config = "base.toml"        # optional RunConfig file, relative to this file
    results = "sweep.jsonl"     # optional; relative to this file; --results overrides

    [set]                       # RunConfig keys applied to every point (as `--set`)
    "workload.requests" = 8

    [grid]                      # axes; the study is their cartesian product, in file order
    system = ["lolpim", "cent"]
    modules = [2, 4, 8]
    context = [4096, 16384]

Axis shorthands (any other axis is a dotted RunConfig key):
    system   system              model    model
    trace    workload.source     context  workload.input_tokens
    modules  <system>.modules (PIM systems) or <system>.count (GPU systems)
    batch    <system>.max_microbatch_requests (PIM) or <system>.max_batch_requests (GPU)
    seed     the point's random seed

Each point runs one system with the inline executor inside its Ray task (points are the
unit of parallelism; a point's actors are cheap next to a Ray process each). A point is
named by a hash of what determines its numbers (its axes, the [set] table, the base
config, the seed), so a rerun recognises finished points and skips them: interrupting a
sweep loses at most the points in flight and never duplicates one.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import math
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import config as cfgmod
from .errors import UserError
from .llm_config import RunConfig

SYSTEM_TABLE = {"lolpim": "lolpim", "cent": "cent", "gpu": "gpu", "gpu-pim": "gpu_pim"}
PIM_SYSTEMS = ("lolpim", "cent")
SHORTHANDS = ("system", "model", "trace", "context", "modules", "batch", "seed")


@dataclass(frozen=True)
class SweepSpec:
    grid: dict[str, list]                       # axis -> values, in file order
    base: dict[str, Any] = field(default_factory=dict)   # dotted RunConfig key -> value
    seed: int = 0
    config: dict = field(default_factory=dict)  # the base RunConfig file's tables
    results: Path | None = None

    def points(self) -> list[dict]:
        axes = list(self.grid)
        return [dict(zip(axes, combo)) for combo in itertools.product(*(self.grid[a] for a in axes))]

    def point_id(self, point: dict) -> str:
        key = json.dumps({"point": point, "set": self.base, "config": self.config,
                          "seed": point.get("seed", self.seed)}, sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def load_sweep(path: str | Path) -> SweepSpec:
    path = Path(path)
    data = cfgmod.read_toml(path)
    unknown = sorted(set(data) - {"seed", "config", "results", "set", "grid"})
    if unknown:
        raise UserError(f"{path}: unknown key '{unknown[0]}'; allowed: seed, config, results, [set], [grid]")
    grid = data.get("grid")
    if not isinstance(grid, dict) or not grid:
        raise UserError(f"{path}: needs a [grid] table with at least one axis, e.g. modules = [2, 4, 8]")
    for axis, values in grid.items():
        if not isinstance(values, list) or not values:
            raise UserError(f"{path}: grid axis '{axis}' must be a non-empty list")
        if len(set(map(json.dumps, values))) != len(values):
            raise UserError(f"{path}: grid axis '{axis}' repeats a value")
    base = data.get("set", {})
    if not isinstance(base, dict):
        raise UserError(f"{path}: [set] must be a table of RunConfig keys")
    base = _flatten(base)
    config = cfgmod.read_toml(path.parent / data["config"]) if "config" in data else {}
    results = path.parent / data["results"] if "results" in data else None
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise UserError(f"{path}: seed must be an integer >= 0")
    spec = SweepSpec(grid=grid, base=base, seed=seed, config=config, results=results)
    for point in spec.points():   # fail on a bad point now, not an hour into the sweep
        point_config(spec, point)
    return spec


def _flatten(table: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def _nest(flat: dict) -> dict:
    nested: dict = {}
    for key, value in flat.items():
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def point_overrides(spec: SweepSpec, point: dict) -> dict:
    """The dotted RunConfig keys a point sets (shorthands resolved for its system)."""
    flat = dict(spec.base)
    system = point.get("system", flat.get("system", spec.config.get("system", "compare")))
    if system not in SYSTEM_TABLE:
        raise UserError(f"a sweep point runs one system; got system = {system!r} "
                        f"(use a 'system' axis or [set] system = one of {', '.join(SYSTEM_TABLE)})")
    table = SYSTEM_TABLE[system]
    pim = system in PIM_SYSTEMS
    for axis, value in point.items():
        if axis == "seed":
            continue
        key = {"trace": "workload.source", "context": "workload.input_tokens",
               "modules": f"{table}.modules" if pim else f"{table}.count",
               "batch": f"{table}.max_microbatch_requests" if pim else f"{table}.max_batch_requests",
               }.get(axis, axis)
        flat[key] = value
    if "context" in point and "trace" not in point:
        flat.setdefault("workload.source", "fixed")
    flat["system"] = system
    return flat


def point_config(spec: SweepSpec, point: dict) -> RunConfig:
    return cfgmod.build(RunConfig, cfgmod.merge(spec.config, _nest(point_overrides(spec, point))))


def run_point(spec: SweepSpec, point: dict) -> dict:
    """Simulate one point (inline executor, this process) and return its results record."""
    from .compare import run_systems
    wall0 = time.perf_counter()
    record = {"id": spec.point_id(point), "point": point, "seed": point.get("seed", spec.seed)}
    try:
        cfg = point_config(spec, point)
        out = run_systems(cfg, (cfg.system,), "inline", record["seed"])
        summary = dict(out["systems"][0])
        summary.pop("speedup", None)   # relative to a LoL-PIM run of the same call: not meaningful here
        record.update(status="ok", result=summary,
                      trace={k: out[k] for k in ("trace", "requests", "mean_input_tokens", "mean_output_tokens")})
    except Exception as exc:   # recorded, so a point that cannot run is not retried forever
        record.update(status="error", error=f"{type(exc).__name__}: {exc}")
    record.update(wall_s=time.perf_counter() - wall0, host=socket.gethostname())
    return _finite(record)


def _finite(obj):
    """JSON has no NaN/Infinity: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


# ------------------------------------------------------------------------ the results file

class ResultsFile:
    """JSON lines, one finished point each, appended with one write + fsync per point.

    A crash can at worst leave a torn last line; opening the file cuts it off (that point
    simply runs again). An exclusive lock keeps two sweeps from writing one file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fh = None

    def __enter__(self):
        self._lock_fh = open(self.path.with_name(self.path.name + ".lock"), "w")
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_fh.close()
            raise UserError(f"another sweep is writing {self.path}") from None
        self._repair()
        return self

    def __exit__(self, *exc):
        fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
        self._lock_fh.close()

    def _repair(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            with open(self.path, "r+b") as fh:
                fh.truncate(keep)
                fh.flush()
                os.fsync(fh.fileno())

    def records(self) -> list[dict]:
        return read_results(self.path) if self.path.exists() else []

    def append(self, record: dict) -> None:
        line = (json.dumps(record, allow_nan=False, sort_keys=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)


def read_results(path: str | Path) -> list[dict]:
    """Every complete record of a results file, first occurrence of each id."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"results file '{path}' does not exist")
    seen, out = set(), []
    with path.open() as fh:
        for line in fh:
            if not line.endswith("\n"):
                break   # a torn last line: the point was not finished
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("id") not in seen:
                seen.add(rec.get("id"))
                out.append(rec)
    return out


# ------------------------------------------------------------------------------ the driver

@dataclass
class SweepReport:
    results: str
    points: int
    skipped: int = 0
    ran: int = 0
    errors: int = 0
    interrupted: bool = False
    wall_s: float = 0.0


def run_sweep(spec: SweepSpec, results_path: str | Path, address: str | None = None, serial: bool = False,
              max_in_flight: int | None = None, retry_errors: bool = False, progress=None) -> SweepReport:
    """Run every point not yet in the results file. ``progress(done, total)`` after each."""
    wall0 = time.perf_counter()
    points = spec.points()
    report = SweepReport(str(results_path), len(points))
    with ResultsFile(results_path) as out:
        done = {r["id"] for r in out.records() if r.get("status") == "ok" or not retry_errors}
        todo = [p for p in points if spec.point_id(p) not in done]
        report.skipped = len(points) - len(todo)

        def finished(record: dict) -> None:
            out.append(record)
            report.ran += 1
            report.errors += record["status"] != "ok"
            if progress is not None:
                progress(report.skipped + report.ran, len(points))

        if progress is not None:
            progress(report.skipped, len(points))
        try:
            if serial:
                for point in todo:
                    finished(run_point(spec, point))
            else:
                _run_on_ray(spec, todo, address, max_in_flight, finished)
        except KeyboardInterrupt:
            report.interrupted = True
    report.wall_s = time.perf_counter() - wall0
    return report


def _run_on_ray(spec: SweepSpec, todo: list[dict], address, max_in_flight, finished) -> None:
    import ray

    from lolpim.actors.ray_executor import ensure_ray
    if not todo:
        return
    ensure_ray(address)
    limit = max_in_flight or max(1, 2 * int(ray.cluster_resources().get("CPU", 1)))
    task = ray.remote(num_cpus=1, max_retries=2)(run_point)
    spec_ref = ray.put(spec)
    pending = iter(todo)
    in_flight: list = []
    try:
        while True:
            # keep a bounded number queued: a 10k-point grid need not sit in Ray's queue
            for point in itertools.islice(pending, max(0, limit - len(in_flight))):
                in_flight.append(task.remote(spec_ref, point))
            if not in_flight:
                return
            ready, in_flight = ray.wait(in_flight, num_returns=1)
            finished(ray.get(ready[0]))
    finally:
        for ref in in_flight:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
