"""Ctrl-C of a comparison (issue 14): it stops within seconds, not when every system is done,
and keeps (and names) the systems that finished. The systems are stand-ins here, so the test
checks the control flow in a second, without simulating or starting Ray."""
import _thread
import threading
import time
from types import SimpleNamespace

import pytest

from lolpim.orchestration.llm import compare
from lolpim.orchestration.llm.config import RunConfig


def _ctrl_c_after(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    return timer


def test_ctrl_c_of_an_inline_comparison_keeps_the_systems_that_finished(stub_comparison):
    def run(spec):
        if spec == "gpu":
            raise KeyboardInterrupt   # Ctrl-C while the second system runs
        return spec
    stub_comparison(run)
    with pytest.raises(compare.ComparisonInterrupted) as stop:
        compare.run_systems(RunConfig(), ("lolpim", "gpu", "cent"), "inline", 0)
    assert [s.system for s in stop.value.result.systems] == ["lolpim"]
    assert stop.value.unfinished == ["gpu", "cent"]
    assert isinstance(stop.value, KeyboardInterrupt)   # a sweep point still stops the sweep


def test_ctrl_c_of_a_side_by_side_comparison_returns_at_once(monkeypatch, stand_in):
    import ray

    import lolpim.actors.kernel.ray_executor as ray_executor
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2})
    monkeypatch.setattr(ray_executor, "ensure_ray", lambda address=None: None)
    monkeypatch.setattr(compare, "ensure_ray_cluster", lambda address=None: None, raising=False)
    built = [SimpleNamespace(kind=k, spec=SimpleNamespace(actors=[0] * n)) for k, n in
             (("slow", 3), ("fast", 2), ("queued", 1))]

    def simulate(system, executor):
        if system.kind == "fast":
            return stand_in("fast")
        time.sleep(60)            # a system that would run for a minute more

    summaries = [None] * len(built)
    _ctrl_c_after(0.5)
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        compare._side_by_side(built, simulate, None, lambda: SimpleNamespace(close=lambda: None), None, summaries)
    assert time.monotonic() - t0 < 5
    assert summaries == [None, stand_in("fast"), None]


def test_run_reports_the_finished_systems_and_exits_130(monkeypatch, capsys, stand_in):
    import json

    from lolpim.orchestration.cli import main
    from lolpim.orchestration.llm import api
    partial = compare.Comparison("llama2-7b", 128.0, "t", 4, 512.0, 8.0, "before", True, "lolpim", "inline", 0,
                                 (stand_in("lolpim", tpot_mean_s=float("nan")),))

    def interrupted(*args, **kwargs):
        raise compare.ComparisonInterrupted(partial, ["gpu", "cent"])
    monkeypatch.setattr(api, "run_systems", interrupted)
    rc = main(["run", "--executor", "inline", "--json", "--set", "model=llama2-7b", "--set", "system=compare",
               "--set", "systems=lolpim,gpu,cent"])
    out, err = capsys.readouterr()
    assert rc == 130
    assert err.strip() == "lolpim: interrupted; finished: lolpim; not finished: gpu, cent"
    assert json.loads(out)["systems"][0]["tpot_mean_s"] is None   # strict JSON: NaN is null
