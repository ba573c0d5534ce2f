"""Multi-node: a 2-node Ray cluster on loopback (ray.cluster_utils.Cluster), the executor's
processes spread across both nodes, gives bit-identical results (actor results, end time,
event count, event trace) to the inline executor. Runs in a subprocess so it neither
shares nor disturbs the test session's Ray."""
import json
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, sys
import ray
from ray.cluster_utils import Cluster
from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.actors.kernel.ray_executor import RayExecutor
from lolpim.orchestration import config as cfgmod
from lolpim.orchestration.llm.config import RunConfig
from lolpim.orchestration.llm.systems import build, make_trace

cfg = cfgmod.load(RunConfig, None, sys.argv[1:])
built = build(cfg.system, cfg, make_trace(cfg, 0), 0)
inline = InlineExecutor(record_trace=True).run(built.spec)

cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
cluster.add_node(num_cpus=1)
cluster.wait_for_nodes()
ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
try:
    executor = RayExecutor(max_processes=4, record_trace=True, keep_processes=True, checkpoint_every=8,
                           actor_options={"scheduling_strategy": "SPREAD"})
    distributed = executor.run(built.spec)
    placed = ray.get([p.handle.node_id.remote() for p in executor.processes])
    executor.close()
    print(json.dumps({"identical": distributed.comparable() == inline.comparable(),
                      "events": inline.events, "trace": len(inline.trace or []),
                      "cluster_nodes": len([n for n in ray.nodes() if n["Alive"]]),
                      "process_nodes": len(set(placed)), "processes": len(placed),
                      "windows": distributed.stats["windows"]}))
finally:
    ray.shutdown()
    cluster.shutdown()
"""


@pytest.mark.ray
def test_two_node_cluster_matches_inline(tiny):
    done = subprocess.run([sys.executable, "-c", SCRIPT] + tiny.set + ["system=lolpim"],
                          capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["cluster_nodes"] == 2
    assert out["processes"] == 4 and out["process_nodes"] == 2, out   # really spread over both nodes
    assert out["events"] > 500 and out["trace"] == out["events"] and out["windows"] > 10
    assert out["identical"], out
