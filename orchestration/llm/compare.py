"""The main job: LoL-PIM against its baselines on one trace, as a table, JSON, CSV and a plot."""
from __future__ import annotations

import math
import os
import textwrap
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from lolpim.hardware.systems.config import BRACKET_ENDS, SystemKind
from lolpim.orchestration.llm import registry
from lolpim.orchestration.llm.bracket import (BRACKET_DEFINITION, attach_bracket, bracket_lines, bracket_runs, ratio,
                                             table_rows)
from lolpim.orchestration.executors import ensure_ray_cluster, make_executor
from lolpim.orchestration.cli_checks import RAY_PROCESS_BYTES
from lolpim.orchestration.interrupts import ray_failure
from lolpim.orchestration.llm.config import RunConfig
from lolpim.orchestration.llm.result_types import ActorRoles, SystemResult, system_result
from lolpim.orchestration.metrics import active_sink, exporter_active
from lolpim.orchestration.llm.systems import build, make_trace, resolve
from lolpim.orchestration.memory import check_fits
from lolpim.orchestration.progress import Progress
from lolpim.orchestration.config import to_dict
from lolpim.orchestration.dataframe import to_dataframe
from lolpim.orchestration.results import json_text, save_figure, write_csv, write_json

TABLE_COLUMNS = (
    ("system", "system", "{}"),
    ("throughput_tokens_per_s", "tok/s", "{:.1f}"),
    ("tpot_mean_s", "TPOT ms", "{:.2f}", 1e3),        # mean
    ("tpot_p99_s", "p99 ms", "{:.2f}", 1e3),         # TPOT p99
    ("ttft_mean_s", "TTFT mean s", "{:.2f}"),
    ("kv_used_utilisation", "KV used", "{:.1%}"),
    ("kv_allocated_utilisation", "KV alloc", "{:.1%}"),
    ("module_utilisation", "busy", "{:.1%}"),
    ("energy_per_token_j", "J/token", "{:.3f}"),
    ("tokens_per_s_per_w", "tok/s/W", "{:.3f}"),
    ("speedup", "speedup", "{:.2f}x"),   # LoL-PIM's speedup over the row: SPEEDUP_DEFINITION
    ("preemptions", "preempt", "{}"),
)
# with prefill = before no prompt is simulated: first token - arrival is the wait for KV memory
QUEUE_COLUMN = ("queue_wait_mean_s", "queue wait s", "{:.2f}")
SPEEDUP_DEFINITION = ("speedup = LoL-PIM's tok/s / the row's tok/s, same trace "
                      "(tok/s = output tokens / (last finish - first arrival))")
ENERGY_DEFINITION = ("J/token = the stages' decode energy / output tokens (no prefill, no idle power; "
                     "docs/lolpim-system.md)")
POWER_DEFINITION = ("tok/s/W = tok/s / power budget (GPU: TDP; PIM module, HBM-PIM stack: at full activity; "
                    "docs/lolpim-system.md)")
# On Ray, a system's serving actors declare their peers (host, stages, KV managers talk only to each
# other), so when they share a process nothing bounds the safe window but this cap: each process then
# runs 200 ms of simulated time per call (progress, metrics and checkpoints happen between calls)
# instead of one pipeline hop.
RAY_WINDOW_PS = 200 * 10**9
DECODE_ONLY = ("decode-only (prefill = before: prompts are not simulated); "
               "queue wait = arrival to first token = the wait for KV memory")


def columns(decode_only: bool) -> tuple:
    if not decode_only:
        return TABLE_COLUMNS
    return tuple(QUEUE_COLUMN if c[0] == "ttft_mean_s" else c for c in TABLE_COLUMNS)


