"""Graupner & Brunel (2012) calcium-based synapse, the reference model, integrated event by event.

Model (PNAS 109:3991):
    dc/dt      = -c/tau_ca + c_pre sum_i delta(t - t_pre_i - D) + c_post sum_j delta(t - t_post_j)
    tau drho/dt = -rho(1-rho)(rho* - rho) + gamma_p (1-rho) H(c - theta_p) - gamma_d rho H(c - theta_d)
                  + sigma sqrt(tau) sqrt(H(c - theta_p) + H(c - theta_d)) eta(t)

Between two calcium jumps c decays exponentially, so the time it spends above each threshold is
known in closed form. The interval splits into at most three pieces with constant H(.):
above both thresholds, above theta_d only, below both. On the first two pieces the gamma terms
(hundreds) dwarf the cubic (at most 0.05): that linear part with its constant-amplitude noise is an
Ornstein-Uhlenbeck process, sampled exactly. The cubic is then applied over the whole interval
with its exact solution (for rho* = 1/2, u = (rho - 1/2)^2 obeys a logistic equation). The only
approximation is this first-order splitting of a rate ~1/tau (0.007 s^-1) from rates ~gamma/tau;
benchmarks/plasticity.py measures it below the error of dt = 0.1 ms Heun stepping.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from math import erf, exp, log, sqrt
from pathlib import Path

import numpy as np

from lolpim.core.errors import ParameterError
from lolpim.core.schema import FieldProblem, field, frozen
from lolpim.models.plasticity.param_sets import load_set, set_names

PRESET_FILE = Path(__file__).parent / "presets" / "graupner_brunel.toml"


@frozen
class GraupnerBrunelParams:
    tau_ca_s: float = field(gt=0.0)
    c_pre: float = field(min=0.0)
    c_post: float = field(min=0.0)
    theta_d: float = field(gt=0.0)
    theta_p: float = field(gt=0.0)
    gamma_d: float = field(min=0.0)
    gamma_p: float = field(min=0.0)
    sigma: float = field(min=0.0)
    tau_s: float = field(gt=0.0)
    rho_star: float = field(choices=(0.5,))   # the exact solver's logistic form of the cubic needs 0.5
    delay_pre_s: float = field(min=0.0)
    beta: float = field(min=0.0, max=1.0)
    b: float = field(gt=0.0)
    name: str = "custom"
    description: str = ""

    def __post_init__(self):   # after the declared ranges
        # The exact solver orders the threshold pieces; every published set satisfies this.
        if not self.theta_p > self.theta_d:
            raise FieldProblem("theta_p", f"must exceed {{theta_d}} ({self.theta_d}), got {self.theta_p}")

    def to_dict(self) -> dict:
        return asdict(self)


def preset_names() -> list[str]:
    return set_names(PRESET_FILE)


def load_params(name: str = "DP", **overrides) -> GraupnerBrunelParams:
    """A published parameter set by name (see presets/graupner_brunel.toml), fields overridable."""
    return load_set(PRESET_FILE, GraupnerBrunelParams, name, "Graupner-Brunel", overrides)


# ---------------------------------------------------------------------------------------------
# Exact pieces of the dynamics


def _ou(rho, length_s, rate, target, noise_var_rate, normals):
    """Exact Ornstein-Uhlenbeck transition over ``length_s`` (vectorised; zero length = identity)."""
    decay = np.exp(-rate * length_s)
    out = target + (rho - target) * decay
    if normals is not None:
        out = out + np.sqrt(noise_var_rate * (1.0 - decay * decay) / (2.0 * rate)) * normals
    return out


def _cubic_flow(rho, length_s, tau_s):
    """Exact solution of tau drho/dt = -rho(1-rho)(1/2-rho): u = (rho-1/2)^2 is logistic."""
    x = rho - 0.5
    u0 = x * x
    grow = np.exp(length_s / (2.0 * tau_s))
    u = 0.25 * u0 * grow / (0.25 + u0 * (grow - 1.0))
    return 0.5 + np.sign(x) * np.sqrt(u)


def free_evolution(p: GraupnerBrunelParams, rho, c, length_s, rng=None):
    """Advance (rho, c) over ``length_s`` with no calcium jump inside. Returns (rho, c)."""
    with np.errstate(divide="ignore"):
        log_c = np.log(np.maximum(c, 1e-300))
    above_p = np.clip(p.tau_ca_s * (log_c - log(p.theta_p)), 0.0, length_s)
    above_d = np.clip(p.tau_ca_s * (log_c - log(p.theta_d)), 0.0, length_s)
    only_d = above_d - above_p
    noisy = rng is not None and p.sigma > 0
    shape = np.shape(rho)
    z1 = rng.standard_normal(shape) if noisy else None
    z2 = rng.standard_normal(shape) if noisy else None
    g_sum = p.gamma_p + p.gamma_d
    # noise amplitude is sigma sqrt(H_p + H_d)/sqrt(tau): variance rate 2 sigma^2/tau on both
    rho = _ou(rho, above_p, g_sum / p.tau_s, p.gamma_p / g_sum, 2 * p.sigma ** 2 / p.tau_s, z1)
    if p.gamma_d > 0:
        rho = _ou(rho, only_d, p.gamma_d / p.tau_s, 0.0, p.sigma ** 2 / p.tau_s, z2)
    rho = _cubic_flow(rho, length_s, p.tau_s)
    return rho, c * np.exp(-length_s / p.tau_ca_s)


# ---------------------------------------------------------------------------------------------
# A population with one shared clock (what an actor wraps)


class GraupnerBrunelPopulation:
    """``n`` synapses onto one neuron: pre spikes per synapse, post spikes (bAPs) shared."""

    def __init__(self, params: GraupnerBrunelParams, n: int, seed: int = 0, rho0=None, t0_s: float = 0.0):
        if n < 1:
            raise ParameterError("n", f"must be >= 1, got {n}")
        self.p = params
        self.n = n
        self.rng = np.random.default_rng(seed)
        if rho0 is None:  # beta of the synapses start DOWN, the rest UP, as in the paper
            rho0 = np.where(np.arange(n) < round(params.beta * n), 0.0, 1.0)
        self.rho = np.broadcast_to(np.asarray(rho0, dtype=float), (n,)).copy()
        self.c = np.zeros(n)
        self.t_s = float(t0_s)
        self._pending: list[tuple[float, np.ndarray]] = []  # delayed presynaptic calcium

    def _evolve_to(self, t_s: float) -> None:
        if t_s < self.t_s:
            raise ParameterError("t_s", f"cannot go back in time ({t_s} < {self.t_s})")
        if t_s > self.t_s:
            self.rho, self.c = free_evolution(self.p, self.rho, self.c, t_s - self.t_s, self.rng)
            self.t_s = t_s

    def advance(self, to_time_s: float) -> None:
        """Integrate up to ``to_time_s``, applying presynaptic calcium that arrives on the way."""
        while self._pending and self._pending[0][0] <= to_time_s:
            t_arrive, idx = self._pending.pop(0)
            self._evolve_to(t_arrive)
            np.add.at(self.c, idx, self.p.c_pre)
        self._evolve_to(to_time_s)

    def on_pre(self, t_s: float, idx=None) -> None:
        """Presynaptic spikes at ``t_s`` on synapses ``idx`` (all if None); calcium arrives after D."""
        self.advance(t_s)
        idx = np.arange(self.n) if idx is None else np.asarray(idx, dtype=np.int64)
        arrival = t_s + self.p.delay_pre_s
        pos = len(self._pending)
        while pos and self._pending[pos - 1][0] > arrival:
            pos -= 1
        self._pending.insert(pos, (arrival, idx))

    def on_post(self, t_s: float) -> None:
        """A postsynaptic spike reaches every synapse at ``t_s``."""
        self.advance(t_s)
        self.c += self.p.c_post

    def weights(self) -> np.ndarray:
        """Efficacy after the bistable relaxation: 1 (DOWN) or b (UP) per synapse."""
        return np.where(self.rho > self.p.rho_star, self.p.b, 1.0)

    def snapshot(self) -> dict:
        return {"t_s": self.t_s, "rho": self.rho.tolist(), "c": self.c.tolist(),
                "pending": [[t, idx.tolist()] for t, idx in self._pending],
                "rng": _plain_rng_state(self.rng.bit_generator.state)}

    def restore(self, state: dict) -> None:
        self.t_s = float(state["t_s"])
        self.rho = np.asarray(state["rho"], dtype=float)
        self.c = np.asarray(state["c"], dtype=float)
        self._pending = [(float(t), np.asarray(idx, dtype=np.int64)) for t, idx in state["pending"]]
        self.rng.bit_generator.state = _rng_state_from_plain(state["rng"])


def _plain_rng_state(state: Mapping) -> dict:
    """PCG64 state holds 128-bit integers, which msgpack cannot carry: write them as decimal text."""
    return {k: (_plain_rng_state(v) if isinstance(v, dict) else str(v) if isinstance(v, int) else v)
            for k, v in state.items()}


def _rng_state_from_plain(state: dict) -> dict:
    return {k: (_rng_state_from_plain(v) if isinstance(v, dict) else int(v) if k != "bit_generator" else v)
            for k, v in state.items()}


def run_independent_trains(p: GraupnerBrunelParams, rho, event_times_s, event_amps, t_end_s, rng=None):
    """Synapses with their own calcium jump trains (rows of ``event_times_s``, sorted, padded with
    ``t_end_s`` and amplitude 0). Loops over the k-th event of every synapse at once. Returns rho."""
    rho = np.array(rho, dtype=float)
    c = np.zeros_like(rho)
    t_last = np.zeros_like(rho)
    for k in range(event_times_s.shape[1]):
        t_k = event_times_s[:, k]
        rho, c = free_evolution(p, rho, c, t_k - t_last, rng)
        c = c + event_amps[:, k]
        t_last = t_k
    rho, c = free_evolution(p, rho, c, t_end_s - t_last, rng)
    return rho


# ---------------------------------------------------------------------------------------------
# The paper's analytic treatment of periodic protocols


def periodic_time_above(p: GraupnerBrunelParams, jump_times_s, jump_amps, period_s: float):
    """Fractions of time (alpha_d, alpha_p) the periodic steady-state calcium spends above theta_d
    and theta_p, for jumps at ``jump_times_s`` (within one period) repeated every ``period_s``."""
    order = np.argsort(np.mod(jump_times_s, period_s))
    times = np.mod(np.asarray(jump_times_s, float), period_s)[order]
    amps = np.asarray(jump_amps, float)[order]
    # calcium just after the last jump of the period, in steady state (geometric series)
    after_last = sum(a * exp(-(times[-1] - t) / p.tau_ca_s) for t, a in zip(times, amps))
    after_last /= 1.0 - exp(-period_s / p.tau_ca_s)
    c = after_last * exp(-(period_s - times[-1] + times[0]) / p.tau_ca_s)  # just before 1st jump
    gaps = np.diff(np.append(times, times[0] + period_s))
    above = {"d": 0.0, "p": 0.0}
    for a, gap in zip(amps, gaps):
        c += a
        for key, theta in (("d", p.theta_d), ("p", p.theta_p)):
            if c > theta:
                above[key] += min(gap, p.tau_ca_s * log(c / theta))
        c *= exp(-gap / p.tau_ca_s)
    return above["d"] / period_s, above["p"] / period_s


def pair_protocol_change(p: GraupnerBrunelParams, delta_t_s: float, n_pairs: int, frequency_hz: float,
                         n_post: int = 1, post_interval_s: float = 0.0) -> float:
    """Mean relative synaptic change (after/before) for ``n_pairs`` pre-post pairs at
    ``frequency_hz``; delta_t = t_post - t_pre. The OU (Gaussian) approximation of the paper."""
    period = 1.0 / frequency_hz
    times = [p.delay_pre_s] + [delta_t_s + k * post_interval_s for k in range(n_post)]
    amps = [p.c_pre] + [p.c_post] * n_post
    alpha_d, alpha_p = periodic_time_above(p, times, amps, period)
    return change_from_fractions(p, alpha_d, alpha_p, n_pairs * period)


def change_from_fractions(p: GraupnerBrunelParams, alpha_d: float, alpha_p: float, duration_s: float) -> float:
    gp, gd = p.gamma_p * alpha_p, p.gamma_d * alpha_d
    if gp + gd == 0:
        return 1.0
    rho_bar = gp / (gp + gd)
    tau_eff = p.tau_s / (gp + gd)
    var2 = p.sigma ** 2 * (alpha_p + alpha_d) / (gp + gd)  # twice the stationary variance
    decay = exp(-duration_s / tau_eff)
    spread = sqrt(var2 * (1.0 - decay * decay))

    def prob_above(rho0):
        mean = rho_bar + (rho0 - rho_bar) * decay
        if spread == 0:
            return float(mean > p.rho_star)
        return 0.5 * (1.0 - erf((p.rho_star - mean) / spread))

    up = prob_above(0.0)          # DOWN -> UP
    down = 1.0 - prob_above(1.0)  # UP -> DOWN
    beta, b = p.beta, p.b
    after = beta * (1 - up) + (1 - beta) * down + b * (beta * up + (1 - beta) * (1 - down))
    return after / (beta + (1 - beta) * b)
