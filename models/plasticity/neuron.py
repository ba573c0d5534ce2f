"""Leaky integrate-and-fire point neuron, updated exactly at its input events.

Synaptic input is a voltage jump (weight x EPSP size) arriving at a given time, so between inputs
the membrane only relaxes to rest: V(t) = V_rest + (V(t0) - V_rest) exp(-(t - t0)/tau_m), and a
spike can only happen at an input. On a spike the soma resets and a back-propagating action
potential (bAP) leaves for the dendrites; it reaches the spines ``bap_delay_s`` later, where the
synapse populations shape it (synapse-specific boosting, spine voltage per synapse: cascade.py).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from math import exp

from lolpim.hardware.errors import ParameterError


DRIVES = ("per-synapse", "per-eye")


@dataclass(frozen=True)
class NeuronParams:
    v_rest_mV: float = -65.0
    v_threshold_mV: float = -50.0
    v_reset_mV: float = -65.0
    tau_m_s: float = 0.02
    refractory_s: float = 0.003
    drive: str = "per-synapse"    # "per-synapse": each synapse gives epsp_mV x weight;
                                  # "per-eye": each gives eye_epsp_mV / S x weight (S synapses per eye)
    epsp_mV: float = 3.0          # somatic EPSP of a synapse with weight 1 ("per-synapse")
    eye_epsp_mV: float = 30.0     # summed EPSP of all S synapses of one eye at weight 1 ("per-eye")
    bap_delay_s: float = 0.001    # soma -> spine travel time of the bAP (the actor lookahead)
    synaptic_delay_s: float = 0.001

    def __post_init__(self):
        for f in ("tau_m_s", "bap_delay_s", "synaptic_delay_s"):
            if not getattr(self, f) > 0:
                raise ParameterError(f, f"must be > 0, got {getattr(self, f)!r}")
        if self.drive not in DRIVES:
            raise ParameterError("drive", f"must be one of {', '.join(DRIVES)}, got {self.drive!r}")
        for f in ("refractory_s", "epsp_mV", "eye_epsp_mV"):
            if not getattr(self, f) >= 0:
                raise ParameterError(f, f"must be >= 0, got {getattr(self, f)!r}")
        if not self.v_threshold_mV > self.v_rest_mV:
            raise ParameterError("v_threshold_mV", f"must exceed v_rest_mV ({self.v_rest_mV})")
        if not self.v_reset_mV < self.v_threshold_mV:
            raise ParameterError("v_reset_mV", f"must be below v_threshold_mV ({self.v_threshold_mV})")

    def to_dict(self) -> dict:
        return asdict(self)


class LifNeuron:
    def __init__(self, params: NeuronParams, t0_s: float = 0.0):
        self.p = params
        self.v_mV = params.v_rest_mV
        self.t_s = t0_s
        self.last_spike_s = -1e9
        self.spike_count = 0

    def receive(self, t_s: float, drive_mV: float) -> bool:
        """Input of ``drive_mV`` (sum of weight x EPSP) at ``t_s``. Returns True if it fires."""
        if t_s < self.t_s:
            raise ParameterError("t_s", f"input at {t_s} arrives before the neuron's time {self.t_s}")
        p = self.p
        self.v_mV = p.v_rest_mV + (self.v_mV - p.v_rest_mV) * exp(-(t_s - self.t_s) / p.tau_m_s)
        self.t_s = t_s
        if t_s - self.last_spike_s < p.refractory_s:
            return False
        self.v_mV += drive_mV
        if self.v_mV >= p.v_threshold_mV:
            self.v_mV = p.v_reset_mV
            self.last_spike_s = t_s
            self.spike_count += 1
            return True
        return False

    def snapshot(self) -> dict:
        return {"v_mV": self.v_mV, "t_s": self.t_s, "last_spike_s": self.last_spike_s,
                "spike_count": self.spike_count}

    def restore(self, state: dict) -> None:
        self.v_mV = float(state["v_mV"])
        self.t_s = float(state["t_s"])
        self.last_spike_s = float(state["last_spike_s"])
        self.spike_count = int(state["spike_count"])