@dataclass(frozen=True)
class Comparison:
    """Systems simulated on one trace: what `lolpim run` prints and writes, and `lolpim.compare`
    returns. ``to_dict()`` is the JSON of `lolpim run --json` (comparison.json)."""
    model: str
    pim_capacity_gib: float
    trace: str
    requests: int
    mean_input_tokens: float
    mean_output_tokens: float
    prefill: str
    decode_only: bool                  # prefill = before: prompts are not simulated
    speedup_reference: str | None      # the system the speedups are over (None: no LoL-PIM run)
    executor: str
    seed: int
    systems: tuple[SystemResult, ...]
    config: RunConfig | None = None    # what ran (its TOML tables in the JSON)

    def system(self, name: str) -> SystemResult:
        """The result of system ``name`` ("lolpim", "gpu", ...)."""
        for s in self.systems:
            if s.system == name:
                return s
        raise KeyError(f"no system {name!r} in this comparison; it has {', '.join(s.system for s in self.systems)}")

    def to_dict(self) -> dict:
        out = {"model": self.model, "pim_capacity_gib": self.pim_capacity_gib, "trace": self.trace,
               "requests": self.requests, "mean_input_tokens": self.mean_input_tokens,
               "mean_output_tokens": self.mean_output_tokens, "prefill": self.prefill,
               "decode_only": self.decode_only, "hardware": {s.system: s.hardware.label for s in self.systems},
               "speedup_definition": SPEEDUP_DEFINITION, "energy_definition": ENERGY_DEFINITION,
               "power_definition": POWER_DEFINITION, "speedup_reference": self.speedup_reference,
               "bracket_definition": BRACKET_DEFINITION, "executor": self.executor, "seed": self.seed,
               "systems": [s.to_dict() for s in self.systems]}
        if self.config is not None:
            out["config"] = to_dict(self.config)
        return out

    def to_json(self) -> str:
        """Strict JSON (NaN as null), exactly as `lolpim run --json` prints it."""
        return json_text(self.to_dict())

    def table(self) -> str:
        """The text table `lolpim run` prints."""
        return format_table(self)

    def plot(self, path: str | Path) -> Path:
        """The comparison figure (throughput, TPOT, KV, energy, power) as a PNG at ``path``."""
        return plot(self, Path(path))

    def write(self, out: str | Path) -> list[Path]:
        """comparison.json, comparison.csv, requests.csv and comparison.png in folder ``out``."""
        return write_outputs(self, Path(out))

    def to_dataframe(self):
        """One row per system, the columns of comparison.csv (pandas: the extra ``lolpim[dataframe]``)."""
        return to_dataframe(self.csv_rows())

    def csv_rows(self) -> list[dict]:
        """The rows of comparison.csv: one flat row per system."""
        return [s.csv_row() for s in self.systems]

    def request_rows(self) -> list[dict]:
        """The rows of requests.csv: one per request of each system."""
        return [dict(system=s.system, **r.to_dict()) for s in self.systems for r in s.per_request]


