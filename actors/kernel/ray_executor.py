"""The Ray executor: actors live in Ray actor processes; a coordinator advances them
through conservative time windows.

Each window [T, W) is safe: T is the earliest pending event anywhere and
W = min over actors a with pending work of (next_a + lookahead_a), so nothing sent
inside the window can land inside it. Every process with work before W gets exactly
one call per window carrying all its inbound events as one msgpack batch.

Several logical actors may share one process (``max_processes``); the message flow is
unchanged. An actor that declares its peers (Actor.peer_names), and all of whose peers, their
peers and so on declare theirs and live in its own process, can never cause a send across
processes, so its lookahead does not bound the window; when no pending actor bounds it, a
window spans ``max_window_ps`` (each process then runs many of its actors' ticks in one call).
Every ``checkpoint_every`` windows the coordinator snapshots every process; if a process dies,
it is rebuilt from its specs, restored from the snapshot, replayed through the logged windows
since, and the run continues with an identical result.
"""
from __future__ import annotations

import contextlib
import heapq
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import msgpack

from lolpim.actors.kernel import ray_reaper
from lolpim.actors.kernel.actor import KernelError
from lolpim.actors.kernel.codec import DEFAULT_MAX_PAYLOAD_BYTES, MessageError, decode_batch, encode_batch
from lolpim.actors.kernel.loop import EventLoop, local_only_actors, plan_window
from lolpim.actors.kernel.system import ActorSpec, RunResult, SystemSpec, actor_plan
from lolpim.core.errors import UserError


class ActorHost:
    """Runs a group of logical actors inside one process (the shared EventLoop, a window per
    call). Plain class: Ray wraps it."""

    def __init__(self, specs: list[dict], seed: int, max_payload_bytes: int, record_trace: bool):
        self.configure(specs, seed, max_payload_bytes, record_trace)

    def configure(self, specs: list[dict], seed: int, max_payload_bytes: int, record_trace: bool) -> None:
        """(Re)build this process's actors; a kept process serves many runs this way."""
        actors = {}
        for s in specs:
            spec = ActorSpec(**s)
            actors[spec.name] = spec.build(seed)
        self.actors = actors
        self.label = ",".join(actors) if len(actors) <= 3 else f"{next(iter(actors))}+{len(actors) - 1}"
        self.loop = EventLoop(actors, max_payload_bytes, record_trace, remote_ok=True)

    def pid(self) -> int:
        return os.getpid()

    def node_id(self) -> str:
        import ray
        return ray.get_runtime_context().get_node_id()

    def start(self) -> bytes:
        return self._reply(self.loop.start(), 0)

    def advance(self, inbox: bytes, window_end_ps: int) -> bytes:
        self.loop.push_inbound(decode_batch(inbox, self.label), self.label)
        before = self.loop.processed
        # Events between actors of this process stay here: they are >= W anyway.
        out = self.loop.run(window_end_ps)
        return self._reply(out, self.loop.processed - before)

    def _reply(self, out, processed) -> bytes:
        trace = self.loop.trace or []
        if self.loop.trace is not None:
            self.loop.trace = []
        wake, bound = self.loop.pending()
        return msgpack.packb({"out": encode_batch(out), "wake": wake, "bound": bound,
                              "trace": trace, "n": processed, "last": self.loop.last_ps,
                              "metrics": self.loop.metrics()}, use_bin_type=True)

    def snapshot(self) -> bytes:
        return msgpack.packb({"actors": {n: a.snapshot() for n, a in self.actors.items()},
                              "queue": encode_batch(sorted(self.loop.queue))}, use_bin_type=True)

    def restore(self, data: bytes) -> None:
        snap = msgpack.unpackb(data, raw=False, strict_map_key=False)
        for name, s in snap["actors"].items():
            self.actors[name].restore(s)
        self.loop.queue = decode_batch(snap["queue"], self.label)
        heapq.heapify(self.loop.queue)

    def results(self) -> bytes:
        return msgpack.packb({n: a.result() for n, a in self.actors.items()}, use_bin_type=True)


# Ray is imported where it is used, never at import time (~1 s), so orchestration can import
# this module at its top and an inline run never loads Ray.
_remote_host: list = []


def _RemoteHost():
    if not _remote_host:
        import ray
        _remote_host.append(ray.remote(max_restarts=0, max_task_retries=0)(ActorHost))
    return _remote_host[0]


# the local Ray ensure_ray started, its shutdown thread, and the marker its processes carry for
# the reaper (one reaper per driver process, started with the first embedded Ray)
_embedded: dict[str, Any] = {"started": False, "stopping": None, "marker": None, "starts": 0}


