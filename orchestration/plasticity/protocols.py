"""The plasticity protocols as runs: a typed config in (orchestration/learning_config.py), the
result as plain data out, its text summary, CSV/JSON/PNG files and plots.

    pairing            voltage-clamp sweep (cascade only: Graupner-Brunel has no voltage)
    stdp               delta-t sweep of pre-post pairs
    frequency          Sjostrom protocol, +10 and -10 ms pairs against pairing frequency
    bcm                900 presynaptic pulses at 1-100 Hz at rest after a history of postsynaptic
                       activity: LTD/LTP against frequency and the crossover (cascade only)
    ocular-dominance   binocular phase to a steady state, then from that state monocular deprivation
                       (lid suture) and its controls (orchestration/plasticity/ocular_dominance.py)

`lolpim plasticity PROTOCOL` (orchestration/commands/plasticity.py) and the Python API
(orchestration/api_learning.py) both run them through ``run_protocol``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lolpim.core.errors import UserError
from lolpim.models.plasticity import cascade, graupner_brunel
from lolpim.models.plasticity import protocols as pr
from lolpim.models.plasticity.ocular_dominance import load_variant
from lolpim.orchestration.learning_config import PROTOCOL_RUNS
from lolpim.orchestration.plasticity import ocular_dominance
from lolpim.orchestration.results import save_figure, write_table_csv, write_text

PROTOCOLS = tuple(PROTOCOL_RUNS)
DEFAULT_SETS = {("cascade", "pairing"): "hippocampal", ("cascade", "stdp"): "hippocampal",
                ("cascade", "frequency"): "cortical", ("cascade", "bcm"): "cortical",
                ("cascade", "ocular-dominance"): "cortical",
                ("graupner-brunel", "stdp"): "DP", ("graupner-brunel", "frequency"): "cortical-slices"}
# why each protocol's default set (stated in its output and in docs/plasticity-cascade.md)
SET_REASONS = {
    ("cascade", "pairing"): "CA1 slices (the Shouval-style voltage-clamp pairing curve): the hippocampal set",
    ("cascade", "stdp"): "hippocampal cultures (Bi & Poo 1998): the hippocampal set",
    ("cascade", "frequency"): "rat visual cortex L5 pairs (Sjostrom et al. 2001): the cortical set",
    ("cascade", "bcm"): "visual cortex (Kirkwood, Rioult & Bear 1996), the cortex whose ocular dominance the "
                        "network models: the cortical set",
    ("cascade", "ocular-dominance"): "visual cortex L2/3-L5 (monocular deprivation: Frenkel & Bear 2004; lid suture "
                                     "vs TTX: Rittenhouse et al. 1999): the cortical set",
}


def protocol_of(config) -> str:
    """The protocol a run config is for ('stdp' for a StdpRun, ...)."""
    return next(name for name, cls in PROTOCOL_RUNS.items() if isinstance(config, cls))


def _params(config, protocol: str):
    if (config.model, protocol) not in DEFAULT_SETS:
        raise UserError(f"protocol '{protocol}' needs the cascade model "
                        f"(Graupner-Brunel has no membrane voltage or bAP boosting)")
    name = config.params or DEFAULT_SETS[(config.model, protocol)]
    if config.model == "cascade":
        return cascade.load_params(name, bap_boosting=not getattr(config, "no_boost", False))
    return graupner_brunel.load_params(name)


def run_protocol(config, show_progress: bool | None = None) -> dict:
    """The protocol's result as plain data: rows for the CSV plus the experimental comparison.
    ``config`` is one of the runs of orchestration/learning_config.py (PROTOCOL_RUNS)."""
    protocol = protocol_of(config)
    params = _params(config, protocol)
    data = pr.experimental_data()
    out = {"protocol": protocol, "model": config.model, "params": params.to_dict()}
    is_cascade = config.model == "cascade"
    if is_cascade:
        default = DEFAULT_SETS[(config.model, protocol)]
        out["param_set"] = {"name": params.name, "why": SET_REASONS[(config.model, protocol)]
                            if params.name == default else f"chosen with --params (default {default})"}
        out["bap"] = cascade.bap_report(params)
    if protocol == "pairing":
        v_hold = np.arange(-75.0, 0.1, 2.5)
        dw = pr.cascade_pairing(params, v_hold, n_pulses=config.pairs, frequency_hz=config.frequency_hz)
        out["columns"] = ["v_hold_mV", "dw"]
        out["rows"] = [[float(v), float(d)] for v, d in zip(v_hold, dw)]
        out["experiment"] = data["pairing"]
    elif protocol == "stdp":
        n_pairs, freq = config.pairs, config.frequency_hz
        delta = np.arange(-100.0, 100.1, 2.0 if is_cascade else 0.5) * 1e-3
        delta = delta[delta != 0]
        dw = pr.cascade_stdp(params, delta, n_pairs, freq) if is_cascade else pr.gb_stdp(params, delta, n_pairs, freq)
        out["columns"] = ["delta_t_ms", "dw"]
        out["rows"] = [[float(d * 1e3), float(w)] for d, w in zip(delta, dw)]
        out["experiment"] = data["stdp"]
    elif protocol == "frequency":
        freqs = [0.1, 1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0] if config.frequency_hz is None else [config.frequency_hz]
        table = pr.cascade_frequency(params, freqs) if is_cascade else pr.gb_frequency(params, freqs)
        out["columns"] = ["frequency_hz", "dw_plus_10ms", "dw_minus_10ms"]
        out["rows"] = [[f, float(a), float(b)] for f, (a, b) in zip(freqs, table)]
        out["experiment"] = data["frequency"]
        out["comparison"] = sjostrom_comparison(out["rows"], data["frequency"])
    elif protocol == "bcm":
        out.update(run_bcm(params, data["bcm"], config.history_rate_hz, config.history_s))
    else:
        out = ocular_dominance.run_ocular_dominance(config, params, out, show_progress)
    return out


def run_bcm(params, exp: dict, rate_hz, history_s) -> dict:
    """The requested history's curve, plus a low- and a high-activity history for comparison."""
    rate_hz = load_variant("network").meta.target_hz if rate_hz is None else rate_hz
    history_s = exp["history_s"] if history_s is None else history_s
    main = pr.bcm_curve(params, exp, rate_hz, history_s)
    others = [pr.bcm_curve(params, exp, r, exp["history_s"]) for r in (exp["low_history_rate_hz"],
                                                                        exp["high_history_rate_hz"])]
    return {"columns": ["frequency_hz", "dw"], **main, "stimulus_epsp_mV": exp["stimulus_epsp_mV"],
            "pulses": exp["pulses"], "meta_tau_s": exp["meta_tau_s"], "experiment": exp,
            "other_histories": others}


