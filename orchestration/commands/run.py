"""`lolpim run [CONFIG.toml] [--set key=value ...]`: simulate one system and report it."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .. import config as cfgmod
from ..executors import add_executor_flags, make_executor
from ..pipeline_demo import PipelineDemoConfig, format_summary, summarise
from ..progress import Progress

SYSTEMS = ("pipeline-demo",)


@dataclass(frozen=True)
class RunConfig:
    system: str = field(default="pipeline-demo", metadata={"choices": SYSTEMS})
    pipeline: PipelineDemoConfig = field(default_factory=PipelineDemoConfig)


def load_run_config(path, overrides) -> RunConfig:
    return cfgmod.load(RunConfig, path, overrides)


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
    summary["executor"] = executor_name
    summary["seed"] = seed
    summary["wall_s"] = run.stats["wall_s"]
    summary["config"] = cfgmod.to_dict(cfg)
    return summary


def run(args) -> int:
    cfg = load_run_config(args.config, args.set)
    summary = run_pipeline_demo(cfg, args.executor, args.seed, args.address, args.max_processes,
                                show_progress=not args.json and sys.stderr.isatty() or args.progress)
    if args.out:
        out = Path(args.out)
        from ..results import write_csv, write_json
        write_json(out / "result.json", summary)
        write_csv(out / "stages.csv", [{"stage": k, "utilisation": v} for k, v in summary["stage_utilisation"].items()])
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"system: {summary['system']}  executor: {args.executor}  seed: {args.seed}  "
              f"wall: {summary['wall_s']:.2f} s")
        print(format_summary(summary))
        if args.out:
            print(f"results written to {args.out}/")
    return 0


def register(sub) -> None:
    p = sub.add_parser("run", help="simulate a system (default: the built-in comparison) and print its results")
    p.add_argument("config", nargs="?", default=None, help="TOML config file (optional)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--out", default=None, help="directory for result files (JSON, CSV)")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    add_executor_flags(p)
    p.set_defaults(func=run)
