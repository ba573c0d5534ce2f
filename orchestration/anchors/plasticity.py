"""Plasticity anchors (docs/anchors.md section 5): the cascade reconstruction against the pairing curve,
Bi & Poo STDP, the Sjostrom frequency table and ocular dominance; Graupner-Brunel DP against its
published STDP curve.

Every row states its kind (validation.KINDS): calibration (a parameter was chosen on it),
held-out (none was) or consistency (the model against itself or a bound). Calibration: the
hippocampal set on the pairing curve (no change at rest, trough range, potentiation above
-30 mV), the STDP peak sizes (epsp_mV, the gain being fixed by the bAP bound) and the LTP width
(boost_tau_s); the cortical set's A_bap and P_initial on the Sjostrom 0.1 Hz and 50 Hz rows (4
fitted points, reported in their own rows); the OD network variant's metaplasticity and contrast
on S = 50 and 200, K = 4, seeds 0-4 (issue 12: the OD rows at those S and seeds count as
calibration), its eye EPSP and its homeostatic threshold's time constant on seeds 5-9, S = 100,
K = 8, and the protocol's K = 32 (15 s of deprivation kept) on the same seeds and S at K = 32
(benchmarks/od_calibration.py, no validate row). Held out: the pairing crossover, the STDP
signs, peak position, LTD width and the curve beyond the LTP window, the 6 Sjostrom 10/20/40 Hz
points, the BCM protocol, OD elsewhere and everything about Graupner-Brunel (published parameters
used as they are). The bound rows
(presets/bounds.toml) are consistency rows.

Ocular dominance (issue 23): from a steady binocular state, lid suture against its controls
(orchestration/plasticity/od_controls.py) over seeds 0-4 x S in {50, 200, 1000} synapses per eye,
K = 32 neurons, inline executor (15 experiments of ~15 runs: about an hour of CPU, made only when
the rows are asked for, once per process).

Known misses (MISS*, strict xfail in tests/plasticity/test_plasticity_anchors.py) carry their
cause in ``note``; each excuse covers only the documented miss (a different failure of the same
row is a FAIL): the pairing crossover just below -40 mV, the second depression window at
+30..+100 ms, and the Sjostrom check points outside 0.25.
"""
from __future__ import annotations

import json
import os
from dataclasses import replace
from functools import lru_cache, cache
from math import inf, isfinite
from pathlib import Path

import numpy as np
from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.models.plasticity import cascade, protocols
from lolpim.models.plasticity import graupner_brunel as gb
from lolpim.models.plasticity import ocular_dominance as od
from lolpim.orchestration.plasticity import od_controls
from lolpim.orchestration.plasticity.od_controls import SPECIFICITY_RATIO_MAX
from lolpim.orchestration.validation import AnchorCheck, ErrorKind

AREA = "plasticity"
SRC_PAIRING = "docs/anchors.md section 5: Shouval 2002-style pairing, 100 pulses at 1 Hz"
SRC_STDP = "docs/anchors.md section 5: Bi & Poo 1998, 60 pairs at 1 Hz"
SRC_SJOSTROM = "docs/anchors.md section 5: Sjostrom, Turrigiano & Nelson 2001 table"
SRC_OD = "docs/anchors.md section 5: Frenkel & Bear 2004 (monocular deprivation)"
SRC_OD_MD = "Frenkel & Bear 2004, Neuron 44:917 (MD vs non-deprived; deprived eye first)"
SRC_OD_TTX = "Rittenhouse et al. 1999, Nature 397:347; Frenkel & Bear 2004 (lid suture vs TTX)"
SRC_OD_SEED = "seed paper (arXiv 1911.11326): synapse-specific bAP boosting drives the competition"
SRC_OD_HOMEO = ("Hengen et al. 2013, Neuron 80:335; Mrsic-Flogel et al. 2007, Neuron 54:961 (open-eye "
                "potentiation is homeostatic): the homeostatic threshold's own control")
SRC_GB = "docs/anchors.md section 5: Graupner & Brunel 2012 Fig. 2 (DP set)"
SRC_BCM = ("Dudek & Bear 1992 (CA1) and Kirkwood, Rioult & Bear 1996 (visual cortex): 900 pulses at 1-100 Hz "
           "at rest")
SRC_BOUND = ("Golding, Kath & Spruston 2001; Magee & Johnston 1997; Stuart & Hausser 2001 "
             "(models/plasticity/presets/bounds.toml)")


def within(name, source, lo, hi, simulated, unit="", note="", kind=""):
    """A check that ``simulated`` lies in [lo, hi] (a 'bound' check centred on the interval; with
    lo = -inf a one-sided 'at_most' check, simulated <= hi)."""
    if lo == -inf and isfinite(hi):
        return AnchorCheck(AREA, name, source, float(hi), float(simulated), 0.0, ErrorKind.AT_MOST, unit, note, kind)
    return AnchorCheck(AREA, name, source, (lo + hi) / 2, float(simulated), (hi - lo) / 2, ErrorKind.BOUND, unit, note,
                       kind)


def count(name, source, expected, simulated, allowed_shortfall, note="", kind=""):
    return AnchorCheck(AREA, name, source, float(expected), float(simulated), float(allowed_shortfall),
                       ErrorKind.ABSOLUTE, "", note, kind)


