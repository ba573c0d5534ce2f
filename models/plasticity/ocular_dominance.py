"""Ocular dominance in a network: K neurons, each with a left-eye and a right-eye population of S
cascade synapses; binocular vision, then monocular deprivation (MD) of the left eye, then
optional recovery.

The two eye populations of a neuron never see each other's state: they compete only through the
neuron's back-propagating APs (bAPs), boosted at synapses that were active just before
(cascade.py). Inputs, a pure function of (seed, neuron, eye) so any grouping of neurons into
blocks and any executor reproduce the same weights:
    visual events  one per fixation, shared by both eyes (same scene); fixation intervals are
                   gamma distributed (shape ``fixation_shape``, mean 1/rate); each fixation has a
                   contrast c in [1 - contrast_spread, 1]; every synapse of an open eye joins the
                   eye's volley with probability volley_probability x c; the volley reaches the
                   neuron after an eye-specific latency (0 and 0.5 ms: never a multiple of the
                   pre -> soma -> bAP loop, so no spike and bAP share a timestamp)
    background     independent Poisson spikes on every synapse, open or deprived
    deprivation    the deprived eye's input over the deprivation interval (``condition``): lid
                   suture (no volleys, residual spikes at sutured_rate_hz), TTX (nothing) or the
                   binocular control (unchanged); the open eye's inputs are the same under each

Work is organised in blocks of neurons (EyeBlock: one eye's synapses onto a block of neurons;
NeuronBlock: the block's somata), advanced one tick at a time. A tick is as long as the shortest
of the synaptic and bAP delays, so everything a block receives for a tick is known when the tick
starts: the actors in actors/plasticity/ocular_dominance.py exchange one batched message per block pair and tick.
Besides its bAPs, each neuron's synaptic input reaches its spines as the dendritic depolarisation
D_n (cascade_kernel's depolarisation feed). A run can start from another run's final state
(EyeBlock.resume, NeuronBlock.resume at config.start_s): the controls of
orchestration/plasticity/od_controls.py all start from the same steady binocular state.

Model variants (presets/ocular_dominance.toml): ``seed`` is the seed paper's setting as first
reconstructed here (a fixed EPSP per synapse, no metaplasticity); ``network`` scales the EPSP as
1/S so the firing rate does not depend on S and adds a metaplastic NMDA gain (BCM's sliding
threshold in the cascade's own calcium chemistry), docs/plasticity-cascade.md section 3.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from lolpim.core.errors import ParameterError
from lolpim.core import schema
from lolpim.core.schema import FieldProblem, field, frozen
from lolpim.models.plasticity import cascade_kernel as kernel
from lolpim.models.plasticity.cascade import CascadeParams, CascadePopulation, bounds
from lolpim.models.plasticity.jit import njit
from lolpim.models.plasticity.neuron import NeuronParams
from lolpim.models.plasticity.param_sets import read_set, set_names

EYES = ("left", "right")
DEPRIVED_EYE = 0
VARIANT_FILE = Path(__file__).parent / "presets" / "ocular_dominance.toml"
BAP_RING = 64           # bAPs kept per neuron; a neuron's synapses are brought up to date before it wraps
DEP_RING = kernel.DEP_RING   # dendritic-depolarisation knots kept per neuron (same rule)
# model state: a cascade row and the applied-bAP counter per synapse; per neuron both eyes' bAP
# rings (time, trace) and depolarisation rings (time, value) with their counters, and the soma
# (v, t_last, last_spike, trace, t_trace)
BYTES_PER_SYNAPSE = kernel.N_STATE * 8 + 8
BYTES_PER_NEURON = 2 * (2 * BAP_RING * 8 + 2 * 8 + 2 * DEP_RING * 8 + 2 * 8) + 5 * 8
CHUNK_S = 1.0           # inputs are drawn per neuron and chunk of simulated time
PS_PER_S = 10**12


CONDITIONS = ("lid_suture", "ttx", "binocular")
# What the deprived (left) eye gets over the deprivation interval, per condition: patterned
# volleys?, and its background rate (None: the config's sutured_rate_hz).
#   lid_suture  no patterned vision, uncorrelated residual activity at sutured_rate_hz
#               (light through the lid; Rittenhouse et al. 1999)
#   ttx         monocular inactivation: no activity at all in the deprived eye
#   binocular   the non-deprived control: both eyes keep their binocular input
# condition -> (deprived eye open, its background rate: None = sutured_rate_hz, a rate in Hz, or "background")
CONDITION_INPUT: dict[str, tuple[bool, Any]] = {"lid_suture": (False, None), "ttx": (False, 0.0),
                                                "binocular": (True, "background")}


@frozen
class OcularDominanceConfig:
    """The network's settings; each field's range is declared (core/schema.py) and checked when
    the config is made."""
    neurons: int = field(default=1, min=1)
    synapses_per_eye: int = field(default=10, min=1)
    visual_rate_hz: float = field(default=3.0, min=0.0)
    fixation_shape: float = field(default=4.0, gt=0.0)
    volley_probability: float = field(default=0.6, min=0.0, max=1.0)
    contrast_spread: float = field(default=0.0, min=0.0, max=1.0)
    eye_latency_s: tuple = (0.0, 0.0005)
    background_rate_hz: float = field(default=1.0, min=0.0)
    binocular_s: float = field(default=10.0, min=0.0)
    deprivation_s: float = field(default=60.0, min=0.0)    # the OD protocol's (network variant's time axis)
    recovery_s: float = field(default=0.0, min=0.0)
    sample_interval_s: float = field(default=1.0, gt=0.0)
    # the deprived eye's input over the deprivation interval
    condition: str = field(default="lid_suture", choices=CONDITIONS)
    # lid suture: the deprived eye's uncorrelated residual rate
    sutured_rate_hz: float = field(default=1.0, min=0.0)
    start_s: float = field(default=0.0, min=0.0)   # a run resumed from a snapshot starts here (actors' ``resume``)

    def __post_init__(self):   # after the declared ranges
        if self.duration_s() <= 0:
            raise ParameterError("binocular_s", "the phases must last longer than 0 s in all")
        if self.start_s >= self.duration_s():
            raise ParameterError("start_s", f"must be before the end of the run ({self.duration_s():g} s), "
                                            f"got {self.start_s!r}")

    def phases(self) -> list[tuple[str, float, float, tuple[bool, bool]]]:
        """(name, start, end, (left open?, right open?)) for each phase with a duration. The
        deprivation interval keeps its name under every condition (the binocular control too)."""
        left_open = CONDITION_INPUT[self.condition][0]
        out, t = [], 0.0
        for name, length, open_eyes in (("binocular", self.binocular_s, (True, True)),
                                        ("deprivation", self.deprivation_s, (left_open, True)),
                                        ("recovery", self.recovery_s, (True, True))):
            if length > 0:
                out.append((name, t, t + length, open_eyes))
                t += length
        return out

    def background_hz(self, phase: str, eye: int) -> float:
        """Uncorrelated background rate of ``eye`` in ``phase``."""
        if phase != "deprivation" or eye != DEPRIVED_EYE:
            return self.background_rate_hz
        rate = CONDITION_INPUT[self.condition][1]
        return self.sutured_rate_hz if rate is None else self.background_rate_hz if rate == "background" else rate

    def duration_s(self) -> float:
        return self.binocular_s + self.deprivation_s + self.recovery_s

    def to_dict(self) -> dict:
        return {**asdict(self), "eye_latency_s": list(self.eye_latency_s)}

    @classmethod
    def from_dict(cls, d: dict) -> OcularDominanceConfig:
        return cls(**{**d, "eye_latency_s": tuple(d["eye_latency_s"])})


@frozen
class SteadyState:
    """When the binocular phase has settled: it runs in segments of ``check_s``; after each, with
    w the mean weight (both eyes, every synapse of every neuron, one sample per sample interval),
    the drift is the larger of |slope of a least-squares line through w over the last
    ``window_s``| and |mean of w over the last window - mean over the window before| / window_s
    (a transient that rises and falls inside one window has no slope but moves the mean). The
    phase ends at the first check, from 2 windows on, where the drift is <= ``drift_per_s``, or
    at ``max_s`` (then reported as not settled). The bound is set against the effects measured
    after it: 5e-4/s is at most 0.75% over 15 s of deprivation, a quarter of the few-percent
    changes Frenkel & Bear 2004 report, and the binocular control removes what drift is left.
    The window is 60 s (30 s before issue 23's last change): at K = 8 the mean weight fluctuates
    with the neurons' rates by about 1% over ~10 s, so the slope over 30 s scattered by ~5e-4/s,
    as much as the bound itself (the settled runs stopped at 90-300 s with drifts of 1-5e-4/s, the
    others drifted 0.8-2.3e-3/s at the cap); a least-squares slope's scatter falls as window^-1.5,
    about 2.8x less over 60 s. The bound is unchanged. The phase is stationary from about 60 s on
    (no trend over a 600 s run); what remains is the mean weight's wander, a few percent at K = 8
    over ~10 s, which the controls share (docs/plasticity-cascade.md section 3)."""
    check_s: float = field(default=10.0, gt=0.0)
    window_s: float = field(default=60.0, gt=0.0)
    drift_per_s: float = field(default=5e-4, gt=0.0)
    max_s: float = field(default=300.0, gt=0.0)

    def __post_init__(self):   # after the declared ranges
        if self.max_s < self.check_s:
            raise ParameterError("max_s", f"must be at least check_s ({self.check_s:g} s), got {self.max_s:g}")


def drift_per_s(time_s, w, window_s: float) -> float:
    """SteadyState's drift of w(time_s) at the last sample (nan before two windows): the larger of
    |slope over the last window| and |change of the window mean from the window before| / window_s."""
    t, w = np.asarray(time_s, dtype=float), np.asarray(w, dtype=float)
    if t[-1] - t[0] < 2 * window_s - 1e-9:
        return float("nan")
    last = t >= t[-1] - window_s - 1e-9
    before = (t >= t[-1] - 2 * window_s - 1e-9) & (t < t[-1] - window_s - 1e-9)
    slope = float(np.polyfit(t[last], w[last], 1)[0])
    step = float((w[last].mean() - w[before].mean()) / window_s)
    return max(abs(slope), abs(step))


@frozen(key_prefix="meta_")  # written as meta_* keys of a variant
class Metaplasticity:
    """Sliding modification threshold as an NMDA gain (kernel.nmda_gain): the neuron keeps a
    firing-rate trace r (time constant tau_s); every NMDA receptor of the neuron lets in
    max_gain / (1 + (max_gain - 1) (r / target_hz)^2) times the calcium of the plain cascade."""
    enabled: bool = False
    tau_s: float = field(default=5.0, gt=0.0, unit="s")
    target_hz: float = field(default=2.0, gt=0.0, unit="Hz")
    max_gain: float = field(default=2.0, min=1.0)

    def vector(self):
        return (self.tau_s, self.target_hz, self.max_gain) if self.enabled else None


@frozen(key_prefix="homeo_")  # written as homeo_* keys of a variant
class Homeostasis:
    """Firing-rate homeostasis through the spike threshold (docs/plasticity-cascade.md section 3).
    Each neuron's set point r_set is its own rate in the binocular state: a spike trace of time
    constant ``set_tau_s`` over the binocular phase, read at the deprivation onset (Hengen et al.
    2013, 2016: after monocular deprivation V1 neurons return to their own pre-deprivation rate).
    From ``delay_s`` after the onset on, the threshold shift theta (mV) integrates the rate error,
        dtheta/dt = (max_shift_mV / tau_s) (sum_k delta(t - t_k) / r_set - 1),  |theta| <= max_shift_mV,
    so a silent neuron's threshold falls by max_shift_mV in tau_s and one firing at r_set keeps it
    (Desai et al. 1999: activity deprivation lowers the spike threshold). Before the onset plus the
    delay, and with ``enabled`` false, theta = 0: under lid suture V1 firing falls for about two
    days before it starts to recover (Hengen et al. 2013), which an integral controller acting
    from the onset does not give. ``set_floor_hz``: the smallest set point (a neuron silent in the
    binocular state would otherwise get an infinite step per spike)."""
    enabled: bool = False
    tau_s: float = field(default=5.0, gt=0.0, unit="s")
    max_shift_mV: float = field(default=5.0, gt=0.0, unit="mV")
    set_tau_s: float = field(default=30.0, gt=0.0, unit="s")
    set_floor_hz: float = field(default=0.05, gt=0.0, unit="Hz")
    # the time from the onset before the threshold starts to move (bounded in days, like tau_s)
    delay_s: float = field(default=0.0, min=0.0, unit="s")
    # the protocol's compressed time axis: simulated seconds per day of the experiments it models
    # (its deprivation interval over the ~6 days it stands for); only the bounds check reads it
    seconds_per_day: float = field(default=2.5, gt=0.0, unit="s")

    def __post_init__(self):   # after the declared ranges
        check_homeostasis_bounds(self)

    def vector(self):
        """(rate of fall when silent, mV/s; bound, mV; set-point trace tau, s; floor, Hz; delay, s), the
        first two zero when off."""
        if not self.enabled:
            return 0.0, 0.0, self.set_tau_s, self.set_floor_hz, 0.0
        return self.max_shift_mV / self.tau_s, self.max_shift_mV, self.set_tau_s, self.set_floor_hz, self.delay_s


@dataclass(frozen=True)
class Variant:
    """A named model setting: how the EPSP scales with S, metaplasticity, homeostasis, input
    contrast."""
    name: str
    description: str
    neuron: NeuronParams
    meta: Metaplasticity
    contrast_spread: float
    homeostasis: Homeostasis = field(default_factory=Homeostasis)


def variant_names() -> list[str]:
    return set_names(VARIANT_FILE)


def load_variant(name: str) -> Variant:
    t = read_set(VARIANT_FILE, name, "ocular-dominance variant", field="variant")
    neuron_keys = {f.name for f in fields(NeuronParams)}
    meta = schema.build(Metaplasticity, {k[len("meta_"):]: t.pop(k) for k in list(t) if k.startswith("meta_")},
                        name_of=lambda key: "meta_" + key)
    homeo = schema.build(Homeostasis, {k[len("homeo_"):]: t.pop(k) for k in list(t) if k.startswith("homeo_")},
                         name_of=lambda key: "homeo_" + key)
    neuron = {k: t.pop(k) for k in list(t) if k in neuron_keys}
    description, spread = t.pop("description", ""), t.pop("contrast_spread", 0.0)
    if t:
        raise ParameterError(sorted(t)[0], f"not an ocular-dominance variant field (variant {name!r})")
    return Variant(name, description, NeuronParams(**neuron), meta, spread, homeo)


def check_homeostasis_bounds(h: Homeostasis) -> None:
    """Refuse a homeostasis outside its cited range (presets/bounds.toml [homeostasis]); the
    restoring time and the delay are cited in days and read on the protocol's time axis
    (h.seconds_per_day)."""
    if not h.enabled:
        return
    b = bounds()["homeostasis"]
    if h.max_shift_mV > b["max_shift_mV"]:
        raise FieldProblem("max_shift_mV", f"{h.max_shift_mV:g} mV is above the bound "
                           f"{b['max_shift_mV']:g} mV ({b['source']})")
    for name, key in (("tau_s", "tau"), ("delay_s", "delay")):   # both cited in days
        days, value = b[f"{key}_days"], getattr(h, name)
        low, high = (d * h.seconds_per_day for d in days)
        if not low - 1e-9 <= value <= high + 1e-9:
            raise FieldProblem(name, f"{value:g} s is outside the cited range {low:g}..{high:g} s ({days[0]:g}-"
                                     f"{days[1]:g} days at {h.seconds_per_day:g} s per day; {b[f'{key}_source']})")


# -- inputs -------------------------------------------------------------------------------------


def fixations(cfg: OcularDominanceConfig, seed: int, neuron: int):
    """Fixation onsets of one neuron's scene over the whole run, their contrasts and phase ids."""
    times, contrast, phase_of = [], [], []
    for phase_id, (_, start, end, _) in enumerate(cfg.phases()):
        if cfg.visual_rate_hz <= 0:
            continue
        # intervals and contrasts from their own streams: a longer phase only appends fixations
        onsets = np.random.default_rng([seed, neuron, phase_id, 2])
        contrasts = np.random.default_rng([seed, neuron, phase_id, 3])
        n_max = int(3 * cfg.visual_rate_hz * (end - start)) + 10
        t = start + np.cumsum(onsets.gamma(cfg.fixation_shape, 1 / (cfg.fixation_shape * cfg.visual_rate_hz), n_max))
        c = 1.0 - cfg.contrast_spread * contrasts.random(n_max)
        keep = t < end
        times.append(t[keep])
        contrast.append(c[keep])
        phase_of.append(np.full(int(keep.sum()), phase_id))
    if not times:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64)
    return np.concatenate(times), np.concatenate(contrast), np.concatenate(phase_of)


