"""Ocular dominance from a steady state, with its controls in the same run (issue 23 items 3, 4, 7).

    1. binocular phase until the mean weight has settled (od.SteadyState), or for a fixed time;
       its final state (every actor's snapshot) is kept
    2. from that state and seed, the deprivation interval under each condition (od.CONDITIONS):
         binocular    the non-deprived control: binocular vision continues
         ttx          monocular inactivation: no activity at all in the deprived eye
         lid_suture   no patterned vision, uncorrelated residual activity at sutured_rate_hz
       and, for the seed paper's claim that synapse-specific bAP boosting drives the competition,
       lid suture under two rules that remove the specificity, each with its own binocular control
       under the same rule (so what is measured is the effect of deprivation, not of the rule
       switch):
         no_boost_rate_matched   boosting off, every EPSP scaled so that the postsynaptic rate
                                 over the interval matches the boosted lid-suture run's
                                 (false position in log scale, RateSearch)
         uniform_bap             boosting off, every spine gets a bAP of the mean local amplitude
                                 the boosted lid-suture run's spines received (non-specific)
Changes are over the deprivation interval, relative to its start (the shared state), and each
condition's change is reported against its control (change minus the control's change).

A run is one executor run of the actor system (actors/plasticity/ocular_dominance.py); a
control is a restore of the snapshot (the actors' ``resume``) plus its own input schedule
(od.OcularDominanceConfig.condition), so inline and Ray give the same numbers.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from lolpim.actors.plasticity.ocular_dominance import final_states, ocular_dominance_system, summarise_run
from lolpim.models.plasticity import ocular_dominance as od
from lolpim.models.plasticity.cascade import CascadeParams

CONTROLS = ("binocular", "ttx", "lid_suture", "no_boost_rate_matched", "uniform_bap")
SPECIFICITY = ("no_boost_rate_matched", "uniform_bap")
SPECIFICITY_RATIO_MAX = 0.5   # a specificity control "clearly smaller": its shift <= half the boosted one


@dataclass(frozen=True)
class RateSearch:
    """How the no-boost control's EPSP scale x is found: the rate at x = 1; if it is off, a
    bracket by doubling (or halving) x up to ``high`` (down to ``low``); then false position in
    log x (Illinois rule: an end kept twice has its error halved); stop when the rate is within
    ``tolerance`` of the target (relative, or one spike per neuron over the interval, whichever
    is larger) or after ``max_runs`` runs. The run closest to the target is kept."""
    low: float = 0.25
    high: float = 8.0
    tolerance: float = 0.05
    max_runs: int = 10


RATE_SEARCH = RateSearch()


@dataclass
class Runner:
    """Runs the actor system of one (params, variant, seed, blocks) on an executor; ``on_run``
    (label, start_s, end_s) is told of each run as it starts (progress)."""
    executor: Any                   # an InlineExecutor or a RayExecutor
    params: CascadeParams
    variant: str
    seed: int
    blocks: int = 1
    on_run: Callable[[str, float, float], None] | None = None
    walls: list = field(default_factory=list)
    simulated_s: float = 0.0
    synapse_events: int = 0
    integration_steps: int = 0
    processes: int | None = None

    def run(self, cfg: od.OcularDominanceConfig, label: str, resume=None, keep_state=False, params=None,
            epsp_scale: float = 1.0, variant=None):
        """(summary of the run, its final states or None)."""
        if self.on_run is not None:
            self.on_run(label, cfg.start_s, cfg.duration_s())
        system = ocular_dominance_system(params or self.params, cfg, variant or self.variant, self.seed, self.blocks,
                                         resume=resume, keep_state=keep_state, epsp_scale=epsp_scale)
        t0 = time.perf_counter()
        result = self.executor.run(system)
        self.walls.append(time.perf_counter() - t0)
        self.processes = result.stats.get("processes", self.processes)
        summary = summarise_run(result.results, cfg)
        self.simulated_s += cfg.duration_s() - cfg.start_s
        self.synapse_events += summary["synapse_events"]
        self.integration_steps += summary["integration_steps"]
        return summary, (final_states(result.results) if keep_state else None)


# -- 1. the binocular phase -----------------------------------------------------------------------


def _append(series: dict | None, summary: dict) -> dict:
    """Concatenate a segment's samples to the series so far (its first sample repeats the last)."""
    part = {k: list(summary[k]) for k in ("time_s", "w_left", "w_right", "w_left_p10", "w_left_p90",
                                          "w_right_p10", "w_right_p90")}
    if series is None:
        return part
    return {k: series[k] + part[k][1:] for k in series}


