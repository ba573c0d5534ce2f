"""Multi-node: a 2-node Ray cluster on loopback (ray.cluster_utils.Cluster), the executor's
processes spread across both nodes, gives bit-identical results (actor results, end time,
event count, event trace) to the inline executor. Runs in a subprocess so it neither
shares nor disturbs the test session's Ray."""
import json
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, shutil, sys, tempfile
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

temp = tempfile.mkdtemp(prefix="lr", dir="/tmp")    # no other Ray on the machine finds this cluster
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False, "temp_dir": temp})
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
    shutil.rmtree(temp, ignore_errors=True)
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


GRID_SCRIPT = r"""
import json, shutil, sys, tempfile, time
t0 = time.perf_counter()
import ray
from ray.cluster_utils import Cluster
from lolpim.actors.demo.grid import GridShape
from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.actors.kernel.ray_executor import RayExecutor

shape = GridShape(side=6, steps=25, messages=2, payload_bytes=64)
system = shape.system(seed=2)
inline = InlineExecutor(record_trace=True).run(system)
# two raylets on this machine, each with its own custom resource, so each process is placed by
# name; in a temporary directory of their own, so that no other Ray on the machine finds them
# (ray.init without an address joins the latest cluster under /tmp/ray)
temp = tempfile.mkdtemp(prefix="lr", dir="/tmp")
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                         "resources": {"node_a": 4}, "temp_dir": temp})
try:
    cluster.add_node(num_cpus=1, resources={"node_b": 4})
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
    started = time.perf_counter() - t0
    executor = RayExecutor(max_processes=4, record_trace=True, keep_processes=True, checkpoint_every=8,
                           actor_options=[{"resources": {"node_a": 1}, "num_cpus": 0},
                                          {"resources": {"node_b": 1}, "num_cpus": 0}])
    distributed = executor.run(system)
    placed = ray.get([p.handle.node_id.remote() for p in executor.processes])
    executor.close()
    print(json.dumps({"identical": distributed.comparable() == inline.comparable(),
                      "events": inline.events, "windows": distributed.stats["windows"],
                      "cross_events": distributed.stats["cross_events"],
                      "cross_per_step": shape.cross_messages_per_step(4),
                      "cluster_nodes": len([n for n in ray.nodes() if n["Alive"]]),
                      "placed": placed, "start_s": started, "total_s": time.perf_counter() - t0}))
finally:
    ray.shutdown()
    cluster.shutdown()
    shutil.rmtree(temp, ignore_errors=True)
"""


@pytest.mark.slow
@pytest.mark.ray
def test_grid_across_two_nodes_pushes_between_them_and_matches_inline():
    """Issue 24: the tiles' spikes cross processes on two nodes (placed by custom resources:
    processes 0 and 2 on one raylet, 1 and 3 on the other) in every window, pushed process to
    process; the result equals the inline run bit for bit."""
    import os
    import signal
    proc = subprocess.Popen([sys.executable, "-c", GRID_SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:            # the cluster's raylets are in the script's session: all go
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, stderr[-3000:]
    out = json.loads(stdout.strip().splitlines()[-1])
    assert out["cluster_nodes"] == 2
    assert len(set(out["placed"][0::2])) == 1 and len(set(out["placed"][1::2])) == 1
    assert out["placed"][0] != out["placed"][1], out          # really on both nodes
    assert out["cross_events"] >= (out["windows"] - 1) * out["cross_per_step"] > 0
    assert out["identical"], out