def sjostrom_comparison(rows, exp) -> list[dict]:
    """Model vs experiment at the five published frequencies (only those present in rows)."""
    model = {r[0]: (r[1], r[2]) for r in rows}
    out = []
    for i, f in enumerate(exp["frequency_hz"]):
        if f not in model:
            continue
        for j, (label, values) in enumerate((("+10ms", exp["dw_plus_10ms"]), ("-10ms", exp["dw_minus_10ms"]))):
            sim = model[f][j]
            out.append({"frequency_hz": f, "delta_t": label, "experiment": values[i], "model": sim,
                        "same_sign": bool((sim > 0) == (values[i] > 0)),
                        "within_tolerance": bool(abs(sim - values[i]) <= exp["close_tolerance"])})
    return out


def write_outputs(result: dict, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"plasticity_{result['protocol'].replace('-', '_')}"
    rows = [[r[c] for c in result["columns"]] if isinstance(r, dict) else r for r in result["rows"]]
    write_table_csv(f"{stem}.csv", result["columns"], rows)
    write_text(f"{stem}.json", json.dumps(result, indent=1))
    plot(result, Path(f"{stem}.png"))
    return [Path(f"{stem}.{ext}") for ext in ("csv", "json", "png")]


def plot(result: dict, path: Path) -> None:
    if result["protocol"] == "ocular-dominance":
        return ocular_dominance.plot(result, path)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if result["protocol"] == "bcm":
        return plot_bcm(result, path)
    rows = np.array(result["rows"], dtype=float)
    exp = result.get("experiment", {})
    name = f"{result['model']} ({result['params'].get('name', '')})"
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.axhline(0, color="0.6", lw=0.8)
    protocol = result["protocol"]
    if protocol == "pairing":
        ax.plot(rows[:, 0], 100 * rows[:, 1], "o-", ms=3, label=name)
        ax.axvspan(*exp["trough_range_mV"], color="tab:blue", alpha=0.12, label="expected LTD trough (Shouval 2002)")
        ax.axvspan(exp["potentiation_from_mV"], rows[-1, 0], color="tab:red", alpha=0.08, label="expected LTP")
        ax.errorbar([exp["no_change_at_mV"]], [0], yerr=[100 * exp["no_change_tolerance"]], fmt="ks",
                    capsize=4, label="no change near rest")
        ax.set_xlabel("holding potential V_h (mV)")
        ax.set_title("Pairing: 100 presynaptic pulses at 1 Hz under voltage clamp")
    elif protocol == "stdp":
        ax.plot(rows[:, 0], 100 * rows[:, 1], "-", lw=2, label=name)
        t = np.linspace(0.5, 100, 200)
        a_plus, a_minus = np.mean(exp["peak_ltp_range"]), np.mean(exp["peak_ltd_range"])
        ax.plot(t, 100 * a_plus * np.exp(-t / exp["tau_plus_ms"]), "k--", lw=1,
                label=f"Bi & Poo 1998 fit shape (tau+ {exp['tau_plus_ms']} ms, tau- {exp['tau_minus_ms']} ms)")
        ax.plot(-t, 100 * a_minus * np.exp(-t / exp["tau_minus_ms"]), "k--", lw=1)
        ax.errorbar([exp["peak_ltp_near_ms"]], [100 * a_plus], yerr=[100 * (exp["peak_ltp_range"][1] - a_plus)],
                    fmt="ks", capsize=4, label="published peak ranges")
        ax.errorbar([-exp["peak_ltp_near_ms"]], [100 * a_minus], yerr=[100 * (exp["peak_ltd_range"][1] - a_minus)],
                    fmt="ks", capsize=4)
        ax.set_xlabel("delta t = t_post - t_pre (ms)")
        ax.set_title("STDP: pre-post pairs")
    elif protocol == "frequency":
        ax.plot(rows[:, 0], 100 * rows[:, 1], "o-", color="tab:red", label=f"{name}, +10 ms")
        ax.plot(rows[:, 0], 100 * rows[:, 2], "o-", color="tab:blue", label=f"{name}, -10 ms")
        ax.plot(exp["frequency_hz"], 100 * np.array(exp["dw_plus_10ms"]), "s", mfc="none", mec="tab:red",
                ms=9, mew=2, label="Sjostrom 2001, +10 ms")
        ax.plot(exp["frequency_hz"], 100 * np.array(exp["dw_minus_10ms"]), "s", mfc="none", mec="tab:blue",
                ms=9, mew=2, label="Sjostrom 2001, -10 ms")
        ax.set_xlabel("pairing frequency (Hz)")
        ax.set_title("Frequency dependence: 5 pairs per burst, 15 bursts 10 s apart")
    ax.set_ylabel("weight change (%)")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def plot_bcm(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.axhline(0, color="0.6", lw=0.8)
    curves = [(result, "k", 2.2)] + [(o, c, 1.2) for o, c in zip(result["other_histories"], ("tab:blue", "tab:red"))]
    for curve, color, lw in curves:
        f = [r["frequency_hz"] for r in curve["rows"]]
        dw = [100 * r["dw"] for r in curve["rows"]]
        h, x = curve["history"], curve["crossover_hz"]
        label = (f"history {h['rate_hz']:g} Hz for {h['s']:g} s (NMDA gain {h['nmda_gain']:.2f}): crossover "
                 + (f"{x:.1f} Hz" if x is not None else "none"))
        ax.plot(f, dw, "o-", color=color, lw=lw, ms=4, label=label)
        if x is not None:
            ax.axvline(x, color=color, ls=":", lw=1)
    exp = result["experiment"]
    ax.axvline(exp["published_crossover_hz"], color="0.4", ls="--", lw=1,
               label=f"Dudek & Bear 1992 crossover (~{exp['published_crossover_hz']:g} Hz)")
    ax.set_xscale("log")
    ax.set_xlabel("stimulation frequency (Hz), 900 pulses at rest")
    ax.set_ylabel("weight change (%)")
    ax.set_title(f"BCM protocol, {result['model']} ({result['params'].get('name', '')}), "
                 f"compound EPSP {result['stimulus_epsp_mV']:g} mV")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def summary_text(result: dict) -> str:
    if result["protocol"] == "ocular-dominance":
        return ocular_dominance.summary_text(result)
    lines = [f"{result['protocol']} on {result['model']} ({result['params'].get('name')})"]
    if "param_set" in result:
        lines.append(f"  parameter set: {result['param_set']['name']} ({result['param_set']['why']})")
        b = result["bap"]
        lines.append(f"  spine bAP: {b['unboosted_mV']:g} mV unboosted, up to {b['max_mV']:.1f} mV "
                     f"(bound {b['bound_mV']:g} mV)")
    if result["protocol"] == "bcm":
        for curve in [result] + result["other_histories"]:
            h, x = curve["history"], curve["crossover_hz"]
            lines.append(f"  history {h['rate_hz']:g} Hz for {h['s']:g} s (trace {h['trace_hz']:.3g} Hz, NMDA gain "
                         f"{h['nmda_gain']:.3f}): " + "  ".join(f"{r['frequency_hz']:g} Hz {r['dw']:+.2f}"
                                                              for r in curve["rows"])
                         + f"; crossover {'none' if x is None else f'{x:.1f} Hz'}")
        return "\n".join(lines)
    lines.append("  " + "  ".join(result["columns"]))
    rows = result["rows"]
    step = max(1, len(rows) // 20)
    for r in rows[::step]:
        lines.append("  " + "  ".join(f"{v:9.3f}" for v in r))
    for c in result.get("comparison", []):
        lines.append(f"  Sjostrom {c['frequency_hz']:>5} Hz {c['delta_t']}: model {c['model']:+.2f} "
                     f"vs {c['experiment']:+.2f}  sign {'ok' if c['same_sign'] else 'WRONG'}, "
                     f"{'within' if c['within_tolerance'] else 'outside'} 0.25")
    return "\n".join(lines)
