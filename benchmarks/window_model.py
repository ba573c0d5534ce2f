"""A cost model of one conservative window of the Ray executor (issue 24), its parameters
measured by microbenchmarks on this machine, checked against the measured runs of
benchmarks/window_cost.py, and projected to 64 processes on 8 nodes.

Per window, for P processes that all have work (the grid: every tile steps every window),
X events crossing processes, E events in all, k_i processes that process i sends to:

  calls        = P                        one window call per process, nothing else
  driver bytes = sum_i (request + reply_i)  push: a few numbers each (the executor's own layout,
               + [driver] 2 X s             packed with typical values); driver routing: the X
                                            events of s bytes come back in replies and go out again
  driver CPU   = P (c_call + c_msg) + bytes c_byte + [driver] X c_route + c_wait * (time waited)
  process CPU  = E c_event + [push] sum_i k_i c_push          (all processes together)
  wall         = max(driver CPU + l_call + E/P c_event + [push] (max k_i c_push + l_push) + network,
                     (driver CPU + process CPU) / cores)

  c_call   driver CPU per call (submit, then collect a small reply through the executor's wait)
  c_wait   driver CPU per second spent waiting for a reply (Ray polls), from a call that sleeps
  c_msg    driver CPU to pack a request, unpack a reply and plan from it (per layout; the layout
           before issue 24 carried every actor's figures, so it has a per-actor term)
  c_byte   driver CPU per byte of reply, from a 64 KiB reply against a small one
  c_route  driver CPU per routed event: decode a batch of spikes, sort, encode
  c_event  CPU per event inside a process, from an inline run of a 4 x 4 grid of the same tiles
  c_push   a process's CPU per push (submit, wait for the receiver to take it), l_push its round
           trip, l_call the round trip of a call from the driver: a no-op actor called in a loop
  network  (a cluster only) each call crossing nodes adds two hops of latency; the driver's link
           carries its bytes, each node's link its processes' pushes.

No parameter is fitted to the runs the model predicts. Run:
  .venv/bin/python benchmarks/window_model.py [--measured before=F driver=F push=F] [--docs]
(without --measured it runs benchmarks/window_cost.py for both routings first).
"""
from __future__ import annotations

import argparse
import json
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


def messages(layout: str, receivers: int, actors: int) -> tuple[bytes, bytes]:
    """(request, reply) of one window call with typical values and no events (no trace, no metrics
    callback): ``layout`` "push"/"driver" is the executor's; "before" the one before issue 24, whose
    reply carried each actor's next event, bound and metrics."""
    t, summary = 10**8, [10**8, 10**8, 10**8 + 10**6]
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


