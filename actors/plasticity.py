"""Ocular dominance as actors: synapse populations and neurons exchanging spikes and bAPs.

    SynapsePopulation  one eye's synapses onto one neuron (cascade model, numpy state). Its
                       presynaptic spike trains are timers it sets itself (the input is a pure
                       function of run seed, neuron and eye); each spike sends the summed
                       weight x EPSP to the neuron ("epsp", delay = synaptic delay = lookahead).
    Neuron             LIF soma; when it fires it sends a "bap" to each of its populations
                       (delay = bAP travel time = lookahead).
The two populations of a neuron share nothing but the neuron's bAPs, so their competition runs
entirely through messages. ``ocular_dominance_system`` builds K neurons x 2 populations; the
inline and Ray executors give identical weights (tests/plasticity/test_plasticity_actors.py).
"""
from __future__ import annotations

import numpy as np

from lolpim.models.plasticity import ocular_dominance as od
from lolpim.models.plasticity.cascade import CascadeParams, CascadePopulation
from lolpim.models.plasticity.neuron import LifNeuron, NeuronParams

from .actor import Actor
from .events import ps_to_seconds, seconds_to_ps
from .system import ActorSpec, SystemSpec

POPULATION_CLS = "lolpim.actors.plasticity:SynapsePopulation"
NEURON_CLS = "lolpim.actors.plasticity:Neuron"


def population_name(neuron: int, eye: int) -> str:
    return f"n{neuron}.{od.EYES[eye]}"


def neuron_name(neuron: int) -> str:
    return f"n{neuron}"


class SynapsePopulation(Actor):
    accepts = {"bap": {}, "spike": {"i": int}, "sample": {}}

    def __init__(self, name, seed, neuron: int, eye: int, cascade: dict, config: dict, neuron_params: dict):
        super().__init__(name, seed)
        self.neuron, self.eye = neuron, eye
        self.cfg = od.OcularDominanceConfig(**{**config, "eye_latency_s": tuple(config["eye_latency_s"])})
        self.neuron_params = NeuronParams(**neuron_params)
        self.lookahead_ps = seconds_to_ps(self.neuron_params.synaptic_delay_s)
        self.pop = CascadePopulation(CascadeParams(**cascade), self.cfg.synapses_per_eye)
        self.spikes = od.input_spikes(self.cfg, seed, neuron, eye)
        self.trace: list[list[float]] = []
        self.end_ps = seconds_to_ps(self.cfg.phases()[-1][2])

    def _timer(self, kind: str, payload: dict, at_s: float):
        return self.send(self.name, kind, payload, max(0, seconds_to_ps(at_s) - self.now_ps))

    def start(self):
        out = [self._timer("sample", {}, 0.0)]
        if self.spikes:
            out.append(self._timer("spike", {"i": 0}, self.spikes[0][0]))
        return out

    def handle(self, event, payload):
        t_s = ps_to_seconds(self.now_ps)
        if event.kind == "bap":
            self.pop.on_bap(t_s)
            return []
        if event.kind == "sample":
            self.pop.advance(t_s)
            self.trace.append([t_s, float(self.pop.weights().mean())])
            nxt = self.now_ps + seconds_to_ps(self.cfg.sample_interval_s)
            return [self.send(self.name, "sample", {}, nxt - self.now_ps)] if nxt <= self.end_ps else []
        i = payload["i"]
        weights = self.pop.on_pre(t_s, self.spikes[i][1])
        out = [self.send(neuron_name(self.neuron), "epsp",
                         {"drive_mV": float(weights.sum()) * self.neuron_params.epsp_mV}, self.lookahead_ps)]
        if i + 1 < len(self.spikes):
            out.append(self._timer("spike", {"i": i + 1}, self.spikes[i + 1][0]))
        return out

    def result(self):
        return {"neuron": self.neuron, "eye": self.eye, "weights": self.pop.weights().tolist(),
                "trace": self.trace}

    def metrics(self):
        # every spike, bAP or sample advances the state of all the population's synapses
        return {"synapse_updates_total": self.events_processed * self.cfg.synapses_per_eye}

    def state(self):
        return {"pop": self.pop.snapshot(), "trace": self.trace}

    def load_state(self, state):
        self.pop.restore(state["pop"])
        self.trace = [list(x) for x in state["trace"]]


class Neuron(Actor):
    accepts = {"epsp": {"drive_mV": float}}

    def __init__(self, name, seed, populations: list, neuron_params: dict):
        super().__init__(name, seed)
        self.populations = list(populations)
        self.cell = LifNeuron(NeuronParams(**neuron_params))
        self.lookahead_ps = seconds_to_ps(self.cell.p.bap_delay_s)
        self.spike_times: list[float] = []

    def handle(self, event, payload):
        t_s = ps_to_seconds(self.now_ps)
        if not self.cell.receive(t_s, payload["drive_mV"]):
            return []
        self.spike_times.append(t_s)
        return [self.send(pop, "bap", {}, self.lookahead_ps) for pop in self.populations]

    def result(self):
        return {"spike_times": self.spike_times}

    def state(self):
        return {"cell": self.cell.snapshot(), "spike_times": self.spike_times}

    def load_state(self, state):
        self.cell.restore(state["cell"])
        self.spike_times = list(state["spike_times"])


def ocular_dominance_system(params: CascadeParams, cfg: od.OcularDominanceConfig,
                            neuron_params: NeuronParams | None = None, seed: int = 0) -> SystemSpec:
    """K neurons (cfg.neurons), each with a left-eye and a right-eye population."""
    neuron_params = neuron_params or NeuronParams()
    cascade = params.to_dict()
    config = {**cfg.to_dict(), "eye_latency_s": list(cfg.eye_latency_s)}
    nparams = neuron_params.to_dict()
    specs = []
    for k in range(cfg.neurons):
        pops = [population_name(k, eye) for eye in range(2)]
        specs.append(ActorSpec(neuron_name(k), NEURON_CLS, {"populations": pops, "neuron_params": nparams}))
        for eye in range(2):
            specs.append(ActorSpec(pops[eye], POPULATION_CLS, {"neuron": k, "eye": eye, "cascade": cascade,
                                                                "config": config, "neuron_params": nparams}))
    return SystemSpec(tuple(specs), seed=seed)


def summarise_run(results: dict, cfg: od.OcularDominanceConfig) -> dict:
    """Executor results -> the same summary as models.plasticity.ocular_dominance.summarise."""
    per_neuron = []
    for k in range(cfg.neurons):
        left = np.array(results[population_name(k, 0)]["trace"])
        right = np.array(results[population_name(k, 1)]["trace"])
        per_neuron.append({"trace": np.column_stack([left[:, 0], left[:, 1], right[:, 1]]),
                           "spikes": np.array(results[neuron_name(k)]["spike_times"])})
    return od.summarise(cfg, per_neuron)
