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

from dataclasses import replace

import numpy as np

from lolpim.core.errors import ParameterError
from lolpim.models.plasticity import ocular_dominance as od
from lolpim.models.plasticity.cascade import CascadeParams

from lolpim.actors.kernel.actor import Actor
from lolpim.actors.kernel.events import ps_to_seconds, seconds_to_ps
from lolpim.actors.kernel.system import ActorSpec, SystemSpec

POPULATION_CLS = "lolpim.actors.plasticity.ocular_dominance:EyePopulation"
NEURON_CLS = "lolpim.actors.plasticity.ocular_dominance:NeuronBlock"
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


class EyePopulation(Actor):
    accepts = {"baps": {"t": bytes, "n": bytes, "r": bytes}, "tick": {}}

    def __init__(self, name, seed, cascade: dict, config: dict, variant: str, block: int, first: int,
                 count: int, eye: int):
        super().__init__(name, seed)
        self.variant = od.load_variant(variant)
        self.cfg = od.OcularDominanceConfig.from_dict(config)
        self.block = od.EyeBlock(CascadeParams(**cascade), self.cfg, self.variant, seed, first, count, eye)
        self.tick_ps, self.syn_ps, _ = timing_ps(self.variant)
        self.lookahead_ps = self.syn_ps - TICK_OFFSET_PS
        self.sample_ps = seconds_to_ps(self.cfg.sample_interval_s)
        self.end_ps = seconds_to_ps(self.cfg.duration_s())
        self.neuron_block = block_name(block)
        self.peer_names = frozenset({self.neuron_block})
        self.sample_t: list[float] = []
        self.sample_w: list[np.ndarray] = []

    def start(self):
        self.block.allocate()
        return [self.send(self.name, "tick", {}, TICK_OFFSET_PS)]

    def handle(self, event, payload):
        if event.kind == "baps":
            self.block.add_baps(np.frombuffer(payload["t"]), np.frombuffer(payload["n"], dtype=np.int64),
                                np.frombuffer(payload["r"]))
            return []
        start_ps = self.now_ps - TICK_OFFSET_PS
        t0 = ps_to_seconds(start_ps)
        next_sample = len(self.sample_t) * self.sample_ps
        if start_ps >= min(next_sample, self.end_ps):
            self.block.sync_all(t0)
            self.sample_t.append(t0)
            self.sample_w.append(self.block.mean_weights())
        if start_ps >= self.end_ps:
            return []
        end_ps = min(start_ps + self.tick_ps, self.end_ps)
        times, neurons, drive = self.block.tick(t0, ps_to_seconds(end_ps))
        out = [self.send(self.name, "tick", {}, end_ps - start_ps)]
        if times.size:
            delay = self.variant.neuron.synaptic_delay_s
            out.append(self.send(self.neuron_block, "epsp",
                                 {"eye": self.block.eye, "t": _f64(times + delay), "n": _i64(neurons),
                                  "w": _f64(drive)}, self.lookahead_ps))
        return out

    def result(self):
        return {"first": self.block.first, "eye": self.block.eye, "sample_t": self.sample_t,
                "mean_w": _f64(np.array(self.sample_w)), "final_w": _f64(self.block.weights()),
                "steps": self.block.steps, "events": self.block.events}

    def metrics(self):
        return {"synapse_updates_total": self.block.steps, "synapse_events_total": self.block.events}

    def state(self):
        return {"block": self.block.snapshot(), "sample_t": self.sample_t,
                "sample_w": _f64(np.array(self.sample_w).reshape(len(self.sample_w), self.block.count))}

    def load_state(self, state):
        self.block.restore(state["block"])
        self.sample_t = list(state["sample_t"])
        w = np.frombuffer(state["sample_w"]).reshape(len(self.sample_t), self.block.count)
        self.sample_w = [row.copy() for row in w]


