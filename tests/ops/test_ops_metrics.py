"""The metrics exporter: what a scrape shows agrees with the run's own results (tokens,
busy time, events, simulated time, KV bytes), KV gauges stay ordered used <= allocated <=
capacity throughout a run, the Ray executor reports the same final values as inline, and
a port that cannot be bound is a clear user error."""
import socket

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.orchestration.llm.result_types import ActorRoles
from lolpim.orchestration.metrics import FAMILIES, MetricsExporter, system_label


def scrape(exporter) -> dict:
    """{(sample name, sorted labels): value} of one scrape."""
    out = {}
    for fam in text_string_to_metric_families(exporter.render()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def values(samples, name, **labels) -> dict:
    pick = ("module", "population", "actor", "system")
    return {next(dict(k[1])[p] for p in pick if p in dict(k[1])): v
            for k, v in samples.items() if k[0] == name and labels.items() <= dict(k[1]).items()}


def test_labels(tiny):
    roles = ActorRoles.of(tiny.llm().spec)
    modules = roles.module_of()
    assert len(roles.stages) == len(roles.kv_managers) == 8
    assert modules[roles.stages[7]] == modules[roles.kv_managers[7]] == "007"
    assert system_label(["cent.host", "cent.stage000", "cent.dpa000"]) == "cent"
    assert system_label(["n0", "n0.left"]) == "sim"


def run_scraped(built, every: int = 25):
    """Run inline, scraping the exporter at every report."""
    exporter = MetricsExporter()
    sink = exporter.sink(str(built.kind), ActorRoles.of(built.spec))
    during = []

    def report(t_ps, metrics):
        sink(t_ps, metrics)
        during.append(scrape(exporter))
    run = InlineExecutor(on_metrics=report, metrics_every_events=every).run(built.spec)
    return run, exporter, during


def kv_disorder(during) -> list:
    """Reports where a module's KV bytes are not ordered used <= allocated <= capacity."""
    bad = []
    for samples in during:
        used, alloc, cap = (values(samples, "lolpim_kv_bytes", state=s) for s in ("used", "allocated", "capacity"))
        bad += [(m, used[m], alloc[m], cap[m]) for m in cap if not 0 <= used[m] <= alloc[m] <= cap[m]]
    return bad


def test_scrape_agrees_with_the_runs_results_and_kv_stays_ordered(tiny):
    from lolpim.orchestration.llm.result_types import system_result
    # 500-token prompts: not a whole number of 16-token chunks (whole chunks: the next test)
    built = tiny.llm(extra=["workload.input_tokens=500"])
    run, exporter, during = run_scraped(built)
    summary = system_result(built, run)
    final = scrape(exporter)
    assert len(during) >= 5   # mid-run reports, not just the last
    assert values(final, "lolpim_tokens_generated_total") == {"lolpim": summary.output_tokens}
    assert values(final, "lolpim_requests_admitted_total") == {"lolpim": summary.requests}
    assert sum(values(final, "lolpim_events_processed_total").values()) == run.events
    assert values(final, "lolpim_sim_time_seconds")["lolpim"] == pytest.approx(run.end_time_ps * 1e-12)
    busy = values(final, "lolpim_pim_module_busy_seconds_total")
    assert len(busy) == built.stages == 8
    roles = ActorRoles.of(built.spec)
    for i, name in enumerate(roles.stages):
        assert busy[f"{i:03d}"] == pytest.approx(run.results[name]["busy_ps"] * 1e-12)
    capacity = values(final, "lolpim_kv_bytes", state="capacity")
    assert sum(capacity.values()) == pytest.approx(built.kv_capacity_bytes)
    assert not kv_disorder(during)
    assert any(v > 0 for samples in during for v in values(samples, "lolpim_kv_bytes", state="used").values())
    windows = values(final, "lolpim_window_duration_seconds_count")
    assert windows["lolpim"] == len(during)
    assert {k[0] for k in final} >= {f for f in FAMILIES if "synapse" not in f and "window" not in f}


def test_kv_used_within_allocated_when_prompts_fill_whole_chunks(tiny):
    run, exporter, during = run_scraped(tiny.llm())
    assert not kv_disorder(during)


def test_an_llm_run_without_roles_reports_no_module_families(tiny):
    """Which actor is a stage, a host or a KV manager comes from the built system, not from the
    keys an actor reports or the digits of its name: a sink given no roles leaves the
    per-module, token and KV families out (and still counts every actor's events)."""
    built = tiny.llm()
    exporter = MetricsExporter()
    run = InlineExecutor(on_metrics=exporter.sink()).run(built.spec)
    final = scrape(exporter)
    assert sum(values(final, "lolpim_events_processed_total").values()) == run.events
    for family in ("lolpim_pim_module_busy_seconds_total", "lolpim_tokens_generated_total", "lolpim_kv_bytes"):
        assert not values(final, family), family


def test_plasticity_reports_synapse_updates(tiny):
    """One neuron block ("b0") and its two eye populations: each population reports its
    integration steps (the compiled cascade's, all its synapses together) as synapse updates,
    equal to the run's own count, and they grow during the run."""
    system = tiny.plasticity()
    exporter = MetricsExporter()
    seen = []
    sink = exporter.sink()

    def report(t_ps, metrics):
        sink(t_ps, metrics)
        seen.append(values(scrape(exporter), "lolpim_synapse_updates_total"))
    run = InlineExecutor(on_metrics=report, metrics_every_events=200).run(system)
    updates = values(scrape(exporter), "lolpim_synapse_updates_total")
    events = values(scrape(exporter), "lolpim_events_processed_total")
    assert set(updates) == {"b0.left", "b0.right"}
    for pop, n in updates.items():
        assert n == run.results[pop]["steps"] > 0
        assert run.results[pop]["events"] > 0          # presynaptic spikes taken
    assert len(seen) > 2 and all(a[p] <= b[p] for a, b in zip(seen, seen[1:]) for p in a if p in b)
    assert seen[0].get("b0.left", 0) < updates["b0.left"]
    assert set(events) == {"b0", "b0.left", "b0.right"}
    assert sum(events.values()) == run.events


@pytest.mark.ray
def test_ray_executor_reports_per_window_and_ends_equal_to_inline(tiny, ray_pool):
    built = tiny.llm()
    inline, ray_exp = MetricsExporter(), MetricsExporter()
    roles = ActorRoles.of(built.spec)
    InlineExecutor(on_metrics=inline.sink("lolpim", roles)).run(built.spec)
    calls = []
    sink = ray_exp.sink("lolpim", roles)
    run = ray_pool(max_processes=2, on_metrics=lambda t, m: (calls.append(t), sink(t, m))).run(built.spec)
    assert len(calls) == run.stats["windows"] + 1
    assert calls == sorted(calls)
    drop = ("lolpim_window_duration_seconds",)
    a = {k: v for k, v in scrape(inline).items() if not k[0].startswith(drop)}
    b = {k: v for k, v in scrape(ray_exp).items() if not k[0].startswith(drop)}
    assert a == b


def test_metrics_port_in_use_is_a_user_error(capsys):
    from lolpim.orchestration.cli import main
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["run", "--executor", "inline", "--metrics-port", str(port)])
    assert code == 2
    assert f"--metrics-port {port}" in capsys.readouterr().err
