"""Parameter sweeps: a grid of `lolpim run` points, run as Ray tasks, appended to a results
file (JSON lines) as each one finishes.

The sweep file (TOML):

    seed = 0                    # optional; a "seed" axis overrides it
    config = "base.toml"        # optional RunConfig file, in this file's folder (--config: anywhere)
    results = "study.jsonl"     # optional; under ./results/; --results (anywhere) overrides;
                                # default: results/<sweep file name>.jsonl

    [set]                       # RunConfig keys applied to every point (as `--set`)
    "workload.requests" = 8

    [grid]                      # axes; their cartesian product, in file order
    system = ["lolpim", "cent"]
    modules = [2, 4, 8]
    context = [4096, 16384]

    [[baseline]]                # a fixed system, run once per combination of the grid's
    system = "gpu"              # workload axes (context, trace, model, seed, workload.*, ...),
    gpus = 4                    # not per module count: "4 A100s against 2/4/8 modules"

    [[points]]                  # explicit points besides the grid; a list value expands
    system = "lolpim"           # (a small grid of its own)
    modules = 16
    context = [4096, 16384]

Axis shorthands (any other axis is a dotted RunConfig key):
    system   system              model    model
    trace    workload.source     context  workload.input_tokens
    modules  <system>.modules    PIM systems (lolpim, cent) only: it never sets a GPU count
    gpus     <system>.count      GPU systems (gpu, gpu-pim) only
    batch    <system>.max_microbatch_requests (PIM) or <system>.max_batch_requests (GPU)
    seed     the point's random seed

Each point runs one system with the inline executor inside its Ray task (points are the
unit of parallelism; a point's actors are cheap next to a Ray process each). A point is
named by a hash of what determines its numbers (its axes, the [set] table, the base
config, the seed), so a rerun recognises finished points and skips them: interrupting a
sweep loses at most the points in flight and never duplicates one.

Every axis value is checked when the file is loaded (each point is built into a RunConfig, and
a seed must be an integer >= 0), so a bad value fails at once naming its axis. The file's own
'config' and 'results' may not lead outside their folders (through '..', an absolute path or a
symbolic link); a path elsewhere is given on the command line. The results file and its lock
are never opened through a symbolic link, so a planted link cannot make a sweep overwrite
another file; a line of the results file that is not a record is moved to <results>.corrupt.
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
import stat
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lolpim.orchestration import config as cfgmod
from lolpim.core.errors import UserError
from lolpim.core.presets import read_file_bytes, read_toml
from lolpim.orchestration.llm import registry
from lolpim.orchestration.llm.config import RunConfig
from lolpim.models.llm.architecture import load_llm
from lolpim.orchestration.progress import Progress
from lolpim.orchestration.results import json_safe
from lolpim.actors.kernel.ray_executor import LIVENESS_CHECK_S, check_ray_alive
from lolpim.orchestration.executors import ensure_ray_cluster
from lolpim.orchestration.llm.compare import run_systems

SHORTHANDS = ("system", "model", "trace", "context", "modules", "gpus", "batch", "seed")
# axes that describe a system's hardware rather than its workload: a [[baseline]] does not
# take them from the grid, and plots match systems "at equal settings" on the other axes
HARDWARE_AXES = ("system", "modules", "gpus", "batch")
RESULTS_DIR = Path("results")
MAX_POINTS = 100_000        # per sweep unless its file sets max_points (checking takes ~1 ms a point)
MAX_RESULTS_BYTES = 2**30   # ~500k points; read whole by `lolpim plot` and on resume


def is_hardware_axis(axis: str) -> bool:
    # a registered system kind's table (orchestration/llm/registry.py) holds its hardware
    return axis in HARDWARE_AXES or registry.by_table(axis.split(".")[0]) is not None


@dataclass(frozen=True)
class SweepSpec:
    grid: dict[str, list]                       # axis -> values, in file order (may be empty)
    base: dict[str, Any] = field(default_factory=dict)   # dotted RunConfig key -> value
    seed: int = 0
    config: dict = field(default_factory=dict)  # the base RunConfig file's tables
    results: Path | None = None
    baselines: tuple = ()                       # [[baseline]] tables: axis -> values
    extra: tuple = ()                           # [[points]] tables: axis -> values

    def points(self) -> list[dict]:
        """The grid, then each baseline crossed with the grid's workload axes, then the
        explicit points; a point listed twice runs once."""
        out = _product(self.grid) if self.grid else []
        workload = {a: v for a, v in self.grid.items() if not is_hardware_axis(a)}
        for baseline in self.baselines:
            out += _product({**{a: v for a, v in workload.items() if a not in baseline}, **baseline})
        for table in self.extra:
            out += _product(table)
        seen, unique = set(), []
        for point in out:
            key = json.dumps(point, sort_keys=True)
            if key not in seen:
                seen.add(key)
                unique.append(point)
        return unique

    def point_id(self, point: dict) -> str:
        key = json.dumps({"point": point, "set": self.base, "config": self.config,
                          "seed": point.get("seed", self.seed)}, sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def _product(table: dict) -> list[dict]:
    axes = list(table)
    return [dict(zip(axes, combo)) for combo in itertools.product(*(table[a] for a in axes))]


def _axes_table(path, where: str, table, lists_only: bool) -> dict:
    """A table of axes: each value a non-empty list without repeats (or, where scalars are
    allowed, one value)."""
    if not isinstance(table, dict):
        raise UserError(f"{path}: {where} must be a table of axes")
    out = {}
    for axis, values in table.items():
        if isinstance(values, dict):
            raise UserError(f"{path}: {where} axis '{axis}' is a table; write dotted keys, e.g. \"gpu.count\" = 4")
        if not isinstance(values, list):
            if lists_only:
                raise UserError(f"{path}: {where} axis '{axis}' must be a non-empty list")
            values = [values]
        if not values:
            raise UserError(f"{path}: {where} axis '{axis}' must be a non-empty list")
        if len(set(map(json.dumps, values))) != len(values):
            raise UserError(f"{path}: {where} axis '{axis}' repeats a value")
        out[axis] = values
    return out


def _path_inside(sweep_path: Path, key: str, value, folder: Path, flag: str) -> Path:
    """``folder / value`` for the sweep file's ``key``, refused if it leads outside ``folder``."""
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise UserError(f"{sweep_path}: '{key}' must be a file name (a string), got {value!r}"[:300])
    path = folder / value
    if Path(value).is_absolute() or not path.resolve().is_relative_to(folder.resolve()):
        raise UserError(f"{sweep_path}: '{key}' = {value!r} leads outside {folder}/; "
                        f"give a file elsewhere on the command line ({flag})"[:300])
    if path.resolve() == folder.resolve() or value.rstrip().endswith(("/", os.sep)):
        # "." used to name the folder itself: a file called 'results' was created in its place
        raise UserError(f"{sweep_path}: '{key}' = {value!r} names a folder; give a file name in {folder}/"[:300])
    return path