class NeuronBlock(Actor):
    accepts = {"epsp": {"eye": int, "t": bytes, "n": bytes, "w": bytes}, "tick": {}}

    def __init__(self, name, seed, config: dict, variant: str, block: int, first: int, count: int):
        super().__init__(name, seed)
        self.variant = od.load_variant(variant)
        cfg = od.OcularDominanceConfig.from_dict(config)
        self.neurons = od.NeuronBlock(cfg, self.variant, first, count)
        _, _, self.bap_ps = timing_ps(self.variant)
        self.lookahead_ps = self.bap_ps - TICK_OFFSET_PS
        self.populations = [population_name(block, eye) for eye in range(2)]
        self.peer_names = frozenset(self.populations)
        self.inbox: list[tuple[int, dict]] = []

    def handle(self, event, payload):
        if event.kind == "epsp":
            if not self.inbox:
                out = [self.send(self.name, "tick", {}, TICK_OFFSET_PS)]
            else:
                out = []
            self.inbox.append((payload["eye"], payload))
            return out
        self.inbox.sort(key=lambda item: item[0])      # left eye first, whatever the delivery order
        parts = [p for _, p in self.inbox]
        self.inbox = []
        times = np.concatenate([np.frombuffer(p["t"]) for p in parts])
        neurons = np.concatenate([np.frombuffer(p["n"], dtype=np.int64) for p in parts])
        drive = np.concatenate([np.frombuffer(p["w"]) for p in parts])
        t, n, r = self.neurons.inputs(times, neurons, drive)
        if not t.size:
            return []
        payload = {"t": _f64(t + self.variant.neuron.bap_delay_s), "n": _i64(n), "r": _f64(r)}
        return [self.send(pop, "baps", payload, self.lookahead_ps) for pop in self.populations]

    def result(self):
        t, n = self.neurons.spikes()
        return {"spike_t": _f64(t), "spike_n": _i64(n)}

    def state(self):
        return {"neurons": self.neurons.snapshot(),
                "inbox": [[eye, p] for eye, p in self.inbox]}

    def load_state(self, state):
        self.neurons.restore(state["neurons"])
        self.inbox = [(eye, p) for eye, p in state["inbox"]]


def ocular_dominance_system(params: CascadeParams, cfg: od.OcularDominanceConfig, variant: str = "network",
                            seed: int = 0, blocks: int = 1) -> SystemSpec:
    """cfg.neurons neurons in ``blocks`` blocks, each block a NeuronBlock and two EyePopulations
    (listed together, so a Ray placement of one block per process keeps their messages local)."""
    # a bad name fails here, not inside an actor; the variant sets the inputs' contrast spread
    cfg = replace(cfg, contrast_spread=od.load_variant(variant).contrast_spread)
    if not (isinstance(blocks, int) and 1 <= blocks <= cfg.neurons):
        raise ParameterError("blocks", f"must be an integer in 1..{cfg.neurons} (the neurons), got {blocks!r}")
    cascade, config = params.to_dict(), cfg.to_dict()
    specs = []
    for b in range(blocks):
        first = b * cfg.neurons // blocks
        count = (b + 1) * cfg.neurons // blocks - first
        common = {"config": config, "variant": variant, "block": b, "first": first, "count": count}
        specs.append(ActorSpec(block_name(b), NEURON_CLS, common))
        for eye in range(2):
            specs.append(ActorSpec(population_name(b, eye), POPULATION_CLS, {**common, "cascade": cascade, "eye": eye}))
    return SystemSpec(tuple(specs), seed=seed)


def summarise_run(results: dict, cfg: od.OcularDominanceConfig) -> dict:
    """Executor results -> models.plasticity.ocular_dominance.summarise, plus work counters."""
    pops = sorted((r for r in results.values() if "eye" in r), key=lambda r: (r["first"], r["eye"]))
    per_eye = {0: [], 1: []}
    steps = events = 0
    for r in pops:
        per_eye[r["eye"]].append(np.frombuffer(r["mean_w"]).reshape(len(r["sample_t"]), -1))
        steps += r["steps"]
        events += r["events"]
    spikes = np.concatenate([np.frombuffer(r["spike_t"]) for r in results.values() if "spike_t" in r])
    out = od.summarise(cfg, pops[0]["sample_t"], np.hstack(per_eye[0]), np.hstack(per_eye[1]), spikes)
    out["integration_steps"] = steps
    out["synapse_events"] = events
    return out