def chunk_spikes(cfg: OcularDominanceConfig, seed: int, neuron: int, eye: int, chunk: int, fix):
    """Presynaptic spikes of one eye population in [chunk, chunk + 1) x CHUNK_S: (times, synapse).
    Each (chunk, phase) piece draws from its own stream, so a phase's inputs do not depend on the
    phases after it (a run resumed at the end of the binocular phase under another condition sees
    the same binocular inputs), nor the open eye's on the deprived eye's condition."""
    t0, t1 = chunk * CHUNK_S, min((chunk + 1) * CHUNK_S, cfg.duration_s())
    s = cfg.synapses_per_eye
    f_t, f_c, f_phase = fix
    latency = cfg.eye_latency_s[eye]
    times, syn = [], []
    for phase_id, (name, start, end, open_eyes) in enumerate(cfg.phases()):
        a, b = max(t0, start), min(t1, end)
        if b <= a:
            continue
        own = np.random.default_rng([seed, neuron, eye, chunk, phase_id, 7])
        in_piece = (f_phase == phase_id) & (f_t >= a) & (f_t < b)
        for t, c in zip(f_t[in_piece], f_c[in_piece]):
            joins = np.flatnonzero(own.random(s) < cfg.volley_probability * c)
            arrival = t + latency
            if open_eyes[eye] and joins.size and arrival < end:
                times.append(np.full(joins.size, arrival))
                syn.append(joins)
        add_background(own, cfg.background_hz(name, eye), a, b, s, times, syn)
    return joined_spikes(times, syn)


