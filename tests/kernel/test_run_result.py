"""RunResult.comparable: an actor's own timings (its ``measured`` entry) are reported but never
part of the bit-for-bit comparison between executors; everything else is."""
from lolpim.actors.kernel.system import MEASURED, RunResult


def _run(results):
    return RunResult(results=results, end_time_ps=10, events=3, trace=None)


def test_measured_timings_are_left_out_of_the_comparison():
    a = _run({"t0": {"w": [1.0, 2.0], MEASURED: {"cpu_s": 0.5}}, "t1": 7})
    b = _run({"t0": {"w": [1.0, 2.0], MEASURED: {"cpu_s": 0.9}}, "t1": 7})
    assert a.comparable() == b.comparable()
    assert a.results["t0"][MEASURED]["cpu_s"] == 0.5          # still reported


def test_everything_else_is_compared():
    a = _run({"t0": {"w": [1.0, 2.0], MEASURED: {"cpu_s": 0.5}}})
    assert a.comparable() != _run({"t0": {"w": [1.0, 2.5], MEASURED: {"cpu_s": 0.5}}}).comparable()
    assert a.comparable() != _run({"t0": {"w": [1.0, 2.0], "cpu_s": 0.5}}).comparable()
