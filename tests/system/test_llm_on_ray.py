"""The serving actors declare their peers, so a system whose actors share one Ray process runs
in a few wide windows (not one per pipeline hop) and still gives the inline result bit for bit,
however its actors are placed, and after a process is killed and restored."""
import pytest

from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.orchestration import config
from lolpim.orchestration.llm.config import RunConfig
from lolpim.orchestration.llm.systems import build, make_trace

SMALL = ["model=llama2-7b", "workload.source=fixed", "workload.input_tokens=2000", "workload.output_tokens=16",
         "workload.requests=6", "pim_capacity_gib=64"]
WINDOW_PS = 20 * 10**9   # 20 ms of simulated time


def system(kind):
    cfg = config.load(RunConfig, None, SMALL)
    return build(kind, cfg, make_trace(cfg, 0), 0).spec


def test_serving_actors_declare_exactly_the_actors_they_send_to():
    spec = system("lolpim")
    names = {a.name for a in spec.actors}
    built = {a.name: a.build(0) for a in spec.actors}
    for name, actor in built.items():
        assert actor.peer_names and actor.peer_names <= names - {name}, name
    # every message that crosses actors in a run goes to a declared peer (Actor.send checks it)
    assert InlineExecutor().run(spec).events > 0


@pytest.mark.ray
@pytest.mark.parametrize("kind", ["lolpim", "cent", "gpu"])
@pytest.mark.parametrize("max_processes", [1, 2, 0])
def test_llm_system_on_ray_equals_inline_for_any_placement(ray_pool, kind, max_processes):
    spec = system(kind)
    inline = InlineExecutor(record_trace=True).run(spec)
    ray_run = ray_pool(max_processes=max_processes, max_window_ps=WINDOW_PS, record_trace=True).run(spec)
    assert ray_run.results == inline.results
    assert ray_run.trace == inline.trace
    assert ray_run.end_time_ps == inline.end_time_ps
    if max_processes == 1:   # no actor talks outside the process: windows are capped only by WINDOW_PS
        assert ray_run.stats["windows"] <= inline.end_time_ps // WINDOW_PS + 2


@pytest.mark.ray
def test_killed_process_in_a_wide_window_run_is_restored_with_the_same_result(ray_session, ray_pool):
    spec = system("lolpim")
    inline = InlineExecutor().run(spec)

    def kill_once(window, executor):
        if window == 3 and executor.recoveries == 0:
            ray_session.kill(executor.processes[0].handle)

    executor = ray_pool(max_processes=1, max_window_ps=WINDOW_PS // 4, checkpoint_every=2, on_window=kill_once)
    ray_run = executor.run(spec)
    assert executor.recoveries == 1
    assert ray_run.results == inline.results