def message_cpu(layout: str, receivers: int, actors: int, n: int = 2000) -> float:
    """Driver CPU per process and window for the bookkeeping of ``layout``: pack a request, unpack a
    reply (no events), and plan the window from what the replies say (the before layout planned
    from every actor's figures)."""
    request, reply = messages(layout, receivers, actors)
    req = msgpack.unpackb(request)
    names = [tile_name(i // 8, i % 8) for i in range(actors)]
    look = {name: 10**6 for name in names}
    t = time.thread_time()
    for _ in range(n):
        msgpack.packb(req, use_bin_type=True)
        data = msgpack.unpackb(reply, raw=False, strict_map_key=False)
        if layout == "before":
            wake, bound = dict(data["wake"]), dict(data["bound"])
            plan_window(wake, bound, [], look, names)
            any(v < 10**9 for v in wake.values())
            {}.update(data["metrics"])
        else:
            next_window(merge_summaries([data["own"]] + [s for _, s in data["to"]]))
    return (time.thread_time() - t) / n


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
    driver_cpu = (calls * (p.call_cpu_s + base + per_actor * actors / processes) + nbytes * p.byte_cpu_s
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
    driver_cpu += p.wait_cpu_per_s * (call_latency + host + push + net)
    # the critical path, unless the CPU work of a window exceeds what the cores give in that time
    wall = max(driver_cpu + call_latency + host + push + net, (driver_cpu + host_total) / cores)
    return {"processes": processes, "routing": routing, "calls_per_window": calls, "driver_bytes_per_window": nbytes,
            "driver_cpu_us_per_window": 1e6 * driver_cpu, "wall_ms_per_window": 1e3 * wall,
            "host_cpu_us_per_window": 1e6 * (w["events"] * p.event_cpu_s
                                             + (sum(w["receivers"]) * p.push_cpu_s if routing == "push" else 0.0)),
            "events_per_window": w["events"], "cross_events_per_window": w["cross"]}


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
    handles = [echo.remote(200) for _ in range(2)]
    ray.get([h.call.remote(b"") for h in handles])
    call_cpu = _driver_cpu_per_round(handles, b"x" * 40, rounds) / len(handles)
    from lolpim.actors.kernel.ray_executor import wait_for
    delay, n = 0.01, 60
    cpu, t = time.thread_time(), time.perf_counter()
    for _ in range(n):
        wait_for(handles[0].call.remote(b"x" * 40, delay))
    waited = (time.perf_counter() - t) / n
    wait_cpu = max(0.0, ((time.thread_time() - cpu) / n - call_cpu) / waited)
    big = 1 << 16
    ray.get([h.set_reply.remote(big) for h in handles])
    big_cpu = _driver_cpu_per_round(handles, b"x" * 40, rounds // 3) / len(handles)
    byte_cpu = max(0.0, (big_cpu - call_cpu) / (big - 200))
    ray.get([h.set_reply.remote(200) for h in handles])
    t = time.perf_counter()
    for _ in range(rounds):
        ray.get(handles[0].call.remote(b"x" * 40))
    call_latency = (time.perf_counter() - t) / rounds
    push_latency, push_cpu = ray.get(handles[1].ping_peer.remote(handles[0], rounds))
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
    layouts = {}
    for layout in ("push", "driver", "before"):
        one, many = message_cpu(layout, 2, 1), message_cpu(layout, 2, 64)
        layouts[layout] = (one, max(0.0, (many - one) / 63))
    return Parameters(call_cpu, wait_cpu, layouts, byte_cpu, route, event_cpu, push_cpu, call_latency, push_latency)


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


def error(model: float, measured: float) -> float:
    return (model - measured) / measured if measured else 0.0


def markdown(params: Parameters, rows: list[dict], projection: list[dict], load: str) -> str:
    lines = [f"Model parameters measured here ({load}): driver CPU per call {params.call_cpu_s * 1e6:.0f} us "
             f"(+{params.wait_cpu_per_s * 1e3:.0f} us per ms waited), "
             f"per byte {params.byte_cpu_s * 1e9:.2f} ns, "
             f"per routed event {params.route_cpu_s_per_event * 1e6:.2f} us; "
             f"CPU per event in a process {params.event_cpu_s * 1e6:.1f} us; call round trip "
             f"{params.call_latency_s * 1e6:.0f} us from the driver, "
             f"{params.push_latency_s * 1e6:.0f} us process to process "
             f"({params.push_cpu_s * 1e6:.0f} us of the sender's CPU). Wall time is modelled for the machine's "
             f"{os.cpu_count()} cores idle; it is measured on a shared, loaded machine, so only the counts, bytes and "
             "CPU times are checked.",
             "",
             "| routing | P | calls/window (measured / model) | driver bytes/window (measured / model) "
             "| driver CPU us/window (measured / model) | process CPU us/window, all processes (measured / model) "
             "| wall ms/window (measured / model, idle cores) | cross events/window | events/s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        m, p = row["measured"], row["model"]
        wall = 1e3 * m["wall_s"] / m["windows"]
        host = (f"{m['host_cpu_us_per_window']:,.0f} / {p['host_cpu_us_per_window']:,.0f} "
                f"({error(p['host_cpu_us_per_window'], m['host_cpu_us_per_window']):+.0%})"
                if m.get("host_cpu_us_per_window") else f"not measured / {p['host_cpu_us_per_window']:,.0f}")
        lines.append(f"| {row['layout']} | {m['processes']} | {m['calls_per_window']:.2f} / {p['calls_per_window']} "
                     f"| {m['driver_bytes_per_window']:,.0f} / {p['driver_bytes_per_window']:,.0f} "
                     f"({error(p['driver_bytes_per_window'], m['driver_bytes_per_window']):+.0%}) "
                     f"| {m['driver_cpu_us_per_window']:,.0f} / {p['driver_cpu_us_per_window']:,.0f} "
                     f"({error(p['driver_cpu_us_per_window'], m['driver_cpu_us_per_window']):+.0%}) "
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
            measured[routing] = window_cost.measure(shape.system(), [1, 2, 4], routing, repeats=2)
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
    ap.add_argument("--tables-only", action="store_true", help=f"with --docs: rewrite the block from {STORED}")
    args = ap.parse_args(argv)
    if args.docs:
        return docs(args.tables_only)
    measured = {}
    for item in args.measured or ():
        layout, sep, path = item.partition("=")
        if not sep or layout not in ("before", "driver", "push"):
            ap.error(f"--measured: '{item}' is not LAYOUT=FILE with LAYOUT before, driver or push")
        measured[layout] = json.loads(Path(path).read_text())
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