def binocular_phase(runner: Runner, cfg: od.OcularDominanceConfig, rule: od.SteadyState,
                    fixed_s: float | None = None) -> dict:
    """Run the binocular phase: ``fixed_s`` seconds, or in segments until the drift is within
    ``rule``. Returns the samples, the final states and ``steady_state``."""
    base = replace(cfg, deprivation_s=0.0, recovery_s=0.0, condition="binocular")
    series, states, t, spikes_s = None, None, 0.0, []
    while True:
        step = fixed_s if fixed_s is not None else rule.check_s
        seg = replace(base, binocular_s=t + step, start_s=t)
        summary, states = runner.run(seg, "binocular phase", resume=states, keep_state=True)
        series = _append(series, summary)
        spikes_s.append((t, t + step, summary["phases"][0]["post_rate_hz"]))
        t += step
        w = (np.asarray(series["w_left"]) + np.asarray(series["w_right"])) / 2
        drift = od.drift_per_s(series["time_s"], w, rule.window_s)
        settled = bool(drift <= rule.drift_per_s)          # nan (before two windows): not yet
        if fixed_s is not None or settled or t >= rule.max_s - 1e-9:
            break
    # the rate over the drift window (segments are whole checks, so the window covers whole segments)
    recent = [r for a, b, r in spikes_s if a >= t - rule.window_s - 1e-9] or [spikes_s[-1][2]]
    steady = {"binocular_s": t, "drift_per_s": drift, "bound_per_s": rule.drift_per_s, "window_s": rule.window_s,
              "check_s": rule.check_s, "max_s": rule.max_s, "settled": settled,
              "fixed": fixed_s is not None, "mean_weight": float(w[-1]), "post_rate_hz": float(np.mean(recent))}
    return {"series": series, "states": states, "steady_state": steady}


# -- 2. the deprivation interval ------------------------------------------------------------------


def _interval(summary: dict, start_s: float, end_s: float) -> dict:
    """Changes of each eye over [start_s, end_s] relative to start_s, and the post rate."""
    t = np.asarray(summary["time_s"])
    i0, i1 = int(np.argmin(abs(t - start_s))), int(np.argmin(abs(t - end_s)))
    left, right = np.asarray(summary["w_left"]), np.asarray(summary["w_right"])
    dep, opn = float(left[i1] / left[i0] - 1), float(right[i1] / right[i0] - 1)
    phase = next(p for p in summary["phases"] if p["name"] == "deprivation")
    return {"deprived_change": dep, "open_change": opn, "shift": opn - dep, "post_rate_hz": phase["post_rate_hz"],
            "bap_mean_mV": summary["bap_at_spines"]["mean_mV"], "bap_max_mV": summary["bap_at_spines"]["max_mV"],
            # private (not in the JSON): per-neuron end weights over the mean start weight, per eye
            "neurons": {"deprived": np.asarray(phase["w_left_neurons_end"]) / left[i0],
                        "open": np.asarray(phase["w_right_neurons_end"]) / right[i0]}}


def _half_time(t, d, start_s):
    """Seconds after ``start_s`` when the difference curve d first covers half its final value."""
    if d[-1] == 0:
        return None
    k = np.flatnonzero(d / d[-1] >= 0.5)
    return float(t[k[0]] - start_s)


