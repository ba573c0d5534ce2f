"""A cost model of one conservative window of the Ray executor (issue 24), its parameters
measured by microbenchmarks on this machine, checked against the measured runs of
benchmarks/window_cost.py, and projected to 64 processes on 8 nodes.

Per window, for P processes that all have work (the grid: every tile steps every window),
X events crossing processes, E events in all, k_i processes that process i sends to:

  calls        = P                        one window call per process, nothing else
  driver bytes = sum_i (request + reply_i)  push: a few numbers each (the executor's own layout,
               + [driver] 2 X s             packed with typical values); driver routing: the X
                                            events of s bytes come back in replies and go out again
  driver CPU   = c_round + P (c_call + c_msg) + bytes c_byte + [driver] X c_route + c_wait * (time waited)
  process CPU  = E c_event + [push] sum_i k_i c_push          (all processes together)
  wall         = max(driver CPU + l_call + E/P c_event + [push] (max k_i c_push + l_push) + network,
                     (driver CPU + process CPU) / cores)

  c_round, c_call  driver CPU per round of calls and per call in it (submit, then collect small
           replies through the executor's wait), from rounds of one and of four calls
  c_wait   driver CPU per second spent waiting for a reply (Ray polls), from a call that sleeps
  c_msg    driver CPU to pack a request, unpack a reply and plan from it (per layout; the layout
           before issue 24 carried every actor's figures, so it has a per-actor term), each timed
           right after a Ray call as in a run (in a tight loop it costs a third to a half of that)
  c_byte   driver CPU per byte of reply, from a 64 KiB reply against a small one
  c_route  driver CPU per routed event: decode a batch of spikes, sort, encode
  c_event  CPU per event inside a process, from an inline run of a 4 x 4 grid of the same tiles
  c_push   a process's CPU per push (submit, wait for the receiver to take it), l_push its round
           trip, l_call the round trip of a call from the driver: a no-op actor called in a loop
  network  (a cluster only) each call crossing nodes adds two hops of latency; the driver's link
           carries its bytes, each node's link its processes' pushes.

The cortical sheet (predict_sheet, below): calls = P, as every tile ticks every window; its
lateral messages and their bytes from the tile layout (which tiles reach which, in which process)
and how often each tile fired (the inline run: the simulation's output, not a cost); the tiles'
CPU per window from inline runs of a smaller sheet.

No parameter is fitted to the runs the model predicts. Run:
  .venv/bin/python benchmarks/window_model.py [--measured before=F driver=F push=F] [--docs] [--docs-sheet]
(without --measured it runs benchmarks/window_cost.py for both routings first).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import msgpack

from lolpim.actors.demo.grid import GridShape, Spike, neighbours, tile_name
from lolpim.actors.kernel.codec import decode_batch, encode_batch
from lolpim.actors.kernel.events import Event
from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.actors.kernel.loop import merge_summaries, next_window, plan_window
from lolpim.actors.kernel.messages import encode as encode_message

sys.path.insert(0, str(Path(__file__).resolve().parent))
import window_cost  # (the measured runs: same folder)


@dataclass(frozen=True)
class Parameters:
    call_cpu_s: float              # driver: submit one call and collect its reply (Ray)
    wait_cpu_per_s: float          # driver CPU per second spent waiting for a reply (Ray polls)
    message_cpu_s: dict            # driver: pack a request, unpack a reply: layout -> (base, per actor)
    byte_cpu_s: float
    route_cpu_s_per_event: float
    event_cpu_s: float
    push_cpu_s: float              # a process: submit one push and wait for it to be taken
    call_latency_s: float
    push_latency_s: float
    # driver CPU per round of calls beyond call_cpu_s per call (the first reply waited for); 0 in
    # parameters measured before the rounds were told apart (call_cpu_s was then the mean over rounds
    # of two calls)
    round_cpu_s: float = 0.0


@dataclass(frozen=True)
class Network:
    """A cluster's assumptions (named in the docs); None for one machine."""
    nodes: int
    cores_per_node: int
    latency_s: float            # added to every call that crosses nodes (one way each, twice per call)
    bandwidth_bytes_per_s: float   # per node link


# --- the workload's shape, computed from the partition (never from a run) ---------------------

