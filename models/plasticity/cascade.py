"""Calcium-cascade synapse (a reconstruction of Kornijcuk, Kim, Kim & Jeong, arXiv 1911.11326).

The paper's equations are not public; docs/plasticity-cascade.md writes down this reconstruction,
its parameters, units and the reasoning. In short, per synapse i:

    spine voltage    V_i   = V_base_i + a_fast_i + a_slow_i + e_i + D_n(t)
                     a_fast, a_slow: bAP waveform at this spine; e_i: dendritic EPSP of its own input
                     (e += epsp_mV at each pre spike, de/dt = -e/dendrite_tau_s); D_n: the fed
                     subthreshold depolarisation of its neuron (network runs; 0 otherwise)
    NMDA gating      dg/dt = -g/tau_nmda, and g += u (1 - g) at each presynaptic spike
    Mg block         B(V)  = 1 / (1 + [Mg]/3.57 mM * exp(-0.062 V/mV))   (Jahr & Stevens 1990)
    calcium          dCa/dt = -Ca/tau_ca + k_nmda g B(V) (E_ca - V);  Ca += k_vgcc A at a bAP
    catalysts        dC_k/dt = on_k h_k(Ca) (1 - C_k) - off_k C_k,  h_k = Ca^n_k / (K_k^n_k + Ca^n_k)
    phosphorylation  dP/dt = k_p C1 (1 - P) - k_d C2 P;   weight w = P / P_initial

C1 (kinase-like) has low affinity and high cooperativity, C2 (phosphatase-like) high affinity; there
is no calcium threshold at which the sign of plasticity is decided: LTP or LTD is whichever enzyme
does more work, which depends on the whole calcium time course. A bAP of local amplitude A arrives
at each spine; with boosting on, A = A_bap (1 + gain * b_i) where b_i = exp(-(t - t_pre_i)/tau_boost)
marks synapses that were active just before (A-type K+ channel inactivation by the local EPSP).

Integration (cascade_kernel.py, compiled): every synapse keeps its own clock and moves only when
it is advanced. Between events each synapse is stepped with an exponential-Euler scheme (linear
decays exact, enzyme kinetics exact for the step's mid-point calcium) whose step grows with the
time since that synapse's last event: fine (0.1 ms) right after a spike, up to ``max_step_s``
when everything is quiet.
"""
from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

import numpy as np

from lolpim.core.errors import ParameterError
from lolpim.core.presets import read_toml
from lolpim.core.schema import FieldProblem, field, frozen
from lolpim.models.plasticity import cascade_kernel as kernel
from lolpim.models.plasticity.param_sets import load_set, set_names

PRESET_FILE = Path(__file__).parent / "presets" / "cascade.toml"
BOUNDS_FILE = Path(__file__).parent / "presets" / "bounds.toml"

NO_EVENT, PRE, BAP = 0, 1, 2