def shutdown_embedded_ray():
    """Shut down the embedded local Ray that ensure_ray started (nothing when Ray was joined or
    started by the caller), in a background thread: it takes 1-2 s (each Ray process gets a
    graceful stop), which then overlaps what the caller does next. The thread is not a daemon, so
    the interpreter waits for it before exiting; ensure_ray waits for it before starting Ray again."""
    import ray
    if not _embedded["started"] or not ray.is_initialized():
        return None
    _embedded["started"] = False
    thread = threading.Thread(target=ray.shutdown, name="ray-shutdown")
    thread.start()
    _embedded["stopping"] = thread
    return thread


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join ``address`` if given, else start an embedded local Ray sized to this machine.

    The embedded Ray listens on 127.0.0.1 only (issue 14: by default its GCS, raylet, workers and
    agents listen on every interface, open to anyone on the network), runs no dashboard, and
    dies with this process, however it ends (see ray_reaper).
    Its workers run at the driver's priority: Ray's default (niceness 15) lets any other busy
    process on a shared machine starve the simulation, which then runs slower on Ray than in
    one process."""
    import ray
    if _embedded["stopping"] is not None:
        if threading.current_thread() is not threading.main_thread() and not ray.is_initialized():
            # a run's helper thread after the driver stopped Ray (Ctrl-C, SIGTERM): starting a
            # fresh Ray from it would only make one more to tear down
            raise RuntimeError("the embedded Ray has been shut down")
        _embedded["stopping"].join()
        _embedded["stopping"] = None
    if ray.is_initialized():
        return
    _ray_errors_to_stderr()
    _no_implicit_ray()
    kwargs: dict[str, Any] = dict(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    if address:
        check_reachable(address)
        with _starting_ray():
            ray.init(address=address, **kwargs)
    else:
        _loopback_only()
        marker = _die_with_this_process()
        # only the processes ray.init starts (and those they start) carry the marker: a
        # subprocess this driver runs later is not Ray's and must outlive it if it wants to
        os.environ[ray_reaper.MARKER_VAR] = marker
        _embedded["starts"] += 1      # counted before ray.init: a start cut short counts too
        try:
            with _starting_ray():
                ray.init(num_cpus=num_cpus or os.cpu_count(), _node_ip_address="127.0.0.1",
                         _system_config={"worker_niceness": os.nice(0)}, **kwargs)
        finally:
            os.environ.pop(ray_reaper.MARKER_VAR, None)
        _embedded["started"] = True


def _no_implicit_ray() -> None:
    """Ray's API calls (ray.get, ray.kill, ...) start a Ray of their own when none is running;
    after the driver stopped the embedded one (Ctrl-C, SIGTERM), a helper thread's last
    ray.kill would start a fresh one (from a non-main thread, with a warning on stderr). They
    raise instead: every run starts its Ray with ensure_ray."""
    try:
        from ray._private import auto_init_hook
        auto_init_hook.enable_auto_connect = False
    except (ImportError, AttributeError):
        pass


def _ray_errors_to_stderr() -> None:
    """Ray prints the errors its GCS publishes ("(raylet) A worker died or was killed ...") on
    the driver's stdout, whatever log_to_driver says: after a recovered worker failure the
    stdout of a --json run would no longer be JSON. They go to stderr instead, each as its
    first line (Ray adds the last 20 lines of the raylet's log). (Ray has no option for it; the
    printer is looked up by name each time, so replacing it works.)"""
    try:
        from ray._private import worker
        original = worker.print_to_stdstream
    except (ImportError, AttributeError):    # another Ray: its printer left alone
        return
    if getattr(original, "to_stderr", False):
        return

    def to_stderr(data, ignore_prefix):
        heads = [next((line for line in str(m).splitlines() if line.strip()), "")[:400] for m in data["lines"]]
        original(dict(data, is_err=True, lines=heads), ignore_prefix)
    to_stderr.to_stderr = True  # type: ignore[attr-defined]  # a marker on the function, read above
    worker.print_to_stdstream = to_stderr


@contextlib.contextmanager
def _starting_ray():
    """Around ray.init: keep the program's own SIGTERM handler (the CLI's handles SIGTERM as
    Ctrl-C), which ray.init would replace with one that exits at once (code 15), and install in
    the driver no C++ failure handler, which catches SIGTERM too (a stack dump, then abort).
    The processes Ray starts keep Ray's handlers: only this process is changed. A Ray that
    cannot start (its raylet killed meanwhile, a node start timed out) is RayUnavailable."""
    from ray._private import ray_constants, utils
    ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = True     # read by ray.init, for this process
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    set_handler = utils.set_sigterm_handler
    utils.set_sigterm_handler = lambda handler: None           # looked up by ray.init at the call
    try:
        yield
    except Exception as exc:     # ray.init raises bare Exceptions ("The current node timed out ...")
        first = next((line for line in str(exc).splitlines() if line.strip()), "")[:300]
        raise RayUnavailable(f"Ray could not start ({type(exc).__name__}: {first})") from None
    finally:
        utils.set_sigterm_handler = set_handler
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _die_with_this_process() -> str:
    """The marker of this driver's embedded Ray processes, starting (once) the reaper that kills
    them when this process exits: after a driver SIGKILL, Ray's agents and workers otherwise
    linger for a minute or so (ray_reaper explains why)."""
    marker = _embedded["marker"]
    if marker is None or not marker.startswith(f"{os.getpid()}-") or not ray_reaper.started():
        # first embedded Ray of this process (a forked child inherits the parent's marker, not its reaper)
        marker = f"{os.getpid()}-{os.urandom(8).hex()}"
        if ray_reaper.start(marker) is not None:
            _embedded["marker"] = marker
    return marker


def _loopback_only() -> None:
    # ray.init turns _node_ip_address="127.0.0.1" into the machine's routable address (so other
    # nodes could join) unless Ray thinks clusters are off, as on macOS; then every Ray server
    # binds to the node address, 127.0.0.1. The constant is read when the node address is
    # resolved (this process) and the environment variable by the processes Ray starts.
    from ray._private import ray_constants
    os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast, in one line naming --address, when a cluster address cannot be reached:
    ray.init would otherwise retry for a minute or more. 'auto' / 'local' are left to Ray."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].split("/", 1)[0]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise UserError(f"--address '{address}' is not host:port, ray://host:port or 'auto'")
    host = host.strip("[]")
    problem: list = []

    def connect():
        try:
            socket.create_connection((host, int(port)), timeout=timeout_s).close()
        except (OSError, ValueError) as exc:     # refused, timed out, unknown host, bad port
            problem.append(exc)
    # in a thread: name resolution has no timeout of its own
    thread = threading.Thread(target=connect, name="ray-address-check", daemon=True)
    thread.start()
    thread.join(timeout_s + 1)
    if thread.is_alive():
        raise UserError(f"--address '{address}': no answer from {host}:{port} within {timeout_s + 1:.0f} s")
    if problem:
        raise UserError(f"--address '{address}': cannot reach {host}:{port} ({problem[0]})")


LIVENESS_CHECK_S = 5.0    # a Ray call still unanswered after this long is checked against a dead node


class RayUnavailable(RuntimeError):
    """No Ray node is alive any more (its raylet was killed or crashed): a run cannot go on.
    Without this check a process rebuilt, or a task queued, on a dead node waits forever."""
    ray_failure = True     # Ray's failure, not the simulation's (orchestration/interrupts.py)


def check_ray_alive() -> None:
    import ray
    try:
        alive = any(node.get("Alive") for node in ray.nodes())
    except Exception:      # the GCS itself is gone
        alive = False
    if not alive:
        raise RayUnavailable("no Ray node is alive any more (a raylet was killed or crashed); nothing more can run")


def wait_for(ref):
    """ray.get(ref), checking every LIVENESS_CHECK_S that a Ray node still lives to answer it."""
    import ray
    while True:
        try:
            return ray.get(ref, timeout=LIVENESS_CHECK_S)
        except ray.exceptions.GetTimeoutError:
            check_ray_alive()


@dataclass
class _Process:
    specs: list[dict]
    handle: Any = None          # its Ray actor handle (remote methods: start, advance, ...)
    inbox: list = field(default_factory=list)
    wake: dict = field(default_factory=dict)     # actor -> earliest pending event in the process
    bound: dict = field(default_factory=dict)    # actor -> earliest possible send to another actor
    replay_log: list = field(default_factory=list)   # (inbox bytes, W) since the last checkpoint
    checkpoint: bytes | None = None


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, max_processes: int | None = None,
                 checkpoint_every: int = 64, record_trace: bool = False,
                 max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES, progress=None, on_window=None,
                 keep_processes: bool = False, on_metrics=None, actor_options: dict | None = None,
                 max_window_ps: int | None = None):
        self.address = address
        self.max_processes = max_processes
        self.checkpoint_every = max(1, checkpoint_every)
        self.record_trace = record_trace
        self.max_payload_bytes = max_payload_bytes
        self.progress = progress
        self.on_window = on_window   # callback(window_index, executor); tests inject faults here
        self.processes: list[_Process] = []
        self.recoveries = 0
        # keep_processes: reuse Ray processes across runs (sweeps, property tests);
        # call close() when done. Process start-up (~0.3 s each) then happens once.
        self.keep_processes = keep_processes
        self._pool: list = []
        # on_metrics(sim_time_ps, {actor: {metric: value}}) after every window and at the end
        self.on_metrics = on_metrics
        # Ray actor options for the processes, e.g. {"scheduling_strategy": "SPREAD"} to place
        # them across a cluster's nodes
        self.actor_options = dict(actor_options or {})
        # the longest window when no actor's lookahead bounds it (progress and checkpoints
        # happen between windows); None: up to the latest pending event
        if max_window_ps is not None and not (isinstance(max_window_ps, int) and max_window_ps > 0):
            raise ValueError(f"max_window_ps must be an integer > 0, got {max_window_ps!r}")
        self.max_window_ps = max_window_ps

    # --- set-up -------------------------------------------------------------------
    def _place(self, system: SystemSpec) -> None:
        specs = list(system.actors)
        n = len(specs) if not self.max_processes else min(self.max_processes, len(specs))
        groups = [specs[i * len(specs) // n:(i + 1) * len(specs) // n] for i in range(n)]
        # lookahead and peers from the classes, without building every actor here (actor_plan)
        plan = {s.name: actor_plan(s, system.seed) for s in specs}
        probe = {name: look for name, (look, _) in plan.items()}
        bad = {k: v for k, v in probe.items() if type(v) is not int or v <= 0}
        if bad:
            name, value = next(iter(bad.items()))
            raise KernelError(f"actor '{name}' declares lookahead {value!r}; the Ray executor needs an integer > 0 ps")
        self.owner = {}
        self.lookahead = probe
        self.processes = []
        for i, group in enumerate(groups):
            dicts = [{"name": s.name, "cls": s.cls, "params": s.params} for s in group]
            self.processes.append(_Process(dicts))
            for s in group:
                self.owner[s.name] = i
        self.local_only = local_only_actors(self.owner, {name: peers for name, (_, peers) in plan.items()})

    def _new_host(self, specs: list[dict], seed: int):
        remote = _RemoteHost().options(**self.actor_options) if self.actor_options else _RemoteHost()
        return remote.remote(specs, seed, self.max_payload_bytes, self.record_trace)

    def _spawn(self, proc: _Process, seed: int) -> None:
        proc.handle = self._new_host(proc.specs, seed)

    def _attach(self, seed: int) -> None:
        import ray
        if not self.keep_processes:
            for proc in self.processes:
                self._spawn(proc, seed)
            return
        while len(self._pool) < len(self.processes):
            self._pool.append(self._new_host([], seed))
        for proc, handle in zip(self.processes, self._pool):
            proc.handle = handle
        refs = [p.handle.configure.remote(p.specs, seed, self.max_payload_bytes, self.record_trace)
                for p in self.processes]
        for i, ref in enumerate(refs):
            try:
                wait_for(ref)
            except ray.exceptions.RayActorError:    # a kept process died while idle: a new one
                self.recoveries += 1
                self._spawn(self.processes[i], seed)
                self._pool[i] = self.processes[i].handle

    def close(self) -> None:
        import ray
        if ray.is_initialized():     # else they went with their Ray
            for handle in self._pool:
                ray.kill(handle)
        self._pool = []

    def host_pids(self) -> list[int]:
        import ray
        return ray.get([p.handle.pid.remote() for p in self.processes])

    # --- the run ------------------------------------------------------------------
    def run(self, system: SystemSpec) -> RunResult:
        import ray
        ensure_ray(self.address)
        wall0 = time.perf_counter()
        self._place(system)
        self.seed = system.seed
        self._attach(system.seed)
        trace: list = []
        processed, last_time, calls = 0, 0, 0
        self.metrics: dict = {}
        try:
            replies = self._gather("start")
            for i, reply in enumerate(replies):
                self._absorb(i, reply, trace)
            self._checkpoint()
            until = system.until_ps
            window = 0
            while True:
                wake: dict[str, int] = {}
                bound: dict[str, int] = {}
                in_flight: list[tuple[str, int]] = []
                for p in self.processes:
                    wake.update(p.wake)
                    bound.update(p.bound)
                    in_flight.extend((ev.dst, ev.time_ps) for ev in p.inbox)
                planned = plan_window(wake, bound, in_flight, self.lookahead, self.local_only,
                                      self.max_window_ps, until)
                if planned is None:
                    break
                t_min, w_end = planned
                if self.on_window is not None:
                    self.on_window(window, self)
                active = sorted({i for i, p in enumerate(self.processes)
                                 if any(t < w_end for t in p.wake.values())
                                 or any(ev.time_ps < w_end for ev in p.inbox)})
                inboxes = {}
                for i in active:
                    proc = self.processes[i]
                    inboxes[i] = encode_batch(sorted(proc.inbox))
                    proc.inbox = []
                refs = {i: self.processes[i].handle.advance.remote(inboxes[i], w_end) for i in active}
                calls += len(refs)
                for i in active:
                    reply = self._get_or_recover(i, refs[i], "advance", inboxes[i], w_end)
                    self.processes[i].replay_log.append((inboxes[i], w_end))
                    n, t = self._absorb(i, reply, trace, w_end)
                    processed += n
                    last_time = max(last_time, t)
                window += 1
                if window % self.checkpoint_every == 0:
                    self._checkpoint()
                if self.progress is not None:
                    self.progress(t_min, processed)
                if self.on_metrics is not None:
                    self.on_metrics(last_time, self.metrics)
            if self.on_metrics is not None:
                self.on_metrics(last_time, self.metrics)
            results = {}
            for blob in self._gather("results"):
                results.update(msgpack.unpackb(blob, raw=False, strict_map_key=False))
        finally:
            if not self.keep_processes:
                for proc in self.processes:
                    ray.kill(proc.handle)
        if self.record_trace:
            trace.sort()
        return RunResult(results=dict(sorted(results.items())), end_time_ps=last_time, events=processed,
                         trace=trace if self.record_trace else None,
                         stats={"executor": self.name, "windows": window, "calls": calls,
                                "processes": len(self.processes), "recoveries": self.recoveries,
                                "wall_s": time.perf_counter() - wall0})

    def _absorb(self, i: int, reply: bytes, trace: list, w_end: int | None = None) -> tuple[int, int]:
        data = msgpack.unpackb(reply, raw=False, strict_map_key=False)
        proc = self.processes[i]
        proc.wake, proc.bound = data["wake"], data["bound"]
        for ev in decode_batch(data["out"], "coordinator"):
            if ev.dst not in self.owner:
                raise MessageError(ev.dst, ev.kind, "dst", f"names no actor in this system (sent by '{ev.src}')")
            if w_end is not None and ev.time_ps < w_end:
                raise KernelError(f"actor '{ev.src}' sent '{ev.kind}' at {ev.time_ps} ps inside the safe window "
                                  f"ending {w_end} ps: its lookahead is declared too large")
            self.processes[self.owner[ev.dst]].inbox.append(ev)
        trace.extend(tuple(t) for t in data["trace"])
        self.metrics.update(data["metrics"])
        return data["n"], data["last"]

    def _checkpoint(self) -> None:
        snaps = self._gather("snapshot")
        for proc, snap in zip(self.processes, snaps):
            proc.checkpoint = snap
            proc.replay_log = []

    def _gather(self, method: str) -> list:
        """``method`` called on every process at once, each reply in process order (a process
        that died is rebuilt and asked again)."""
        refs = [getattr(p.handle, method).remote() for p in self.processes]
        return [self._get_or_recover(i, ref, method) for i, ref in enumerate(refs)]

    def _get_or_recover(self, i: int, ref, method: str, *args):
        """The reply of process i's call ``method(*args)`` (``ref``); if the process died, it is
        rebuilt as it was before the call and asked again. Every call of a run goes through here
        (start, the windows, snapshots, results), so a process lost at any point is recovered."""
        import ray
        try:
            return wait_for(ref)
        except ray.exceptions.RayActorError:
            pass
        check_ray_alive()     # a process is rebuilt only where one can run
        # The process died: rebuild it, restore the last checkpoint (none yet: a fresh process
        # is the state before start), replay the logged windows (their outputs were already
        # routed; determinism makes them equal), retry.
        proc = self.processes[i]
        self.recoveries += 1
        self._spawn(proc, self.seed)
        if self.keep_processes:
            self._pool[i] = proc.handle
        if proc.checkpoint is not None:
            wait_for(proc.handle.restore.remote(proc.checkpoint))
        for logged_inbox, logged_end in proc.replay_log:
            wait_for(proc.handle.advance.remote(logged_inbox, logged_end))
        return wait_for(getattr(proc.handle, method).remote(*args))
