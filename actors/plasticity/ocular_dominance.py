"""Ocular dominance as actors: eye populations and neuron blocks exchanging batched spikes and bAPs.

    EyePopulation  one eye's cascade synapses onto a block of neurons (numpy state, compiled
                   integration: models/plasticity/ocular_dominance.py EyeBlock). Once per tick it
                   takes its presynaptic spikes of that tick (a pure function of run seed, neuron
                   and eye) and sends the block's neurons their input jumps in one "epsp" message.
    NeuronBlock    the block's LIF somata; for each tick with input it sends the spikes it fired,
                   as bAPs with the neuron's activity trace, to both eye populations in one "baps"
                   message.
A tick is the shorter of the synaptic and bAP delays (both whole multiples of it). A population
handles tick [T, T + tick) one picosecond after T, when every bAP arriving in the tick has been
delivered (it was sent a delay earlier); its epsp message lands at T + synaptic delay, where the
neuron block's own tick picks it up one picosecond later. So each actor's lookahead is its delay
less 1 ps, and the executor's safe windows are one tick long.

The two populations of a neuron share nothing but the neuron's bAPs, so their competition runs
entirely through messages. The inline and Ray executors give identical weights
(tests/plasticity/test_plasticity_actors.py).
"""
from __future__ import annotations

from dataclasses import field, replace
from typing import Any

import numpy as np

from lolpim.core.errors import ParameterError
from lolpim.models.plasticity import ocular_dominance as od
from lolpim.models.plasticity.cascade import CascadeParams

from lolpim.actors.kernel.actor import Actor, decode_state, encode_state
from lolpim.actors.kernel.codec import pack_payload, unpack_payload
from lolpim.actors.kernel.events import ps_to_seconds, seconds_to_ps
from lolpim.actors.kernel.messages import Empty, message
from lolpim.actors.kernel.system import ActorSpec, SystemSpec, frozen_params

TICK_OFFSET_PS = 1      # a tick runs 1 ps after its start, behind every message stamped at the start


def block_name(block: int) -> str:
    return f"b{block}"


def population_name(block: int, eye: int) -> str:
    return f"b{block}.{od.EYES[eye]}"


def _f64(a) -> bytes:
    return np.ascontiguousarray(a, dtype=np.float64).tobytes()


def _i64(a) -> bytes:
    return np.ascontiguousarray(a, dtype=np.int64).tobytes()


def timing_ps(variant: od.Variant) -> tuple[int, int, int]:
    """(tick, synaptic delay, bAP delay) in ps; the delays must be whole multiples of the tick."""
    syn_ps = seconds_to_ps(variant.neuron.synaptic_delay_s)
    bap_ps = seconds_to_ps(variant.neuron.bap_delay_s)
    tick = min(syn_ps, bap_ps)
    if tick < 2 * TICK_OFFSET_PS or syn_ps % tick or bap_ps % tick:
        raise ParameterError("synaptic_delay_s", f"synaptic ({syn_ps} ps) and bAP ({bap_ps} ps) delays must be "
                                                 "whole multiples of the shorter one")
    return tick, syn_ps, bap_ps


# -- messages: spike columns as packed 8-byte arrays, one value per spike ------------------------

@message
class Baps:
    """What a neuron block's somata send back to an eye population's spines in one tick: their
    spikes, as bAPs, and their synaptic input, which depolarises the dendrite (the spines' D_n)."""
    t: bytes        # bAP arrival times in s (float64)
    n: bytes        # global neuron ids (int64)
    r: bytes        # the neuron's activity trace at the spike (float64)
    jt: bytes = b""     # input jumps: arrival times at the spines in s (float64), sorted
    jn: bytes = b""     # their global neuron ids (int64)
    jv: bytes = b""     # their size at the soma in mV (float64)


@message
class Epsp:
    """One eye population's input jumps of a tick, for its neuron block."""
    eye: int = field(metadata={"choices": (0, 1)})
    t: bytes        # arrival times in s (float64)
    n: bytes        # global neuron ids (int64)
    w: bytes        # drive in mV (float64)


def _columns(actor: Actor, event, payload, names: tuple[str, ...], first: int, count: int,
             times_name: str = "t") -> list[np.ndarray]:
    """The payload's spike columns (times, neuron ids, values) as arrays; a column that is not
    whole 8-byte values, of another length than the times, non-finite, or a neuron outside
    [first, first + count) is refused (MessageError)."""
    columns = []
    for name in names:
        raw = getattr(payload, name)
        if len(raw) % 8:
            actor.reject(event, name, f"is {len(raw)} bytes, not whole 8-byte values")
        ids_column = name.endswith("n")
        column = np.frombuffer(raw, dtype=np.int64 if ids_column else np.float64)
        n_times = len(getattr(payload, times_name)) // 8
        if column.size != n_times:
            actor.reject(event, name, f"holds {column.size} values for {n_times} times")
        if not ids_column and not np.isfinite(column).all():
            actor.reject(event, name, "holds NaN or inf")
        columns.append(column)
    name = next(n for n in names if n.endswith("n"))
    ids = columns[names.index(name)]
    if ids.size and (ids.min() < first or ids.max() >= first + count):
        actor.reject(event, name, f"names a neuron outside this block's {first}..{first + count - 1}")
    return columns