def against(run: dict, control: dict, start_s: float, end_s: float) -> dict:
    """Each eye's change minus the control's over the interval, and when each difference had
    covered half of its final value (Frenkel & Bear 2004: the deprived eye first)."""
    out = {"deprived_vs_control": run["deprived_change"] - control["deprived_change"],
           "open_vs_control": run["open_change"] - control["open_change"]}
    out["shift_vs_control"] = out["open_vs_control"] - out["deprived_vs_control"]
    # standard errors from the neurons' paired differences (their mean is the difference above):
    # with K = 8 the mean weight of one run fluctuates by a few percent within 15 s, as much as
    # the effects, so a difference is read with its error (docs/plasticity-cascade.md section 3)
    pairs = {eye: run["neurons"][eye] - control["neurons"][eye] for eye in ("deprived", "open")}
    pairs["shift"] = pairs["open"] - pairs["deprived"]
    for key, d in pairs.items():
        out[f"{key}_vs_control_se"] = float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else None
    # both sample the interval on the same grid from start_s; the lid-suture run may go on (recovery)
    inside = lambda r: (np.asarray(r["series"]["time_s"]) >= start_s - 1e-9) & \
        (np.asarray(r["series"]["time_s"]) <= end_s + 1e-9)
    mine, theirs = inside(run), inside(control)
    t = np.asarray(run["series"]["time_s"])[mine]
    for eye, key in (("left", "deprived"), ("right", "open")):
        d = np.asarray(run["series"][f"w_{eye}"])[mine] - np.asarray(control["series"][f"w_{eye}"])[theirs]
        out[f"{key}_half_time_s"] = _half_time(t, d, start_s)
    return out


def _condition_run(runner, cfg, states, condition, label, params=None, epsp_scale=1.0, sutured_rate_hz=None,
                   variant=None):
    run_cfg = replace(cfg, condition=condition, sutured_rate_hz=cfg.sutured_rate_hz if sutured_rate_hz is None
                      else sutured_rate_hz, recovery_s=cfg.recovery_s if label == "lid_suture" else 0.0)
    summary, _ = runner.run(run_cfg, label.replace("_", " "), resume=states, params=params, epsp_scale=epsp_scale,
                            variant=variant)
    out = _interval(summary, cfg.binocular_s, cfg.binocular_s + cfg.deprivation_s)
    out["homeostasis"] = summary["homeostasis"]
    out["series"] = {k: summary[k] for k in ("time_s", "w_left", "w_right", "w_left_p10", "w_left_p90",
                                             "w_right_p10", "w_right_p90")}
    out["phases"] = summary["phases"]
    return out


def rate_matched(runner, cfg, states, params_off, target_hz, search: RateSearch = RATE_SEARCH):
    """The no-boost lid-suture run whose post rate over the interval is closest to ``target_hz``
    (EPSP scale found by RateSearch). Returns (run, search record)."""
    tol = max(search.tolerance * target_hz, 1.0 / (cfg.neurons * cfg.deprivation_s))
    tried = []

    def at(scale):
        run = _condition_run(runner, cfg, states, "lid_suture", "no_boost_rate_matched", params_off, scale)
        tried.append((scale, run))
        return run["post_rate_hz"] - target_hz

    err = at(1.0)
    if abs(err) > tol:
        # bracket: the rate grows with the EPSP (log x, error) at both ends, of opposite signs
        step = 2.0 if err < 0 else 0.5
        a, b = (0.0, err), None
        while b is None and len(tried) < search.max_runs:
            x = math.exp(a[0]) * step
            if not search.low <= x <= search.high:
                break
            e = at(x)
            if abs(e) <= tol:
                break
            if (e < 0) == (err < 0):
                a = (math.log(x), e)
            else:
                b = (math.log(x), e)
        side = 0
        while b is not None and len(tried) < search.max_runs:
            x = (a[0] * b[1] - b[0] * a[1]) / (b[1] - a[1])
            e = at(math.exp(x))
            if abs(e) <= tol:
                break
            if (e < 0) == (a[1] < 0):
                a = (x, e)
                b = (b[0], b[1] / 2) if side == -1 else b
                side = -1
            else:
                b = (x, e)
                a = (a[0], a[1] / 2) if side == 1 else a
                side = 1
    scale, best = min(tried, key=lambda sr: abs(sr[1]["post_rate_hz"] - target_hz))
    record = {"epsp_scale": scale, "target_hz": target_hz, "rate_hz": best["post_rate_hz"], "tolerance_hz": tol,
              "matched": abs(best["post_rate_hz"] - target_hz) <= tol, "runs": len(tried),
              "tried": [[s, r["post_rate_hz"]] for s, r in tried],
              "search": f"EPSP scale from 1, bracketed by doubling/halving within [{search.low:g}, {search.high:g}], "
                        f"then false position in log scale (Illinois), at most {search.max_runs} runs, tolerance "
                        f"max({search.tolerance:.0%} of the target, 1 spike per neuron over the interval)"}
    return best, record


