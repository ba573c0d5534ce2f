"""Ocular dominance: neurons with a left-eye and a right-eye synapse population, driven by shared
visual events, then monocular deprivation (MD) of the left eye, then optional recovery.

The two populations of a neuron never see each other's state: they compete only through the
neuron's bAPs, which are boosted at synapses that were active just before (cascade.py). Inputs:
    visual events  one per fixation, shared by both eyes (same scene); fixation durations are
                   gamma distributed (shape ``fixation_shape``, mean 1/rate: saccades rarely
                   follow each other within 100 ms); at each event every synapse of an
                   open eye joins the eye's volley with probability ``volley_probability``; the volley
                   reaches the neuron after an eye-specific latency (0 and 0.5 ms: never equal
                   to the 2 ms pre -> soma -> bAP loop, so no spike and bAP share a timestamp
                   and no executor's tie-breaking rule can decide a pairing's sign)
    background     independent Poisson spikes on every synapse, open or deprived
    deprivation    the deprived eye gets background only (lid suture: no patterned vision)
Input spike trains are a pure function of (seed, neuron, phase, eye), so any executor that
delivers the same messages in the same order reproduces the same weights.
"""
from __future__ import annotations

import heapq
from dataclasses import asdict, dataclass

import numpy as np

from lolpim.hardware.errors import ParameterError

from .cascade import CascadeParams, CascadePopulation
from .neuron import LifNeuron, NeuronParams

EYES = ("left", "right")
DEPRIVED_EYE = 0


@dataclass(frozen=True)
class OcularDominanceConfig:
    neurons: int = 1
    synapses_per_eye: int = 10
    visual_rate_hz: float = 3.0
    fixation_shape: float = 4.0
    volley_probability: float = 0.6
    eye_latency_s: tuple = (0.0, 0.0005)
    background_rate_hz: float = 1.0
    binocular_s: float = 20.0
    deprivation_s: float = 20.0
    recovery_s: float = 0.0
    sample_interval_s: float = 1.0

    def __post_init__(self):
        for f in ("neurons", "synapses_per_eye"):
            if not (isinstance(getattr(self, f), int) and getattr(self, f) >= 1):
                raise ParameterError(f, f"must be an integer >= 1, got {getattr(self, f)!r}")
        for f in ("visual_rate_hz", "background_rate_hz", "binocular_s", "deprivation_s", "recovery_s"):
            if not getattr(self, f) >= 0:
                raise ParameterError(f, f"must be >= 0, got {getattr(self, f)!r}")
        if not self.fixation_shape > 0:
            raise ParameterError("fixation_shape", f"must be > 0, got {self.fixation_shape!r}")
        if not 0 <= self.volley_probability <= 1:
            raise ParameterError("volley_probability", f"must be in [0, 1], got {self.volley_probability!r}")
        if not self.sample_interval_s > 0:
            raise ParameterError("sample_interval_s", f"must be > 0, got {self.sample_interval_s!r}")

    def phases(self) -> list[tuple[str, float, float, tuple[bool, bool]]]:
        """(name, start, end, (left open?, right open?)) for each phase with a duration."""
        out, t = [], 0.0
        for name, length, open_eyes in (("binocular", self.binocular_s, (True, True)),
                                        ("deprivation", self.deprivation_s, (False, True)),
                                        ("recovery", self.recovery_s, (True, True))):
            if length > 0:
                out.append((name, t, t + length, open_eyes))
                t += length
        return out

    def to_dict(self) -> dict:
        return asdict(self)


def input_spikes(cfg: OcularDominanceConfig, seed: int, neuron: int, eye: int):
    """Presynaptic spikes of one eye population over the whole run: sorted list of
    (time_s, synapse indices)."""
    events: list[tuple[float, np.ndarray]] = []
    for phase_id, (_, start, end, open_eyes) in enumerate(cfg.phases()):
        scene = np.random.default_rng([seed, neuron, phase_id, 2])      # shared by both eyes
        own = np.random.default_rng([seed, neuron, phase_id, eye])
        n_max = int(3 * cfg.visual_rate_hz * (end - start)) + 10
        visual = start + np.cumsum(scene.gamma(cfg.fixation_shape, 1 / (cfg.fixation_shape * cfg.visual_rate_hz), n_max)) \
            if cfg.visual_rate_hz > 0 else np.array([])
        visual = visual[visual < end]
        joins = own.random((len(visual), cfg.synapses_per_eye)) < cfg.volley_probability
        if open_eyes[eye]:
            for t, mask in zip(visual + cfg.eye_latency_s[eye], joins):
                if mask.any() and t < end:
                    events.append((float(t), np.flatnonzero(mask)))
        if cfg.background_rate_hz > 0:
            n_bg = own.poisson(cfg.background_rate_hz * (end - start) * cfg.synapses_per_eye)
            times = np.sort(own.uniform(start, end, n_bg))
            which = own.integers(0, cfg.synapses_per_eye, n_bg)
            events.extend((float(t), np.array([i])) for t, i in zip(times, which))
    events.sort(key=lambda e: e[0])
    return events


