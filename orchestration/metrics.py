"""Prometheus metrics: what the actors report with their window replies, served at /metrics.

Executors call a *sink* ``sink(sim_time_ps, {actor: {metric: value}})`` after every
window (Ray) or every N events (inline). The exporter keeps the latest report of each
run and turns it into Prometheus families when scraped, so a scrape always sees one
consistent snapshot and the simulation never waits on the network.

Actor metric keys and the families they become (labels in braces):

  events_processed_total   lolpim_events_processed_total{system,actor}          counter
  busy_seconds_total       lolpim_pim_module_busy_seconds_total{system,module}  counter
                           (module: the stage's index, shared by a module's stage
                           and DPA controller: "007")
  passes_total             lolpim_pim_module_passes_total{system,module}        counter
  kv_allocated_chunks,
  kv_capacity_chunks,
  kv_tokens_per_chunk      lolpim_kv_bytes{system,module,state}                 gauge
  tokens_generated_total   lolpim_tokens_generated_total{system}                counter
  requests_admitted_total  lolpim_requests_admitted_total{system}               counter
  requests_waiting         lolpim_requests_waiting{system}                      gauge
  synapse_updates_total    lolpim_synapse_updates_total{system,population}      counter
  (the sink's time)        lolpim_sim_time_seconds{system}                      gauge
  (wall time per report)   lolpim_window_duration_seconds{system}               histogram

``lolpim_kv_bytes`` has state="capacity", "allocated" (chunks mapped x chunk size) and
"used" (tokens held x the chunk space one token takes on that module). The chunk size is
the host's KV capacity in bytes over its DPAs' chunk count; the tokens held come from the
host, since every module of a pipeline holds every running request's KV for its layers.

Which actor of an LLM system is its host, a stage or a KV manager (DPA controller) is known
from the built system (orchestration/llm/result_types.ActorRoles, given to ``sink``), never
guessed from an actor's name or from the keys it reports; a run without roles (plasticity,
Hebbian) reports the per-actor families only (events, synapse updates).

Simulated time restarts at zero for each system of a comparison, so the counters of a
system reset between runs in one process; Prometheus treats that as a counter reset.
"""
from __future__ import annotations

import contextlib
import sys
import threading
import time

from lolpim.core.errors import UserError
from lolpim.orchestration.llm.result_types import ActorRoles

SIM_PREFIX = "lolpim"
WINDOW_BUCKETS_S = (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)

# every family the exporter can emit (the dashboard test checks against a real scrape too)
FAMILIES = ("lolpim_events_processed_total", "lolpim_pim_module_busy_seconds_total",
            "lolpim_pim_module_passes_total", "lolpim_kv_bytes", "lolpim_tokens_generated_total",
            "lolpim_requests_admitted_total", "lolpim_requests_waiting", "lolpim_synapse_updates_total",
            "lolpim_sim_time_seconds", "lolpim_window_duration_seconds")


def system_label(actor_names) -> str:
    """The common dotted prefix of a run's actor names ("lolpim.host", "lolpim.stage000" ->
    "lolpim"); "sim" when there is none (e.g. the plasticity system's "n0", "n0.left")."""
    prefixes = {name.split(".", 1)[0] if "." in name else None for name in actor_names}
    if len(prefixes) == 1 and None not in prefixes:
        return str(prefixes.pop())
    return "sim"


