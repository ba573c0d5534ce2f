"""The cortical sheet as actors: one SheetTile per rectangle of the sheet, lateral spikes between
tiles as batched messages (models/plasticity/od_map.py has the model).

    SheetTile   the tile's neurons: both eyes' cascade synapses (two od.EyeBlock, compiled
                integration), the LIF somata (od.NeuronBlock) and the lateral inputs they receive.
                Inside the tile everything advances in 1 ms ticks, as in the OD network's actors
                (an eye step takes the tick's presynaptic spikes with the bAPs and dendritic input
                of the soma step before; a soma step takes the eye steps' drive of the tick before
                and the lateral inputs due). Once per window of L ms (L = the smallest lateral
                delay) it sends the spikes its neurons fired in the window, as (time, source id),
                to every tile its lateral connections reach, in one "lateral" message each; the
                receiver expands them into its own neurons' inputs (od_map.expand_lateral), so a
                spike crosses to a tile once whatever the number of connections it makes there.

A tile handles window [W, W + L) one picosecond after W, when every lateral spike arriving in
it has been delivered: a spike fired in [W - L, W) arrives at least L later, and its message,
sent at W - L + 1 ps with delay L - 1 ps, lands at W. So a tile's lookahead is L less 1 ps,
and the Ray executor's windows are L long. Inputs of equal time reach a soma in one canonical
order (time, left eye, right eye, then lateral by source id), so every tiling, process count and
executor gives the same weights bit for bit (tests/plasticity/test_od_map.py).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from lolpim.actors.kernel.actor import Actor
from lolpim.actors.kernel.codec import pack_payload, unpack_payload
from lolpim.actors.kernel.events import ps_to_seconds, seconds_to_ps
from lolpim.actors.kernel.messages import Empty, message
from lolpim.actors.kernel.system import ActorSpec, SystemSpec, frozen_params
from lolpim.core.errors import ParameterError
from lolpim.models.plasticity import cascade_kernel as kernel
from lolpim.models.plasticity import ocular_dominance as od
from lolpim.models.plasticity import od_map as om
from lolpim.models.plasticity.cascade import CascadeParams

TICK_OFFSET_PS = 1
TICK_PS = 10**9                 # 1 ms: the synaptic and bAP delays of the OD network's neurons
LATERAL_KIND = 2                # canonical order of a soma's inputs of equal time: eyes 0, 1, then lateral


def tile_name(index: int) -> str:
    return f"t{index}"


def window_ps(cfg: om.SheetConfig) -> int:
    return cfg.lateral_delay_ms[0] * TICK_PS


def _f64(a) -> bytes:
    return np.ascontiguousarray(a, dtype=np.float64).tobytes()


def _i64(a) -> bytes:
    return np.ascontiguousarray(a, dtype=np.int64).tobytes()


def _arr(a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a)
    return {"dtype": a.dtype.str, "shape": list(a.shape), "data": a.tobytes()}


def _unarr(d: dict) -> np.ndarray:
    return np.frombuffer(d["data"], dtype=np.dtype(d["dtype"])).reshape(d["shape"]).copy()


@message
class LateralSpikes:
    """The spikes a tile's neurons fired in one window: their times (s, float64) and global ids (int64)."""
    t: bytes
    n: bytes


class SheetEyeBlock(od.EyeBlock):
    """One eye's synapses onto a tile's neurons (local ids 0..count-1), with the sheet's inputs."""

    def __init__(self, params: CascadeParams, sheet: om.SheetConfig, variant: od.Variant, seed: int,
                 tile: om.Tile, eye: int):
        # the OD block reads only synapses_per_eye and (for its own inputs, unused here) the phases
        cfg = od.OcularDominanceConfig(neurons=tile.count, synapses_per_eye=sheet.synapses_per_eye,
                                       visual_rate_hz=0.0, binocular_s=sheet.duration_s(), deprivation_s=0.0)
        super().__init__(params, cfg, variant, seed, 0, tile.count, eye)
        self.sheet, self.tile = sheet, tile
        self.ids = tile.global_ids(sheet.size)

    def _load_chunk(self, chunk: int) -> None:
        ev = om.events(self.sheet, self.seed, self.eye, chunk)
        self._store_chunk(chunk, om.neurons_spikes(self.sheet, self.seed, self.ids, self.eye, chunk, ev))