def run_systems(cfg: RunConfig, kinds, executor_name: str, seed: int, address=None, max_processes=None,
                show_progress: bool = False, when_idle=None, timeline=None) -> Comparison:
    """Simulate each system on the same trace. On Ray the systems run side by side (one lane per
    CPU, see _side_by_side); inline they run one after another. ``when_idle()``, if given, runs
    once on Ray in the driver as soon as a lane has nothing left while others still run (a CPU
    is free then): e.g. importing the plotting library. ``timeline``, if given, is an
    orchestration/llm/timeline.TimelineCollector: it turns recording on and keeps each run's records."""
    trace = make_trace(cfg, seed)
    model = resolve(cfg)   # the model is loaded once for every system
    kinds = [registry.get(k).name for k in kinds]
    built = [build(kind, cfg, trace, seed, model) for kind in kinds]   # config errors surface before any run
    if timeline is not None:
        built = timeline.prepare(built)
    # each baseline's bracket ends that differ from the row's own config run as well (no timeline)
    extra = bracket_runs(cfg, kinds)
    rows = len(built)
    built += [build(kinds[i], end_cfg, trace, seed, model) for i, _end, end_cfg in extra]
    if executor_name == "ray" and max_processes == 0:
        # one Ray process per actor: known only now that the systems are built. At most one system
        # per CPU runs at once (_side_by_side), so the largest systems bound what is alive together.
        sizes = sorted((len(b.spec.actors) for b in built), reverse=True)
        lanes = max(1, min(len(built), os.cpu_count() or 1))
        check_fits(sum(sizes[:lanes]) * RAY_PROCESS_BYTES, f"--max-processes 0 ({sum(sizes[:lanes])} Ray processes)",
                   "~210 MB per Ray process, one per simulated actor", "give --max-processes N to pack the actors "
                   "into N processes")
    total_tokens = int(trace.output_tokens.sum()) * len(built)
    bar = Progress("simulating", total=1.0, enabled=show_progress)
    done_events: dict[int, int] = {}

    def progress(key):
        def update(_t, n):
            done_events[key] = n
            # about six events per output token per system: a rough but monotone estimate
            bar.update(min(0.99, sum(done_events.values()) / (6.0 * total_tokens + 1)),
                       f"{sum(done_events.values())} events")
        return update

    def simulate(system, executor=None):
        if executor is None:
            executor = make_executor(executor_name, address, max_processes=max_processes, max_window_ps=RAY_WINDOW_PS)
        executor.progress = progress(id(system))
        if exporter_active():   # /metrics is served: the run reports there, its actors' roles known
            executor.on_metrics = active_sink(str(system.kind), ActorRoles.of(system.spec))
        run = executor.run(system.spec)
        if timeline is not None and any(system is b for b in built[:rows]):
            timeline.collect(system, run)
        return system_result(system, run)

    summaries: list = [None] * len(built)
    stopped, failure = False, None
    try:
        if executor_name == "ray" and len(built) > 1:
            _side_by_side(built, simulate, address,
                          lambda: make_executor("ray", address, max_processes=max_processes,
                                                max_window_ps=RAY_WINDOW_PS, keep_processes=True),
                          when_idle, summaries)
        else:
            for i, system in enumerate(built):
                summaries[i] = simulate(system)
    except KeyboardInterrupt:   # Ctrl-C: stop now, and keep the systems that finished
        stopped = True
    except Exception as exc:    # Ray itself failed (a killed raylet): as Ctrl-C, then say so
        if not ray_failure(exc):
            raise
        stopped, failure = True, exc
    finally:
        bar.close()
    # the rows (not the bracket ends) that did not finish; None when the run was not stopped
    unfinished = [b.kind for b, s in zip(built[:rows], summaries[:rows]) if s is None] if stopped else None
    ends = {(i, end): s for (i, end, _), s in zip(extra, summaries[rows:])}
    summaries = [s for s in summaries[:rows] if s is not None]
    reference = next((s for k in registry.speedup_references() for s in summaries if s.system == k), None)
    summaries = [replace(s, speedup=ratio(reference, s)) for s in summaries]
    if reference is not None and unfinished is None and cfg.bracket:
        summaries = [attach_bracket(s, kinds[i], cfg, {end: ends.get((i, end), s) for end in BRACKET_ENDS}, reference)
                     if kinds[i] in registry.bracketed() else s for i, s in enumerate(summaries)]
    result = Comparison(model=cfg.model, pim_capacity_gib=cfg.pim_capacity_gib, trace=trace.name,
                        requests=len(trace), mean_input_tokens=float(trace.input_tokens.mean()),
                        mean_output_tokens=float(trace.output_tokens.mean()), prefill=str(cfg.prefill),
                        decode_only=cfg.prefill == "before",
                        speedup_reference=reference.system if reference else None,
                        executor=executor_name, seed=seed, systems=tuple(summaries), config=cfg)
    if failure is not None:
        raise ComparisonFailed(result, unfinished or [], failure)   # a failure stops the run: never None
    if unfinished is not None:
        raise ComparisonInterrupted(result, unfinished)
    return result


class ComparisonFailed(Exception):
    """Ray failed beyond recovery during a comparison: ``result`` holds the systems that finished
    (maybe none), ``unfinished`` the kinds of the others, ``cause`` Ray's exception."""

    def __init__(self, result: Comparison, unfinished: list[str], cause: BaseException):
        super().__init__(f"Ray failed: {type(cause).__name__}")
        self.result, self.unfinished, self.cause = result, unfinished, cause


class ComparisonInterrupted(KeyboardInterrupt):
    """Ctrl-C during a comparison: ``result`` holds the systems that finished (maybe none),
    ``unfinished`` the kinds of the others."""

    def __init__(self, result: Comparison, unfinished: list[str]):
        super().__init__("interrupted")
        self.result, self.unfinished = result, unfinished