# What each row is to the parameters (validation.KINDS): "calibration" rows chose a parameter
# (docs/plasticity-cascade.md lists which), "held-out" rows chose none, "consistency" rows check the
# model against itself or a bound.
CAL, HELD, CONS = "calibration", "held-out", "consistency"


def known_miss(check: AnchorCheck, documented: bool, reason: str) -> AnchorCheck:
    """Mark ``check`` as a documented miss unless it fails in an undocumented way.

    ``documented``: the row fails the way the docs describe. A pass keeps the note too (the strict
    xfail then reports the fix, and the docs must change); a failure that is not the documented
    one keeps the plain note and shows as FAIL."""
    if check.passed or documented:
        return replace(check, note="known miss: " + reason, documented_as_miss=True)
    return check


# -- the simulations, computed once per process -------------------------------------------------

PAIRING_V_MV = np.arange(-75.0, 0.1, 2.5)
STDP_DT_MS = np.array([d for d in np.arange(-100.0, 100.1, 2.5) if d != 0])
SJOSTROM_HZ = [0.1, 10.0, 20.0, 40.0, 50.0]
SJOSTROM_DT_MS = (+10, -10)                      # the columns of the table (cascade_frequency order)
SJOSTROM_FITTED_HZ = (0.1, 50.0)                 # the cortical set was fitted on these two rows

# What docs/plasticity-cascade.md (section 1, Results) states; the rows below keep the text true.
DOC_CROSSOVER_MV = (-41.5, -40.0)                # documented miss: crossover at -40.8 mV
DOC_LATE_MIN_AT_MS = (40.0, 50.0)                # second depression window: minimum at +45 ms ...
DOC_LATE_MIN_DW = (-0.42, -0.32)                 # ... of -0.37
DOC_SJOSTROM_FAR = {(10.0, +10), (20.0, +10), (20.0, -10)}   # check points outside 0.25


@cache
def cascade_pairing():
    return protocols.cascade_pairing(cascade.load_params("hippocampal"), PAIRING_V_MV)


@cache
def cascade_stdp():
    return protocols.cascade_stdp(cascade.load_params("hippocampal"), STDP_DT_MS * 1e-3)


@cache
def cascade_sjostrom():
    return protocols.cascade_frequency(cascade.load_params("cortical"), SJOSTROM_HZ)


# BCM protocol (issue 23 item 5): cortical set, the protocol of experiments.toml [bcm]
BCM_SET = "cortical"
DOC_BCM_CROSSOVER_HZ = (35.0, 50.0)             # documented miss: crossover at 41 Hz (default history)


@cache
def cascade_bcm(history_rate_hz=None) -> dict:
    """The BCM curve after the default history length at ``history_rate_hz`` (None: the metaplastic
    target rate, NMDA gain 1)."""
    exp = protocols.experimental_data()["bcm"]
    rate = od.load_variant("network").meta.target_hz if history_rate_hz is None else history_rate_hz
    return protocols.bcm_curve(cascade.load_params(BCM_SET), exp, rate, exp["history_s"])


# Ocular dominance (issue 23): from a steady binocular state, lid suture against its controls
# (binocular, TTX, no-boost rate-matched, uniform bAP; orchestration/plasticity/od_controls.py),
# over seeds x S synapses per eye with K neurons, plus a lid-suture run at a higher residual rate.
# The full grid is 15 experiments of ~15 runs each (tens of minutes), made only when asked for.
OD_SEEDS = (0, 1, 2, 3, 4)
OD_SYNAPSES = (50, 200, 1000)
OD_NEURONS = 32      # power (od_power.py); chosen on calibration rows (od_calibration.py --param protocol)
OD_HIGH_SUTURED_HZ = 3.0      # the sweep's second residual rate (issue 23: "raising it to 3 Hz")
OD_DEPRIVATION_S = 60.0   # chosen on calibration rows (od_calibration.py --param delay)


# A maintainer's shortcut, never a default: with LOLPIM_OD_GRID=<json> (the grid benchmark's
# output, benchmarks/od_controls_grid.py -> docs/figures/od_controls.json) the default grid's
# experiments are read from that file instead of rerun (~55 min inline at K = 32). The file holds the same
# experiments' summaries (deterministic runs); tests/plasticity/test_od_controls.py checks the rows
# built from it. benchmarks/known_misses.py and `make docs-figures PARTS=anchors` accept it.
OD_GRID_ENV = "LOLPIM_OD_GRID"


def od_protocol(neurons: int = OD_NEURONS) -> dict:
    """What a stored grid point must share with the rows that read it: K, the deprivation
    length and the network variant's homeostat (its restoring time and time axis)."""
    h = od.load_variant("network").homeostasis
    protocol = {"neurons": neurons, "deprivation_s": OD_DEPRIVATION_S, "homeo_enabled": h.enabled,
                "homeo_tau_s": h.tau_s, "homeo_seconds_per_day": h.seconds_per_day}
    if h.delay_s:   # points stored before the delay existed ran without one
        protocol["homeo_delay_s"] = h.delay_s
    return protocol