def add_background(own: np.random.Generator, rate_hz: float, a: float, b: float, s: int, times: list,
                   syn: list) -> None:
    """Uncorrelated background at ``rate_hz`` per synapse over [a, b): appended to (times, syn)."""
    if rate_hz > 0:
        n_bg = own.poisson(rate_hz * (b - a) * s)
        times.append(own.uniform(a, b, n_bg))
        syn.append(own.integers(0, s, n_bg))


def joined_spikes(times: list, syn: list) -> tuple[np.ndarray, np.ndarray]:
    """The pieces of (times, synapse) as two arrays (empty ones when there are none)."""
    if not times:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    return np.concatenate(times), np.concatenate(syn).astype(np.int64)


# -- blocks -------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _sum_drive(times, neurons, weights):
    """Merge consecutive spikes with the same (time, neuron): a volley is one input."""
    n = times.shape[0]
    out_t, out_n, out_w = np.empty(n), np.empty(n, dtype=np.int64), np.empty(n)
    m = -1
    for e in range(n):
        if m >= 0 and times[e] == out_t[m] and neurons[e] == out_n[m]:
            out_w[m] += weights[e]
        else:
            m += 1
            out_t[m], out_n[m], out_w[m] = times[e], neurons[e], weights[e]
    return out_t[:m + 1], out_n[:m + 1], out_w[:m + 1]