def _side_by_side(built: list, simulate, address, new_executor, when_idle, summaries: list) -> None:
    """Run the systems on Ray in as many lanes as the cluster has CPUs (at most one per system).
    Each lane keeps its Ray processes and runs system after system in them (the largest first),
    so a 2-CPU machine starts two processes, not one per system: on a small machine process
    start-up costs about as much as the small systems' whole runs. ``summaries[i]`` is set as
    system i finishes; the lanes are daemon threads, so Ctrl-C returns at once (within 2 s)
    instead of waiting for every running system."""
    import ray   # heavy: only for --executor ray
    ensure_ray_cluster(address)
    lanes = max(1, min(len(built), int(ray.cluster_resources().get("CPU", 1))))
    queue = deque(sorted(range(len(built)), key=lambda i: -len(built[i].spec.actors)))
    lock = threading.Lock()
    stop = threading.Event()
    errors: list = []
    idle = [when_idle] if when_idle is not None else []

    def lane():
        executor = new_executor()
        try:
            while True:
                with lock:
                    if not queue or stop.is_set():
                        break
                    i = queue.popleft()
                summaries[i] = simulate(built[i], executor)
        finally:
            executor.close()
        with lock:
            task = idle.pop() if idle and None in summaries and not stop.is_set() else None
        if task is not None:
            task()

    def guarded_lane():
        try:
            lane()
        except BaseException as exc:   # after Ctrl-C, a lane's run fails as Ray stops: not news
            if not stop.is_set():
                errors.append(exc)

    threads = [threading.Thread(target=guarded_lane, daemon=True, name=f"lane-{i}") for i in range(lanes)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.2)   # short waits: a signal is noticed whichever thread it lands on
    except KeyboardInterrupt:
        stop.set()
        deadline = time.monotonic() + 2.0   # let a lane finish e.g. an import, never a whole system
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        raise
    if errors:
        raise errors[0]


def format_table(result: Comparison) -> str:
    cols = columns(result.decode_only)
    rows = [[c[1] for c in cols]]
    lines_of = table_rows(result.systems)
    for label, s in lines_of:
        row = []
        for col in cols:
            value = label if col[0] == "system" else getattr(s, col[0])
            if value is None or isinstance(value, float) and math.isnan(value):
                row.append("-")
                continue
            if len(col) > 3:
                value = value * col[3]
            row.append(col[2].format(value))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    head = (f"{result.model}, trace {result.trace} "
            f"({result.requests} requests, mean input {result.mean_input_tokens:.0f}, "
            f"mean output {result.mean_output_tokens:.0f} tokens), executor {result.executor}")
    head += "\n" + (DECODE_ONLY if result.decode_only else f"prefill simulated (prefill = {result.prefill})")
    # each system's description starts with its hardware (devices x preset, GiB of each memory)
    name_width = max([8] + [len(label) for label, _ in lines_of])
    # a description longer than the table wraps under itself (the table stays within 120 columns)
    desc = "\n".join("\n".join(textwrap.wrap(s.description, 120, initial_indent=f"  {label:{name_width}s} ",
                                             subsequent_indent=" " * (name_width + 3), break_on_hyphens=False))
                     for label, s in lines_of)
    reference = result.speedup_reference
    foot = (SPEEDUP_DEFINITION if reference in (None, SystemKind.LOLPIM)
            else SPEEDUP_DEFINITION.replace("LoL-PIM's tok/s", f"{reference}'s tok/s"))
    foot += "\n" + ENERGY_DEFINITION + "\n" + POWER_DEFINITION
    bracket = bracket_lines(result.systems, reference)
    if bracket:
        foot += "\n" + "\n".join(bracket) + "\n" + BRACKET_DEFINITION
    rates = {s.system: s.throughput_tokens_per_s for s in result.systems}
    xpu, neupims = SystemKind.LOLPIM_XPU, SystemKind.NEUPIMS
    if xpu in rates and neupims in rates:   # the xPU+PIM pair: LoL-PIM's techniques on one module
        foot += (f"\nxPU+PIM: {xpu} / {neupims} = {rates[xpu] / rates[neupims]:.2f}x tok/s, "
                 "same trace, the neupims row's config")
    return f"{head}\n{desc}\n\n" + "\n".join(lines) + "\n" + foot


def write_outputs(result: Comparison, out: Path) -> list[Path]:
    paths = [write_json(out / "comparison.json", result.to_dict()),
             write_csv(out / "comparison.csv", result.csv_rows()),
             write_csv(out / "requests.csv", result.request_rows())]
    paths.append(plot(result, out / "comparison.png"))
    return paths


TICK_LABEL_CHARS = 18   # a tick label's line at most this long (at 6 systems longer ones overlap)