class SheetTile(Actor):
    accepts = {"lateral": LateralSpikes, "tick": Empty}
    timers = frozenset({"tick"})
    # state() / load_state() pack the model objects (eyes, soma) themselves
    state_fields = ("eyes", "soma", "pending", "sample_t", "sample_w", "next_tick_ps", "sent", "sent_windows",
                    "spike_count", "cpu_s")

    @frozen_params
    class Params:
        cascade: CascadeParams
        config: om.SheetConfig
        variant: od.Variant
        tiles_x: int
        tiles_y: int
        tile: int                   # this tile's index in od_map.tiling(size, tiles_x, tiles_y)
        resume: bytes = b""         # a packed snapshot (keep_state) to start from, at config.start_s
        keep_state: bool = False
        eye_threads: int = 1        # 2: the two eyes' synapses step in two threads (the same bits)

    @classmethod
    def lookahead_for(cls, params: Params) -> int:
        return window_ps(params.config) - TICK_OFFSET_PS

    @classmethod
    def peers_for(cls, name: str, params: Params) -> frozenset:
        cfg = params.config
        tiles = om.tiling(cfg.size, params.tiles_x, params.tiles_y)
        reached = om.tiles_reached(tiles[params.tile], tiles, om.lateral(cfg), cfg.size)
        return frozenset(tile_name(i) for i in reached)

    def __init__(self, name: str, seed: int, params: Params):
        super().__init__(name, seed)
        cfg = self.cfg = params.config
        self.variant = params.variant
        tiles = om.tiling(cfg.size, params.tiles_x, params.tiles_y)
        self.tile = tiles[params.tile]
        self.lat = om.lateral(cfg)
        self.targets = [tile_name(i) for i in om.tiles_reached(self.tile, tiles, self.lat, cfg.size)]
        self.peer_names = frozenset(self.targets)
        self.lookahead_ps = self.lookahead_for(params)
        self.window_ps = window_ps(cfg)
        self.ids = self.tile.global_ids(cfg.size)
        self.eyes = [SheetEyeBlock(params.cascade, cfg, self.variant, seed, self.tile, eye) for eye in (0, 1)]
        self.soma = od.NeuronBlock(self.eyes[0].cfg, self.variant, 0, self.tile.count)
        self.resume_from, self.keep_state = params.resume, params.keep_state
        if params.eye_threads not in (1, 2):
            raise ParameterError("eye_threads", f"must be 1 (the eyes one after the other) or 2 (in two threads), "
                                                f"got {params.eye_threads!r}")
        self.eye_threads = params.eye_threads
        self.start_ps = seconds_to_ps(cfg.start_s)
        self.end_ps = seconds_to_ps(cfg.duration_s())
        self.sample_ps = seconds_to_ps(cfg.sample_interval_s)
        self.norm_ps = seconds_to_ps(cfg.normalise_interval_s) if cfg.normalisation != "none" else None
        self.syn_delay = self.variant.neuron.synaptic_delay_s
        self.bap_delay = self.variant.neuron.bap_delay_s
        if seconds_to_ps(self.syn_delay) != TICK_PS or seconds_to_ps(self.bap_delay) != TICK_PS:
            raise ParameterError("synaptic_delay_s", "the sheet's ticks are 1 ms: synaptic and bAP delays must be 1 ms")
        self.pending = self._empty_pending()
        self.sample_t: list[float] = []
        self.sample_w: list[list] = []
        self.next_tick_ps: int | None = None
        self.sent: dict[str, int] = {}
        self.sent_windows: list[int] = []    # index of each window in which lateral spikes went out
        self.spike_count = 0
        # CPU time of this tile's handle calls: a measurement (no result depends on it), kept in the
        # snapshot so a run recovered from a checkpoint reports the work behind its state
        self.cpu_s = 0.0

    @staticmethod
    def _empty_pending() -> dict:
        z, zi = np.zeros(0), np.zeros(0, dtype=np.int64)
        return {"ff": (z, zi, z, zi),                 # eye drive for the next soma step: t, local, mV, eye
                "lat": (z, zi, z, zi),                # lateral inputs due: t, local, mV, source id
                "bap": (z, zi, z),                    # bAPs for the next eye step: t, local, trace
                "jump": (z, zi, z)}                   # dendritic input for the next eye step: t, local, mV

    # -- state (snapshots: Ray checkpoints and resumed runs) ---------------------------------------
    def state(self):
        return {"eyes": [e.snapshot() for e in self.eyes], "soma": self.soma.snapshot(),
                "pending": {k: [_arr(a) for a in v] for k, v in self.pending.items()},
                "sample_t": list(self.sample_t), "sample_w": [[_arr(a) for a in w] for w in self.sample_w],
                "next_tick_ps": self.next_tick_ps, "sent": dict(self.sent),
                "sent_windows": list(self.sent_windows), "spike_count": self.spike_count, "cpu_s": self.cpu_s}

    def load_state(self, state):
        for e, snap in zip(self.eyes, state["eyes"]):
            e.restore(snap)
        self.soma.restore(state["soma"])
        self.pending = {k: tuple(_unarr(a) for a in v) for k, v in state["pending"].items()}
        self.sample_t = list(state["sample_t"])
        self.sample_w = [[_unarr(a) for a in w] for w in state["sample_w"]]
        self.next_tick_ps, self.sent = state["next_tick_ps"], dict(state["sent"])
        self.sent_windows = list(state["sent_windows"])
        self.spike_count = state["spike_count"]
        self.cpu_s = state["cpu_s"]

    # -- the run ----------------------------------------------------------------------------------
    def start(self):
        for e in self.eyes:
            e.allocate()
        if self.resume_from:
            snap = unpack_payload(self.resume_from)
            for e, s in zip(self.eyes, snap["eyes"]):
                e.resume(s)
            self.soma.resume(snap["soma"], self.cfg.start_s)
            self.pending = {k: tuple(_unarr(a) for a in v) for k, v in snap["pending"].items()}
            self._sample(ps_to_seconds(self.start_ps))
        self.next_tick_ps = self.now_ps + self.start_ps + TICK_OFFSET_PS
        return [self.send(self.name, "tick", Empty(), self.start_ps + TICK_OFFSET_PS)]

    def _sample(self, t: float) -> None:
        self.sample_t.append(t)
        self.sample_w.append([e.mean_weights() for e in self.eyes])

    def handle(self, event, payload):
        start = time.thread_time()
        try:
            return self._handle(event, payload)
        finally:
            self.cpu_s += time.thread_time() - start

    def _handle(self, event, payload):
        if event.kind == "lateral":
            t = np.frombuffer(payload.t, dtype=np.float64) if len(payload.t) % 8 == 0 else None
            n = np.frombuffer(payload.n, dtype=np.int64) if len(payload.n) % 8 == 0 else None
            if t is None or n is None or t.size != n.size:
                self.reject(event, "t", "spike times and ids must be whole 8-byte values, as many of each")
            if not np.isfinite(t).all() or (n.size and (n.min() < 0 or n.max() >= self.cfg.neurons)):
                self.reject(event, "n", f"holds a time that is not finite or an id outside 0..{self.cfg.neurons - 1}")
            if t.size and t.min() < ps_to_seconds(self.now_ps) - self.window_ps * 1e-12:
                self.reject(event, "t", "holds spikes older than one window")
            self._add_lateral(t, n)
            return []
        if self.now_ps != self.next_tick_ps:
            self.reject(event, "kind", f"a tick at {self.now_ps} ps; this tile's next is due at {self.next_tick_ps} ps"
                        if self.next_tick_ps is not None else f"a tick at {self.now_ps} ps, after this tile's last")
        w0 = self.now_ps - TICK_OFFSET_PS
        w1 = min(w0 + self.window_ps, self.end_ps)
        spikes_t, spikes_n = [], []
        for start in range(w0, max(w1, w0 + 1), TICK_PS):
            t, n = self._tick(start)
            if t is None:
                self.next_tick_ps = None
                break
            spikes_t.append(t)
            spikes_n.append(n)
        out = []
        if self.next_tick_ps is not None:
            self.next_tick_ps = self.now_ps + self.window_ps
            out.append(self.send(self.name, "tick", Empty(), self.window_ps))
        if spikes_t:
            t, n = np.concatenate(spikes_t), np.concatenate(spikes_n)
            if t.size:
                msg = LateralSpikes(t=_f64(t), n=_i64(n))
                if self.targets:
                    self.sent_windows.append(w0 // self.window_ps)
                for dst in self.targets:
                    out.append(self.send(dst, "lateral", msg, self.lookahead_ps))
                    self.sent[dst] = self.sent.get(dst, 0) + 1
        return out

    def _normalise(self, t: float) -> None:
        """Synaptic conservation (od_map.normalise_subtractive) at tick start t: every synapse is
        brought to t first, so the shift applies to the state at t."""
        self._each_eye(lambda e: e.sync_all(t))
        p = [e.state[:, kernel.P].copy() for e in self.eyes]      # contiguous: reshaped in place
        om.normalise_subtractive(p[0], p[1], self.cfg.synapses_per_eye, self.eyes[0].params.p_initial)
        for e, col in zip(self.eyes, p):
            e.state[:, kernel.P] = col

    def _each_eye(self, step) -> list:
        """``step(eye)`` for both eyes: one after the other, or (eye_threads = 2) the right eye in a
        helper thread while this one does the left. The eyes share no array and the compiled
        kernels release the GIL, so the two overlap and give the same bits either way."""
        if self.eye_threads == 1:
            return [step(e) for e in self.eyes]

        def timed(e):
            start = time.thread_time()
            return step(e), time.thread_time() - start
        other = _helper_thread().submit(timed, self.eyes[1])
        first = step(self.eyes[0])
        second, helper_cpu_s = other.result()
        self.cpu_s += helper_cpu_s          # the handler's own thread time is counted in handle()
        return [first, second]

    def _add_lateral(self, spike_t, spike_src) -> None:
        a = om.expand_lateral(spike_t, spike_src, self.tile, self.lat, self.cfg.size)
        self.pending["lat"] = tuple(np.concatenate([p, q]) for p, q in zip(self.pending["lat"], a))

    def _tick(self, start_ps: int):
        """One 1 ms tick [start, start + 1 ms): eye steps, then the soma step. Returns the tick's
        spikes (times, global ids), or None at the end of the run."""
        t0 = ps_to_seconds(start_ps)
        next_sample = self.start_ps + len(self.sample_t) * self.sample_ps
        if start_ps >= min(next_sample, self.end_ps):
            self._each_eye(lambda e: e.sync_all(t0))
            self._sample(t0)
        if start_ps >= self.end_ps:
            return None, None
        if self.norm_ps is not None and start_ps > 0 and start_ps % self.norm_ps == 0:
            self._normalise(t0)
        t1 = ps_to_seconds(min(start_ps + TICK_PS, self.end_ps))
        # eye steps: the soma step before sent its bAPs and dendritic input into this tick
        bt, bn, br = self.pending["bap"]
        jt, jn, jv = self.pending["jump"]

        def eye_step(e):
            e.add_inputs(t0, jt, jn, jv)
            e.add_baps(bt, bn, br)
            return e.tick(t0, t1)
        ff = []
        for e, (times, neurons, drive) in zip(self.eyes, self._each_eye(eye_step)):
            ff.append((times + self.syn_delay, neurons, drive, np.full(times.size, e.eye, dtype=np.int64)))
        # soma step: the eyes' drive of the tick before and the lateral inputs due in this tick
        lt, ln, lw, ls = self.pending["lat"]
        due = lt < t1
        ft, fn, fw, fe = self.pending["ff"]
        times = np.concatenate([ft, np.maximum(lt[due], t0)])
        local = np.concatenate([fn, ln[due]])
        drive = np.concatenate([fw, lw[due]])
        kind = np.concatenate([fe, np.full(int(due.sum()), LATERAL_KIND, dtype=np.int64)])
        source = np.concatenate([np.full(ft.size, -1, dtype=np.int64), ls[due]])
        self.pending["lat"] = (lt[~due], ln[~due], lw[~due], ls[~due])
        self.pending["ff"] = tuple(np.concatenate(c) for c in zip(*ff))
        order = np.lexsort((local, source, kind, times))
        times, local, drive = times[order], local[order], drive[order]
        st, sn, sr = self.soma.inputs(times, local, drive)
        self.spike_count += int(st.size)
        self.pending["bap"] = (st + self.bap_delay, sn, sr)
        self.pending["jump"] = (times + self.bap_delay, local, drive)
        gids = self.ids[sn]
        if st.size:
            self._add_lateral(st, gids)
        return st, gids

    def result(self):
        w = np.array([[s[0], s[1]] for s in self.sample_w]) if self.sample_w else np.zeros((0, 2, self.tile.count))
        t, n = self.soma.spikes()
        out = {"tile": self.tile.index, "ids": _i64(self.ids), "sample_t": self.sample_t, "mean_w": _f64(w),
               "spikes": _i64(np.bincount(n, minlength=self.tile.count)),
               "steps": sum(e.steps for e in self.eyes), "events": sum(e.events for e in self.eyes),
               "sent": dict(self.sent), "sent_windows": _i64(np.asarray(self.sent_windows, dtype=np.int64)),
               "spike_total": self.spike_count,
               "measured": {"cpu_s": self.cpu_s}}   # a timing: reported, not compared across executors
        if self.keep_state:
            out["state"] = pack_payload({"eyes": [e.snapshot() for e in self.eyes], "soma": self.soma.snapshot(),
                                         "pending": {k: [_arr(a) for a in v] for k, v in self.pending.items()}})
        return out

    def metrics(self):
        return {"synapse_updates_total": sum(e.steps for e in self.eyes),
                "synapse_events_total": sum(e.events for e in self.eyes)}


_HELPER: list = []


def _helper_thread():
    """One helper thread per process, shared by its tiles (a tile uses it within one handler call)."""
    if not _HELPER:
        _HELPER.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="sheet-eye"))
    return _HELPER[0]