class _ModelStateActor(Actor):
    """An actor whose state includes one model object (``model_field``) that packs its own
    arrays (``snapshot`` / ``restore``); every other declared field is encoded as usual."""
    model_field = ""

    def state(self):
        return {f: getattr(self, f).snapshot() if f == self.model_field else encode_state(getattr(self, f))
                for f in self.state_fields}

    def load_state(self, state):
        getattr(self, self.model_field).restore(state[self.model_field])
        for f in self.state_fields:
            if f != self.model_field:
                setattr(self, f, decode_state(state[f]))


class EyePopulation(_ModelStateActor):
    accepts = {"baps": Baps, "tick": Empty}
    timers = frozenset({"tick"})
    state_fields = ("block", "sample_t", "sample_w", "next_tick_ps")
    model_field = "block"

    @frozen_params
    class Params:
        cascade: CascadeParams
        config: od.OcularDominanceConfig
        variant: od.Variant
        block: int              # index of the neuron block
        first_neuron: int       # global id of the block's first neuron
        neurons: int            # neurons in the block
        eye: int                # 0 left, 1 right
        epsp_scale: float = 1.0     # somatic drive x this (the rate-matched no-boost control)
        resume: bytes = b""         # a packed EyeBlock snapshot to start from, at config.start_s
        keep_state: bool = False    # return the final snapshot (another run resumes from it)

    @classmethod
    def lookahead_for(cls, params: Params) -> int:
        return timing_ps(params.variant)[1] - TICK_OFFSET_PS

    @classmethod
    def peers_for(cls, name: str, params: Params) -> frozenset:
        return frozenset({block_name(params.block)})

    def __init__(self, name: str, seed: int, params: Params):
        super().__init__(name, seed)
        self.variant, self.cfg = params.variant, params.config
        self.block = od.EyeBlock(params.cascade, self.cfg, self.variant, seed, params.first_neuron, params.neurons,
                                 params.eye, params.epsp_scale)
        self.resume_from, self.keep_state = params.resume, params.keep_state
        self.start_ps = seconds_to_ps(self.cfg.start_s)
        self.tick_ps, self.syn_ps, _ = timing_ps(self.variant)
        self.lookahead_ps = self.lookahead_for(params)
        self.sample_ps = seconds_to_ps(self.cfg.sample_interval_s)
        self.end_ps = seconds_to_ps(self.cfg.duration_s())
        self.neuron_block = block_name(params.block)
        self.peer_names = self.peers_for(name, params)
        self.sample_t: list[float] = []
        self.sample_w: list[np.ndarray] = []
        # when its own next tick is due (None: none is): a tick at any other time is a forgery,
        # which could make the block integrate up to any time at all (issue 26)
        self.next_tick_ps: int | None = None

    def start(self):
        self.block.allocate()
        if self.resume_from:
            # the state was synchronised at start_s (the end sample of the run it comes from)
            self.block.resume(unpack_payload(self.resume_from))
            self.sample_t.append(ps_to_seconds(self.start_ps))
            self.sample_w.append(self.block.mean_weights())
        self.next_tick_ps = self.now_ps + self.start_ps + TICK_OFFSET_PS
        return [self.send(self.name, "tick", Empty(), self.start_ps + TICK_OFFSET_PS)]

    def handle(self, event, payload):
        if event.kind == "baps":
            times, neurons, traces = _columns(self, event, payload, ("t", "n", "r"), self.block.first,
                                              self.block.count)
            j_times, j_neurons, jumps = _columns(self, event, payload, ("jt", "jn", "jv"), self.block.first,
                                                 self.block.count, times_name="jt")
            if j_times.size and (j_times.min() < ps_to_seconds(self.now_ps) or np.any(np.diff(j_times) < 0)):
                self.reject(event, "jt", "holds input times before this tick or out of order")
            self.block.add_inputs(ps_to_seconds(self.now_ps), j_times, j_neurons, jumps)
            self.block.add_baps(times, neurons, traces)
            return []
        if self.now_ps != self.next_tick_ps:
            self.reject(event, "kind", f"a tick at {self.now_ps} ps; this population's next is due at "
                                       f"{self.next_tick_ps} ps" if self.next_tick_ps is not None else
                                       f"a tick at {self.now_ps} ps, after this population's last")
        start_ps = self.now_ps - TICK_OFFSET_PS
        t0 = ps_to_seconds(start_ps)
        next_sample = self.start_ps + len(self.sample_t) * self.sample_ps
        if start_ps >= min(next_sample, self.end_ps):
            self.block.sync_all(t0)
            self.sample_t.append(t0)
            self.sample_w.append(self.block.mean_weights())
        if start_ps >= self.end_ps:
            self.next_tick_ps = None
            return []
        end_ps = min(start_ps + self.tick_ps, self.end_ps)
        times, neurons, drive = self.block.tick(t0, ps_to_seconds(end_ps))
        self.next_tick_ps = self.now_ps + end_ps - start_ps
        out = [self.send(self.name, "tick", Empty(), end_ps - start_ps)]
        if times.size:
            delay = self.variant.neuron.synaptic_delay_s
            out.append(self.send(self.neuron_block, "epsp",
                                 Epsp(eye=self.block.eye, t=_f64(times + delay), n=_i64(neurons), w=_f64(drive)),
                                 self.lookahead_ps))
        return out

    def result(self):
        out = {"first": self.block.first, "eye": self.block.eye, "sample_t": self.sample_t,
               "mean_w": _f64(np.array(self.sample_w)), "final_w": _f64(self.block.weights()),
               "steps": self.block.steps, "events": self.block.events, "bap": _f64(self.block.bap_summary())}
        if self.keep_state:
            out["state"] = pack_payload(self.block.snapshot())
        return out

    def metrics(self):
        return {"synapse_updates_total": self.block.steps, "synapse_events_total": self.block.events}