def _check_point(path: Path, spec: SweepSpec, point: dict, models_checked: set) -> None:
    """Build the point's RunConfig now (a bad axis value fails at load, not an hour in)."""
    seed = point.get("seed", spec.seed)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise UserError(f"{path}: axis 'seed': got {seed!r}; allowed: an integer >= 0")
    try:
        cfg = point_config(spec, point)
        if cfg.model not in models_checked:   # a preset name or hf: file every point would fail on
            load_llm(cfg.model)
            models_checked.add(cfg.model)
    except UserError as exc:
        raise UserError(f"{path}: point {json.dumps(point)[:200]}: {exc}") from None


def load_sweep(path: str | Path, config: str | Path | None = None) -> SweepSpec:
    """The sweep in file ``path``; ``config`` (a path from the command line) replaces its 'config' key."""
    path = Path(path)
    return sweep_spec(read_toml(path, "sweep"), path, config)


def sweep_spec(data: dict, path: Path | str, config: str | Path | None = None) -> SweepSpec:
    """The sweep of the tables ``data`` (a sweep file's, or `lolpim.sweep`'s keys), named ``path`` in
    messages; its own 'config' and 'results' keys are files in ``path``'s folder and under results/,
    ``config`` (a path given by the caller) replaces its 'config' key."""
    path = Path(path)
    unknown = sorted(set(data) - {"seed", "config", "results", "max_points", "set", "grid", "baseline", "points"})
    if unknown:
        raise UserError(f"{path}: unknown key '{unknown[0]}'; allowed: seed, config, results, max_points, [set], "
                        f"[grid], [[baseline]], [[points]]")
    cap = data.get("max_points", MAX_POINTS)
    if not isinstance(cap, int) or isinstance(cap, bool) or not 1 <= cap <= 10**9:
        raise UserError(f"{path}: max_points must be an integer 1 .. 1,000,000,000, got {cap!r}"[:300])
    grid = data.get("grid", {})
    tables = {name: data.get(name, []) for name in ("baseline", "points")}
    for name, value in tables.items():
        if isinstance(value, dict):
            value = tables[name] = [value]
        if not isinstance(value, list):
            raise UserError(f"{path}: '{name}' must be an array of tables ([[{name}]])")
    if not grid and not tables["baseline"] and not tables["points"]:
        raise UserError(f"{path}: needs a [grid] table with at least one axis (e.g. modules = [2, 4, 8]) "
                        f"or [[points]] tables")
    grid = _axes_table(path, "grid", grid, lists_only=True)
    baselines = tuple(_axes_table(path, f"baseline {i + 1}", t, lists_only=False)
                      for i, t in enumerate(tables["baseline"]))
    extra = tuple(_axes_table(path, f"points {i + 1}", t, lists_only=False) for i, t in enumerate(tables["points"]))
    if baselines and not grid:
        raise UserError(f"{path}: a [[baseline]] is crossed with the [grid]'s workload axes; "
                        f"without a [grid] write it as [[points]]")
    base = data.get("set", {})
    if not isinstance(base, dict):
        raise UserError(f"{path}: [set] must be a table of RunConfig keys")
    base = _flatten(base)
    if config is None and "config" in data:
        config = _path_inside(path, "config", data["config"], path.parent, "--config")
    config_data = read_toml(config, "config") if config is not None else {}
    # never in the source tree
    results = _path_inside(path, "results", data["results"], RESULTS_DIR, "--results") if "results" in data else None
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise UserError(f"{path}: seed must be an integer >= 0")
    spec = SweepSpec(grid=grid, base=base, seed=seed, config=config_data, results=results, baselines=baselines,
                     extra=extra)
    # counted before any point is built: a 10**6-point grid took minutes and gigabytes to check
    size = _count(grid) + sum(_count({**grid, **b}) for b in baselines) + sum(_count(t) for t in extra)
    if size > cap:
        raise UserError(f"{path}: the sweep has up to {size:,} points, over the cap of {cap:,} (checking them "
                        f"alone takes ~1 ms each); if you mean it, raise the cap with max_points = {size} "
                        f"in the sweep file")
    models_checked: set = set()
    points = spec.points()
    bar = Progress("checking sweep points", total=len(points), delay_s=2.0)
    try:
        for i, point in enumerate(points):   # fail on a bad point now, not an hour into the sweep
            _check_point(path, spec, point, models_checked)
            if i % 1000 == 999:
                bar.update(i + 1, f"{i + 1:,} of {len(points):,}")
    finally:
        bar.close()
    return spec


