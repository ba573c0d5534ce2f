"""Choosing an executor from CLI flags."""
from __future__ import annotations

from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.actors.kernel.ray_executor import RayExecutor, ensure_ray
from lolpim.core.errors import UserError
from lolpim.orchestration.metrics import active_sink

EXECUTORS = ("inline", "ray")


def make_executor(name: str, address: str | None = None, progress=None, max_processes: int | None = None,
                  record_trace: bool = False, on_metrics=None, max_window_ps: int | None = None,
                  keep_processes: bool = False):
    # without an explicit callback, report to the process's /metrics exporter if one is serving
    if on_metrics is None:
        on_metrics = active_sink()
    if name == "inline":
        return InlineExecutor(progress=progress, record_trace=record_trace, on_metrics=on_metrics)
    if name == "ray":
        return RayExecutor(address=address, progress=progress, max_processes=max_processes,
                           record_trace=record_trace, on_metrics=on_metrics, max_window_ps=max_window_ps,
                           keep_processes=keep_processes)
    raise UserError(f"--executor must be one of {', '.join(EXECUTORS)}, got '{name}'")


def ensure_ray_cluster(address: str | None = None) -> None:
    """Start (or join) Ray exactly as the Ray executor does; imports Ray, so only for --executor ray."""
    ensure_ray(address)


def add_executor_flags(parser) -> None:
    parser.add_argument("--executor", choices=EXECUTORS, default="ray",
                        help="inline: one process; ray: every actor a Ray actor (default: ray)")
    parser.add_argument("--address", default=None,
                        help="join an existing Ray cluster (e.g. 'auto' or 'ray://head:10001'); "
                             "default: start an embedded local Ray sized to this machine")
    parser.add_argument("--max-processes", type=int, default=1,
                        help="with --executor ray: Ray processes per simulated system (default 1: on a small "
                             "machine one process per system is fastest, and the systems of a comparison run "
                             "side by side); 0 = every actor in its own Ray process")