@frozen
class CascadeParams:
    v_rest_mV: float = -65.0
    mg_mM: float = field(default=1.0, gt=0.0)
    nmda_tau_s: float = field(default=0.07, gt=0.0)
    nmda_bind_fraction: float = field(default=0.9, min=0.0, max=1.0)
    nmda_ca_uM_per_s_per_mV: float = field(default=0.5556, min=0.0)
    ca_reversal_mV: float = 130.0
    ca_tau_s: float = field(default=0.03, gt=0.0)
    vgcc_ca_uM_per_mV: float = field(default=0.001, min=0.0)
    bap_amplitude_mV: float = field(default=40.0, min=0.0)   # its bound with boosting: check_bounds
    bap_fast_fraction: float = field(default=0.3, min=0.0, max=1.0)
    bap_fast_tau_s: float = field(default=0.003, gt=0.0)
    bap_slow_tau_s: float = field(default=0.04, gt=0.0)
    bap_boosting: bool = True
    boost_gain: float = field(default=1.15, min=0.0)
    boost_tau_s: float = field(default=0.02, gt=0.0)
    c1_half_uM: float = field(default=0.65, gt=0.0)
    c1_hill: float = field(default=6.0, gt=0.0)
    c1_on_per_s: float = field(default=20.0, gt=0.0)
    c1_off_per_s: float = field(default=1.3, gt=0.0)
    c2_half_uM: float = field(default=0.2, gt=0.0)
    c2_hill: float = field(default=6.0, gt=0.0)
    c2_on_per_s: float = field(default=5.0, gt=0.0)
    c2_off_per_s: float = field(default=0.5, gt=0.0)
    phos_per_s: float = field(default=4.0, min=0.0)
    dephos_per_s: float = field(default=0.06, min=0.0)
    p_initial: float = field(default=0.5, gt=0.0, lt=1.0)
    # dendritic EPSP at the spine per presynaptic spike of its own input (its bound: check_bounds)
    epsp_mV: float = field(default=4.0, min=0.0)
    dendrite_tau_s: float = field(default=0.02, gt=0.0)   # decay of that EPSP and of the fed depolarisation D_n
    # fraction of the soma's input jumps seen at the spines (feed)
    dendrite_coupling: float = field(default=1.0, min=0.0)
    name: str = "custom"
    description: str = ""

    def __post_init__(self):   # after the declared ranges
        check_bounds(self)

    def max_bap_mV(self) -> float:
        """The largest bAP amplitude a spine can see: fully boosted, or the plain one without boosting."""
        return self.bap_amplitude_mV * (1.0 + self.boost_gain) if self.bap_boosting else self.bap_amplitude_mV

    def to_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=1)
def bounds() -> dict:
    """The physiological bounds (presets/bounds.toml)."""
    return read_toml(BOUNDS_FILE, "bounds")


def check_bounds(p: CascadeParams) -> None:
    """Refuse a set whose spine bAP or own EPSP lies outside its cited bound (bounds.toml)."""
    b = bounds()
    bap = b["bap"]["max_amplitude_mV"]
    if p.max_bap_mV() > bap:
        how = (f"x (1 + boost_gain {p.boost_gain:g}) = {p.max_bap_mV():.1f} mV fully boosted" if p.bap_boosting
               else "unboosted")
        raise FieldProblem("bap_amplitude_mV", f"{p.bap_amplitude_mV:g} mV {how}: a spine bAP above the "
                                               f"{bap:g} mV bound ({b['bap']['source']})")
    if p.epsp_mV > b["epsp"]["max_mV"]:
        raise FieldProblem("epsp_mV", f"{p.epsp_mV:g} mV is above the {b['epsp']['max_mV']:g} mV bound "
                                      f"({b['epsp']['source']})")


def bap_report(p: CascadeParams) -> dict:
    """What a protocol's output states about its spine bAPs against the bound."""
    bound = bounds()["bap"]["max_amplitude_mV"]
    return {"unboosted_mV": p.bap_amplitude_mV, "max_mV": p.max_bap_mV(), "bound_mV": bound,
            "within_bound": p.max_bap_mV() <= bound}


def preset_names() -> list[str]:
    return set_names(PRESET_FILE)


def load_params(name: str = "hippocampal", **overrides) -> CascadeParams:
    return load_set(PRESET_FILE, CascadeParams, name, "cascade", overrides)


def mg_unblocked_fraction(v_mV, mg_mM: float):
    """Jahr & Stevens (1990) voltage dependence of the NMDA Mg2+ block."""
    return 1.0 / (1.0 + (mg_mM / 3.57) * np.exp(-0.062 * np.asarray(v_mV, dtype=float)))


STATE_FIELDS = ("t_s", "ladder_rung", "g", "t_pre_s", "a_fast", "a_slow", "ca", "c1", "c2", "p", "v_base", "epsp")