def partition(shape: GridShape, processes: int) -> dict:
    n = shape.side * shape.side
    return {tile_name(k // shape.side, k % shape.side): i
            for i in range(processes) for k in range(i * n // processes, (i + 1) * n // processes)}


def workload(shape: GridShape, processes: int) -> dict:
    owner = partition(shape, processes)
    receivers = {i: set() for i in range(processes)}
    cross = 0
    for r in range(shape.side):
        for c in range(shape.side):
            src = owner[tile_name(r, c)]
            for t in neighbours(shape.side, r, c):
                if owner[t] != src:
                    receivers[src].add(owner[t])
                    cross += shape.messages
    spikes = shape.messages * sum(len(neighbours(shape.side, r, c))
                                  for r in range(shape.side) for c in range(shape.side))
    return {"events": spikes + shape.side * shape.side, "cross": cross,
            "receivers": [len(receivers[i]) for i in range(processes)]}


def event_bytes(shape: GridShape) -> int:
    """msgpack bytes of one spike event inside a batch."""
    ev = Event(10**9, tile_name(shape.side - 1, shape.side - 1), tile_name(shape.side - 2, shape.side - 1), 10**4,
               "spike", encode_message(Spike(step=shape.steps, blob=b"x" * shape.payload_bytes)))
    return len(encode_batch([ev] * 2)) - len(encode_batch([ev]))


def messages(layout: str, receivers: int, actors: int, t_ps: int = 10**8) -> tuple[bytes, bytes]:
    """(request, reply) of one window call with typical values and no events (no trace, no metrics
    callback): ``layout`` "push"/"driver" is the executor's; "before" the one before issue 24, whose
    reply carried each actor's next event, bound and metrics. ``t_ps``: a typical simulated time
    (msgpack's integers grow with it)."""
    t, summary = t_ps, [t_ps, t_ps, t_ps + 10**6]
    if layout == "before":
        names = [tile_name(i // 8, i % 8) for i in range(actors)]
        request = msgpack.packb([encode_batch([]), t])
        reply = msgpack.packb({"out": encode_batch([]), "wake": {n: t for n in names}, "bound": {n: t for n in names},
                               "trace": [], "n": 1000, "last": t,
                               "metrics": {n: {"events_processed_total": 10**4} for n in names}}, use_bin_type=True)
        return request, reply
    request = msgpack.packb({"tag": 100, "end": t, "keep": 64,
                             "inbox": encode_batch([]) if layout == "driver" else None}, use_bin_type=True)
    reply = msgpack.packb({"own": summary, "to": [[i, summary] for i in range(receivers)],
                           "out": encode_batch([]) if layout == "driver" else None,
                           "cross": 100, "sent_bytes": 10**5, "trace": [], "n": 1000, "last": t,
                           "metrics": None, "cpu_s": 0.001}, use_bin_type=True)
    return request, reply


def message_cpu(layout: str, receivers: int, actors: int, n: int = 2000, handle=None) -> float:
    """Driver CPU per process and window for the bookkeeping of ``layout``: pack a request, unpack a
    reply (no events), and plan the window from what the replies say (the before layout planned
    from every actor's figures). With ``handle`` (a Ray actor), each repetition follows a Ray call
    to it, as in a run, and only the bookkeeping is timed: right after a call it costs several
    times what it costs repeated in a tight loop (the call's own work has displaced its data)."""
    from lolpim.actors.kernel.ray_executor import wait_for
    request, reply = messages(layout, receivers, actors)
    req = msgpack.unpackb(request)
    names = [tile_name(i // 8, i % 8) for i in range(actors)]
    look = {name: 10**6 for name in names}
    spent = 0.0
    for _ in range(n):
        if handle is not None:
            wait_for(handle.call.remote(b"x" * 40))
        t = time.thread_time()
        msgpack.packb(req, use_bin_type=True)
        data = msgpack.unpackb(reply, raw=False, strict_map_key=False)
        if layout == "before":
            wake, bound = dict(data["wake"]), dict(data["bound"])
            plan_window(wake, bound, [], look, names)
            any(v < 10**9 for v in wake.values())
            {}.update(data["metrics"])
        else:
            next_window(merge_summaries([data["own"]] + [s for _, s in data["to"]]))
        spent += time.thread_time() - t
    return spent / n


def predict(p: Parameters, shape: GridShape, processes: int, routing: str, cores: float,
            network: Network | None = None) -> dict:
    w = workload(shape, processes)
    s = event_bytes(shape)
    calls = processes
    actors = shape.side * shape.side
    sizes = [messages(routing, k, actors // processes) for k in w["receivers"]]
    routed = 2 * w["cross"] * s if routing in ("driver", "before") else 0
    nbytes = sum(len(a) + len(b) for a, b in sizes) + routed
    base, per_actor = p.message_cpu_s[routing]
    driver_cpu = (p.round_cpu_s + calls * (p.call_cpu_s + base + per_actor * actors / processes) + nbytes * p.byte_cpu_s
                  + (w["cross"] * p.route_cpu_s_per_event if routing in ("driver", "before") else 0.0))
    # a process: its events, then (push) one push per receiving process, each waited for
    pushes = max(w["receivers"]) if routing == "push" else 0
    host = w["events"] / processes * p.event_cpu_s + pushes * p.push_cpu_s
    host_total = w["events"] * p.event_cpu_s + (sum(w["receivers"]) * p.push_cpu_s if routing == "push" else 0.0)
    call_latency, push_latency, net = p.call_latency_s, p.push_latency_s, 0.0
    if network is not None:
        call_latency += 2 * network.latency_s
        push_latency += 2 * network.latency_s
        # the driver's link carries every driver byte; a node's link its processes' pushes
        per_node = -(-processes // network.nodes)
        pushed = w["cross"] * s * per_node / processes if routing == "push" else 0
        net = max(nbytes, pushed) / network.bandwidth_bytes_per_s
        cores = network.cores_per_node
        host_total = host_total / network.nodes
    push = push_latency if pushes else 0.0
    # waiting for the replies costs the driver CPU too
    waited = call_latency + host + push + net
    driver_cpu += p.wait_cpu_per_s * waited
    # the critical path, unless the CPU work of a window exceeds what the cores give in that time
    wall = max(driver_cpu + call_latency + host + push + net, (driver_cpu + host_total) / cores)
    return {"processes": processes, "routing": routing, "calls_per_window": calls, "driver_bytes_per_window": nbytes,
            "driver_cpu_us_per_window": 1e6 * driver_cpu, "wall_ms_per_window": 1e3 * wall,
            "host_cpu_us_per_window": 1e6 * (w["events"] * p.event_cpu_s
                                             + (sum(w["receivers"]) * p.push_cpu_s if routing == "push" else 0.0)),
            "events_per_window": w["events"], "cross_events_per_window": w["cross"], "waited_s": waited}


# --- the microbenchmarks -------------------------------------------------------------------------

class _Echo:
    def __init__(self, reply_bytes: int):
        self.reply = b"x" * reply_bytes

    def call(self, _arg: bytes, delay_s: float = 0.0) -> bytes:
        if delay_s:
            time.sleep(delay_s)
        return self.reply

    def set_reply(self, n: int) -> None:
        self.reply = b"x" * n

    def ping_peer(self, peer, n: int) -> tuple[float, float]:
        """(wall, CPU) seconds per call from this process to ``peer`` (a push and its acknowledgement)."""
        import ray
        ray.get(peer.call.remote(b""))
        t, cpu = time.perf_counter(), time.thread_time()
        for _ in range(n):
            ray.get(peer.call.remote(b"x" * 64))
        return (time.perf_counter() - t) / n, (time.thread_time() - cpu) / n


def _driver_cpu_per_round(handles, arg: bytes, rounds: int) -> float:
    """Driver CPU per round of one call to each handle, through the executor's own wait (wait_for)."""
    from lolpim.actors.kernel.ray_executor import wait_for
    for _ in range(5):
        [wait_for(r) for r in [h.call.remote(arg) for h in handles]]
    cpu = time.thread_time()
    for _ in range(rounds):
        [wait_for(r) for r in [h.call.remote(arg) for h in handles]]
    return (time.thread_time() - cpu) / rounds


def measure_parameters(shape: GridShape, rounds: int = 300) -> Parameters:
    import ray
    from lolpim.actors.kernel.ray_executor import ensure_ray
    ensure_ray()
    echo = ray.remote(_Echo)
    handles = [echo.remote(200) for _ in range(4)]
    ray.get([h.call.remote(b"") for h in handles])
    # a round of one call and a round of four: the driver's CPU per round and per further call
    one = _driver_cpu_per_round(handles[:1], b"x" * 40, rounds)
    four = _driver_cpu_per_round(handles, b"x" * 40, rounds // 2)
    call_cpu = max(0.0, (four - one) / 3)
    round_cpu = max(0.0, one - call_cpu)
    from lolpim.actors.kernel.ray_executor import wait_for
    delay, n = 0.01, 60
    cpu, t = time.thread_time(), time.perf_counter()
    for _ in range(n):
        wait_for(handles[0].call.remote(b"x" * 40, delay))
    waited = (time.perf_counter() - t) / n
    wait_cpu = max(0.0, ((time.thread_time() - cpu) / n - one) / waited)
    big = 1 << 16
    ray.get(handles[0].set_reply.remote(big))
    big_cpu = _driver_cpu_per_round(handles[:1], b"x" * 40, rounds // 3)
    byte_cpu = max(0.0, (big_cpu - one) / (big - 200))
    ray.get(handles[0].set_reply.remote(200))
    t = time.perf_counter()
    for _ in range(rounds):
        ray.get(handles[0].call.remote(b"x" * 40))
    call_latency = (time.perf_counter() - t) / rounds
    push_latency, push_cpu = ray.get(handles[1].ping_peer.remote(handles[0], rounds))
    layouts = {}
    for layout in ("push", "driver", "before"):
        single, many = (message_cpu(layout, 2, 1, rounds, handles[0]), message_cpu(layout, 2, 64, rounds, handles[0]))
        layouts[layout] = (single, max(0.0, (many - single) / 63))
    for h in handles:
        ray.kill(h)

    # routing on the driver: one process's reply decoded, events sorted into the receivers' batch
    ev = [Event(10**9 + i, tile_name(0, i % shape.side), tile_name(1, i % shape.side), i, "spike",
                encode_message(Spike(step=1, blob=b"x" * shape.payload_bytes))) for i in range(2000)]
    blob = encode_batch(ev)
    t = time.thread_time()
    for _ in range(10):
        encode_batch(sorted(decode_batch(blob)))
    route = (time.thread_time() - t) / (10 * len(ev))

    # the events themselves: an inline run of a smaller grid of the same tiles
    small = GridShape(side=4, steps=40, messages=shape.messages, payload_bytes=shape.payload_bytes)
    t = time.process_time()
    run = InlineExecutor().run(small.system())
    event_cpu = (time.process_time() - t) / run.events
    return Parameters(call_cpu, wait_cpu, layouts, byte_cpu, route, event_cpu, push_cpu, call_latency, push_latency,
                      round_cpu)


# --- the cortical sheet (`lolpim plasticity od-map`) --------------------------------------------
#
# The same window, with the sheet's tiles as the actors (actors/plasticity/od_map.py): every tile
# ticks once per window (L = the smallest lateral delay, 1 ms), so every process is called in
# every window, and a tile sends one "lateral" message to each tile its connections reach in each
# window its neurons fired. Which tiles reach which, and the processes they live in, come from the
# tile layout (od_map.tiles_reached, the executor's placement); how often a tile fires is the
# simulation's own output, taken from the inline run (the same for every executor and P: the runs
# are equal bit for bit), never a cost. A message's bytes: an event with one spike (16 bytes per
# further spike: a float64 time and an int64 id). The tiles' CPU per window: a cost per tile tick,
# per neuron tick and per synapse tick, from inline runs of a 12 x 12 sheet (one tile, four tiles,
# four times the synapses), not the sheet predicted.

@dataclass(frozen=True)
class SheetCosts:
    tile_tick_cpu_s: float         # a tile's fixed CPU per 1 ms tick (numpy calls of its steps)
    neuron_tick_cpu_s: float       # per neuron and tick (soma, lateral inputs)
    synapse_tick_cpu_s: float      # per cascade synapse and tick
    call_cpu_s: float = 0.0        # a process's CPU per window call beyond its tiles' ticks (on Ray: the
                                   # request, the loop's bookkeeping, the reply, the work's first touches)


def sheet_tiles(sheet: window_cost.SheetShape):
    from lolpim.models.plasticity import od_map as om
    cfg = sheet.config()[0]
    tiles = om.tiling(cfg.size, 1, sheet.tiles)
    lat = om.lateral(cfg)
    return tiles, {t.index: om.tiles_reached(t, tiles, lat, cfg.size) for t in tiles}


def sheet_event_bytes(spikes: int) -> int:
    """msgpack bytes of one lateral message carrying ``spikes`` spikes, inside a batch."""
    from lolpim.actors.plasticity.od_map import LateralSpikes
    body = encode_message(LateralSpikes(t=b"\0" * 8 * spikes, n=b"\0" * 8 * spikes))
    ev = Event(10**12, "t63", "t62", 10**3, "lateral", body)
    return len(encode_batch([ev] * 2)) - len(encode_batch([ev]))


def firing_from_run(sheet: window_cost.SheetShape, fired: dict, windows: int) -> tuple[list, list]:
    """Per tile: the fraction of windows in which it fired (it then sends to every tile it reaches)
    and its spikes per window, from ``fired`` (window_cost.sheet_workload of the inline run)."""
    frac = [max(sent.values(), default=0) / windows for sent in fired["sent"]]
    return frac, [n / windows for n in fired["spikes"]]


def firing_poisson(sheet: window_cost.SheetShape, rate_hz: float, window_s: float) -> tuple[list, list]:
    """The same for a sheet whose neurons fire independently at ``rate_hz`` (the projection's assumption)."""
    n = sheet.size * sheet.size / sheet.tiles
    return [1 - math.exp(-n * rate_hz * window_s)] * sheet.tiles, [n * rate_hz * window_s] * sheet.tiles


def sheet_workload(sheet: window_cost.SheetShape, processes: int, firing: tuple[list, list]) -> dict:
    """Per window: events, lateral messages and their bytes crossing processes, and per process the
    processes it sends to (expected: a pair counts in a window when a tile of the sender that
    reaches the receiver fired; tiles taken as firing independently of each other)."""
    from lolpim.orchestration.plasticity.od_map import process_of_tiles
    frac, spikes = firing
    tiles, reached = sheet_tiles(sheet)
    where = process_of_tiles(len(tiles), processes)
    procs = sorted(set(where))
    silent = {(i, j): 1.0 for i in procs for j in procs if i != j}     # P(no batch from i to j in a window)
    cross = cross_bytes = messages = 0.0
    one, per_spike = sheet_event_bytes(1), 16
    for t in tiles:
        for dst in reached[t.index]:
            messages += frac[t.index]
            if where[dst] != where[t.index]:
                cross += frac[t.index]
                cross_bytes += frac[t.index] * one + per_spike * (spikes[t.index] - frac[t.index])
        for j in {where[d] for d in reached[t.index]} - {where[t.index]}:
            silent[(where[t.index], j)] *= 1 - frac[t.index]
    pushes = [sum(1 - silent[(i, j)] for j in procs if j != i) for i in procs]
    busy = [1 - math.prod(silent[(i, j)] for j in procs if j != i) for i in procs]
    return {"events": len(tiles) + messages, "cross": cross, "cross_bytes": cross_bytes, "pushes": pushes,
            "any_push": busy, "tiles": len(tiles), "tiles_per_process": [where.count(i) for i in procs]}


def sheet_host_cpu(costs: SheetCosts, sheet: window_cost.SheetShape, tiles: int) -> float:
    """CPU per window (one tick) of ``tiles`` of the sheet's tiles (an even share of its neurons)."""
    neurons = sheet.size * sheet.size * tiles / sheet.tiles
    return (tiles * costs.tile_tick_cpu_s + neurons * costs.neuron_tick_cpu_s
            + neurons * 2 * sheet.synapses * costs.synapse_tick_cpu_s)


def predict_sheet(p: Parameters, costs: SheetCosts, sheet: window_cost.SheetShape, processes: int, routing: str,
                  cores: float, firing: tuple[list, list], network: Network | None = None) -> dict:
    w = sheet_workload(sheet, processes, firing)
    calls = len(w["pushes"])
    # a reply lists the processes it sent to in that window: its size grows by one entry per push
    nbytes = 0.0
    t_ps = round(sheet.seconds * 1e12 / 2)       # the run's times: half way through
    for k in w["pushes"]:
        request, reply0 = messages(routing, 0, 1, t_ps)
        reply1 = messages(routing, 1, 1, t_ps)[1]
        nbytes += len(request) + len(reply0) + k * (len(reply1) - len(reply0))
    nbytes += 2 * w["cross_bytes"] if routing == "driver" else 0.0
    base, _ = p.message_cpu_s[routing]
    driver_cpu = (p.round_cpu_s + calls * (p.call_cpu_s + base) + nbytes * p.byte_cpu_s
                  + (w["cross"] * p.route_cpu_s_per_event if routing == "driver" else 0.0))
    push = routing == "push"
    slowest = max(range(calls), key=lambda i: w["tiles_per_process"][i] + (w["pushes"][i] if push else 0))
    host = (sheet_host_cpu(costs, sheet, w["tiles_per_process"][slowest]) + costs.call_cpu_s
            + (w["pushes"][slowest] * p.push_cpu_s if push else 0.0))
    host_total = (sheet_host_cpu(costs, sheet, w["tiles"]) + calls * costs.call_cpu_s
                  + (sum(w["pushes"]) * p.push_cpu_s if push else 0.0))
    call_latency, push_latency, net = p.call_latency_s, p.push_latency_s, 0.0
    if network is not None:
        call_latency += 2 * network.latency_s
        push_latency += 2 * network.latency_s
        net = nbytes / network.bandwidth_bytes_per_s
        cores = network.cores_per_node
        host_total = host_total / network.nodes
    waited = push_latency * w["any_push"][slowest] if push else 0.0
    driver_cpu += p.wait_cpu_per_s * (call_latency + host + waited + net)
    wall = max(driver_cpu + call_latency + host + waited + net, (driver_cpu + host_total) / cores)
    return {"processes": processes, "routing": routing, "calls_per_window": calls,
            "driver_bytes_per_window": nbytes, "driver_cpu_us_per_window": 1e6 * driver_cpu,
            "wall_ms_per_window": 1e3 * wall, "host_cpu_us_per_window": 1e6 * host_total,
            "events_per_window": w["events"], "cross_events_per_window": w["cross"],
            "pushes_per_window": sum(w["pushes"]) if push else 0.0,
            "waited_s": call_latency + host + waited + net, "host_cpu_us_per_process": 1e6 * host}


def measure_sheet_costs(synapses: int, seconds: float = 0.3, size: int = 12) -> SheetCosts:
    """From inline runs of a size x size sheet: one tile, four tiles, one tile with four times the
    synapses (the first run, unmeasured, compiles the cascade's integration)."""
    def cpu(shape: window_cost.SheetShape) -> float:
        t = time.process_time()
        InlineExecutor().run(shape.system())
        return time.process_time() - t
    cpu(window_cost.SheetShape(size=size, synapses=synapses, seconds=0.05, tiles=1))
    ticks = round(seconds * 1000)
    one = cpu(window_cost.SheetShape(size=size, synapses=synapses, seconds=seconds, tiles=1)) / ticks
    four = cpu(window_cost.SheetShape(size=size, synapses=synapses, seconds=seconds, tiles=4)) / ticks
    more = cpu(window_cost.SheetShape(size=size, synapses=4 * synapses, seconds=seconds, tiles=1)) / ticks
    neurons = size * size
    tile = max(0.0, (four - one) / 3)
    synapse = max(0.0, (more - one) / (neurons * 2 * 3 * synapses))
    neuron = max(0.0, (one - tile - neurons * 2 * synapses * synapse) / neurons)
    # the same one-tile sheet in one Ray process: its CPU per window beyond the inline tick
    from lolpim.actors.kernel.ray_executor import RayExecutor, ensure_ray
    ensure_ray()
    shape = window_cost.SheetShape(size=size, synapses=synapses, seconds=seconds, tiles=1)
    ex = RayExecutor(max_processes=1, keep_processes=True, checkpoint_every=shape.checkpoint_every())
    ex.run(shape.system())
    per_window = []
    for _ in range(3):
        run = ex.run(shape.system())
        per_window.append(run.stats["host_cpu_s"] / run.stats["windows"])
    ex.close()
    return SheetCosts(tile, neuron, synapse, max(0.0, median(per_window) - one))


# --- the check and the projection ----------------------------------------------------------------

def compare(params: Parameters, measured: dict, shape: GridShape) -> list[dict]:
    """measured: layout ("before", "driver", "push") -> window_cost.measure's output."""
    rows = []
    for layout, m in measured.items():
        for r in m["rows"]:
            pred = predict(params, shape, r["processes"], layout, os.cpu_count())
            rows.append({"layout": layout, "measured": r, "model": pred})
    return rows


PROJECTION_SHAPE = GridShape(side=32, steps=100, messages=4, payload_bytes=256)
CLUSTER = Network(nodes=8, cores_per_node=8, latency_s=50e-6, bandwidth_bytes_per_s=1.25e9)


def project(params: Parameters) -> list[dict]:
    return [predict(params, PROJECTION_SHAPE, p, routing, CLUSTER.cores_per_node,
                    CLUSTER if p > CLUSTER.cores_per_node else None)
            for p in (8, 64) for routing in ("before", "driver", "push")]


def measured_cpu(m: dict) -> tuple[float, str]:
    """A row's driver CPU per window: the median of its repeats where they were kept (with their
    range), else the one stored figure (the runs before issue 24's sheet check kept one)."""
    runs = m.get("driver_cpu_us_per_window_runs")
    if not runs:
        return m["driver_cpu_us_per_window"], ""
    return median(runs), f" ({min(runs):,.0f}-{max(runs):,.0f})"


def error(model: float, measured: float) -> float:
    return (model - measured) / measured if measured else 0.0


def markdown(params: Parameters, rows: list[dict], projection: list[dict], load: str) -> str:
    per_round = f"per round of calls {params.round_cpu_s * 1e6:.0f} us + " if params.round_cpu_s else ""
    lines = [f"Model parameters measured here ({load}): driver CPU {per_round}per call "
             f"{params.call_cpu_s * 1e6:.0f} us "
             f"(+{params.wait_cpu_per_s * 1e3:.0f} us per ms waited), "
             f"per byte {params.byte_cpu_s * 1e9:.2f} ns, "
             f"per routed event {params.route_cpu_s_per_event * 1e6:.2f} us; "
             f"CPU per event in a process {params.event_cpu_s * 1e6:.1f} us; call round trip "
             f"{params.call_latency_s * 1e6:.0f} us from the driver, "
             f"{params.push_latency_s * 1e6:.0f} us process to process "
             f"({params.push_cpu_s * 1e6:.0f} us of the sender's CPU). Wall time is modelled for the machine's "
             f"{os.cpu_count()} cores idle; it is measured on a shared, loaded machine, so only the counts, bytes and "
             "CPU times are checked. Driver CPU: the median of the repeats, their range in brackets (the before rows: "
             "one run each).",
             "",
             "| routing | P | calls/window (measured / model) | driver bytes/window (measured / model) "
             "| driver CPU us/window (measured / model) | process CPU us/window, all processes (measured / model) "
             "| wall ms/window (measured / model, idle cores) | cross events/window | events/s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        m, p = row["measured"], row["model"]
        cpu, spread = measured_cpu(m)
        wall = 1e3 * m["wall_s"] / m["windows"]
        host = (f"{m['host_cpu_us_per_window']:,.0f} / {p['host_cpu_us_per_window']:,.0f} "
                f"({error(p['host_cpu_us_per_window'], m['host_cpu_us_per_window']):+.0%})"
                if m.get("host_cpu_us_per_window") else f"not measured / {p['host_cpu_us_per_window']:,.0f}")
        lines.append(f"| {row['layout']} | {m['processes']} | {m['calls_per_window']:.2f} / {p['calls_per_window']} "
                     f"| {m['driver_bytes_per_window']:,.0f} / {p['driver_bytes_per_window']:,.0f} "
                     f"({error(p['driver_bytes_per_window'], m['driver_bytes_per_window']):+.0%}) "
                     f"| {cpu:,.0f}{spread} / {p['driver_cpu_us_per_window']:,.0f} "
                     f"({error(p['driver_cpu_us_per_window'], cpu):+.0%}) "
                     f"| {host} "
                     f"| {wall:.2f} / {p['wall_ms_per_window']:.2f} "
                     f"| {m['cross_events_per_window']:.0f} | {m['events_per_s']:,.0f} |")
    lines += ["", f"Projected: a {PROJECTION_SHAPE.side} x {PROJECTION_SHAPE.side} grid of tiles "
                  f"({PROJECTION_SHAPE.messages} spikes of {PROJECTION_SHAPE.payload_bytes} bytes per neighbour per "
                  f"window); 64 processes on {CLUSTER.nodes} nodes of {CLUSTER.cores_per_node} cores, "
                  f"{CLUSTER.latency_s * 1e6:.0f} us added per network hop, "
                  f"{CLUSTER.bandwidth_bytes_per_s * 8 / 1e9:.0f} Gbit/s per node link, "
                  "the per-call and per-event costs measured here.", "",
              "| routing | P | nodes | calls/window | driver bytes/window | driver CPU us/window | wall ms/window "
              "| events/window | cross events/window |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for p in projection:
        nodes = CLUSTER.nodes if p["processes"] > CLUSTER.cores_per_node else 1
        lines.append(f"| {p['routing']} | {p['processes']} | {nodes} | {p['calls_per_window']} "
                     f"| {p['driver_bytes_per_window']:,.0f} | {p['driver_cpu_us_per_window']:,.0f} "
                     f"| {p['wall_ms_per_window']:.2f} | {p['events_per_window']:,} "
                     f"| {p['cross_events_per_window']:,} |")
    return "\n".join(lines)


ROOT = Path(__file__).resolve().parent.parent
BEFORE = "docs/figures/window_cost_before.json"
STORED = "docs/figures/window_cost.json"
DOC_SHAPE = {"side": 8, "steps": 100, "messages": 4, "payload_bytes": 256}


def docs(tables_only: bool) -> None:
    import docs_figures
    if not tables_only:
        measured = {"before": json.loads((ROOT / BEFORE).read_text())}
        shape = GridShape(**DOC_SHAPE)
        load = os.getloadavg()
        for routing in ("driver", "push"):
            measured[routing] = window_cost.measure(shape.system(), [1, 2, 4], routing, repeats=3)
            measured[routing]["workload"] = DOC_SHAPE
        params = measure_parameters(shape)
        docs_figures.write_text(ROOT / STORED, json.dumps(
            {"parameters": asdict(params), "measured": measured, "load": load, "cores": os.cpu_count()},
            indent=1) + "\n")
    stored = json.loads((ROOT / STORED).read_text())
    params = Parameters(**stored["parameters"])
    shape = GridShape(**DOC_SHAPE)
    rows = compare(params, stored["measured"], shape)
    body = markdown(params, rows, project(params), f"{stored['cores']} cores, load {stored['load'][0]:.1f}")
    changed = docs_figures.write_block(ROOT / "docs/scaling.md", "window-cost-table", body + "\n")
    print(f"  docs/scaling.md [window-cost-table]: {'rewritten' if changed else 'unchanged'}", flush=True)


# --- the sheet's check and projection (docs: the window-cost-sheet part) -----------------------

SHEET_STORED = "docs/figures/window_cost_sheet.json"
SHEET_SHAPE = window_cost.SheetShape(size=16, synapses=20, seconds=1.0, tiles=4)
# the projected sheet: the 100 x 100 neurons x 1000 synapses per eye, one tile per process
PROJECTED_SHEETS = (window_cost.SheetShape(size=100, synapses=1000, seconds=5.0, tiles=8),
                    window_cost.SheetShape(size=100, synapses=1000, seconds=5.0, tiles=64))


def sheet_rate_hz(sheet: window_cost.SheetShape, fired: dict) -> float:
    return sum(fired["spikes"]) / (sheet.size * sheet.size * sheet.seconds)


def median(values: list) -> float:
    v = sorted(values)
    return (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2


def compare_sheet(params: Parameters, costs: SheetCosts, measured: dict, sheet: window_cost.SheetShape,
                  cores: int) -> list[dict]:
    rows = []
    for routing, m in measured.items():
        for r in m["rows"]:
            firing = firing_from_run(sheet, m["sheet_workload"], r["windows"])
            rows.append({"layout": routing, "measured": r,
                         "model": predict_sheet(params, costs, sheet, r["processes"], routing, cores, firing)})
    return rows


def project_sheet(params: Parameters, costs: SheetCosts, rate_hz: float, window_s: float) -> list[dict]:
    out = []
    for sheet in PROJECTED_SHEETS:
        firing = firing_poisson(sheet, rate_hz, window_s)
        for routing in ("driver", "push"):
            p = sheet.tiles
            row = predict_sheet(params, costs, sheet, p, routing, CLUSTER.cores_per_node, firing,
                                CLUSTER if p > CLUSTER.cores_per_node else None)
            row["sheet"] = sheet
            out.append(row)
    # one process, inline, for scale: every tile's ticks on one core
    one = PROJECTED_SHEETS[-1]
    out.append({"processes": 1, "routing": "inline", "sheet": one,
                "wall_ms_per_window": 1e3 * sheet_host_cpu(costs, one, one.tiles)})
    return out


def sheet_markdown(params: Parameters, costs: SheetCosts, rows: list[dict], projection: list[dict],
                   stored: dict, sheet: window_cost.SheetShape = SHEET_SHAPE) -> str:
    load = stored["load"]
    lines = [f"Measured {stored['date']} on {stored['cores']} cores (1-minute load {load[0]:.1f} before, "
             f"{load[1]:.1f} after; each row's load is beside it), the parameters measured in the same minutes: "
             f"driver CPU per round of calls {params.round_cpu_s * 1e6:.0f} us + {params.call_cpu_s * 1e6:.0f} us "
             f"per call (+{params.wait_cpu_per_s * 1e3:.0f} us per ms waited), bookkeeping per call "
             f"{params.message_cpu_s['push'][0] * 1e6:.0f} us (push) / "
             f"{params.message_cpu_s['driver'][0] * 1e6:.0f} us (driver routing) measured right after a Ray call, "
             f"per byte {params.byte_cpu_s * 1e9:.2f} ns, per routed event "
             f"{params.route_cpu_s_per_event * 1e6:.2f} us, call round trip {params.call_latency_s * 1e6:.0f} us, "
             f"push {params.push_latency_s * 1e6:.0f} us ({params.push_cpu_s * 1e6:.0f} us of the sender's CPU); "
             f"a tile's CPU per 1 ms tick {costs.tile_tick_cpu_s * 1e6:.0f} us + "
             f"{costs.neuron_tick_cpu_s * 1e6:.2f} us per neuron + {costs.synapse_tick_cpu_s * 1e9:.2f} ns per "
             f"synapse (inline runs of a 12 x 12 sheet), {costs.call_cpu_s * 1e6:.0f} us per window call (that "
             f"sheet's one tile in one Ray process against inline). The sheet: {sheet.size} x {sheet.size} neurons, "
             f"{sheet.synapses} synapses per eye, {sheet.seconds:g} s simulated, 1 x {sheet.tiles} tiles, its neurons "
             f"firing at {sheet_rate_hz(sheet, next(iter(stored['measured'].values()))['sheet_workload']):.2f} Hz "
             "on average "
             "(the inline run). Driver CPU: the median of the repeats (their range in brackets); "
             "\"in Ray calls\" is the driver's CPU submitting the calls and waiting for them "
             "(measured by the executor's own counters) against the model's per-call and per-ms-waited terms.",
             "",
             "| routing | P | calls/window (measured / model) | driver bytes/window (measured / model) "
             "| driver CPU us/window (measured / model) | of which in Ray calls (measured / model) "
             "| process CPU us/window, all processes (measured / model) "
             "| wall ms/window (measured / model, idle cores) "
             "| cross-process messages/window | load |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        m, p = row["measured"], row["model"]
        cpu, spread = measured_cpu(m)
        sec = m["driver_sections_us_per_window"]
        in_calls = sec["submit_cpu_s"] + sec["wait_cpu_s"]
        n = p["calls_per_window"]
        wall_m = p["wall_ms_per_window"]
        host_m = p["host_cpu_us_per_window"]
        model_calls = 1e6 * (params.round_cpu_s + n * params.call_cpu_s + params.wait_cpu_per_s * p["waited_s"])
        lines.append(f"| {row['layout']} | {m['processes']} | {m['calls_per_window']:.2f} / {n} "
                     f"| {m['driver_bytes_per_window']:,.0f} / {p['driver_bytes_per_window']:,.0f} "
                     f"({error(p['driver_bytes_per_window'], m['driver_bytes_per_window']):+.0%}) "
                     f"| {cpu:,.0f}{spread} / {p['driver_cpu_us_per_window']:,.0f} "
                     f"({error(p['driver_cpu_us_per_window'], cpu):+.0%}) "
                     f"| {in_calls:,.0f} / {model_calls:,.0f} ({error(model_calls, in_calls):+.0%}) "
                     f"| {m['host_cpu_us_per_window']:,.0f} / {host_m:,.0f} "
                     f"({error(host_m, m['host_cpu_us_per_window']):+.0%}) "
                     f"| {1e3 * m['wall_s'] / m['windows']:.2f} / {wall_m:.2f} "
                     f"| {m['cross_events_per_window']:.2f} / {p['cross_events_per_window']:.2f} "
                     f"| {m['load'][0]:.1f}-{m['load'][1]:.1f} |")
    rate = sheet_rate_hz(sheet, next(iter(stored["measured"].values()))["sheet_workload"])
    big = PROJECTED_SHEETS[-1]
    lines += ["", f"Projected: the {big.size} x {big.size} sheet with {big.synapses} synapses per eye, cut into "
                  "one row of tiles per process, its neurons firing independently at "
                  f"{rate:.2f} Hz (the rate measured above); {CLUSTER.nodes} nodes of {CLUSTER.cores_per_node} cores, "
                  f"one process per core, {CLUSTER.latency_s * 1e6:.0f} us added per network hop, "
                  f"{CLUSTER.bandwidth_bytes_per_s * 8 / 1e9:.0f} Gbit/s per node link; the per-call costs, tile "
                  "costs and round trips measured here, the driver on a core of its own.", "",
              "| routing | P | nodes | calls/window | driver bytes/window | driver CPU us/window "
              "| process CPU us/window, one process | cross-process messages/window | pushes/window "
              "| wall ms/window | simulated s per wall s |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for p in projection:
        wall = p["wall_ms_per_window"]
        if p["routing"] == "inline":
            lines.append(f"| inline | 1 | 1 | - | - | - | {1e3 * wall:,.0f} | - | - | {wall:.2f} | {1 / wall:.3f} |")
            continue
        nodes = CLUSTER.nodes if p["processes"] > CLUSTER.cores_per_node else 1
        lines.append(f"| {p['routing']} | {p['processes']} | {nodes} | {p['calls_per_window']} "
                     f"| {p['driver_bytes_per_window']:,.0f} | {p['driver_cpu_us_per_window']:,.0f} "
                     f"| {p['host_cpu_us_per_process']:,.0f} "
                     f"| {p['cross_events_per_window']:,.1f} | {p['pushes_per_window']:,.1f} "
                     f"| {wall:.2f} | {1 / wall:.3f} |")
    return "\n".join(lines)


def docs_sheet(tables_only: bool) -> None:
    import docs_figures
    if not tables_only:
        sheet = SHEET_SHAPE
        load0 = os.getloadavg()[0]
        measured = {}
        for routing in ("driver", "push"):
            measured[routing] = window_cost.measure(sheet.system(), [1, 2, 4], routing, repeats=3,
                                                    checkpoint_every=sheet.checkpoint_every())
            measured[routing]["sheet"] = asdict(sheet)
        params = measure_parameters(GridShape(**DOC_SHAPE))
        costs = measure_sheet_costs(sheet.synapses)
        docs_figures.write_text(ROOT / SHEET_STORED, json.dumps(
            {"parameters": asdict(params), "sheet_costs": asdict(costs), "measured": measured,
             "load": [load0, os.getloadavg()[0]], "cores": os.cpu_count(),
             "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, indent=1) + "\n")
    stored = json.loads((ROOT / SHEET_STORED).read_text())
    body = sheet_tables(stored)
    changed = docs_figures.write_block(ROOT / "docs/scaling.md", "window-cost-sheet-table", body + "\n")
    print(f"  docs/scaling.md [window-cost-sheet-table]: {'rewritten' if changed else 'unchanged'}", flush=True)


def sheet_tables(stored: dict) -> str:
    params = Parameters(**stored["parameters"])
    costs = SheetCosts(**stored["sheet_costs"])
    first = next(iter(stored["measured"].values()))
    sheet = window_cost.SheetShape(**first["sheet"])
    rows = compare_sheet(params, costs, stored["measured"], sheet, stored["cores"])
    rate = sheet_rate_hz(sheet, first["sheet_workload"])
    return sheet_markdown(params, costs, rows, project_sheet(params, costs, rate, sheet.window_ps() * 1e-12),
                          stored)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--measured", nargs="*", default=None, metavar="LAYOUT=FILE",
                    help="JSON outputs of benchmarks/window_cost.py --json, each labelled before, driver or push "
                         "(default: run driver and push now)")
    ap.add_argument("--markdown", action="store_true", help="print the docs tables")
    ap.add_argument("--json", action="store_true", help="print parameters, check and projection as JSON")
    ap.add_argument("--docs", action="store_true",
                    help=f"measure push and driver routing now, take 'before' from {BEFORE}, store everything in "
                         f"{STORED} and rewrite the window-cost-table block of docs/scaling.md")
    ap.add_argument("--docs-sheet", action="store_true",
                    help=f"measure the cortical sheet's windows (push and driver routing, P = 1, 2, 4) and the "
                         f"parameters now, store them in {SHEET_STORED} and rewrite the window-cost-sheet-table "
                         "block of docs/scaling.md")
    ap.add_argument("--tables-only", action="store_true",
                    help=f"with --docs / --docs-sheet: rewrite the block from {STORED} / {SHEET_STORED}")
    args = ap.parse_args(argv)
    if args.docs:
        return docs(args.tables_only)
    if args.docs_sheet:
        return docs_sheet(args.tables_only)
    measured = {}
    for item in args.measured or ():
        layout, sep, path = item.partition("=")
        if not sep or layout not in ("before", "driver", "push"):
            ap.error(f"--measured: '{item}' is not LAYOUT=FILE with LAYOUT before, driver or push")
        measured[layout] = json.loads(Path(path).read_text())
    sheets = {layout for layout, m in measured.items() if m.get("sheet")}
    if sheets:
        # the sheet's runs (window_cost.py --sheet --json): its parameters and tile costs measured now
        if sheets != set(measured) or "before" in measured:
            ap.error("--measured: give the sheet's runs (window_cost.py --sheet) as push=/driver= only, "
                     "without grid runs")
        sheet = window_cost.SheetShape(**next(iter(measured.values()))["sheet"])
        load = os.getloadavg()
        stored = {"parameters": asdict(measure_parameters(GridShape(**DOC_SHAPE))),
                  "sheet_costs": asdict(measure_sheet_costs(sheet.synapses)), "measured": measured,
                  "load": [load[0], os.getloadavg()[0]], "cores": os.cpu_count(),
                  "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        print(json.dumps(stored, indent=1) if args.json else sheet_tables(stored))
        return
    if not measured:
        default = GridShape(side=8, steps=100, messages=4, payload_bytes=256)
        for routing in ("driver", "push"):
            measured[routing] = window_cost.measure(default.system(), [1, 2, 4], routing, repeats=2)
            measured[routing]["workload"] = {"side": 8, "steps": 100, "messages": 4, "payload_bytes": 256}
    w = next(iter(measured.values()))["workload"]
    shape = GridShape(side=w["side"], steps=w["steps"], messages=w["messages"], payload_bytes=w["payload_bytes"])
    load = os.getloadavg()
    params = measure_parameters(shape)
    cores = os.cpu_count()
    rows = compare(params, measured, shape)
    projection = project(params)
    if args.json:
        print(json.dumps({"parameters": asdict(params), "check": rows, "projection": projection}, indent=1))
    elif args.markdown:
        print(markdown(params, rows, projection, f"{cores} cores, load {load[0]:.1f}"))
    else:
        print(markdown(params, rows, projection, f"{cores} cores, load {load[0]:.1f}"))


if __name__ == "__main__":
    main()
