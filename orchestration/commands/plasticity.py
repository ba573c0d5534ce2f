"""`lolpim plasticity PROTOCOL`: run an induction protocol on the cascade or Graupner-Brunel synapse.

    pairing            voltage-clamp sweep (cascade only: Graupner-Brunel has no voltage)
    stdp               delta-t sweep of pre-post pairs
    frequency          Sjostrom protocol, +10 and -10 ms pairs against pairing frequency
    ocular-dominance   binocular phase to a steady state, then from that state monocular deprivation
                       (lid suture) and its controls: binocular, TTX, and two that remove the
                       specificity of bAP boosting (cascade only): K neurons x 2 eyes x S synapses
                       as block actors on the inline or Ray executor
                       (orchestration/plasticity/ocular_dominance.py, od_controls.py)
Writes plasticity_<protocol>.csv/.json/.png under --out; --json prints the result on stdout.
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from lolpim.core.errors import UserError
from lolpim.models.plasticity import cascade, graupner_brunel
from lolpim.models.plasticity import protocols as pr
from lolpim.orchestration.plasticity import ocular_dominance

MAX_PAIRS = 100_000     # ~100 conditions x 2 events x 16 bytes per pair: 320 MB of schedule at the cap
MIN_FREQUENCY_HZ = 0.01    # a 100 s period: slower pairing is no protocol, and its simulated time grows without bound
MAX_FREQUENCY_HZ = 1000.0  # a 1 ms period, twice the cascade's finest step (0.5 ms)
PROTOCOLS = ("pairing", "stdp", "frequency", "ocular-dominance")
DEFAULT_SETS = {("cascade", "pairing"): "hippocampal", ("cascade", "stdp"): "hippocampal",
                ("cascade", "frequency"): "cortical", ("cascade", "ocular-dominance"): "hippocampal",
                ("graupner-brunel", "stdp"): "DP", ("graupner-brunel", "frequency"): "cortical-slices"}


def _params(args):
    if (args.model, args.protocol) not in DEFAULT_SETS:
        raise UserError(f"protocol '{args.protocol}' needs the cascade model "
                        f"(Graupner-Brunel has no membrane voltage or bAP boosting)")
    name = args.params or DEFAULT_SETS[(args.model, args.protocol)]
    if args.model == "cascade":
        return cascade.load_params(name, bap_boosting=not args.no_boost)
    return graupner_brunel.load_params(name)


def run_protocol(args) -> dict:
    """The protocol's result as plain data: rows for the CSV plus the experimental comparison."""
    params = _params(args)
    data = pr.experimental_data()
    out = {"protocol": args.protocol, "model": args.model, "params": params.to_dict()}
    is_cascade = args.model == "cascade"
    if args.protocol == "pairing":
        v_hold = np.arange(-75.0, 0.1, 2.5)
        dw = pr.cascade_pairing(params, v_hold, n_pulses=args.pairs or 100, frequency_hz=args.frequency or 1.0)
        out["columns"] = ["v_hold_mV", "dw"]
        out["rows"] = [[float(v), float(d)] for v, d in zip(v_hold, dw)]
        out["experiment"] = data["pairing"]
    elif args.protocol == "stdp":
        n_pairs, freq = args.pairs or 60, args.frequency or 1.0
        delta = np.arange(-100.0, 100.1, 2.0 if is_cascade else 0.5) * 1e-3
        delta = delta[delta != 0]
        dw = pr.cascade_stdp(params, delta, n_pairs, freq) if is_cascade else pr.gb_stdp(params, delta, n_pairs, freq)
        out["columns"] = ["delta_t_ms", "dw"]
        out["rows"] = [[float(d * 1e3), float(w)] for d, w in zip(delta, dw)]
        out["experiment"] = data["stdp"]
    elif args.protocol == "frequency":
        freqs = [0.1, 1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0] if args.frequency is None else [args.frequency]
        table = pr.cascade_frequency(params, freqs) if is_cascade else pr.gb_frequency(params, freqs)
        out["columns"] = ["frequency_hz", "dw_plus_10ms", "dw_minus_10ms"]
        out["rows"] = [[f, float(a), float(b)] for f, (a, b) in zip(freqs, table)]
        out["experiment"] = data["frequency"]
        out["comparison"] = sjostrom_comparison(out["rows"], data["frequency"])
    else:
        out = ocular_dominance.run_ocular_dominance(args, params, out)
    return out


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
    with open(f"{stem}.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(result["columns"])
        writer.writerows(result["rows"])
    Path(f"{stem}.json").write_text(json.dumps(result, indent=1))
    plot(result, Path(f"{stem}.png"))
    return [Path(f"{stem}.{ext}") for ext in ("csv", "json", "png")]


def plot(result: dict, path: Path) -> None:
    if result["protocol"] == "ocular-dominance":
        return ocular_dominance.plot(result, path)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(args) -> int:
    if args.pairs is not None and not 1 <= args.pairs <= MAX_PAIRS:
        raise UserError(f"--pairs must be in 1..{MAX_PAIRS:,} (the schedule holds every pair of every condition "
                        f"in memory), got {args.pairs}")
    if args.frequency is not None and not MIN_FREQUENCY_HZ <= args.frequency <= MAX_FREQUENCY_HZ:
        raise UserError(f"--frequency must be in {MIN_FREQUENCY_HZ:g}..{MAX_FREQUENCY_HZ:g} Hz, got {args.frequency:g}")
    check_protocol_flags(args)
    if args.protocol != "ocular-dominance":
        ocular_dominance.check_not_given(args)
    result = run_protocol(args)
    files = write_outputs(result, Path(args.out)) if args.out else []
    if args.json:
        print(json.dumps(result))
    else:
        print(summary_text(result))
        for f in files:
            print(f"wrote {f}")
    return 0


def summary_text(result: dict) -> str:
    if result["protocol"] == "ocular-dominance":
        return ocular_dominance.summary_text(result)
    lines = [f"{result['protocol']} on {result['model']} ({result['params'].get('name')})",
             "  " + "  ".join(result["columns"])]
    rows = result["rows"]
    step = max(1, len(rows) // 20)
    for r in rows[::step]:
        lines.append("  " + "  ".join(f"{v:9.3f}" for v in r))
    for c in result.get("comparison", []):
        lines.append(f"  Sjostrom {c['frequency_hz']:>5} Hz {c['delta_t']}: model {c['model']:+.2f} "
                     f"vs {c['experiment']:+.2f}  sign {'ok' if c['same_sign'] else 'WRONG'}, "
                     f"{'within' if c['within_tolerance'] else 'outside'} 0.25")
    return "\n".join(lines)


# per protocol: its one-line help, and the --pairs / --frequency help with that protocol's default
PROTOCOL_HELP = {
    "pairing": "voltage-clamp sweep of the holding potential, -75..0 mV (cascade only)",
    "stdp": "delta-t sweep of pre-post pairs, -100..+100 ms",
    "frequency": "Sjostrom protocol: +10 and -10 ms pairs against pairing frequency",
    "ocular-dominance": "binocular phase to a steady state, then monocular deprivation with its controls "
                        "from that state (binocular, TTX, lid suture, no-boost rate-matched, uniform bAP): a "
                        "network of block actors (cascade only)",
}
PAIRS_HELP = {"pairing": "presynaptic pulses under clamp (default 100)", "stdp": "pre-post pairs per delta t (default 60)"}
FREQUENCY_HELP = {"pairing": "pulse frequency in Hz (default 1)", "stdp": "pairing frequency in Hz (default 1)",
                  "frequency": "one pairing frequency in Hz (default: the sweep 0.1, 1, 5, 10, 20, 30, 40, 50 Hz)"}
PARAMS_DEFAULT = {protocol: ", ".join(f"{name} ({model})" for (model, pr), name in DEFAULT_SETS.items() if pr == protocol)
                  for protocol in PROTOCOLS}
# flags that some protocols do not take: hidden there, and an error when given (not ignored)
NOT_FOR = {"pairs": ("--pairs", ("pairing", "stdp")), "frequency": ("--frequency", ("pairing", "stdp", "frequency")),
           "no_boost": ("--no-boost", ("pairing", "stdp", "frequency")), "seed": ("--seed", ("ocular-dominance",))}


class _Hidden:
    """Adds arguments with their help suppressed: a protocol that does not take a flag still parses
    it, so `run` can name the protocols it belongs to instead of argparse's bare 'unrecognized'."""

    def __init__(self, parser):
        self.parser = parser

    def add_argument(self, *names, **kwargs):
        kwargs["help"] = argparse.SUPPRESS
        return self.parser.add_argument(*names, **kwargs)


def check_protocol_flags(args) -> None:
    for dest, (flag, protocols) in NOT_FOR.items():
        if args.protocol not in protocols and getattr(args, dest, None) not in (None, False):
            names = protocols[0] if len(protocols) == 1 else f"{', '.join(protocols[:-1])} and {protocols[-1]}"
            extra = (" (ocular-dominance runs boosted, with its no-boost controls from the same state)"
                     if dest == "no_boost" else "")
            raise UserError(f"{flag} applies to the {names} protocol{'s' if len(protocols) > 1 else ''} only, "
                            f"not '{args.protocol}'{extra}")


def register(sub) -> None:
    p = sub.add_parser("plasticity", help="synaptic plasticity protocols (calcium cascade, Graupner-Brunel)",
                       description="Run an induction protocol on the calcium-cascade or Graupner-Brunel "
                                   "synapse. `lolpim plasticity PROTOCOL --help` lists the protocol's options "
                                   "and their defaults.")
    protocols = p.add_subparsers(dest="protocol", metavar="PROTOCOL", required=True)
    for protocol in PROTOCOLS:
        q = protocols.add_parser(protocol, help=PROTOCOL_HELP[protocol], description=PROTOCOL_HELP[protocol],
                                 formatter_class=ocular_dominance.HelpFormatter)
        od = protocol == "ocular-dominance"
        only_cascade = protocol in ("pairing", "ocular-dominance")
        q.add_argument("--model", choices=("cascade", "graupner-brunel"), default="cascade",
                       help="synapse model (default cascade" + ("; this protocol needs it)" if only_cascade else ")"))
        q.add_argument("--params", help=f"parameter set (default {PARAMS_DEFAULT[protocol]}; cascade: hippocampal, "
                                        "cortical; Graupner-Brunel: DP, DPD, hippocampal-slices, "
                                        "hippocampal-cultures, cortical-slices)")
        target = q if protocol in NOT_FOR["pairs"][1] else _Hidden(q)
        target.add_argument("--pairs", type=int, help=PAIRS_HELP.get(protocol))
        target = q if protocol in NOT_FOR["frequency"][1] else _Hidden(q)
        target.add_argument("--frequency", type=float, help=FREQUENCY_HELP.get(protocol))
        (_Hidden(q) if od else q).add_argument(
            "--no-boost", action="store_true", help="cascade: switch synapse-specific bAP boosting off")
        (q if od else _Hidden(q)).add_argument("--seed", type=int, default=0 if od else None,
                                               help="seed of the input trains (default 0)")
        ocular_dominance.add_flags(q if od else _Hidden(q))
        q.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
        q.add_argument("--out", metavar="DIR",
                       help=f"write plasticity_{protocol.replace('-', '_')}.csv, .json and .png here")
        q.set_defaults(func=run)
