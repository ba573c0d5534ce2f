"""`lolpim run [CONFIG.toml] [--set key=value ...]`: simulate and report.

With no arguments: LoL-PIM against multi-GPU, GPU+PIM and CENT-style on a LongBench-like
trace for a 7B model with 128 GiB of PIM (8 modules), decode only, on an embedded local Ray.
"""
from __future__ import annotations

import sys
from pathlib import Path

from lolpim.actors.kernel.ray_executor import shutdown_embedded_ray
from lolpim.core.errors import ConfigError
from lolpim.orchestration import config as cfgmod
from lolpim.orchestration import interrupts
from lolpim.orchestration.executors import add_executor_flags, make_executor
from lolpim.orchestration.llm.api import compare_config, run_config
from lolpim.orchestration.llm.compare import Comparison, ComparisonFailed, ComparisonInterrupted, warm_up_plotting
from lolpim.orchestration.llm.config import PIPELINE_DEMO, RunConfig
from lolpim.orchestration.llm.timeline import DEFAULT_MAX_EVENTS, TimelineCollector
from lolpim.orchestration.metrics import add_metrics_flags, serving
from lolpim.orchestration.pipeline_demo import format_summary, summarise
from lolpim.orchestration.interrupts import one_line
from lolpim.orchestration.progress import Progress
from lolpim.orchestration.results import json_text, write_csv, write_json
from lolpim.orchestration.timeline import check_trace_path


def load_run_config(path, overrides) -> RunConfig:
    """The config of `lolpim run CONFIG --set ...`: built as lolpim.compare builds its keyword arguments."""
    return run_config(path, cfgmod.parse_overrides(overrides))


def run_pipeline_demo(cfg: RunConfig, executor_name: str, seed: int, address=None, max_processes=None,
                      show_progress: bool = True) -> dict:
    shape = cfg.pipeline.shape()
    expected_ps = shape.round_trip_ps() + shape.rounds * shape.microbatches * max(shape.service_ps)
    bar = Progress("simulating", total=expected_ps, enabled=show_progress)
    executor = make_executor(executor_name, address, progress=lambda t, n: bar.update(t, f"{n} events"),
                             max_processes=max_processes)
    try:
        run = executor.run(shape.system(seed))
    finally:
        bar.close()
    summary = summarise(cfg.pipeline, run)
    summary.update(executor=executor_name, seed=seed, wall_s=run.stats["wall_s"], config=cfgmod.to_dict(cfg))
    return summary


def _run_demo(cfg, args, show_progress) -> int:
    summary = run_pipeline_demo(cfg, args.executor, args.seed, args.address, args.max_processes, show_progress)
    if args.out:
        out = Path(args.out)
        write_json(out / "result.json", summary)
        write_csv(out / "stages.csv", [{"stage": k, "utilisation": v} for k, v in summary["stage_utilisation"].items()])
    if args.json:
        print(json_text(summary))
    else:
        print(f"system: pipeline-demo  executor: {args.executor}  seed: {args.seed}  wall: {summary['wall_s']:.2f} s")
        print(format_summary(summary))
    return 0


def run(args) -> int:
    if args.timeline is not None:   # before anything runs, as --out: a run is never lost at its end
        check_trace_path(args.timeline)
    if args.timeline_max_events < 1:
        raise ConfigError("--timeline-max-events", f"{args.timeline_max_events}: allowed 1 or more")
    with serving(args.metrics_host, args.metrics_port, args.metrics_linger_s):
        return _run(args)


def _run(args) -> int:
    cfg = load_run_config(args.config, args.set)
    show_progress = (not args.json and sys.stderr.isatty()) or args.progress
    if cfg.system == PIPELINE_DEMO:
        if args.timeline is not None:
            raise ConfigError("system", "--timeline records the LLM systems (lolpim, gpu, ...), not pipeline-demo")
        return _run_demo(cfg, args, show_progress)
    timeline = TimelineCollector(args.timeline_max_events) if args.timeline is not None else None
    try:   # the same call as lolpim.compare's
        result = compare_config(cfg, args.executor, args.seed, args.address, args.max_processes, show_progress,
                                when_idle=warm_up_plotting if args.out else None, timeline=timeline)
    except ComparisonFailed as failed:   # Ray itself failed: report (and write) the systems that finished
        finished = [s.system for s in failed.result.systems]
        if finished:
            _report(cfg, args, failed.result, timeline)
        print(f"lolpim: error: Ray failed ({one_line(failed.cause)}); finished: {', '.join(finished) or 'none'}"
              f"{' (kept)' if finished else ''}; not finished: {', '.join(failed.unfinished)}", file=sys.stderr)
        return 1
    except ComparisonInterrupted as stop:   # Ctrl-C: report (and write) the systems that finished
        # (the only KeyboardInterrupt carrying a result: compare turns every Ctrl-C and SIGTERM into one)
        result = stop.result
        finished = [s.system for s in result.systems]
        if finished:
            _report(cfg, args, result, timeline)
        print(f"lolpim: {interrupts.stopped_by()}; finished: {', '.join(finished) or 'none'}; "
              f"not finished: {', '.join(stop.unfinished)}", file=sys.stderr)
        return interrupts.exit_code()
    _report(cfg, args, result, timeline)
    return 0


def _report(cfg: RunConfig, args, result: Comparison, timeline: TimelineCollector | None = None) -> None:
    """Stop the embedded Ray, then write --out and --timeline and print the table (or --json)."""
    if args.executor == "ray":   # done with Ray: stop the embedded one while the outputs are written
        shutdown_embedded_ray()
    written = result.write(args.out) if args.out else []
    if timeline is not None:
        for warning in timeline.write(Path(args.timeline)):
            print(f"lolpim: warning: {warning}", file=sys.stderr)
        written.append(Path(args.timeline))
    if args.json:
        print(result.to_json())
    else:
        print(result.table())
        for path in written:
            print(f"wrote {path}")


def register(sub) -> None:
    p = sub.add_parser("run", help="simulate LoL-PIM against its baselines (default) or another system")
    p.add_argument("config", nargs="?", default=None, help="TOML config file (optional); keys as for --set")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config key (repeatable), e.g. --set model=llama3.1-8b "
                        "--set workload.requests=64 --set lolpim.kv_mode=static")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--out", default=None, help="directory for result files (JSON, CSV, PNG)")
    p.add_argument("--timeline", default=None, metavar="PATH",
                   help="also write a Chrome/Perfetto trace (JSON) of the simulated run: a process per system, "
                        "a track per actor (open in ui.perfetto.dev or chrome://tracing; docs/timeline.md)")
    p.add_argument("--timeline-max-events", type=int, default=DEFAULT_MAX_EVENTS, metavar="N",
                   help=f"stop recording the timeline after N events in all (default {DEFAULT_MAX_EVENTS:,})")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    add_executor_flags(p)
    add_metrics_flags(p)
    p.set_defaults(func=run)
