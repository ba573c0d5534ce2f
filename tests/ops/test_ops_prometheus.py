"""A real Prometheus (Debian package `prometheus`, installed by .ci/run) scrapes a running
`lolpim run --metrics-port ...`; its HTTP query API then holds the simulation's series
with the values the run itself reports."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

PROMETHEUS = shutil.which("prometheus")


@pytest.fixture(autouse=True)
def need_prometheus():
    if PROMETHEUS is not None:
        return
    reason = "the prometheus binary is not on PATH (apt-get install -y prometheus; .ci/run does)"
    if os.environ.get("LOLPIM_REQUIRE_PROMETHEUS") == "1":   # CI: a missing binary is a failure
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(port: int, expr: str) -> list:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = json.load(resp)
    assert body["status"] == "success", body
    return body["data"]["result"]


def wait_for(predicate, timeout_s: float, what: str, procs):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for p in procs:
            assert p.poll() is None, f"{p.args[0]} exited early: {p.stderr.read() if p.stderr else ''}"
        try:
            value = predicate()
            if value:
                return value
        except OSError:
            pass   # not listening yet
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@pytest.mark.slow   # two real services (a lolpim run, Prometheus) starting and scraping: ~6 s of waiting
def test_prometheus_scrapes_a_running_simulation(tmp_path, tiny):
    sim_port, prom_port = free_port(), free_port()
    lolpim = Path(sys.executable).with_name("lolpim")
    sim = subprocess.Popen([str(lolpim), "run", "--executor", "inline", "--json", "--metrics-port", str(sim_port),
                            "--metrics-linger-s", "60"] + [a for kv in tiny.set for a in ("--set", kv)]
                           + ["--set", "system=lolpim"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: lolpim
    static_configs: [{{targets: ["127.0.0.1:{sim_port}"]}}]
""")
    prom = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # the run's own result: printed on stdout when the simulation is done (then it lingers)
        summary = json.loads(sim.stdout.readline())["systems"][0]
        tokens = wait_for(lambda: query(prom_port, 'lolpim_tokens_generated_total{system="lolpim"}'), 45,
                          "the first scrape", [sim, prom])
        up = query(prom_port, 'up{job="lolpim"}')
        assert [float(s["value"][1]) for s in up] == [1.0]
        assert float(tokens[0]["value"][1]) == summary["output_tokens"] == 32
        assert float(query(prom_port, "lolpim_requests_admitted_total")[0]["value"][1]) == 4
        busy = query(prom_port, 'lolpim_pim_module_busy_seconds_total{system="lolpim"}')
        assert len(busy) == summary["stages"] == 8
        assert sorted(s["metric"]["module"] for s in busy) == [f"{i:03d}" for i in range(8)]
        makespan = summary["makespan_s"]
        assert all(0 < float(s["value"][1]) <= makespan for s in busy)
        sim_time = float(query(prom_port, "lolpim_sim_time_seconds")[0]["value"][1])
        assert makespan <= sim_time <= makespan * 1.01 + 1e-6
        cap = query(prom_port, 'sum(lolpim_kv_bytes{state="capacity"})')
        assert float(cap[0]["value"][1]) == pytest.approx(summary["kv_capacity_gib"] * 2**30)
        events = float(query(prom_port, "sum(lolpim_events_processed_total)")[0]["value"][1])
        assert events == summary["events"]
        windows = float(query(prom_port, "sum(lolpim_window_duration_seconds_count)")[0]["value"][1])
        assert windows >= 1
    finally:
        for p in (prom, sim):
            p.terminate()
        for p in (prom, sim):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
