"""Plasticity anchors (ANCHORS.md section 5): the cascade reconstruction against the pairing curve,
Bi & Poo STDP, the Sjostrom frequency table and ocular dominance; Graupner-Brunel DP against its
published STDP curve.

Calibrated (fitted) vs checked: the hippocampal cascade set was calibrated on the pairing curve
and on the STDP peak sizes; the cortical set's two differing fields on the Sjostrom 0.1 Hz and
50 Hz rows. Not fitted: STDP window widths, the Sjostrom 10/20/40 Hz rows, ocular dominance and
everything about Graupner-Brunel (published parameters used as they are).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..validation import AnchorCheck

AREA = "plasticity"
SRC_PAIRING = "ANCHORS 5: Shouval 2002-style pairing, 100 pulses at 1 Hz"
SRC_STDP = "ANCHORS 5: Bi & Poo 1998, 60 pairs at 1 Hz"
SRC_SJOSTROM = "ANCHORS 5: Sjostrom, Turrigiano & Nelson 2001 table"
SRC_OD = "ANCHORS 5: Frenkel & Bear 2004 (monocular deprivation)"
SRC_GB = "ANCHORS 5: Graupner & Brunel 2012 Fig. 2 (DP set)"


def within(name, source, lo, hi, simulated, unit="", note=""):
    """A check that ``simulated`` lies in [lo, hi] (a 'bound' check centred on the interval)."""
    return AnchorCheck(AREA, name, source, (lo + hi) / 2, float(simulated), (hi - lo) / 2, "bound", unit, note)


def count(name, source, expected, simulated, allowed_shortfall, note=""):
    return AnchorCheck(AREA, name, source, float(expected), float(simulated), float(allowed_shortfall),
                       "absolute", "", note)


# -- the simulations, computed once per process -------------------------------------------------

PAIRING_V_MV = np.arange(-75.0, 0.1, 2.5)
STDP_DT_MS = np.array([d for d in np.arange(-100.0, 100.1, 2.5) if d != 0])
SJOSTROM_HZ = [0.1, 10.0, 20.0, 40.0, 50.0]


@lru_cache(maxsize=None)
def cascade_pairing():
    from lolpim.models.plasticity import cascade, protocols
    return protocols.cascade_pairing(cascade.load_params("hippocampal"), PAIRING_V_MV)


@lru_cache(maxsize=None)
def cascade_stdp():
    from lolpim.models.plasticity import cascade, protocols
    return protocols.cascade_stdp(cascade.load_params("hippocampal"), STDP_DT_MS * 1e-3)


@lru_cache(maxsize=None)
def cascade_sjostrom():
    from lolpim.models.plasticity import cascade, protocols
    return protocols.cascade_frequency(cascade.load_params("cortical"), SJOSTROM_HZ)


@lru_cache(maxsize=None)
def ocular_dominance(boosting: bool):
    from lolpim.models.plasticity import cascade
    from lolpim.models.plasticity import ocular_dominance as od
    summary = od.run_ocular_dominance(cascade.load_params("hippocampal", bap_boosting=boosting),
                                      od.OcularDominanceConfig(), seed=0)
    return od.deprivation_shift(summary)


def sjostrom_scores(table):
    from lolpim.models.plasticity import protocols
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
    from lolpim.models.plasticity import graupner_brunel as gb
    from lolpim.models.plasticity import protocols
    dt = np.arange(-100.0, 100.01, 0.5)
    dw = protocols.gb_stdp(gb.load_params("DP"), dt * 1e-3, n_pairs=n_pairs)
    return float(dt[np.argmin(dw)]), float(dt[np.argmax(dw)])


# -- the checks ---------------------------------------------------------------------------------


def pairing_checks():
    dw = cascade_pairing()
    v = PAIRING_V_MV
    rest = float(dw[v == -65.0][0])
    return [
        within("cascade pairing: |dw| at V_h = -65 mV (no change near rest)", SRC_PAIRING, -0.05, 0.05, rest),
        within("cascade pairing: V_h of the depression trough", SRC_PAIRING, -55.0, -40.0, v[np.argmin(dw)], " mV"),
        within("cascade pairing: dw at the trough is a depression", SRC_PAIRING, -1.0, 0.0, dw.min()),
        count("cascade pairing: V_h >= -30 mV points without potentiation", SRC_PAIRING, 0,
              int((dw[v >= -30.0] <= 0).sum()), 0),
    ]


def stdp_checks():
    dw, dt = cascade_stdp(), STDP_DT_MS
    ltp_side, ltd_side = (dt > 0) & (dt <= 20), (dt < 0) & (dt >= -20)
    tau_plus, tau_minus = decay_width_ms(dt, dw, +1), decay_width_ms(dt, dw, -1)
    return [
        count("cascade STDP: points in (0, +20] ms without LTP", SRC_STDP, 0, int((dw[ltp_side] <= 0).sum()), 0),
        count("cascade STDP: points in [-20, 0) ms without LTD", SRC_STDP, 0, int((dw[ltd_side] >= 0).sum()), 0),
        within("cascade STDP: peak LTP (+80..+100%)", SRC_STDP, 0.8, 1.0, dw.max()),
        within("cascade STDP: delta-t of peak LTP (near +5 ms)", SRC_STDP, 0.0, 10.0, dt[np.argmax(dw)], " ms"),
        within("cascade STDP: peak LTD (-30..-50%)", SRC_STDP, -0.5, -0.3, dw.min()),
        within("cascade STDP: LTP width / LTD width (< 1: LTP side narrower)", SRC_STDP, 0.0, 1.0,
               tau_plus / tau_minus, note=f"1/e widths {tau_plus:.1f} ms and {tau_minus:.1f} ms"),
        AnchorCheck(AREA, "cascade STDP: LTP 1/e width vs tau+ of the exponential fit", SRC_STDP, 16.8,
                    tau_plus, 0.5, "relative", " ms", "not fitted"),
        AnchorCheck(AREA, "cascade STDP: LTD 1/e width vs tau- of the exponential fit", SRC_STDP, 33.7,
                    tau_minus, 0.5, "relative", " ms", "not fitted"),
    ]


def sjostrom_checks():
    same_sign, close = sjostrom_scores(cascade_sjostrom())
    note = "cortical set fitted on the 0.1 and 50 Hz rows; 10/20/40 Hz are checks"
    return [
        within("cascade Sjostrom table: points with the right sign (>= 8 of 10)", SRC_SJOSTROM, 8, 10, same_sign,
               note=note),
        within("cascade Sjostrom table: points within 0.25 (>= 7 of 10)", SRC_SJOSTROM, 7, 10, close, note=note),
    ]


def ocular_dominance_checks():
    on, off = ocular_dominance(True), ocular_dominance(False)
    return [
        within("cascade OD: deprived-eye weight change under MD (falls)", SRC_OD, -1.0, 0.0, on["dw_deprived"]),
        within("cascade OD: open-eye weight change under MD (rises or holds, >= -2%)", SRC_OD, -0.02, 1.0,
               on["dw_open"]),
        within("cascade OD: shift with bAP boosting off / on (<= 0.5)", SRC_OD, -1.0, 0.5,
               off["shift"] / on["shift"], note=f"shift on {on['shift']:+.3f}, off {off['shift']:+.3f}"),
    ]


def graupner_brunel_checks():
    from lolpim.models.plasticity import graupner_brunel as gb
    from lolpim.models.plasticity import protocols
    out = []
    for n_pairs in (60, 30):
        t_min, t_max = gb_extrema(n_pairs)
        out.append(within(f"Graupner-Brunel DP, {n_pairs} pairs: delta-t of the LTD minimum (near -25 ms)",
                          SRC_GB, -28.0, -22.0, t_min, " ms"))
        out.append(within(f"Graupner-Brunel DP, {n_pairs} pairs: delta-t of the LTP maximum (near +5 ms)",
                          SRC_GB, 2.0, 8.0, t_max, " ms"))
    p = gb.load_params("DP")
    analytic = protocols.gb_stdp(p, [0.0055], 60)[0]
    simulated = protocols.gb_stdp_simulated(p, [0.0055], 60, n_synapses=4000, seed=0)[0]
    out.append(AnchorCheck(AREA, "Graupner-Brunel DP: event-driven stochastic run vs the paper's analytic "
                                 "readout at +5.5 ms (4000 synapses)", SRC_GB, analytic, simulated, 0.03,
                           "absolute", "", "consistency of the exact integrator"))
    same_sign, close = sjostrom_scores(protocols.gb_frequency(gb.load_params("cortical-slices"), SJOSTROM_HZ))
    out.append(within("Graupner-Brunel cortical-slices set vs Sjostrom: points with the right sign",
                      SRC_SJOSTROM, 8, 10, same_sign, note=f"{close} of 10 within 0.25"))
    return out


def checks() -> list[AnchorCheck]:
    return (pairing_checks() + stdp_checks() + sjostrom_checks() + ocular_dominance_checks()
            + graupner_brunel_checks())