class MetricsExporter:
    """A Prometheus collector over the latest metrics report of each system."""

    def __init__(self, registry=None):
        from prometheus_client import CollectorRegistry, Histogram
        self.registry = registry if registry is not None else CollectorRegistry()
        self._lock = threading.Lock()
        # system -> (sim time s, {actor: metrics}, what its actors do: ActorRoles for an LLM system)
        self._latest: dict[str, tuple[float, dict, ActorRoles | None]] = {}
        self.window_duration = Histogram("lolpim_window_duration_seconds",
                                         "Wall-clock seconds between two metrics reports of a run "
                                         "(one Ray window, or N inline events)",
                                         ["system"], buckets=WINDOW_BUCKETS_S, registry=self.registry)
        self.registry.register(self)
        self.server = None

    # --- feeding ------------------------------------------------------------------
    def sink(self, system: str | None = None, roles: ActorRoles | None = None):
        """A fresh callback for one run of ``system`` (default: the actors' common name prefix)
        whose actors do what ``roles`` says (an LLM system); it also times the wall clock
        between its reports."""
        last = [time.perf_counter()]

        def report(sim_time_ps: int, metrics: dict) -> None:
            now = time.perf_counter()
            name = system or system_label(metrics)
            self.window_duration.labels(system=name).observe(now - last[0])
            last[0] = now
            snapshot = {actor: dict(values) for actor, values in metrics.items()}
            with self._lock:
                self._latest[name] = (sim_time_ps * 1e-12, snapshot, roles)
        return report

    # --- the collector protocol -------------------------------------------------------
    def describe(self):
        return []   # families depend on what was reported; nothing to pre-declare

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        with self._lock:
            latest = dict(self._latest)
        fam: dict[str, CounterMetricFamily | GaugeMetricFamily] = {
            "events": CounterMetricFamily("lolpim_events_processed", "Events delivered to an actor",
                                          labels=["system", "actor"]),
            "busy": CounterMetricFamily("lolpim_pim_module_busy_seconds",
                                        "Simulated seconds a pipeline stage (PIM module or GPU group) was busy",
                                        labels=["system", "module"]),
            "passes": CounterMetricFamily("lolpim_pim_module_passes", "Micro-batch passes a stage served",
                                          labels=["system", "module"]),
            "kv": GaugeMetricFamily("lolpim_kv_bytes", "KV-cache bytes of a module's DPA controller",
                                    labels=["system", "module", "state"]),
            "tokens": CounterMetricFamily("lolpim_tokens_generated", "Output tokens generated",
                                          labels=["system"]),
            "admitted": CounterMetricFamily("lolpim_requests_admitted", "Requests admitted into KV memory",
                                            labels=["system"]),
            "waiting": GaugeMetricFamily("lolpim_requests_waiting", "Requests waiting for KV memory",
                                         labels=["system"]),
            "synapse": CounterMetricFamily("lolpim_synapse_updates", "Synapse state updates",
                                           labels=["system", "population"]),
            "time": GaugeMetricFamily("lolpim_sim_time_seconds", "Simulated time reached",
                                      labels=["system"]),
        }
        for system, (sim_s, actors, roles) in sorted(latest.items()):
            fam["time"].add_metric([system], sim_s)
            self._add_system(fam, system, actors, roles)
        yield from fam.values()

    @staticmethod
    def _add_system(fam: dict, system: str, actors: dict, roles: ActorRoles | None) -> None:
        for actor, m in sorted(actors.items()):
            if "events_processed_total" in m:
                fam["events"].add_metric([system, actor], m["events_processed_total"])
            if "synapse_updates_total" in m:
                fam["synapse"].add_metric([system, actor], m["synapse_updates_total"])
        if roles is None:
            return
        module = roles.module_of()
        for stage in roles.stages:
            if stage in actors:
                m = actors[stage]
                fam["busy"].add_metric([system, module[stage]], m["busy_seconds_total"])
                fam["passes"].add_metric([system, module[stage]], m.get("passes_total", 0))
        host = actors.get(roles.host)
        if host is None:
            return
        fam["tokens"].add_metric([system], host["tokens_generated_total"])
        fam["admitted"].add_metric([system], host.get("requests_admitted_total", 0))
        fam["waiting"].add_metric([system], host.get("requests_waiting", 0))
        dpas = {name: actors[name] for name in roles.kv_managers if name in actors}
        total_chunks = sum(m["kv_capacity_chunks"] for m in dpas.values())
        if not total_chunks or len(dpas) < len(roles.kv_managers) or "kv_capacity_bytes" not in host:
            return
        chunk_bytes = host["kv_capacity_bytes"] / total_chunks
        for actor, m in dpas.items():
            fam["kv"].add_metric([system, module[actor], "capacity"], m["kv_capacity_chunks"] * chunk_bytes)
            fam["kv"].add_metric([system, module[actor], "allocated"], m["kv_allocated_chunks"] * chunk_bytes)
            if m.get("kv_tokens_per_chunk") and "kv_tokens_in_use" in host:
                # every module of a DPA group holds its share of every running request
                fam["kv"].add_metric([system, module[actor], "used"], host["kv_tokens_in_use"] * chunk_bytes
                                     * m.get("kv_modules", 1) / m["kv_tokens_per_chunk"])

    # --- serving ------------------------------------------------------------------
    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Serve /metrics on (host, port) from a daemon thread; returns the bound port
        (pass port 0 to let the system choose)."""
        from prometheus_client import start_http_server
        self.server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return self.server.server_port

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def render(self) -> str:
        from prometheus_client import generate_latest
        return generate_latest(self.registry).decode()


# --- the process-wide exporter of the CLI ---------------------------------------------
# One CLI process serves one /metrics endpoint; every executor made while it is active
# reports to it, without threading a callback through every command.
_active: MetricsExporter | None = None


def exporter_active() -> bool:
    """Whether this process serves /metrics now."""
    return _active is not None


def active_sink(system: str | None = None, roles: ActorRoles | None = None):
    """A sink for a new run (of ``system``, its actors doing what ``roles`` says) when an
    exporter is active in this process, else None."""
    return _active.sink(system, roles) if _active is not None else None


@contextlib.contextmanager
def serving(host: str | None, port: int | None, linger_s: float | None = 0.0):
    """Serve /metrics while the body runs (no-op when port is None), then keep serving for
    ``linger_s`` seconds so a scraper sees the final values. ``host`` None: 127.0.0.1."""
    global _active
    if port is None:
        yield None
        return
    host, linger_s = host or "127.0.0.1", linger_s or 0.0
    exporter = MetricsExporter()
    try:
        bound = exporter.serve(port, host)
    except OSError as exc:
        raise UserError(f"--metrics-port {port}: cannot listen on {host}:{port} ({exc.strerror or exc})") from exc
    print(f"metrics: serving http://{host}:{bound}/metrics", file=sys.stderr, flush=True)
    _active = exporter
    try:
        yield exporter
        if linger_s > 0:
            time.sleep(linger_s)
    finally:
        _active = None
        exporter.close()


def add_metrics_flags(parser) -> None:
    parser.add_argument("--metrics-port", type=int, default=None,
                        help="serve Prometheus metrics at http://HOST:PORT/metrics while running "
                             "(0: any free port, printed on stderr)")
    parser.add_argument("--metrics-host", default=None,
                        help="address the metrics endpoint binds to (default 127.0.0.1: this machine only)")
    parser.add_argument("--metrics-linger-s", type=float, default=None,
                        help="keep serving metrics this many seconds after the run ends (for a last scrape)")