def experiment(runner: Runner, cfg: od.OcularDominanceConfig, rule: od.SteadyState = od.SteadyState(),
               fixed_binocular_s: float | None = None, extra_sutured_rates_hz=(), specificity: bool = True,
               steady: dict | None = None) -> dict:
    """The whole protocol: binocular phase, the five conditions, their comparisons and criteria.
    ``extra_sutured_rates_hz``: more lid-suture runs (boosted) from the same state, at these
    residual rates (the sweep of the acceptance). ``specificity`` false: the deprivation's own
    conditions only (binocular, TTX, lid suture and the sweep; no specificity or fixed-threshold
    controls, their criteria None), as the calibration needs. ``steady``: a binocular phase
    already run (binocular_phase's result for the same runner and cfg) to start from.
    Returns {"steady", "runs", "summary"}."""
    steady = steady or binocular_phase(runner, cfg, rule, fixed_binocular_s)
    b = steady["steady_state"]["binocular_s"]
    cfg = replace(cfg, binocular_s=b, start_s=b)
    states = steady["states"]
    start, end = b, b + cfg.deprivation_s
    runs = {name: _condition_run(runner, cfg, states, name, name) for name in ("binocular", "ttx", "lid_suture")}
    lid = runs["lid_suture"]
    sweep = [{"sutured_rate_hz": cfg.sutured_rate_hz, **_public(lid), **against(lid, runs["binocular"], start, end)}]
    for rate in extra_sutured_rates_hz:
        r = _condition_run(runner, cfg, states, "lid_suture", f"lid_suture_{rate:g}hz", sutured_rate_hz=rate)
        sweep.append({"sutured_rate_hz": rate, **_public(r), **against(r, runs["binocular"], start, end)})
    if not specificity:
        controls = _against_own(runs, {name: "binocular" for name in ("binocular", "ttx", "lid_suture")}, start, end)
        return _result(steady, runs, controls, sweep)
    off = replace(runner.params, bap_boosting=False)
    runs["no_boost_rate_matched"], search = rate_matched(runner, cfg, states, off, lid["post_rate_hz"])
    runs["no_boost_rate_matched_binocular"] = _condition_run(runner, cfg, states, "binocular",
                                                             "no_boost_rate_matched_binocular", off,
                                                             search["epsp_scale"])
    # a silent neuron sends no bAP to match: the unboosted amplitude stands in
    uniform = replace(off, bap_amplitude_mV=lid["bap_mean_mV"] or off.bap_amplitude_mV)
    runs["uniform_bap"] = _condition_run(runner, cfg, states, "lid_suture", "uniform_bap", uniform)
    runs["uniform_bap_binocular"] = _condition_run(runner, cfg, states, "binocular", "uniform_bap_binocular", uniform)
    # the homeostatic threshold's own control: the same lid suture and binocular control with it off
    variant = od.load_variant(runner.variant) if isinstance(runner.variant, str) else runner.variant
    homeostasis = variant.homeostasis.enabled
    if homeostasis:
        fixed = replace(variant, homeostasis=replace(variant.homeostasis, enabled=False))
        runs["no_homeostasis"] = _condition_run(runner, cfg, states, "lid_suture", "no_homeostasis", variant=fixed)
        runs["no_homeostasis_binocular"] = _condition_run(runner, cfg, states, "binocular",
                                                          "no_homeostasis_binocular", variant=fixed)

    own = {"no_boost_rate_matched": "no_boost_rate_matched_binocular", "uniform_bap": "uniform_bap_binocular",
           "no_homeostasis": "no_homeostasis_binocular"}
    controls = _against_own(runs, {name: own.get(name, "binocular")
                                   for name in CONTROLS + (("no_homeostasis",) if homeostasis else ())}, start, end)
    controls["no_boost_rate_matched"]["rate_search"] = search
    controls["no_boost_rate_matched"]["own_binocular"] = _public(runs["no_boost_rate_matched_binocular"])
    controls["uniform_bap"]["bap_amplitude_mV"] = uniform.bap_amplitude_mV
    controls["uniform_bap"]["own_binocular"] = _public(runs["uniform_bap_binocular"])
    if homeostasis:
        controls["no_homeostasis"]["own_binocular"] = _public(runs["no_homeostasis_binocular"])
    return _result(steady, runs, controls, sweep)