class CascadePopulation:
    """``n`` independent cascade synapses, one state row and one clock each (cascade_kernel.py).

    Advancing costs steps only for the synapses that move, so a population's cost is linear in
    synapses x their own events."""

    min_step_s = 5e-4     # the error is set by step_growth; a finer first step changes weights < 1e-4
    step_growth = 0.1      # step = 10% of the time since the synapse's last event
    max_step_s = 0.2

    def __init__(self, params: CascadeParams, n: int, v_base_mV=None, t0_s: float = 0.0):
        if n < 1:
            raise ParameterError("n", f"must be >= 1, got {n}")
        self.p = params
        self.n = n
        base = params.v_rest_mV if v_base_mV is None else v_base_mV
        self.state = kernel.new_state(n, params.p_initial, np.broadcast_to(np.asarray(base, dtype=float), (n,)), t0_s)
        self.k = kernel.pack_params(params, self.min_step_s, self.step_growth, self.max_step_s)
        self.steps = 0   # integration steps taken (all synapses together)

    @property
    def t_s(self) -> np.ndarray:
        return self.state[:, kernel.T]

    @property
    def phos(self) -> np.ndarray:
        return self.state[:, kernel.P]

    # -- readout --------------------------------------------------------------------------------
    def weights(self) -> np.ndarray:
        """Synaptic weight relative to the initial phosphorylation level (1 = unchanged)."""
        return self.phos / self.p.p_initial

    # -- integration ----------------------------------------------------------------------------
    def advance_each(self, targets_s) -> None:
        """Advance synapse i to ``targets_s[i]`` (synapses already there do not move)."""
        targets_s = np.ascontiguousarray(np.broadcast_to(np.asarray(targets_s, dtype=float), (self.n,)))
        if np.any(targets_s < self.t_s - 1e-12):
            raise ParameterError("to_time_s", "cannot go back in time")
        self.steps += kernel.advance_rows(self.state, targets_s, self.k)

    def advance(self, to_time_s: float) -> None:
        self.advance_each(np.full(self.n, float(to_time_s)))

    # -- events ---------------------------------------------------------------------------------
    def _index(self, idx):
        return np.arange(self.n) if idx is None else np.asarray(idx, dtype=np.int64)

    def on_pre(self, t_s: float, idx=None) -> np.ndarray:
        """Presynaptic spikes at ``t_s`` on ``idx`` (all if None). Returns their weights (the
        drive the postsynaptic neuron receives)."""
        self.advance(t_s)
        idx = self._index(idx)
        self._events(idx, t_s, PRE)
        return self.weights()[idx]

    def on_bap(self, t_s: float, idx=None) -> None:
        """A back-propagating action potential reaches the spines ``idx`` (all if None) at ``t_s``."""
        self.advance(t_s)
        self._events(self._index(idx), t_s, BAP)

    def _events(self, idx, t_s, kind):
        times = np.full((self.n, 1), float(t_s))
        kinds = np.zeros((self.n, 1), dtype=np.int64)
        kinds[idx, 0] = kind
        kernel.run_rows(self.state, times, kinds, self.k)

    def run_schedule(self, times_s, kinds) -> None:
        """Drive every synapse with its own event list: row i of ``times_s``/``kinds`` (sorted in
        time; kinds PRE, BAP, or NO_EVENT as padding)."""
        times_s = np.ascontiguousarray(times_s, dtype=float)
        kinds = np.ascontiguousarray(kinds, dtype=np.int64)
        if times_s.shape != kinds.shape or times_s.ndim != 2 or times_s.shape[0] != self.n:
            raise ParameterError("times_s", f"must be an ({self.n}, k) array matching kinds")
        self.steps += kernel.run_rows(self.state, times_s, kinds, self.k)

    # -- state as plain data (msgpack-friendly) -------------------------------------------------
    def snapshot(self) -> dict:
        return {key: self.state[:, col].tolist() for col, key in enumerate(STATE_FIELDS)}

    def restore(self, state: dict) -> None:
        self.state = np.column_stack([np.asarray(state[key], dtype=float) for key in STATE_FIELDS])
        self.n = self.state.shape[0]
