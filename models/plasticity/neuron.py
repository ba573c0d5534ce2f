"""Parameters of the leaky integrate-and-fire point neuron, updated exactly at its input events
(the compiled somata are ocular_dominance.NeuronBlock, models/plasticity/ocular_dominance.py).

Synaptic input is a voltage jump (weight x EPSP size) arriving at a given time, so between inputs
the membrane only relaxes to rest: V(t) = V_rest + (V(t0) - V_rest) exp(-(t - t0)/tau_m), and a
spike can only happen at an input. On a spike the soma resets and a back-propagating action
potential (bAP) leaves for the dendrites; it reaches the spines ``bap_delay_s`` later, where the
synapse populations shape it (synapse-specific boosting, spine voltage per synapse: cascade.py).
"""
from __future__ import annotations

from dataclasses import asdict

from lolpim.core import schema
from lolpim.core.errors import ParameterError


DRIVES = ("per-synapse", "per-eye")


@schema.frozen
class NeuronParams:
    v_rest_mV: float = -65.0
    v_threshold_mV: float = -50.0
    v_reset_mV: float = -65.0
    tau_m_s: float = schema.field(default=0.02, gt=0.0)
    refractory_s: float = schema.field(default=0.003, min=0.0)
    # "per-synapse": each synapse gives epsp_mV x weight; "per-eye": each gives eye_epsp_mV / S x
    # weight (S synapses per eye)
    drive: str = schema.field(default="per-synapse", choices=DRIVES)
    epsp_mV: float = schema.field(default=3.0, min=0.0)       # somatic EPSP of a synapse with weight 1 ("per-synapse")
    # summed EPSP of one eye's S synapses at weight 1 ("per-eye")
    eye_epsp_mV: float = schema.field(default=30.0, min=0.0)
    # soma -> spine travel time of the bAP (the actor lookahead)
    bap_delay_s: float = schema.field(default=0.001, gt=0.0)
    synaptic_delay_s: float = schema.field(default=0.001, gt=0.0)

    def __post_init__(self):   # after the declared ranges
        if not self.v_threshold_mV > self.v_rest_mV:
            raise ParameterError("v_threshold_mV", f"must exceed v_rest_mV ({self.v_rest_mV})")
        if not self.v_reset_mV < self.v_threshold_mV:
            raise ParameterError("v_reset_mV", f"must be below v_threshold_mV ({self.v_threshold_mV})")

    def to_dict(self) -> dict:
        return asdict(self)