def _against_own(runs: dict, own_control: dict, start: float, end: float) -> dict:
    """Each named run's public figures and its changes against its own control run."""
    return {name: {**_public(runs[name]), **against(runs[name], runs[own], start, end), "control": own}
            for name, own in own_control.items()}


def _result(steady: dict, runs: dict, controls: dict, sweep: list) -> dict:
    summary = {"steady_state": steady["steady_state"], "controls": controls,
               "sutured_rate_sweep": sorted(sweep, key=lambda r: r["sutured_rate_hz"]),
               "criteria": criteria(controls, sweep)}
    return {"steady": steady, "runs": runs, "summary": summary}


def _public(run: dict) -> dict:
    return {k: v for k, v in run.items() if k not in ("series", "phases", "neurons")}


def criteria(controls: dict, sweep: list) -> dict:
    """The acceptance of issue 23, each a bool (None where the run does not measure it), and the
    specificity ratios (each rule's shift against its own control over the boosted one's)."""
    lid, ttx = controls["lid_suture"], controls["ttx"]
    boosted = lid["shift_vs_control"]
    measured = all(name in controls for name in SPECIFICITY)
    ratios = {name: controls[name]["shift_vs_control"] / boosted if boosted > 0 else float("inf")
              for name in SPECIFICITY} if measured else None
    dep_t, open_t = lid["deprived_half_time_s"], lid["open_half_time_s"]
    rates = sorted(sweep, key=lambda r: r["sutured_rate_hz"])
    return {
        "deprived_below_control": lid["deprived_vs_control"] < 0,
        "suture_deeper_than_ttx": lid["deprived_change"] < ttx["deprived_change"],
        "open_above_control": lid["open_vs_control"] > 0,
        "deprived_first": dep_t is not None and open_t is not None and dep_t < open_t,
        "higher_suture_rate_deepens": (all(b["deprived_vs_control"] < a["deprived_vs_control"]
                                           for a, b in zip(rates, rates[1:])) if len(rates) > 1 else None),
        "specificity_ratio": ratios,
        # the homeostatic threshold's control (None without homeostasis): the open eye without it
        "open_above_control_without_homeostasis": (controls["no_homeostasis"]["open_vs_control"] > 0
                                                   if "no_homeostasis" in controls else None),
        "specificity_needed": (bool(boosted > 0 and all(r <= SPECIFICITY_RATIO_MAX for r in ratios.values()))
                               if ratios is not None else None),
        # the lid-suture differences in standard errors of the neurons' paired differences
        "deprived_vs_control_z": _z(lid["deprived_vs_control"], lid.get("deprived_vs_control_se")),
        "open_vs_control_z": _z(lid["open_vs_control"], lid.get("open_vs_control_se")),
    }


def _z(value: float, se: float | None) -> float | None:
    return None if not se else float(value / se)