N_BAP_STATS = 3         # bAPs counted at spines, sum of their local amplitudes (mV), the largest


@njit(cache=True, nogil=True)
def _bap_amplitudes(t_pre, per_neuron, bap_t, bap_count, t0, t1, spike_t, spike_syn, a_bap, boosting, gain,
                    tau_boost, out):
    """Bookkeeping only (the kernel applies the bAPs): the local amplitude each spine gets from the
    bAPs arriving in [t0, t1), A_bap (1 + gain exp(-(t_bap - t_pre)/tau_boost)) with t_pre the
    synapse's last presynaptic spike before the bAP (cascade_kernel.apply_bap), added to ``out``
    (per neuron: count, sum, max; row j of ``out`` is local neuron j). ``t_pre``: the synapses'
    last spike before t0; spike_t/spike_syn: this
    tick's presynaptic spikes, sorted in time."""
    cap = bap_t.shape[1]
    local = np.empty(per_neuron)
    for j in range(bap_count.shape[0]):
        first = bap_count[j]
        while first - 1 >= max(1, bap_count[j] - cap + 1) and bap_t[j, (first - 1) % cap] >= t0:
            first -= 1                      # entry 0 is the ring's virtual start, never a bAP
        for m in range(first, bap_count[j]):
            tb = bap_t[j, m % cap]
            if tb >= t1:
                break
            for i in range(per_neuron):
                local[i] = t_pre[j * per_neuron + i]
            for e in range(spike_t.shape[0]):
                if spike_t[e] >= tb:
                    break
                if spike_syn[e] // per_neuron == j:
                    local[spike_syn[e] - j * per_neuron] = spike_t[e]
            for i in range(per_neuron):
                amplitude = a_bap
                if boosting > 0.0:
                    amplitude *= 1.0 + gain * np.exp(-(tb - local[i]) / tau_boost)
                out[j, 0] += 1.0
                out[j, 1] += amplitude
                out[j, 2] = max(out[j, 2], amplitude)