class NeuronBlock(_ModelStateActor):
    accepts = {"epsp": Epsp, "tick": Empty}
    timers = frozenset({"tick"})
    state_fields = ("neurons", "inbox")
    model_field = "neurons"

    @frozen_params
    class Params:
        config: od.OcularDominanceConfig
        variant: od.Variant
        block: int              # index of the neuron block
        first_neuron: int       # global id of the block's first neuron
        neurons: int            # neurons in the block
        resume: bytes = b""         # a packed NeuronBlock snapshot to start from, at config.start_s
        keep_state: bool = False    # return the final snapshot

    @classmethod
    def lookahead_for(cls, params: Params) -> int:
        return timing_ps(params.variant)[2] - TICK_OFFSET_PS

    @classmethod
    def peers_for(cls, name: str, params: Params) -> frozenset:
        return frozenset(population_name(params.block, eye) for eye in range(2))

    def __init__(self, name: str, seed: int, params: Params):
        super().__init__(name, seed)
        self.variant = params.variant
        self.neurons = od.NeuronBlock(params.config, self.variant, params.first_neuron, params.neurons)
        if params.resume:
            self.neurons.resume(unpack_payload(params.resume), params.config.start_s)
        self.keep_state = params.keep_state
        self.lookahead_ps = self.lookahead_for(params)
        self.populations = [population_name(params.block, eye) for eye in range(2)]
        self.peer_names = self.peers_for(name, params)
        self.inbox: list[tuple] = []        # (eye, times, neuron ids, drives) of this tick's epsp messages

    def handle(self, event, payload):
        if event.kind == "epsp":
            columns = _columns(self, event, payload, ("t", "n", "w"), self.neurons.first, self.neurons.count)
            out = [] if self.inbox else [self.send(self.name, "tick", Empty(), TICK_OFFSET_PS)]
            self.inbox.append((payload.eye, *columns))
            return out
        if not self.inbox:      # its tick is only ever set by an epsp: a second one is a forgery
            self.reject(event, "kind", "a tick with no epsp received since the last one")
        self.inbox.sort(key=lambda item: item[0])      # left eye first, whatever the delivery order
        parts = self.inbox
        self.inbox = []
        times, neurons, drive = (np.concatenate([p[c] for p in parts]) for c in (1, 2, 3))
        t, n, r = self.neurons.inputs(times, neurons, drive)
        order = np.argsort(times, kind="stable")       # the order the somata took them in
        jt, jn, jv = times[order], neurons[order], drive[order]
        delay = self.variant.neuron.bap_delay_s
        baps = Baps(t=_f64(t + delay), n=_i64(n), r=_f64(r), jt=_f64(jt + delay), jn=_i64(jn), jv=_f64(jv))
        return [self.send(pop, "baps", baps, self.lookahead_ps) for pop in self.populations]

    def result(self):
        t, n = self.neurons.spikes()
        out = {"spike_t": _f64(t), "spike_n": _i64(n), "theta": _f64(self.neurons.theta),
               "set_hz": _f64(self.neurons.set_hz)}
        if self.keep_state:
            out["state"] = pack_payload(self.neurons.snapshot())
        return out