def _tick_label(s: SystemResult) -> str:
    """A bar's label: the system and the hardware it really has (devices x preset, GiB), each part
    wrapped to TICK_LABEL_CHARS so neighbouring labels never overlap."""
    lines = [s.system]
    for i, d in enumerate(s.hardware.devices):
        for part in (("+ " if i else "") + f"{d.count} x {d.model}", f"{d.gib:.0f} GiB {d.memory}"):
            lines += textwrap.wrap(part, TICK_LABEL_CHARS, break_on_hyphens=False, break_long_words=False) or [part]
    return "\n".join(lines)


def warm_up_plotting() -> None:
    """Import what plot() needs (about 0.7 s), e.g. while the last system still runs on Ray."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401


def plot(result: Comparison, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    systems = result.systems
    labels = [_tick_label(s) for s in systems]
    # the speedups' reference (LoL-PIM) stands out; every other system in grey
    colours = ["#c0392b" if s.system == result.speedup_reference else "#7f8c8d" for s in systems]
    x = np.arange(len(systems))
    # wider with more systems, so every bar keeps room for its label (tests/system/test_report_labels.py)
    fig, axes = plt.subplots(3, 2, figsize=(max(13.0, 2.7 * len(systems)), 14))
    axes = axes.ravel()
    panels = [("throughput_tokens_per_s", "throughput [output tokens/s]", 1.0, "%.0f"),
              ("tpot_mean_s", "mean time per output token [ms]", 1e3, "%.1f"),
              (None, "KV capacity [%]", 100.0, "%.0f"),
              ("energy_per_token_j", "energy [J/output token]", 1.0, "%.3f"),
              # iso-power view: what each system's devices may draw, and the throughput per watt of it
              ("power_w", "power budget [W]", 1.0, "%.0f"),
              ("tokens_per_s_per_w", "throughput per watt [output tokens/s/W]", 1.0, "%.3f")]
    for ax, (key, label, scale, fmt) in zip(axes, panels):
        if key is None:      # KV used next to KV allocated (static reservations allocate what they do not use)
            used = [s.kv_used_utilisation * scale for s in systems]
            alloc = [s.kv_allocated_utilisation * scale for s in systems]
            bars = ax.bar(x - 0.2, used, 0.4, color=colours, label="used")
            ax.bar_label(bars, fmt=fmt, fontsize=8)
            bars = ax.bar(x + 0.2, alloc, 0.4, color=colours, alpha=0.45, hatch="//", label="allocated")
            ax.bar_label(bars, fmt=fmt, fontsize=8)
            ax.set_ylim(0, max(used + alloc) * 1.2)
            ax.legend(fontsize=8, loc="upper center", ncol=2)
        else:
            bars = ax.bar(x, [getattr(s, key) * scale for s in systems], color=colours)
            ax.bar_label(bars, fmt=fmt, fontsize=8)
        if key == "throughput_tokens_per_s":
            # each baseline's speedup note stands above its bar and value label, never on them
            top = max(getattr(s, key) for s in systems)
            ax.set_ylim(0, top * 1.5)
            for xi, s in zip(x, systems):
                if s.system != result.speedup_reference and s.speedup is not None and not math.isnan(s.speedup):
                    text = (f"LoL-PIM\n{s.speedup:.2f}x" if s.speedup_bracket is None else
                            "LoL-PIM\n[{:.2f}x,\n{:.2f}x]".format(*s.speedup_bracket))
                    ax.annotate(text, (xi, getattr(s, key)), xytext=(0, 14), textcoords="offset points", ha="center",
                                va="bottom", fontsize=7, color="black",
                                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8})
        ax.set_xticks(x, labels, fontsize=7)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    mode = "decode-only (prefill = before)" if result.decode_only else f"prefill = {result.prefill}"
    fig.suptitle(f"{result.model}, {result.trace} ({result.requests} requests, mean input "
                 f"{result.mean_input_tokens:.0f}, mean output {result.mean_output_tokens:.0f} tokens), {mode}")
    foot = SPEEDUP_DEFINITION + ".\n" + ENERGY_DEFINITION + "\n" + POWER_DEFINITION
    if any(s.speedup_bracket is not None for s in systems):   # the bars are the rows' own runs
        foot += ".\nLoL-PIM [a, b]: " + BRACKET_DEFINITION
    fig.text(0.5, 0.005, foot, ha="center", va="bottom", fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path