class EyeBlock:
    """One eye's synapses onto neurons [first, first + count): cascade state in one array."""

    def __init__(self, params: CascadeParams, cfg: OcularDominanceConfig, variant: Variant, seed: int,
                 first: int, count: int, eye: int, epsp_scale: float = 1.0):
        if not (np.isfinite(epsp_scale) and epsp_scale > 0):
            raise ParameterError("epsp_scale", f"must be a finite number > 0, got {epsp_scale!r}")
        self.params, self.cfg, self.variant = params, cfg, variant
        self.seed, self.first, self.count, self.eye = seed, first, count, eye
        self.s = cfg.synapses_per_eye
        self.k = kernel.pack_params(params, CascadePopulation.min_step_s, CascadePopulation.step_growth,
                                    CascadePopulation.max_step_s, variant.meta.vector())
        n = variant.neuron
        scale = n.eye_epsp_mV / self.s if n.drive == "per-eye" else n.epsp_mV
        self.epsp_per_phos_mV = epsp_scale * scale / params.p_initial
        self.steps = 0
        self.events = 0
        self.bap_stats = np.zeros((count, N_BAP_STATS))
        self.allocated = False

    def allocate(self) -> None:
        """The big arrays, made when the run starts (not when a driver builds the block to ask
        its lookahead)."""
        n_syn = self.count * self.s
        self.state = kernel.new_state(n_syn, self.params.p_initial, self.params.v_rest_mV)
        self.applied = np.ones(n_syn, dtype=np.int64)       # bAP index 0 is the virtual start entry
        self.bap_t = np.zeros((self.count, BAP_RING))
        self.bap_trace = np.zeros((self.count, BAP_RING))
        self.bap_trace[:, 0] = self.variant.meta.target_hz
        self.bap_count = np.ones(self.count, dtype=np.int64)
        self.synced_count = np.ones(self.count, dtype=np.int64)
        # the neurons' dendritic depolarisation D_n(t) at the spines (cascade_kernel feed)
        self.dep_t = np.zeros((self.count, DEP_RING))
        self.dep_v = np.zeros((self.count, DEP_RING))
        self.dep_count = np.zeros(self.count, dtype=np.int64)
        self.dep_synced = np.zeros(self.count, dtype=np.int64)
        self.fix = [fixations(self.cfg, self.seed, self.first + j) for j in range(self.count)]
        self.chunk = -1
        self.allocated = True

    # -- inputs ----------------------------------------------------------------------------------
    def _load_chunk(self, chunk: int) -> None:
        self._store_chunk(chunk, [chunk_spikes(self.cfg, self.seed, self.first + j, self.eye, chunk, self.fix[j])
                                  for j in range(self.count)])

    def _store_chunk(self, chunk: int, per_neuron: list) -> None:
        """Keep chunk ``chunk``'s inputs, ``per_neuron`` [(times, synapse) of local neuron j],
        as one time-ordered stream over the block's synapses (ties by synapse index)."""
        t = np.concatenate([times for times, _ in per_neuron])
        i = np.concatenate([syn + j * self.s for j, (_, syn) in enumerate(per_neuron)])
        order = np.lexsort((i, t))
        self.chunk_t, self.chunk_syn = t[order], i[order]
        self.chunk = chunk

    def spikes_in(self, t0: float, t1: float):
        chunk = int(t0 // CHUNK_S)
        if chunk != self.chunk:
            self._load_chunk(chunk)
        a, b = self.chunk_t.searchsorted((t0, t1))   # the method: ~1 us less per tick than np.searchsorted
        return self.chunk_t[a:b], self.chunk_syn[a:b]

    # -- events ----------------------------------------------------------------------------------
    def add_baps(self, times, neurons, traces) -> None:
        """bAPs arriving at this block's spines (global neuron ids), in time order."""
        for t, n, r in zip(times, neurons, traces):
            j = int(n) - self.first
            if self.bap_count[j] - self.synced_count[j] >= BAP_RING - 2:
                self.sync_neuron(j, float(t))
            slot = self.bap_count[j] % BAP_RING
            self.bap_t[j, slot], self.bap_trace[j, slot] = t, r
            self.bap_count[j] += 1

    def add_inputs(self, t_now: float, times, neurons, jumps_mV) -> None:
        """The neurons' synaptic input reaching the dendrite (global ids, sorted in time, all at or
        after t_now): each jump moves the neuron's dendritic depolarisation D_n, which every spine
        of the neuron sees (cascade_kernel.add_depolarisation)."""
        if not times.size:
            return
        self.steps += kernel.add_depolarisation(self.state, self.k, self.applied, self.s, self.bap_t, self.bap_trace,
                                                self.bap_count, self.dep_t, self.dep_v, self.dep_count,
                                                self.dep_synced, t_now, times, neurons - self.first, jumps_mV)

    def _catch_up(self, rows, t: float, inclusive: bool) -> None:
        self.steps += kernel.catch_up_all_fed(self.state, t, self.k, self.applied, self.s, self.bap_t,
                                              self.bap_trace, self.bap_count, self.dep_t, self.dep_v,
                                              self.dep_count, rows, inclusive)

    def sync_neuron(self, j: int, t: float) -> None:
        self._catch_up(np.arange(j * self.s, (j + 1) * self.s), t, False)
        self.synced_count[j] = self.bap_count[j]

    def sync_all(self, t: float) -> None:
        """Every synapse to time t with every bAP that arrived at or before t (samples, end)."""
        self._catch_up(np.arange(self.count * self.s), t, True)
        self.synced_count[:] = self.bap_count

    def tick(self, t0: float, t1: float):
        """Presynaptic spikes in [t0, t1): returns the drive they send (arrival = spike time +
        synaptic delay, so the caller shifts the times): (times, global neuron, drive_mV)."""
        times, syn = self.spikes_in(t0, t1)
        _bap_amplitudes(self.state[:, kernel.T_PRE], self.s, self.bap_t, self.bap_count, t0, t1, times, syn,
                        self.params.bap_amplitude_mV, float(self.params.bap_boosting), self.params.boost_gain,
                        self.params.boost_tau_s, self.bap_stats)
        if not times.size:
            return times, syn, np.zeros(0)
        phos = np.empty(times.size)
        self.steps += kernel.pre_spikes_fed(self.state, self.k, self.applied, self.s, self.bap_t, self.bap_trace,
                                            self.bap_count, self.dep_t, self.dep_v, self.dep_count, times, syn, phos)
        self.events += times.size
        return _sum_drive(times, syn // self.s + self.first, phos * self.epsp_per_phos_mV)

    def mean_weights(self) -> np.ndarray:
        """Mean weight per neuron (1 = unchanged)."""
        return (self.state[:, kernel.P] / self.params.p_initial).reshape(self.count, self.s).mean(axis=1)

    def weights(self) -> np.ndarray:
        return self.state[:, kernel.P] / self.params.p_initial

    def bap_summary(self) -> np.ndarray:
        """The local bAP amplitudes this block's spines received (boost included), per neuron:
        [count, sum (mV), maximum (mV)]; mean = sum / count."""
        return self.bap_stats.copy()

    # -- snapshots --------------------------------------------------------------------------------
    ARRAYS = ("state", "applied", "bap_t", "bap_trace", "bap_count", "synced_count", "bap_stats", "dep_t", "dep_v",
              "dep_count", "dep_synced")

    def snapshot(self) -> dict:
        return {name: _pack(getattr(self, name)) for name in self.ARRAYS} | {"steps": self.steps,
                                                                             "events": self.events}

    def restore(self, snap: dict) -> None:
        if not self.allocated:
            self.allocate()
        for name in self.ARRAYS:
            setattr(self, name, _unpack(snap[name]))
        self.steps, self.events = snap["steps"], snap["events"]
        self.chunk = -1

    def resume(self, snap: dict) -> None:
        """Continue from another run's final state (a control run from the same state): the
        synapses and bAP rings as they were; the work and bAP counters start again at zero."""
        self.restore(snap)
        self.steps = self.events = 0
        self.bap_stats = np.zeros((self.count, N_BAP_STATS))

    def __eq__(self, other):
        """The same block in the same state (what a snapshot holds; input caches aside)."""
        if type(other) is not type(self):
            return NotImplemented
        same_block = (self.first, self.count, self.eye, self.allocated) == (other.first, other.count, other.eye,
                                                                             other.allocated)
        return same_block and (not self.allocated or self.snapshot() == other.snapshot())


@njit(cache=True)
def _lif(times, neurons, drives, v, t_last, last_spike, trace, t_trace, v_rest, v_thr, v_reset, tau_m,
         refractory, meta_tau, homeo, onset, theta, t_theta, slow, t_slow, set_hz, out_t, out_n, out_r):
    """Leaky integrate-and-fire somata driven by input jumps (sorted in time; local neuron ids).
    Writes spikes into out_*; returns their count. ``homeo`` = Homeostasis.vector(): (fall rate
    mV/s, bound mV, set-point tau s, floor Hz, delay s); before ``onset`` the set-point trace
    ``slow`` counts the spikes, from ``onset`` + delay on the threshold is v_thr + theta
    (Homeostasis); ``set_hz`` < 0: not yet read (it is read, the trace decayed to the onset, at a
    neuron's first input after the onset)."""
    fall, bound, set_tau, floor = homeo[0], homeo[1], homeo[2], homeo[3]
    engage = onset + homeo[4]
    m = 0
    for e in range(times.shape[0]):
        j, t = neurons[e], times[e]
        v[j] = v_rest + (v[j] - v_rest) * np.exp(-(t - t_last[j]) / tau_m)
        t_last[j] = t
        if fall > 0.0 and t >= onset:
            if set_hz[j] < 0.0:
                set_hz[j] = max(slow[j] * np.exp(-(onset - t_slow[j]) / set_tau), floor)
                t_theta[j] = engage
            if t >= engage:
                theta[j] = max(theta[j] - fall * (t - t_theta[j]), -bound)
                t_theta[j] = t
        if t - last_spike[j] < refractory:
            continue
        v[j] += drives[e]
        if v[j] >= v_thr + theta[j]:
            v[j] = v_reset
            last_spike[j] = t
            trace[j] = trace[j] * np.exp(-(t - t_trace[j]) / meta_tau) + 1.0 / meta_tau
            t_trace[j] = t
            if fall > 0.0:
                if t >= engage:
                    theta[j] = min(theta[j] + fall / set_hz[j], bound)
                elif t < onset:
                    slow[j] = slow[j] * np.exp(-(t - t_slow[j]) / set_tau) + 1.0 / set_tau
                    t_slow[j] = t
            out_t[m], out_n[m], out_r[m] = t, j, trace[j]
            m += 1
    return m


class NeuronBlock:
    """Somata of neurons [first, first + count): LIF state and a firing-rate trace per neuron."""

    def __init__(self, cfg: OcularDominanceConfig, variant: Variant, first: int, count: int):
        self.cfg, self.variant, self.first, self.count = cfg, variant, first, count
        n = self.count
        self.v = np.full(n, variant.neuron.v_rest_mV)
        self.t_last = np.zeros(n)
        self.last_spike = np.full(n, -1e9)
        self.trace = np.full(n, variant.meta.target_hz)
        self.t_trace = np.zeros(n)
        # homeostasis (Homeostasis): threshold shift, its clock, the set-point trace (from the
        # metaplastic target, as the rate trace) and the set point once read (-1: not yet)
        self.theta = np.zeros(n)
        self.t_theta = np.zeros(n)
        self.slow = np.full(n, variant.meta.target_hz)
        self.t_slow = np.zeros(n)
        self.set_hz = np.full(n, -1.0)
        deprivation = [start for name, start, _, _ in cfg.phases() if name == "deprivation"]
        self.onset_s = deprivation[0] if deprivation else np.inf
        self.spike_t: list[np.ndarray] = []
        self.spike_n: list[np.ndarray] = []

    def inputs(self, times, neurons, drives):
        """Input jumps (any order between eyes; merged stably in time). Returns the spikes:
        (times, global neuron ids, trace at the spike)."""
        order = np.argsort(times, kind="stable")
        times, neurons, drives = times[order], neurons[order] - self.first, drives[order]
        p, meta = self.variant.neuron, self.variant.meta
        out_t, out_n, out_r = np.empty(times.size), np.empty(times.size, dtype=np.int64), np.empty(times.size)
        m = _lif(times, neurons, drives, self.v, self.t_last, self.last_spike, self.trace, self.t_trace,
                 p.v_rest_mV, p.v_threshold_mV, p.v_reset_mV, p.tau_m_s, p.refractory_s, meta.tau_s,
                 np.asarray(self.variant.homeostasis.vector()), self.onset_s, self.theta, self.t_theta, self.slow,
                 self.t_slow, self.set_hz, out_t, out_n, out_r)
        if m:
            self.spike_t.append(out_t[:m].copy())
            self.spike_n.append(out_n[:m] + self.first)
        return out_t[:m], out_n[:m] + self.first, out_r[:m]

    def spikes(self):
        if not self.spike_t:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        return np.concatenate(self.spike_t), np.concatenate(self.spike_n)

    ARRAYS = ("v", "t_last", "last_spike", "trace", "t_trace", "theta", "t_theta", "slow", "t_slow", "set_hz")

    def snapshot(self) -> dict:
        t, n = self.spikes()
        return {name: _pack(getattr(self, name)) for name in self.ARRAYS} | {"spike_t": _pack(t),
                                                                             "spike_n": _pack(n)}

    def restore(self, snap: dict) -> None:
        for name in self.ARRAYS:
            setattr(self, name, _unpack(snap[name]))
        self.spike_t, self.spike_n = [_unpack(snap["spike_t"])], [_unpack(snap["spike_n"])]

    def resume(self, snap: dict, start_s: float) -> None:
        """Continue from another run's final state: the somata as they were; of its spikes only
        those at or after ``start_s`` (the last tick of that run already fired into this one)."""
        self.restore(snap)
        t, n = self.spikes()
        keep = t >= start_s
        self.spike_t, self.spike_n = [t[keep]], [n[keep]]

    def __eq__(self, other):
        """The same neurons in the same state (what a snapshot holds)."""
        if type(other) is not type(self):
            return NotImplemented
        return (self.first, self.count) == (other.first, other.count) and self.snapshot() == other.snapshot()


def _pack(a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a)
    return {"dtype": a.dtype.str, "shape": list(a.shape), "data": a.tobytes()}


def _unpack(d: dict) -> np.ndarray:
    return np.frombuffer(d["data"], dtype=np.dtype(d["dtype"])).reshape(d["shape"]).copy()


# -- summaries ----------------------------------------------------------------------------------


def summarise(cfg: OcularDominanceConfig, time_s, w_left, w_right, spike_times) -> dict:
    """Per-sample weights (arrays [sample, neuron]) -> mean and spread across neurons, changes of
    each eye over each phase and postsynaptic rates."""
    time_s = np.asarray(time_s)
    out = {"time_s": time_s.tolist()}
    for name, w in (("left", np.asarray(w_left)), ("right", np.asarray(w_right))):
        out[f"w_{name}"] = w.mean(axis=1).tolist()
        out[f"w_{name}_p10"] = np.percentile(w, 10, axis=1).tolist()
        out[f"w_{name}_p90"] = np.percentile(w, 90, axis=1).tolist()
    mean_l, mean_r = np.asarray(out["w_left"]), np.asarray(out["w_right"])
    out["phases"] = []
    for name, start, end, open_eyes in cfg.phases():
        if end <= cfg.start_s:          # a resumed run reports the phases it ran (from start_s)
            continue
        start = max(start, cfg.start_s)
        i0, i1 = int(np.argmin(abs(time_s - start))), int(np.argmin(abs(time_s - end)))
        spikes = int(((spike_times >= start) & (spike_times < end)).sum())
        out["phases"].append({
            "name": name, "start_s": start, "end_s": end, "open_eyes": [EYES[e] for e in (0, 1) if open_eyes[e]],
            "dw_left": float(mean_l[i1] / mean_l[i0] - 1), "dw_right": float(mean_r[i1] / mean_r[i0] - 1),
            "post_rate_hz": spikes / max(end - start, 1e-12) / cfg.neurons,
            # each neuron's mean weight per eye at the phase's end: the neurons are independent
            # (own scenes, own inputs), so runs from one state compare neuron by neuron (a standard error)
            "w_left_neurons_end": np.asarray(w_left)[i1].tolist(),
            "w_right_neurons_end": np.asarray(w_right)[i1].tolist()})
    return out