def run_ocular_dominance(params: CascadeParams, cfg: OcularDominanceConfig, neuron_params=None,
                         seed: int = 0) -> dict:
    """Inline reference run. Returns per-phase mean weights per eye, samples and spike counts."""
    neuron_params = neuron_params or NeuronParams()
    results = [_run_one_neuron(params, cfg, neuron_params, seed, k) for k in range(cfg.neurons)]
    return summarise(cfg, results)


def _run_one_neuron(params, cfg, neuron_params, seed, k):
    pops = [CascadePopulation(params, cfg.synapses_per_eye) for _ in EYES]
    cell = LifNeuron(neuron_params)
    queue: list = []
    seq = 0
    for eye in range(2):
        for t, idx in input_spikes(cfg, seed, k, eye):
            queue.append((t, seq, "pre", eye, idx))
            seq += 1
    end = cfg.phases()[-1][2]
    samples = np.arange(0.0, end + 1e-9, cfg.sample_interval_s)
    for t in samples:
        queue.append((float(t), seq, "sample", -1, None))
        seq += 1
    heapq.heapify(queue)
    trace, spikes = [], []
    while queue:
        t, _, kind, eye, idx = heapq.heappop(queue)
        if kind == "pre":
            w = pops[eye].on_pre(t, idx)
            heapq.heappush(queue, (t + neuron_params.synaptic_delay_s, seq, "input", eye, float(w.sum())))
        elif kind == "input":
            if cell.receive(t, idx * neuron_params.epsp_mV):
                spikes.append(t)
                heapq.heappush(queue, (t + neuron_params.bap_delay_s, seq, "bap", -1, None))
        elif kind == "bap":
            for pop in pops:
                pop.on_bap(t)
        else:
            for pop in pops:
                pop.advance(t)
            trace.append([t] + [float(pop.weights().mean()) for pop in pops])
        seq += 1
    return {"trace": np.array(trace), "spikes": np.array(spikes),
            "weights": [pop.weights() for pop in pops]}


def summarise(cfg: OcularDominanceConfig, results: list[dict]) -> dict:
    """Mean over neurons of the weight traces; changes of each eye over each phase."""
    trace = np.mean([r["trace"] for r in results], axis=0)
    out = {"time_s": trace[:, 0].tolist(), "w_left": trace[:, 1].tolist(), "w_right": trace[:, 2].tolist(),
           "phases": []}
    for name, start, end, open_eyes in cfg.phases():
        i0 = int(np.argmin(abs(trace[:, 0] - start)))
        i1 = int(np.argmin(abs(trace[:, 0] - end)))
        spikes = sum(int(((r["spikes"] >= start) & (r["spikes"] < end)).sum()) for r in results)
        out["phases"].append({
            "name": name, "start_s": start, "end_s": end, "open_eyes": [EYES[e] for e in (0, 1) if open_eyes[e]],
            "dw_left": float(trace[i1, 1] / trace[i0, 1] - 1), "dw_right": float(trace[i1, 2] / trace[i0, 2] - 1),
            "post_rate_hz": spikes / max(end - start, 1e-12) / len(results)})
    return out


def deprivation_shift(summary: dict) -> dict:
    """Changes over the deprivation phase: deprived (left) and open (right) eye, and the shift
    (open-eye change minus deprived-eye change) that ocular dominance plots show."""
    md = next(p for p in summary["phases"] if p["name"] == "deprivation")
    return {"dw_deprived": md["dw_left"], "dw_open": md["dw_right"],
            "shift": md["dw_right"] - md["dw_left"], "post_rate_hz": md["post_rate_hz"]}