@lru_cache(maxsize=1)
def _stored_od_grid(path: str) -> dict:
    points = json.loads(Path(path).read_text())
    by = {}
    for p in points:
        if p.get("protocol") != od_protocol():
            raise ValueError(f"{path}: point S = {p['synapses']}, seed {p['seed']} was run under the protocol "
                             f"{p.get('protocol')}, not today's {od_protocol()}: rerun benchmarks/od_controls_grid.py")
        summary = p["summary"]
        ratios = summary["criteria"]["specificity_ratio"]   # JSON wrote the infinite ratios as null
        ratios.update({k: inf for k, v in ratios.items() if v is None})
        by[(p["synapses"], p["seed"])] = summary
    return by


@cache
def od_experiment(synapses: int, neurons: int, seed: int, deprivation_s: float = OD_DEPRIVATION_S,
                  steady: od.SteadyState = od.SteadyState(), variant: str = "network") -> dict:
    """One experiment's summary (inline, one block), cached per process."""
    stored = os.environ.get(OD_GRID_ENV)
    if stored and (neurons, deprivation_s, steady, variant) == (OD_NEURONS, OD_DEPRIVATION_S, od.SteadyState(),
                                                               "network"):
        return _stored_od_grid(stored)[(synapses, seed)]
    params = cascade.load_params(OD_PARAMS)
    cfg = od.OcularDominanceConfig(neurons=neurons, synapses_per_eye=synapses, deprivation_s=deprivation_s,
                                   contrast_spread=od.load_variant(variant).contrast_spread)
    runner = od_controls.Runner(InlineExecutor(), params, variant, seed)
    return od_controls.experiment(runner, cfg, steady, extra_sutured_rates_hz=(OD_HIGH_SUTURED_HZ,))["summary"]


OD_PARAMS = "cortical"          # visual cortex (the CLI default too: orchestration/commands/plasticity.py)
def pairing_crossover_mV(v_mV, dw):
    """V_h where dw changes sign from depression to potentiation above the trough (linear
    interpolation between grid points); nan without a depression or without a crossing."""
    k = int(np.argmin(dw))
    up = np.flatnonzero(dw[k:] > 0)
    if dw[k] >= 0 or not up.size:
        return float("nan")
    j = k + int(up[0])
    return float(np.interp(0.0, [dw[j - 1], dw[j]], [v_mV[j - 1], v_mV[j]]))


def sjostrom_points(table):
    """One row per published point: (f_Hz, delta-t ms, model, data, fitted)."""
    exp = protocols.experimental_data()["frequency"]
    data = np.column_stack([exp["dw_plus_10ms"], exp["dw_minus_10ms"]])
    return [(float(f), d, float(table[i, j]), float(data[i, j]), float(f) in SJOSTROM_FITTED_HZ)
            for i, f in enumerate(exp["frequency_hz"]) for j, d in enumerate(SJOSTROM_DT_MS)]


def sjostrom_scores(table):
    exp = protocols.experimental_data()["frequency"]
    measured = np.column_stack([exp["dw_plus_10ms"], exp["dw_minus_10ms"]])
    same_sign = int((np.sign(table) == np.sign(measured)).sum())
    close = int((np.abs(table - measured) <= exp["close_tolerance"]).sum())
    return same_sign, close


def decay_width_ms(dt_ms, dw, side):
    """|delta-t| where one side of the STDP curve has fallen to 1/e of its peak (beyond the peak)."""
    mask = dt_ms > 0 if side > 0 else dt_ms < 0
    x, y = np.abs(dt_ms[mask]), dw[mask] * side
    order = np.argsort(x)
    x, y = x[order], y[order]
    k = int(np.argmax(y))
    level = y[k] / np.e
    beyond = np.flatnonzero(y[k:] < level)
    if not beyond.size:
        return float("inf")
    j = k + beyond[0]
    return float(np.interp(level, [y[j], y[j - 1]], [x[j], x[j - 1]]))


def gb_extrema(n_pairs: int):
    dt = np.arange(-100.0, 100.01, 0.5)
    dw = protocols.gb_stdp(gb.load_params("DP"), dt * 1e-3, n_pairs=n_pairs)
    return float(dt[np.argmin(dw)]), float(dt[np.argmax(dw)])


# -- the checks ---------------------------------------------------------------------------------


def pairing_checks():
    return pairing_curve_checks() + pairing_crossover_checks()


def pairing_curve_checks():
    dw = cascade_pairing()
    v = PAIRING_V_MV
    rest = float(dw[v == -65.0][0])
    return [
        within("cascade pairing: |dw| at V_h = -65 mV (no change near rest)", SRC_PAIRING, -0.05, 0.05, rest,
               kind=CAL),
        within("cascade pairing: V_h of the depression trough", SRC_PAIRING, -55.0, -40.0, v[np.argmin(dw)], " mV",
               kind=CAL),
        within("cascade pairing: dw at the trough is a depression", SRC_PAIRING, -1.0, 0.0, dw.min(), kind=CAL),
        count("cascade pairing: V_h >= -30 mV points without potentiation", SRC_PAIRING, 0,
              int((dw[v >= -30.0] <= 0).sum()), 0, kind=CAL),
    ]