def ocular_dominance_system(params: CascadeParams, cfg: od.OcularDominanceConfig, variant: str | od.Variant = "network",
                            seed: int = 0, blocks: int = 1, resume: dict | None = None, keep_state: bool = False,
                            epsp_scale: float = 1.0) -> SystemSpec:
    """cfg.neurons neurons in ``blocks`` blocks, each block a NeuronBlock and two EyePopulations
    (listed together, so a Ray placement of one block per process keeps their messages local).
    ``resume``: the final states of a run of the same neurons and blocks ({actor name: packed
    snapshot}, what ``final_states`` returns), continued from cfg.start_s (the end of that run);
    ``keep_state``: the results carry the final states; ``epsp_scale``: every synapse's drive x it."""
    # a bad name fails here, not inside an actor; the variant sets the inputs' contrast spread
    resolved = variant if isinstance(variant, od.Variant) else od.load_variant(variant)
    cfg = replace(cfg, contrast_spread=resolved.contrast_spread)
    if not (isinstance(blocks, int) and 1 <= blocks <= cfg.neurons):
        raise ParameterError("blocks", f"must be an integer in 1..{cfg.neurons} (the neurons), got {blocks!r}")
    if (cfg.start_s > 0) != bool(resume):
        raise ParameterError("start_s", "a run starts at 0 s, or resumes at start_s > 0 from a snapshot (resume)")
    specs = []
    for b in range(blocks):
        first = b * cfg.neurons // blocks
        count = (b + 1) * cfg.neurons // blocks - first
        common: dict[str, Any] = {"config": cfg, "variant": resolved, "block": b, "first_neuron": first,
                                  "neurons": count, "keep_state": keep_state}
        specs.append(ActorSpec(block_name(b), NeuronBlock,
                               NeuronBlock.Params(resume=_state_of(resume, block_name(b)), **common)))
        for eye in range(2):
            name = population_name(b, eye)
            specs.append(ActorSpec(name, EyePopulation,
                                   EyePopulation.Params(cascade=params, eye=eye, epsp_scale=epsp_scale,
                                                        resume=_state_of(resume, name), **common)))
    return SystemSpec(tuple(specs), seed=seed)


def _state_of(resume: dict | None, name: str) -> bytes:
    if not resume:
        return b""
    if name not in resume:
        raise ParameterError("resume", f"holds no state for actor '{name}' (a snapshot of another block layout)")
    return resume[name]


def final_states(results: dict) -> dict:
    """{actor name: packed final snapshot} of a run made with keep_state (resume another from it)."""
    return {name: r["state"] for name, r in results.items() if "state" in r}


def summarise_run(results: dict, cfg: od.OcularDominanceConfig) -> dict:
    """Executor results -> models.plasticity.ocular_dominance.summarise, plus work counters."""
    pops = sorted((r for r in results.values() if "eye" in r), key=lambda r: (r["first"], r["eye"]))
    per_eye: dict[int, list[np.ndarray]] = {0: [], 1: []}
    steps = events = 0
    bap_per_eye: dict[int, list[np.ndarray]] = {0: [], 1: []}
    for r in pops:
        per_eye[r["eye"]].append(np.frombuffer(r["mean_w"]).reshape(len(r["sample_t"]), -1))
        bap_per_eye[r["eye"]].append(np.frombuffer(r["bap"]).reshape(-1, 3))
        steps += r["steps"]
        events += r["events"]
    # per neuron, in neuron order whatever the blocks (the sums do not depend on the grouping)
    bap = np.vstack(bap_per_eye[0] + bap_per_eye[1])
    spikes = np.concatenate([np.frombuffer(r["spike_t"]) for r in results.values() if "spike_t" in r])
    out = od.summarise(cfg, pops[0]["sample_t"], np.hstack(per_eye[0]), np.hstack(per_eye[1]), spikes)
    out["integration_steps"] = steps
    out["synapse_events"] = events
    n, total = bap[:, 0].sum(), bap[:, 1].sum()
    out["bap_at_spines"] = {"count": int(n), "mean_mV": float(total / n) if n else None,
                            "max_mV": float(bap[:, 2].max()) if n else None}
    # the homeostatic threshold shift at each neuron's last input and its set point (od.Homeostasis;
    # a set point of -1: never read, no deprivation onset in the run)
    theta = np.concatenate([np.frombuffer(r["theta"]) for r in results.values() if "theta" in r])
    set_hz = np.concatenate([np.frombuffer(r["set_hz"]) for r in results.values() if "set_hz" in r])
    read = set_hz >= 0
    out["homeostasis"] = {"threshold_shift_mV": float(theta.mean()), "threshold_shift_min_mV": float(theta.min()),
                          "set_point_hz": float(set_hz[read].mean()) if read.any() else None}
    return out
