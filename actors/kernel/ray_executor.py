"""The Ray executor: actors live in Ray actor processes; a coordinator advances them
through conservative time windows.

Each window [T, W) is safe: T is the earliest pending event anywhere and
W = min over actors a with pending work of (next_a + lookahead_a), so nothing sent
inside the window can land inside it. Every process with work before W gets exactly
one call per window. The events its actors send to actors of other processes go straight to
those processes, one msgpack batch per receiver (the sender waits until each is taken, so when
the window's last call returns every batch has arrived); the receiver queues them at the start
of its next window. The coordinator sees no event: each reply carries three numbers about the
process's queue and three per process it sent to (loop.window_summary), from which it plans
the next window, so its traffic per window does not grow with the events. (routing="driver"
keeps the design before issue 24, every event through the coordinator, to measure against.)

Several logical actors may share one process (``max_processes``); the message flow is
unchanged. An actor that declares its peers (Actor.peer_names), and all of whose peers, their
peers and so on declare theirs and live in its own process, can never cause a send across
processes, so its lookahead does not bound the window; when no pending actor bounds it, a
window spans ``max_window_ps`` (each process then runs many of its actors' ticks in one call).
Every ``checkpoint_every`` windows the coordinator snapshots every process; if a process dies,
it is rebuilt from its specs, restored from the snapshot, sent again by the others what they
sent it since (each keeps what it sent since the checkpoint), replayed through the logged windows
since (receivers drop the batches they already have: each is named by sender and window), and the
run continues with an identical result.
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
from lolpim.actors.kernel.loop import EventLoop, local_only_actors, merge_summaries, next_window, window_summary
from lolpim.actors.kernel.system import ActorSpec, RunResult, SystemSpec, actor_plan
from lolpim.core.errors import UserError


class ActorHost:
    """Runs a group of logical actors inside one process (the shared EventLoop, a window per
    call), and sends the events its actors address to other processes straight to those
    processes (``receive``), so the coordinator sees only a few numbers per window. Plain class:
    Ray wraps it as a threaded actor (two threads: ``receive`` runs while a window call waits for
    its own sends to be taken)."""

    def __init__(self, specs: list[dict], seed: int, max_payload_bytes: int, record_trace: bool,
                 index: int = 0, plan: dict | None = None):
        self._lock = threading.Lock()
        self.configure(specs, seed, max_payload_bytes, record_trace, index, plan)

    def configure(self, specs: list[dict], seed: int, max_payload_bytes: int, record_trace: bool,
                  index: int = 0, plan: dict | None = None) -> None:
        """(Re)build this process's actors; a kept process serves many runs this way.
        ``plan``: the run's placement {"owner": actor -> process, "lookahead": actor -> ps,
        "local_only": [actors], "push": bool, "metrics": bool}."""
        actors = {}
        for s in specs:
            spec = ActorSpec(**s)
            actors[spec.name] = spec.build(seed)
        self.actors = actors
        self.label = ",".join(actors) if len(actors) <= 3 else f"{next(iter(actors))}+{len(actors) - 1}"
        self.loop = EventLoop(actors, max_payload_bytes, record_trace, remote_ok=True)
        plan = plan or {}
        self.index = index
        self.owner = plan.get("owner", {})
        self.lookahead = plan.get("lookahead", {})
        self.local_only = frozenset(plan.get("local_only", ()))
        self.push = plan.get("push", True)
        self.with_metrics = plan.get("metrics", True)     # per-actor metrics in every reply (on_metrics)
        self.peers: list = []
        with self._lock:
            self.inbound: dict = {}      # (sender process, window tag) -> batch bytes, not yet delivered
            self.taken: dict = {}        # sender process -> latest window tag delivered from it
        self.sent_log: list = []         # (window tag, receiver process, batch bytes) since the checkpoint

    def set_peers(self, handles: list) -> None:
        self.peers = list(handles)

    def pid(self) -> int:
        return os.getpid()

    def node_id(self) -> str:
        import ray
        return ray.get_runtime_context().get_node_id()

    # --- events between processes -------------------------------------------------------
    def receive(self, sender: int, tag: int, batch: bytes) -> None:
        """A batch of events another process's window ``tag`` sent to actors here; kept until the
        first window after ``tag`` runs here. A batch received twice (a rebuilt sender replaying
        its windows) is dropped: (sender, tag) names it."""
        with self._lock:
            if tag > self.taken.get(sender, -2) and (sender, tag) not in self.inbound:
                self.inbound[(sender, tag)] = batch

    def _take_inbound(self, tag: int) -> None:
        """Queue every batch sent in a window before ``tag``: all of them are here, since every
        sender waited for its batches to be received before its window call returned. Which
        batches are queued never depends on arrival order, and the queue orders events by
        (time, dst, src, seq), so delivery order does not either."""
        with self._lock:
            keys = sorted(k for k in self.inbound if k[1] < tag)
            batches = [(k, self.inbound.pop(k)) for k in keys]
            for (sender, t), _ in batches:
                self.taken[sender] = max(t, self.taken.get(sender, -2))
        for _, batch in batches:
            self.loop.push_inbound(decode_batch(batch, self.label), self.label)

    def _send(self, out: list, tag: int, window_end_ps: int | None) -> tuple[dict, bytes | None, int]:
        """Check the events for other processes, send them (push) or hand them back (driver routing).
        Returns (per receiving process, the summary of what it was sent; the batch for the driver
        or None; bytes sent)."""
        by_proc: dict[int, list] = {}
        for ev in out:
            proc = self.owner.get(ev.dst)
            if proc is None:
                raise MessageError(ev.dst, ev.kind, "dst", f"names no actor in this system (sent by '{ev.src}')")
            if window_end_ps is not None and ev.time_ps < window_end_ps:
                raise KernelError(f"actor '{ev.src}' sent '{ev.kind}' at {ev.time_ps} ps inside the safe window "
                                  f"ending {window_end_ps} ps: its lookahead is declared too large")
            by_proc.setdefault(proc, []).append(ev)
        summaries = {proc: window_summary({}, {}, [(ev.dst, ev.time_ps) for ev in evs], self.lookahead,
                                          self.local_only) for proc, evs in by_proc.items()}
        if not self.push:
            return summaries, encode_batch(out), 0
        import ray
        refs, sent = [], 0
        for proc, evs in sorted(by_proc.items()):
            batch = encode_batch(sorted(evs))
            sent += len(batch)
            self.sent_log.append((tag, proc, batch))
            refs.append(self.peers[proc].receive.remote(self.index, tag, batch))
        for ref in refs:
            try:
                ray.get(ref)
            except ray.exceptions.RayActorError:
                # the receiver died: the coordinator rebuilds it and has this batch sent again (resend)
                pass
        return summaries, None, sent

    def resend(self, receiver: int, since_tag: int) -> None:
        """Send a rebuilt ``receiver`` again every batch sent to it since the checkpoint it was restored to."""
        import ray
        ray.get([self.peers[receiver].receive.remote(self.index, tag, batch)
                 for tag, proc, batch in self.sent_log if proc == receiver and tag >= since_tag])

    # --- the coordinator's calls ----------------------------------------------------------
    def start(self) -> bytes:
        cpu0 = time.thread_time()
        return self._reply(self.loop.start(), 0, -1, None, cpu0)

    def advance(self, request: bytes) -> bytes:
        """One window: ``request`` = {"tag": window index, "end": W, "keep": the checkpoint's window
        (older sent batches are forgotten), "inbox": batch routed by the driver or None}."""
        cpu0 = time.thread_time()
        req = msgpack.unpackb(request, raw=False)
        if req["inbox"] is not None:
            self.loop.push_inbound(decode_batch(req["inbox"], self.label), self.label)
        self._take_inbound(req["tag"])
        self.sent_log = [entry for entry in self.sent_log if entry[0] >= req["keep"]]
        before = self.loop.processed
        # Events between actors of this process stay here: they are >= W anyway.
        out = self.loop.run(req["end"])
        return self._reply(out, self.loop.processed - before, req["tag"], req["end"], cpu0)

    def _reply(self, out, processed, tag, window_end_ps, cpu0) -> bytes:
        incoming, batch, sent = self._send(out, tag, window_end_ps)
        trace = self.loop.trace or []
        if self.loop.trace is not None:
            self.loop.trace = []
        wake, bound = self.loop.pending()
        return msgpack.packb({"own": window_summary(wake, bound, (), self.lookahead, self.local_only),
                              "to": [[proc, s] for proc, s in sorted(incoming.items())], "out": batch,
                              "cross": len(out), "sent_bytes": sent, "trace": trace, "n": processed,
                              "last": self.loop.last_ps, "metrics": self.loop.metrics() if self.with_metrics else None,
                              "cpu_s": time.thread_time() - cpu0}, use_bin_type=True)

    def snapshot(self) -> bytes:
        with self._lock:
            inbound = [[sender, tag, batch] for (sender, tag), batch in sorted(self.inbound.items())]
            taken = [[sender, tag] for sender, tag in sorted(self.taken.items())]
        return msgpack.packb({"actors": {n: a.snapshot() for n, a in self.actors.items()},
                              "queue": encode_batch(sorted(self.loop.queue)),
                              "inbound": inbound, "taken": taken}, use_bin_type=True)

    def restore(self, data: bytes) -> None:
        snap = msgpack.unpackb(data, raw=False, strict_map_key=False)
        for name, s in snap["actors"].items():
            self.actors[name].restore(s)
        self.loop.queue = decode_batch(snap["queue"], self.label)
        heapq.heapify(self.loop.queue)
        with self._lock:
            self.inbound = {(sender, tag): batch for sender, tag, batch in snap["inbound"]}
            self.taken = {sender: tag for sender, tag in snap["taken"]}
        self.sent_log = []

    def results(self) -> bytes:
        return msgpack.packb({n: a.result() for n, a in self.actors.items()}, use_bin_type=True)


# Ray is imported where it is used, never at import time (~1 s), so orchestration can import
# this module at its top and an inline run never loads Ray.
_remote_host: list = []


def _RemoteHost():
    if not _remote_host:
        import ray
        # Ray's typed overloads of remote() list the task options only; max_concurrency is an actor
        # option, which Ray accepts for a class
        remote = ray.remote(max_restarts=0, max_task_retries=0, max_concurrency=2)  # type: ignore[call-overload]
        _remote_host.append(remote(ActorHost))
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
                # address "local": a Ray of its own, never one found on the machine (ray.init without
                # an address joins the latest cluster a `ray start` or a test's Cluster left in
                # /tmp/ray, e.g. another user's)
                ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), _node_ip_address="127.0.0.1",
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
    handle: Any = None              # its Ray actor handle (remote methods: configure, advance, ...)
    own: tuple | None = None         # summary of the process's queue (loop.window_summary)
    incoming: tuple | None = None    # summary of the events sent to it and not yet delivered
    inbox: list = field(default_factory=list)       # driver routing: the events themselves
    replay_log: list = field(default_factory=list)  # (window tag, request bytes) since the checkpoint
    checkpoint: bytes | None = None


ROUTINGS = ("push", "driver")


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, max_processes: int | None = None,
                 checkpoint_every: int = 64, record_trace: bool = False,
                 max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES, progress=None, on_window=None,
                 keep_processes: bool = False, on_metrics=None, actor_options: dict | None = None,
                 max_window_ps: int | None = None, routing: str = "push"):
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
        # them across a cluster's nodes; a list: one dict per process (e.g. custom resources)
        self.actor_options = actor_options or {}
        # the longest window when no actor's lookahead bounds it (progress and checkpoints
        # happen between windows); None: up to the latest pending event
        if max_window_ps is not None and not (isinstance(max_window_ps, int) and max_window_ps > 0):
            raise ValueError(f"max_window_ps must be an integer > 0, got {max_window_ps!r}")
        self.max_window_ps = max_window_ps
        # push: each process sends its events for other processes straight to them; driver: they
        # travel through the coordinator (the design before issue 24, kept to measure against)
        if routing not in ROUTINGS:
            raise ValueError(f"routing must be one of {', '.join(ROUTINGS)}, got {routing!r}")
        self.routing = routing

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
        self.plan = {"owner": self.owner, "lookahead": self.lookahead, "local_only": sorted(self.local_only),
                     "push": self.routing == "push", "metrics": self.on_metrics is not None}

    def _options(self, i: int) -> dict:
        opts = self.actor_options
        if isinstance(opts, (list, tuple)):
            return dict(opts[i % len(opts)]) if opts else {}
        return dict(opts)

    def _new_host(self, i: int, specs: list[dict], seed: int, plan: dict | None):
        opts = self._options(i)
        remote = _RemoteHost().options(**opts) if opts else _RemoteHost()
        return remote.remote(specs, seed, self.max_payload_bytes, self.record_trace, i, plan)

    def _spawn(self, i: int, seed: int) -> None:
        self.processes[i].handle = self._new_host(i, self.processes[i].specs, seed, self.plan)
        if self.keep_processes:
            self._pool[i] = self.processes[i].handle

    def _attach(self, seed: int) -> None:
        import ray
        if not self.keep_processes:
            for i in range(len(self.processes)):
                self._spawn(i, seed)
        else:
            while len(self._pool) < len(self.processes):
                self._pool.append(self._new_host(len(self._pool), [], seed, None))
            for proc, handle in zip(self.processes, self._pool):
                proc.handle = handle
            refs = [p.handle.configure.remote(p.specs, seed, self.max_payload_bytes, self.record_trace, i, self.plan)
                    for i, p in enumerate(self.processes)]
            for i, ref in enumerate(refs):
                try:
                    wait_for(ref)
                except ray.exceptions.RayActorError:    # a kept process died while idle: a new one
                    self.recoveries += 1
                    self._spawn(i, seed)
        self._connect()

    def _connect(self) -> None:
        """Give every process the handles of all (they send to each other directly)."""
        handles = [p.handle for p in self.processes]
        for ref in [p.handle.set_peers.remote(handles) for p in self.processes]:
            wait_for(ref)

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
        processed, last_time = 0, 0
        self.metrics: dict = {}
        # the driver's own costs: calls, bytes of call arguments and replies, its CPU time
        # (windows only: calls and bytes of start, checkpoints and results are counted apart)
        self.counts = {"calls": 0, "driver_bytes": 0, "cross_events": 0, "sent_bytes": 0, "host_cpu_s": 0.0,
                       "checkpoint_bytes": 0}
        # where the driver's CPU goes in the windows (benchmarks/window_model.py checks each part):
        # submitting the calls, waiting for their replies, reading the replies, everything else
        self.sections = {"submit_cpu_s": 0.0, "wait_cpu_s": 0.0, "absorb_cpu_s": 0.0}
        self.checkpoint_tag = -1      # the window the last checkpoint was taken before (-1: none yet)
        cpu0, pcpu0 = time.thread_time(), time.process_time()
        try:
            for i, reply in enumerate(self._gather("start")):
                self._absorb(i, reply, trace)
            self.counts["driver_bytes"] = 0
            self._checkpoint(0)
            until = system.until_ps
            window = 0
            while True:
                planned = next_window(merge_summaries([p.own for p in self.processes] +
                                                      [p.incoming for p in self.processes]),
                                      self.max_window_ps, until)
                if planned is None:
                    break
                t_min, w_end = planned
                if self.on_window is not None:
                    self.on_window(window, self)
                active = [i for i, p in enumerate(self.processes)
                          if (p.own is not None and p.own[0] < w_end)
                          or (p.incoming is not None and p.incoming[0] < w_end)]
                requests = {i: self._request(i, window, w_end) for i in active}
                replies = self._call(active, "advance", {i: (requests[i],) for i in active})
                for i in active:
                    self.processes[i].replay_log.append((window, requests[i]))
                    self.processes[i].incoming = None     # all delivered at the start of its window
                absorb0 = time.thread_time()
                for i in active:
                    n, t = self._absorb(i, replies[i], trace)
                    processed += n
                    last_time = max(last_time, t)
                self.sections["absorb_cpu_s"] += time.thread_time() - absorb0
                window += 1
                if window % self.checkpoint_every == 0:
                    self._checkpoint(window)
                if self.progress is not None:
                    self.progress(t_min, processed)
                if self.on_metrics is not None:
                    self.on_metrics(last_time, self.metrics)
            if self.on_metrics is not None:
                self.on_metrics(last_time, self.metrics)
            driver_cpu, driver_pcpu = time.thread_time() - cpu0, time.process_time() - pcpu0
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
                         stats={"executor": self.name, "routing": self.routing, "windows": window,
                                "processes": len(self.processes), "recoveries": self.recoveries,
                                **self.counts, "driver_cpu_s": driver_cpu, "driver_process_cpu_s": driver_pcpu,
                                "driver_sections": dict(self.sections),
                                "wall_s": time.perf_counter() - wall0})

    def _request(self, i: int, window: int, w_end: int) -> bytes:
        proc, inbox = self.processes[i], None
        if self.routing == "driver":
            inbox = encode_batch(sorted(proc.inbox))
            proc.inbox = []
        request = msgpack.packb({"tag": window, "end": w_end, "keep": self.checkpoint_tag, "inbox": inbox},
                                use_bin_type=True)
        self.counts["driver_bytes"] += len(request)
        return request

    def _absorb(self, i: int, reply: bytes, trace: list) -> tuple[int, int]:
        self.counts["driver_bytes"] += len(reply)
        data = msgpack.unpackb(reply, raw=False, strict_map_key=False)
        self.processes[i].own = tuple(data["own"]) if data["own"] is not None else None
        for proc, summary in data["to"]:
            target = self.processes[proc]
            target.incoming = merge_summaries([target.incoming, summary])
        if data["out"] is not None:          # driver routing: the events come here (checked by the sender)
            for ev in decode_batch(data["out"], "coordinator"):
                self.processes[self.owner[ev.dst]].inbox.append(ev)
        self.counts["cross_events"] += data["cross"]
        self.counts["sent_bytes"] += data["sent_bytes"]
        self.counts["host_cpu_s"] += data["cpu_s"]
        trace.extend(tuple(t) for t in data["trace"])
        if data["metrics"] is not None:
            self.metrics.update(data["metrics"])
        return data["n"], data["last"]

    def _checkpoint(self, window: int) -> None:
        snaps = self._gather("snapshot")
        for proc, snap in zip(self.processes, snaps):
            self.counts["checkpoint_bytes"] += len(snap)
            proc.checkpoint = snap
            proc.replay_log = []
        self.checkpoint_tag = window

    def _gather(self, method: str) -> list:
        """``method`` called on every process at once, each reply in process order (a process
        that died is rebuilt and asked again)."""
        everyone = list(range(len(self.processes)))
        replies = self._call(everyone, method, {i: () for i in everyone})
        return [replies[i] for i in everyone]

    def _call(self, indices: list[int], method: str, args: dict) -> dict:
        """Call ``method(*args[i])`` on the processes ``indices`` at once; their replies by index.
        A process found dead is rebuilt as it was before the call and asked again, once every
        other call has returned (so what they sent it is logged for the rebuilt one). Every call
        of a run goes through here (start, the windows, snapshots, results)."""
        import ray
        if method == "advance":
            self.counts["calls"] += len(indices)
        cpu0 = time.thread_time()
        refs = {i: getattr(self.processes[i].handle, method).remote(*args[i]) for i in indices}
        cpu1 = time.thread_time()
        replies, dead = {}, []
        for i in indices:
            try:
                replies[i] = wait_for(refs[i])
            except ray.exceptions.RayActorError:
                dead.append(i)
        if method == "advance":
            self.sections["submit_cpu_s"] += cpu1 - cpu0
            self.sections["wait_cpu_s"] += time.thread_time() - cpu1
        if dead:
            self._recover(dead)
            replies.update(self._call(dead, method, args))
        return replies

    def _recover(self, dead: list[int]) -> None:
        """Rebuild the dead processes: a fresh process from the specs, the last checkpoint (none
        yet: a fresh process is the state before start), every batch the others sent it since that
        checkpoint sent again, then its logged windows replayed in window order (their outputs were
        already delivered; determinism makes them equal, and receivers drop what they already have)."""
        check_ray_alive()     # a process is rebuilt only where one can run
        for i in dead:
            self.recoveries += 1
            self._spawn(i, self.seed)
        self._connect()
        for i in dead:
            if self.processes[i].checkpoint is not None:
                wait_for(self.processes[i].handle.restore.remote(self.processes[i].checkpoint))
        if self.routing == "push":
            refs = [p.handle.resend.remote(i, self.checkpoint_tag)
                    for i in dead for j, p in enumerate(self.processes) if j not in dead]
            for ref in refs:
                wait_for(ref)
        for tag in sorted({tag for i in dead for tag, _ in self.processes[i].replay_log}):
            refs = [self.processes[i].handle.advance.remote(request)
                    for i in dead for t, request in self.processes[i].replay_log if t == tag]
            for ref in refs:
                wait_for(ref)