def pairing_crossover_checks():
    """The crossover (docs/anchors.md section 5: 'near -40..-30 mV') was not a calibration target."""
    lo, hi = protocols.experimental_data()["pairing"]["crossover_range_mV"]
    x = pairing_crossover_mV(PAIRING_V_MV, cascade_pairing())
    row = within("cascade pairing: V_h of the crossover, depression -> potentiation (-40..-30 mV)",
                 SRC_PAIRING, lo, hi, x, " mV", note="not fitted; interpolated on the 2.5 mV grid", kind=HELD)
    return [known_miss(
        row, isfinite(x) and DOC_CROSSOVER_MV[0] <= x < DOC_CROSSOVER_MV[1],
        f"crossover at {x:.1f} mV, just below -40 mV. It lies where the kinase's work (k_p C1) "
        "catches up with the phosphatase's (k_d C2): with the calibrated calcium scale and k_p/k_d = 67 "
        "that takes a single-release peak calcium of ~0.30 uM (1.5 K_2, 0.46 K_1), which the NMDA "
        "current reaches at ~-41 mV. The crossover was not a calibration target; variants that move it "
        "into the range (higher K_1, lower k_p) deepen the LTD and the +40 ms depression window, and the "
        "model was not refitted to this row")]


def stdp_checks():
    return stdp_window_checks() + stdp_late_checks()


def stdp_window_checks():
    dw, dt = cascade_stdp(), STDP_DT_MS
    ltp_side, ltd_side = (dt > 0) & (dt <= 20), (dt < 0) & (dt >= -20)
    tau_plus, tau_minus = decay_width_ms(dt, dw, +1), decay_width_ms(dt, dw, -1)
    return [
        count("cascade STDP: points in (0, +20] ms without LTP", SRC_STDP, 0, int((dw[ltp_side] <= 0).sum()), 0,
              kind=HELD),
        count("cascade STDP: points in [-20, 0) ms without LTD", SRC_STDP, 0, int((dw[ltd_side] >= 0).sum()), 0,
              kind=HELD),
        within("cascade STDP: peak LTP (+80..+100%)", SRC_STDP, 0.8, 1.0, dw.max(),
               note="fitted: epsp_mV (with the bounded boost gain)", kind=CAL),
        within("cascade STDP: delta-t of peak LTP (near +5 ms)", SRC_STDP, 0.0, 10.0, dt[np.argmax(dw)], " ms",
               kind=HELD),
        within("cascade STDP: peak LTD (-30..-50%)", SRC_STDP, -0.5, -0.3, dw.min(), note="fitted: epsp_mV",
               kind=CAL),
        within("cascade STDP: LTP width / LTD width (< 1: LTP side narrower)", SRC_STDP, 0.0, 1.0,
               tau_plus / tau_minus, note=f"1/e widths {tau_plus:.1f} ms and {tau_minus:.1f} ms; the LTP width "
                                          "is fitted (boost_tau_s)", kind=CAL),
        AnchorCheck(AREA, "cascade STDP: LTP 1/e width vs tau+ of the exponential fit", SRC_STDP, 16.8,
                    tau_plus, 0.5, ErrorKind.RELATIVE, " ms",
                    "fitted: boost_tau_s (the width follows it: 13.4 / 22.4 / 33.5 ms for 10 / 20 / 40 ms "
                    "before issue 23)", CAL),
        AnchorCheck(AREA, "cascade STDP: LTD 1/e width vs tau- of the exponential fit", SRC_STDP, 33.7,
                    tau_minus, 0.5, ErrorKind.RELATIVE, " ms", "not fitted", HELD),
    ]


LATE_WINDOW_CAUSE = (
    "a second depression window after the LTP window, a property of this model class: NMDA "
    "unbinding is slow (70 ms), so a bAP 30-100 ms after the pre spike meets partly bound NMDA "
    "receptors with its boost mostly decayed, and the moderate calcium activates the high-affinity "
    "phosphatase-like C2 but not C1. Shouval, Bear & Cooper 2002 (PNAS) discuss the same window in "
    "calcium-control models. Not changed")


def stdp_late_checks():
    """+30..+100 ms, beyond the LTP window: what the docs say about the model, and the data."""
    exp = protocols.experimental_data()["stdp"]
    lo, hi = exp["no_change_after_ms"]
    dw, dt = cascade_stdp(), STDP_DT_MS
    late = (dt >= lo) & (dt <= hi)
    k = int(np.argmin(dw[late]))
    at_ms, lowest = float(dt[late][k]), float(dw[late][k])
    extreme = float(dw[late][np.argmax(np.abs(dw[late]))])
    doc = "documented model property (docs/plasticity-cascade.md), not a data check"
    documented = (DOC_LATE_MIN_AT_MS[0] <= at_ms <= DOC_LATE_MIN_AT_MS[1]
                  and DOC_LATE_MIN_DW[0] <= lowest <= DOC_LATE_MIN_DW[1])
    tol = exp["no_change_after_tolerance"]
    data = AnchorCheck(AREA, f"cascade STDP: largest |dw| at +{lo:.0f}..+{hi:.0f} ms (no change beyond the "
                             f"LTP window, |dw| <= {tol})", SRC_STDP, 0.0, extreme, tol, ErrorKind.BOUND,
                       note="not fitted", kind=HELD)
    return [
        within(f"cascade STDP: delta-t of the lowest dw at +{lo:.0f}..+{hi:.0f} ms (second depression window)",
               SRC_STDP, *DOC_LATE_MIN_AT_MS, at_ms, " ms", note=doc, kind=CONS),
        within(f"cascade STDP: lowest dw at +{lo:.0f}..+{hi:.0f} ms (second depression window)", SRC_STDP,
               *DOC_LATE_MIN_DW, lowest, note=doc, kind=CONS),
        known_miss(data, documented and extreme < 0,
                   f"lowest dw {lowest:+.2f} at +{at_ms:.1f} ms: " + LATE_WINDOW_CAUSE),
    ]