def sheet_system(params: CascadeParams, cfg: om.SheetConfig, variant: od.Variant, seed: int = 0,
                 tiles_x: int = 1, tiles_y: int = 1, resume: dict | None = None,
                 keep_state: bool = False, eye_threads: int = 1) -> SystemSpec:
    """The sheet as tiles_x x tiles_y SheetTiles (listed row-major: RayExecutor(max_processes=P)
    gives each process a run of whole rows of tiles when P divides the tiles)."""
    if (cfg.start_s > 0) != bool(resume):
        raise ParameterError("start_s", "a run starts at 0 s, or resumes at start_s > 0 from a snapshot (resume)")
    specs = []
    for tile in om.tiling(cfg.size, tiles_x, tiles_y):
        name = tile_name(tile.index)
        state = b""
        if resume:
            if name not in resume:
                raise ParameterError("resume", f"holds no state for tile '{name}' (a snapshot of another tiling)")
            state = resume[name]
        specs.append(ActorSpec(name, SheetTile, SheetTile.Params(
            cascade=params, config=cfg, variant=variant, tiles_x=tiles_x, tiles_y=tiles_y, tile=tile.index,
            resume=state, keep_state=keep_state, eye_threads=eye_threads)))
    return SystemSpec(tuple(specs), seed=seed)


def final_states(results: dict) -> dict:
    return {name: r["state"] for name, r in results.items() if "state" in r}


def collect(results: dict, size: int) -> dict:
    """Tile results -> per-neuron arrays in global (row-major) order: sample times, mean weights
    [sample, eye, neuron], spikes per neuron; work counters and the messages each tile sent."""
    tiles = sorted((r for r in results.values() if "tile" in r), key=lambda r: r["tile"])
    n_samples = len(tiles[0]["sample_t"])
    w = np.zeros((n_samples, 2, size * size))
    spikes = np.zeros(size * size, dtype=np.int64)
    sent = {}
    for r in tiles:
        ids = np.frombuffer(r["ids"], dtype=np.int64)
        w[:, :, ids] = np.frombuffer(r["mean_w"]).reshape(n_samples, 2, ids.size)
        spikes[ids] = np.frombuffer(r["spikes"], dtype=np.int64)
        sent[tile_name(r["tile"])] = r["sent"]
    return {"sample_t": list(tiles[0]["sample_t"]), "mean_w": w, "spikes": spikes,
            "steps": sum(r["steps"] for r in tiles), "events": sum(r["events"] for r in tiles), "sent": sent}