def _count(table: dict) -> int:
    return math.prod(len(v) for v in table.values()) if table else 0


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
    kinds = registry.kinds()
    if not isinstance(system, str) or system not in kinds:
        raise UserError(f"a sweep point runs one system; got system = {system!r} "
                        f"(use a 'system' axis or [set] system = one of {', '.join(kinds)})")
    table, pim = kinds[system].table, kinds[system].pim
    if "modules" in point and not pim:
        raise UserError(f"the 'modules' axis counts PIM modules and does not apply to system {system!r} "
                        f"(point {point}); give its GPU count with a 'gpus' axis or \"{table}.count\", "
                        f"and a fixed GPU baseline with a [[baseline]] table")
    if "gpus" in point and pim:
        raise UserError(f"the 'gpus' axis counts GPUs and does not apply to system {system!r} "
                        f"(point {point}); use 'modules'")
    for axis, value in point.items():
        if axis == "seed":
            continue
        key = {"trace": "workload.source", "context": "workload.input_tokens",
               "modules": f"{table}.modules", "gpus": f"{table}.count",
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
    wall0 = time.perf_counter()
    record = {"id": spec.point_id(point), "point": point, "seed": point.get("seed", spec.seed)}
    try:
        cfg = point_config(spec, point)
        out = run_systems(cfg, (cfg.system,), "inline", record["seed"])
        # no speedup: relative to a LoL-PIM run of the same call, not meaningful here
        summary = replace(out.systems[0], speedup=None).to_dict()
        record.update(status="ok", result=summary, model=out.model, prefill=out.prefill,
                      trace={"trace": out.trace, "requests": out.requests, "mean_input_tokens": out.mean_input_tokens,
                             "mean_output_tokens": out.mean_output_tokens})
    except Exception as exc:   # recorded, so a point that cannot run is not retried forever
        record.update(status="error", error=f"{type(exc).__name__}: {exc}")
    record.update(wall_s=time.perf_counter() - wall0, host=socket.gethostname())
    return json_safe(record)


# ------------------------------------------------------------------------ the results file

class ResultsFile:
    """JSON lines, one finished point each, appended with one write + fsync per point.

    A crash can at worst leave a torn last line; opening the file cuts it off (that point
    simply runs again), and moves any other line that is not a record to <results>.corrupt.
    An exclusive lock keeps two sweeps from writing one file. Neither the file nor its lock is
    ever opened through a symbolic link (O_NOFOLLOW) or truncated by opening."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        _check_results_path(self.path)
        if self.path.is_symlink():
            raise _symlink_refused(self.path)
        if self.path.exists() and not self.path.is_file():   # before the lock file: no /dev/null.lock
            raise UserError(f"results {self.path} is not a regular file (a device, pipe or socket); "
                            f"give a file name (JSON lines)")
        if self.path.exists() and not _looks_like_results(self.path):
            raise _not_results(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"--results {self.path}: cannot create its folder ({exc.strerror or exc})") from None
        self._lock_fd: int | None = None
        self._file_fd: int | None = None

    def __enter__(self):
        self._lock_fd = _open_no_follow(self.path.with_name(self.path.name + ".lock"), os.O_WRONLY)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise UserError(f"another sweep is writing {self.path}") from None
        try:
            # the file itself is locked too: the lock file goes by name, and a second name of the
            # same file (a hard link) has a lock file of its own
            self._file_fd = _open_no_follow(self.path, os.O_RDONLY)
            if not stat.S_ISREG(os.fstat(self._file_fd).st_mode):
                raise UserError(f"results {self.path} is not a regular file; give a file name (JSON lines)")
            try:
                fcntl.flock(self._file_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UserError(f"another sweep is writing {self.path} (under another name: a hard link)") from None
            self._repair()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        if self._file_fd is not None:
            os.close(self._file_fd)       # its lock goes with it
            self._file_fd = None
        if self._lock_fd is not None:     # always, after __enter__
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)

    def _repair(self) -> None:
        """Cut a torn last line; move every other line that is not a record to <results>.corrupt.

        In place, with no copy of the file, so a repair needs no free space beyond the lines it
        moves aside (a nearly full disk is what tears lines): the kept lines are shifted down
        over the removed ones, then the file is cut. A crash meanwhile loses no record: every
        line still to be shifted lies further on, whole, so the worst left behind is a record
        twice (read as one) and one spliced line, moved aside by the next repair."""
        if not self.path.exists():
            return
        data = _read_bytes(self.path)
        records, bad, lines = _parse_lines(data)
        if not bad and data.endswith(b"\n") or not data:
            return
        if bad and not records:   # not ours to rewrite (--results README.md): refused, untouched
            raise _not_results(self.path)
        if bad:   # moved aside, never lost: the points they held run again
            corrupt = self.path.with_name(self.path.name + ".corrupt")
            _append(corrupt, b"".join(lines[n - 1] + b"\n" for n in bad))
            print(f"lolpim: warning: {self.path}: line(s) {_line_list(bad)} are not results records; "
                  f"moved to {corrupt}", file=sys.stderr)
        skip = set(bad)
        kept = b"".join(line + b"\n" for n, line in enumerate(lines, 1) if n not in skip)
        # everything before the first removed line stays where it is
        start = sum(len(line) + 1 for line in lines[:min(bad) - 1]) if bad else len(kept)
        fd = _open_no_follow(self.path, os.O_RDWR)
        try:
            view, at = memoryview(kept)[start:], start
            while view:
                done = os.pwrite(fd, view, at)
                view, at = view[done:], at + done
            os.ftruncate(fd, len(kept))
            os.fsync(fd)
        except OSError as exc:
            raise UserError(f"cannot repair {self.path}: {exc.strerror or exc}; no record was lost, "
                            f"run the sweep again once that is fixed") from None
        finally:
            os.close(fd)

    def records(self) -> list[dict]:
        return read_results(self.path) if self.path.exists() else []

    def append(self, record: dict) -> None:
        _append(self.path, (json.dumps(record, allow_nan=False, sort_keys=True) + "\n").encode())


def _not_results(path: Path) -> UserError:
    return UserError(f"{path} is not a sweep results file (no line is a results record); it is left as it is: "
                     f"give another --results")


def _looks_like_results(path: Path) -> bool:
    """Whether the existing file ``path`` is empty or holds a results record. Its first line
    settles it in the usual case; only a file whose first line is not a record is read whole."""
    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return True            # what cannot be read is reported when it is opened
    first, newline, _ = head.partition(b"\n")
    if not head or not newline or _parse_lines(first + b"\n")[0]:
        return True
    records, bad, _ = _parse_lines(_read_bytes(path))
    return bool(records) or not bad


def _symlink_refused(path: Path) -> UserError:
    return UserError(f"{path} is a symbolic link; a sweep never writes through one: give the real path with --results")


def _open_no_follow(path: Path, mode: int) -> int:
    """Open (creating, never truncating) ``path`` itself: refused if it is a symbolic link."""
    try:
        return os.open(path, mode | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if path.is_symlink():
            raise _symlink_refused(path) from None
        raise UserError(f"cannot open {path}: {exc.strerror or exc}") from None


def _append(path: Path, data: bytes) -> None:
    fd = _open_no_follow(path, os.O_WRONLY | os.O_APPEND)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError as exc:   # a full disk: at worst a torn last line, cut when the sweep runs again
        raise UserError(f"cannot write {path}: {exc.strerror or exc}; what it holds so far is kept") from None
    finally:
        os.close(fd)


def _check_results_path(path: Path) -> None:
    if path.is_dir():
        raise UserError(f"results {path} is a folder; give a file name (JSON lines), e.g. {path / 'sweep.jsonl'}")


def _read_bytes(path: Path) -> bytes:
    return read_file_bytes(path, "results", MAX_RESULTS_BYTES, "sweep results file (JSON lines)")


def _parse_lines(data: bytes) -> tuple[list[dict], list[int], list[bytes]]:
    """(records, numbers of the complete lines that are not a record, the complete lines);
    a torn last line (no newline) is not a complete line."""
    lines = data.split(b"\n")[:-1]
    records, bad = [], []
    for n, line in enumerate(lines, 1):
        try:
            rec = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            rec = None
        if isinstance(rec, dict) and isinstance(rec.get("id"), str):
            records.append(rec)
        else:
            bad.append(n)
    return records, bad, lines


def _line_list(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:10])) + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")


def read_results(path: str | Path) -> list[dict]:
    """Every complete record of a results file, one per id: the first, unless it is an error
    and a later run of the point (--retry-errors) finished. A line that is not a record is
    reported (a sweep run moves it aside); a file with no record at all is an error."""
    path = Path(path)
    records, bad, _ = _parse_lines(_read_bytes(path))
    if bad and not records:
        raise UserError(f"'{path}' is not a sweep results file (JSON lines): line {bad[0]} is not a record")
    if bad:
        print(f"lolpim: warning: {path}: skipped line(s) {_line_list(bad)}, which are not results records",
              file=sys.stderr)
    index: dict = {}
    out: list = []
    for rec in records:
        at = index.get(rec["id"])
        if at is None:
            index[rec["id"]] = len(out)
            out.append(rec)
        elif out[at].get("status") != "ok" and rec.get("status") == "ok":
            out[at] = rec
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
    failed: list = field(default_factory=list)   # [{"point", "error"}]: this sweep's points that cannot run


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
        report.failed = [{"point": r.get("point"), "error": r.get("error", "")}
                         for r in sweep_records(spec, out.records()) if r.get("status") != "ok"]
    report.wall_s = time.perf_counter() - wall0
    return report


def default_results(sweep_path: str | Path) -> Path:
    """results/<sweep name>.jsonl under the working directory: never beside the sweep file
    (which usually sits in the source tree, e.g. deploy/)."""
    return RESULTS_DIR / (Path(sweep_path).stem + ".jsonl")


def sweep_records(spec: SweepSpec, records: list[dict]) -> list[dict]:
    """This sweep's records, in the order of its points (a results file may hold others)."""
    by_id = {r.get("id"): r for r in records}
    return [by_id[i] for i in (spec.point_id(p) for p in spec.points()) if i in by_id]


def _hardware(result: dict) -> str:
    """'4 x a100-80gb, 320 GB HBM': the system's hardware label, else its description's head."""
    hw = result.get("hardware")
    if isinstance(hw, dict) and hw.get("label"):
        return str(hw["label"])
    if isinstance(hw, str) and hw:
        return hw
    desc = result.get("description", "")
    return desc.split(";")[0] if ";" in desc else desc.split(", ")[0]


def j_per_token(result: dict) -> float:
    value = result.get("energy_per_token_j")
    return value if isinstance(value, (int, float)) else math.nan


def format_results(spec: SweepSpec, records: list[dict], max_rows: int = 500) -> str:
    """The table the driver prints when it finishes: one row per point of this sweep (the
    first ``max_rows``; the results file and `lolpim plot`'s points.csv hold them all)."""
    recs = sweep_records(spec, records)
    if not recs:
        return "(no finished points)"
    more = len(recs) - max_rows
    # a hand-edited record shows as an error row rather than stopping the table
    recs = [dict(r, point=r["point"] if isinstance(r.get("point"), dict) else {}) for r in recs[:max_rows]]
    axes = [a for a in dict.fromkeys(a for r in recs for a in r["point"]) if a != "system"]
    head = ["system", *axes, "hardware", "tok/s", "J/token", "KV used", "KV alloc", "status"]
    rows = [head]

    def pct(v):
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}%"
    for r in recs:
        cells = [str(r["point"].get("system", "")), *(str(r["point"].get(a, "-")) for a in axes)]
        res = r.get("result")
        if r.get("status") == "ok" and isinstance(res, dict) and isinstance(res.get("system"), str) \
                and isinstance(res.get("throughput_tokens_per_s"), (int, float)):
            jt = j_per_token(res)
            cells[0] = res["system"]
            cells += [_hardware(res), f"{res['throughput_tokens_per_s']:.1f}",
                      "-" if math.isnan(jt) else f"{jt:.3f}", pct(res.get("kv_used_utilisation")),
                      pct(res.get("kv_allocated_utilisation")), "ok"]
        else:
            cells += ["-", "-", "-", "-", "-", "error"]
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i < len(axes) + 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if more > 0:
        lines.append(f"... and {more} more points (all of them in the results file; `lolpim plot` writes points.csv)")
    return "\n".join(line.rstrip() for line in lines)


def _run_on_ray(spec: SweepSpec, todo: list[dict], address, max_in_flight, finished) -> None:
    import ray   # heavy: only for a sweep on Ray
    if not todo:
        return
    ensure_ray_cluster(address)
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
            ready, in_flight = ray.wait(in_flight, num_returns=1, timeout=LIVENESS_CHECK_S)
            if not ready:          # a node that died leaves its tasks waiting forever
                check_ray_alive()
                continue
            finished(ray.get(ready[0]))
    finally:
        # on a cluster the driver joined, its points must not run on: cancelled. The embedded
        # Ray is shut down instead (force-cancelling its tasks first made Ray's core worker
        # crash the driver after its last line: a failed check, or SIGSEGV)
        for ref in in_flight if address else ():
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