def sjostrom_checks():
    return sjostrom_table_checks() + sjostrom_fitted_checks() + sjostrom_held_out_checks()


def sjostrom_table_checks():
    """The acceptance as written (docs/anchors.md section 5 / issue): all 10 points, 4 of them fitted."""
    same_sign, close = sjostrom_scores(cascade_sjostrom())
    note = "all 10 points, 4 of them fitted (0.1 and 50 Hz rows); the 6 check points have their own rows"
    return [
        within("cascade Sjostrom table, all 10 points: right sign (>= 8 of 10)", SRC_SJOSTROM, 8, 10, same_sign,
               note=note, kind=CAL),
        within("cascade Sjostrom table, all 10 points: within 0.25 (>= 7 of 10)", SRC_SJOSTROM, 7, 10, close,
               note=note, kind=CAL),
    ]


def _sjostrom_counts(fitted: bool):
    """(points, right sign, within tolerance, needed signs, needed within, the far points) for the fitted or
    the check points; 'needed' applies the 10-point acceptance rates (8/10, 7/10) to this subset, rounded up."""
    exp = protocols.experimental_data()["frequency"]
    total, tol = len(exp["frequency_hz"]) * len(SJOSTROM_DT_MS), exp["close_tolerance"]
    pts = [p for p in sjostrom_points(cascade_sjostrom()) if p[4] == fitted]
    signs = sum(np.sign(m) == np.sign(d) for _, _, m, d, _ in pts)
    far = {(f, dt): (m, d) for f, dt, m, d, _ in pts if abs(m - d) > tol}
    n = len(pts)
    need_sign = -(-exp["sign_points_needed"] * n // total)
    need_close = -(-exp["close_points_needed"] * n // total)
    return n, int(signs), n - len(far), need_sign, need_close, far


def _describe(points) -> str:
    return ", ".join(f"{f:g} Hz {dt:+d} ms {m:+.2f} vs {d:+.2f}" for (f, dt), (m, d) in sorted(points.items()))


def sjostrom_fitted_checks():
    """The 4 points the cortical set was fitted on: a calibration result, not a check."""
    n, signs, close, need_sign, need_close, _ = _sjostrom_counts(fitted=True)
    hz = " and ".join(f"{f:g}" for f in SJOSTROM_FITTED_HZ)
    note = "fitted (calibration of the cortical set), not a check"
    return [
        within(f"cascade Sjostrom fitted points ({hz} Hz): right sign (>= {need_sign} of {n})", SRC_SJOSTROM,
               need_sign, n, signs, note=note, kind=CAL),
        within(f"cascade Sjostrom fitted points ({hz} Hz): within 0.25 (>= {need_close} of {n})", SRC_SJOSTROM,
               need_close, n, close, note=note, kind=CAL),
    ]


def sjostrom_held_out_checks():
    """The 6 check points (10, 20, 40 Hz), at the same rates as the 10-point acceptance."""
    exp = protocols.experimental_data()["frequency"]
    n, signs, close, need_sign, need_close, far = _sjostrom_counts(fitted=False)
    wrong = {(f, dt): (m, d) for f, dt, m, d, fit in sjostrom_points(cascade_sjostrom())
             if not fit and np.sign(m) != np.sign(d)}
    hz = ", ".join(f"{f:g}" for f in exp["frequency_hz"] if f not in SJOSTROM_FITTED_HZ)
    close_row = within(f"cascade Sjostrom check points ({hz} Hz): within 0.25 (>= {need_close} of {n})",
                       SRC_SJOSTROM, need_close, n, close, note="not fitted", kind=HELD)
    return [
        within(f"cascade Sjostrom check points ({hz} Hz): right sign (>= {need_sign} of {n})", SRC_SJOSTROM,
               need_sign, n, signs, note="not fitted; wrong sign: " + (_describe(wrong) or "none"), kind=HELD),
        known_miss(close_row, set(far) == DOC_SJOSTROM_FAR,
                   f"{close} of {n} within 0.25 (outside: {_describe(far)}); the model's LTP rises with "
                   "frequency more steeply than the data: calcium from successive pairs 50-100 ms apart "
                   "summates and the cooperative C1 responds to the sum. The 10-point acceptance (>= 7 of "
                   "10) is met only because all 4 fitted points are close"),
    ]


def bcm_checks():
    """LTD below and LTP above a crossover at rest (no parameter was chosen on the BCM protocol:
    held-out), the crossover against Dudek & Bear's ~10 Hz, and the sliding threshold: a lower
    crossover after a low-activity history than after a high one (Kirkwood et al. 1996)."""
    exp = protocols.experimental_data()["bcm"]
    base, low, high = cascade_bcm(), cascade_bcm(exp["low_history_rate_hz"]), cascade_bcm(exp["high_history_rate_hz"])
    f = np.array([r["frequency_hz"] for r in base["rows"]])
    dw = np.array([r["dw"] for r in base["rows"]])
    x = base["crossover_hz"]
    curve = ", ".join(f"{a:g} Hz {b:+.2f}" for a, b in zip(f, dw))
    head = f"cascade BCM ({BCM_SET}, {exp['pulses']} pulses at rest, default history): "
    wrong = int(((dw >= 0) & (f < x)).sum() + ((dw <= 0) & (f > x)).sum()) if x is not None else len(f)
    lo, hi = exp["crossover_range_hz"]
    xs = x if x is not None else float("nan")
    cross = within(head + f"crossover frequency (Dudek & Bear ~{exp['published_crossover_hz']:g} Hz)", SRC_BCM,
                   lo, hi, xs, " Hz", note=f"not fitted; {curve}", kind=HELD)
    cross = known_miss(cross, x is not None and DOC_BCM_CROSSOVER_HZ[0] <= x <= DOC_BCM_CROSSOVER_HZ[1],
                       f"crossover at {xs:.1f} Hz, LTD deepest at 10-20 Hz: with 6 mV compound EPSPs the calcium "
                       "of a train reaches the kinase's (C1) range only when pulses come less than ~25 ms apart "
                       "(NMDA binding saturates per release, calcium clears in 30 ms), while 5-20 Hz trains "
                       "keep it in the phosphatase's (C2) range. The protocol's EPSP was not fitted to this row")
    hist = lambda c: f"{c['history']['rate_hz']:g} Hz (NMDA gain {c['history']['nmda_gain']:.2f}): " + (
        "no crossover" if c["crossover_hz"] is None else f"{c['crossover_hz']:.1f} Hz")
    slides = low["crossover_hz"] is not None and high["crossover_hz"] is not None \
        and low["crossover_hz"] < high["crossover_hz"]
    return [
        count(head + "frequencies on the wrong side of the crossover (LTD below, LTP above)", SRC_BCM, 0, wrong, 0,
              note=f"crossover {xs:.1f} Hz; {curve}", kind=HELD),
        cross,
        count(f"cascade BCM ({BCM_SET}): crossover lower after a low-activity history than after a high-activity "
              "one (1 = yes)", SRC_BCM, 1, int(slides), 0,
              note=f"crossover after {exp['history_s']:g} s at {hist(low)}; at {hist(high)}", kind=HELD),
    ]


def bound_checks():
    """Every shipped cascade set's largest spine bAP (fully boosted) within the cited bound; the
    sets themselves refuse values above it (cascade.check_bounds), so these rows state the margin."""
    rows = []
    for name in cascade.preset_names():
        p = cascade.load_params(name)
        b = cascade.bap_report(p)
        rows.append(within(f"cascade {name} set: largest spine bAP, {p.bap_amplitude_mV:g} mV x (1 + boost gain "
                           f"{p.boost_gain:g}), at most the cited bound", SRC_BOUND, -inf, b["bound_mV"],
                           b["max_mV"], " mV", note="a bound, not a fit", kind=CONS))
    return rows


def _seeds_label(seeds) -> str:
    seeds = list(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"seeds {seeds[0]}-{seeds[-1]}"
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))


def _pcts(values) -> str:
    return ", ".join("n/a" if v is None else f"{v:+.1%}" for v in values)


# The grid's documented misses (docs/plasticity-cascade.md section 3): per (criterion, S), the seeds
# that fail it over the default grid. A row is excused only while exactly these seeds fail, on the
# default grid (seeds 0-4, K = 8, 15 s, default steady state); any other failure is a plain FAIL.
DOC_OD_MISSES = {("deprived_first", 50): {2}, ("deprived_first", 200): {1}}
OD_MISS_WHY = {
    "settled": "these seeds still drift at the 300 s cap; deprivation starts there and the binocular control removes "
               "the drift",
    "deprived_below_control": "the deprived eye ends at or above its binocular control in these seeds (under the 15 s "
                              "protocol without the homeostat's delay the homeostat, acting from the onset, kept it "
                              "up in 13 of 15 points)",
    "open_above_control": "under lid suture the neuron nearly stops firing: without bAPs the open eye's volleys find "
                          "no pairing to potentiate",
    "deprived_first": "the deprived eye's difference from its control reaches half its final value later (S = 50 "
                      "seed 2: 36 s, S = 200 seed 1: 47 s) than the open eye's (34 s, 39 s). At S = 50 the open "
                      "eye rises from 9 s on (the metaplastic gain), before the homeostat starts at 20 s; at S = 200 "
                      "the deprived eye is 2% below its control by 21 s, but a drop over the last 12 s doubles its "
                      "final value and so moves its half-time late (benchmarks/od_course.py)",
    "no_boost_rate_matched": "in these seeds the neuron is silent under lid suture (no bAP reaches any spine), so "
                             "there is no boosted shift for specificity to explain (ratio inf)",
    "homeostasis_control": "the open eye rises as much with the threshold fixed",
}
OD_MISS_WHY["uniform_bap"] = OD_MISS_WHY["no_boost_rate_matched"]
OD_ISSUE12_SIZES, OD_ISSUE12_SEEDS = (50, 200), range(5)    # where the variant's other values were chosen


def od_kind(synapses: int, seeds) -> str:
    """Calibration where issue 12 chose the network variant's metaplasticity and contrast (S = 50
    and 200, seeds 0-4: the same neurons' inputs), held-out elsewhere."""
    return CAL if synapses in OD_ISSUE12_SIZES and set(seeds) & set(OD_ISSUE12_SEEDS) else HELD


def ocular_dominance_rows(synapses: int, seeds=OD_SEEDS, neurons=OD_NEURONS, deprivation_s=OD_DEPRIVATION_S,
                          steady: od.SteadyState = od.SteadyState()) -> list:
    """The OD rows of one S over ``seeds``: each counts the seeds that meet a criterion of issue
    23's acceptance (all must), and the seed paper's claim (synapse-specific boosting needed)
    from the two specificity controls' shift ratios (worst seed). The steady state and the rate
    match are consistency rows; the rest calibration or held-out (od_kind)."""
    kind = od_kind(synapses, seeds)
    runs = [od_experiment(synapses, neurons, seed, deprivation_s, steady) for seed in seeds]
    n = len(runs)
    every = f" in all {n} seeds" if n > 1 else ""
    head = (f"cascade OD, S = {synapses}/eye, K = {neurons}, {_seeds_label(seeds)}, from steady state, "
            f"{deprivation_s:g} s: ")
    c = lambda r, name: r["controls"][name]
    crit = lambda key: sum(bool(r["criteria"][key]) for r in runs)
    rows = [
        count(head + "binocular phase settled (|drift| <= bound)" + every, SRC_OD, n,
              sum(r["steady_state"]["settled"] for r in runs), 0,
              note="binocular s / drift per s: " + ", ".join(
                  f"{r['steady_state']['binocular_s']:g}/{r['steady_state']['drift_per_s']:+.1e}" for r in runs)
                   + f"; bound {steady.drift_per_s:g}/s over {steady.window_s:g} s"),
        count(head + "deprived eye below the binocular control with lid suture" + every, SRC_OD_MD, n,
              crit("deprived_below_control"), 0,
              note="lid suture minus control, deprived eye: " + _pcts(c(r, "lid_suture")["deprived_vs_control"]
                                                                    for r in runs)),
        count(head + "deprived eye falls more with lid suture than with TTX" + every, SRC_OD_TTX, n,
              crit("suture_deeper_than_ttx"), 0,
              note="deprived-eye change, lid suture / TTX: " + ", ".join(
                  f"{c(r, 'lid_suture')['deprived_change']:+.1%}/{c(r, 'ttx')['deprived_change']:+.1%}" for r in runs)),
        count(head + "open eye above the binocular control" + every, SRC_OD_MD, n, crit("open_above_control"), 0,
              note="lid suture minus control, open eye: " + _pcts(c(r, "lid_suture")["open_vs_control"] for r in runs)),
        count(head + "deprived eye's fall (vs control) reaches half before the open eye's rise" + every, SRC_OD_MD,
              n, crit("deprived_first"), 0,
              note="half-times deprived/open (s after MD onset): " + ", ".join(
                  f"{c(r, 'lid_suture')['deprived_half_time_s']}/{c(r, 'lid_suture')['open_half_time_s']}"
                  for r in runs)),
        count(head + f"raising the sutured eye's residual rate to {OD_HIGH_SUTURED_HZ:g} Hz deepens its depression"
              + every, SRC_OD_TTX, n, crit("higher_suture_rate_deepens"), 0,
              note="deprived eye minus control at " + " / ".join(
                  f"{x['sutured_rate_hz']:g}" for x in runs[0]["sutured_rate_sweep"]) + " Hz: " + ", ".join(
                  "/".join(f"{x['deprived_vs_control']:+.1%}" for x in r["sutured_rate_sweep"]) for r in runs)),
        count(head + "(a) no-boost control's rate matched to the boosted run's" + every, SRC_OD_SEED, n,
              sum(c(r, "no_boost_rate_matched")["rate_search"]["matched"] for r in runs), 0,
              note="EPSP scale, rate / target Hz: " + ", ".join(
                  f"x{c(r, 'no_boost_rate_matched')['rate_search']['epsp_scale']:.2f}, "
                  f"{c(r, 'no_boost_rate_matched')['post_rate_hz']:.2f}/"
                  f"{c(r, 'no_boost_rate_matched')['rate_search']['target_hz']:.2f}" for r in runs)),
    ]
    if all("no_homeostasis" in r["controls"] for r in runs):
        gain = lambda r: c(r, "lid_suture")["open_vs_control"] - c(r, "no_homeostasis")["open_vs_control"]
        rows.append(count(head + "homeostasis control: the open eye rises more against its control with the "
                                 "homeostatic threshold than with it fixed" + every, SRC_OD_HOMEO, n,
                          sum(gain(r) > 0 for r in runs), 0,
                          note="open eye vs control, homeostasis / threshold fixed (each against its own "
                               "binocular control): " + ", ".join(
                              f"{c(r, 'lid_suture')['open_vs_control']:+.1%}/"
                              f"{c(r, 'no_homeostasis')['open_vs_control']:+.1%}" for r in runs)))
    for name, label in (("no_boost_rate_matched", "(a) no boost, rate matched"),
                        ("uniform_bap", "(b) uniform bAP of the mean amplitude")):
        ratios = [r["criteria"]["specificity_ratio"][name] for r in runs]
        worst = max(ratios)
        rows.append(within(head + f"seed's claim: shift without specificity, {label}, over the boosted shift "
                                  f"(both against their own binocular control) <= {SPECIFICITY_RATIO_MAX:g}"
                           + (" (worst seed)" if n > 1 else ""), SRC_OD_SEED, -inf, SPECIFICITY_RATIO_MAX, worst,
                           note="shift vs control, boosted / without specificity: " + ", ".join(
                               f"{c(r, 'lid_suture')['shift_vs_control']:+.1%}/{c(r, name)['shift_vs_control']:+.1%}"
                               for r in runs) + "; a seed whose boosted shift is not positive counts as inf"))
    peaks = [c(r, name)["bap_max_mV"] for r in runs for name in r["controls"] if c(r, name)["bap_max_mV"] is not None]
    bound = cascade.bounds()["bap"]["max_amplitude_mV"]
    rows.append(within(head + "largest spine bAP measured in any of the runs, at most the cited bound", SRC_BOUND,
                       -inf, bound, max(peaks, default=0.0), " mV",
                       note="measured at the spines (bap_at_spines), every condition and control"))
    # the protocol against itself or a bound, not a published figure
    consistency = ("binocular phase settled", "control's rate matched", "largest spine bAP", "homeostasis control")
    rows = [replace(r, kind=CONS if any(w in r.name for w in consistency) else kind) for r in rows]
    # documented misses: exactly the seeds docs/plasticity-cascade.md names fail, on the default grid
    default = (tuple(seeds) == OD_SEEDS and neurons == OD_NEURONS and deprivation_s == OD_DEPRIVATION_S
               and steady == od.SteadyState())
    failing = {"settled": {sd for sd, r in zip(seeds, runs) if not r["steady_state"]["settled"]}}
    for key in ("deprived_below_control", "open_above_control", "deprived_first"):
        failing[key] = {sd for sd, r in zip(seeds, runs) if not r["criteria"][key]}
    for key in ("no_boost_rate_matched", "uniform_bap"):
        failing[key] = {sd for sd, r in zip(seeds, runs)
                        if not r["criteria"]["specificity_ratio"][key] <= SPECIFICITY_RATIO_MAX}
    failing["homeostasis_control"] = {sd for sd, r in zip(seeds, runs) if "no_homeostasis" in r["controls"] and not
                                      c(r, "lid_suture")["open_vs_control"] > c(r, "no_homeostasis")["open_vs_control"]}
    row_key = {"binocular phase settled": "settled", "deprived eye below": "deprived_below_control",
               "open eye above": "open_above_control", "reaches half before": "deprived_first",
               "(a) no boost, rate matched": "no_boost_rate_matched", "(b) uniform bAP": "uniform_bap",
               "homeostasis control": "homeostasis_control"}
    out = []
    for r in rows:
        criterion = next((k for phrase, k in row_key.items() if phrase in r.name), None)
        if criterion is None or r.passed:
            out.append(r)
            continue
        documented = default and failing[criterion] == DOC_OD_MISSES.get((criterion, synapses))
        out.append(known_miss(r, documented, f"seeds {', '.join(map(str, sorted(failing[criterion])))}: "
                                             + OD_MISS_WHY[criterion]))
    return out


def ocular_dominance_checks(seeds=OD_SEEDS, synapses=OD_SYNAPSES, neurons=OD_NEURONS, deprivation_s=OD_DEPRIVATION_S,
                            steady: od.SteadyState = od.SteadyState()):
    """The OD rows for every S in ``synapses`` (tests pass a smaller grid; `lolpim validate` runs this one)."""
    return [row for s in synapses for row in ocular_dominance_rows(s, seeds, neurons, deprivation_s, steady)]


def graupner_brunel_checks():
    out = []
    for n_pairs in (60, 30):
        t_min, t_max = gb_extrema(n_pairs)
        out.append(within(f"Graupner-Brunel DP, {n_pairs} pairs: delta-t of the LTD minimum (near -25 ms)",
                          SRC_GB, -28.0, -22.0, t_min, " ms", note="published parameters, unchanged", kind=HELD))
        out.append(within(f"Graupner-Brunel DP, {n_pairs} pairs: delta-t of the LTP maximum (near +5 ms)",
                          SRC_GB, 2.0, 8.0, t_max, " ms", note="published parameters, unchanged", kind=HELD))
    p = gb.load_params("DP")
    analytic = protocols.gb_stdp(p, [0.0055], 60)[0]
    simulated = protocols.gb_stdp_simulated(p, [0.0055], 60, n_synapses=4000, seed=0)[0]
    out.append(AnchorCheck(AREA, "Graupner-Brunel DP: event-driven stochastic run vs the paper's analytic "
                                 "readout at +5.5 ms (4000 synapses)", SRC_GB, analytic, simulated, 0.03,
                           ErrorKind.ABSOLUTE, "", "consistency of the exact integrator", CONS))
    same_sign, close = sjostrom_scores(protocols.gb_frequency(gb.load_params("cortical-slices"), SJOSTROM_HZ))
    out.append(within("Graupner-Brunel cortical-slices set vs Sjostrom: points with the right sign",
                      SRC_SJOSTROM, 8, 10, same_sign, note=f"{close} of 10 within 0.25", kind=HELD))
    return out


def checks() -> list[AnchorCheck]:
    return (bound_checks() + pairing_checks() + stdp_checks() + sjostrom_checks() + bcm_checks()
            + ocular_dominance_checks() + graupner_brunel_checks())
