"""`lolpim plasticity ocular-dominance`: the block-actor network (actors/plasticity/ocular_dominance.py) run twice,
bAP boosting on and off, on the inline or the Ray executor; summary, text table and plot.

    K neurons (--neurons), S cascade synapses per eye and neuron (--synapses), in B blocks of
    neurons (--blocks; results do not depend on B). With --executor ray each block runs in its own
    Ray process (the system lists a block's three actors together, so RayExecutor(max_processes=B)
    keeps a block's messages in-process).
"""
from __future__ import annotations

import argparse
import math
import re
import sys
import time
from dataclasses import fields, replace
from math import gcd
from pathlib import Path

import numpy as np
from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.actors.kernel.ray_executor import (  # imports Ray: only for --executor ray
    RayExecutor,
    ensure_ray,
)
from lolpim.actors.plasticity.ocular_dominance import (
    ocular_dominance_system,
    summarise_run,
    timing_ps,
)
from lolpim.core.errors import UserError
from lolpim.models.plasticity import ocular_dominance as od
from lolpim.orchestration.memory import check_fits
from lolpim.orchestration.progress import Progress
from lolpim.orchestration.results import json_safe, save_figure

MAX_SIMULATED_S = 3600.0        # one simulated hour: about 5 min at K x S = 1 x 10 here
# With Ray every process also packs a snapshot of its state at each checkpoint, and the driver
# keeps the last one of every process: about three copies of the state at the peak.
RAY_COPIES = 3
CHECKPOINT_SIM_S = 5.0           # one Ray checkpoint per this much simulated time
WINDOW_S = 0.2                   # Ray window when no message crosses processes (one block each)
MAX_AUTO_SAMPLES = 10_000       # a default interval shortened to the phase boundaries stops here
MAX_SAMPLES = 100_000           # each sample synchronises every synapse
PHASE_FLAGS = (("binocular_s", "--binocular-s"), ("deprivation_s", "--deprivation-s"),
               ("recovery_s", "--recovery-s"))


def config_default(name: str):
    """A default of OcularDominanceConfig (the CLI does not repeat them)."""
    return next(f.default for f in fields(od.OcularDominanceConfig) if f.name == name)


# -- checks -------------------------------------------------------------------------------------


def state_bytes(neurons: int, synapses: int) -> int:
    """Synapse and bAP state of one run (the two runs follow each other)."""
    return od.BYTES_PER_SYNAPSE * 2 * neurons * synapses + od.BYTES_PER_NEURON * neurons


def check_args(args) -> dict:
    """Flag values -> the run's settings; a bad one is a UserError naming the flag (exit 2)."""
    k = config_default("neurons") if args.neurons is None else args.neurons
    s = config_default("synapses_per_eye") if args.synapses is None else args.synapses
    if k < 1:
        raise UserError(f"--neurons must be an integer >= 1, got {k}")
    if s < 1:
        raise UserError(f"--synapses must be an integer >= 1 (synapses per eye and neuron), got {s}")
    durations = {}
    for field_name, flag in PHASE_FLAGS:
        value = getattr(args, field_name)
        value = config_default(field_name) if value is None else value
        if not (math.isfinite(value) and value >= 0):
            raise UserError(f"{flag} must be a finite number of seconds >= 0, got {value}")
        durations[field_name] = float(value)
    if sum(durations.values()) > MAX_SIMULATED_S:
        raise UserError(f"--binocular-s + --deprivation-s + --recovery-s must be at most {MAX_SIMULATED_S:g} s "
                        f"(1,000 ticks per simulated second; the inputs are drawn per neuron for the whole run), "
                        f"got {sum(durations.values()):g}")
    if durations["deprivation_s"] <= 0:
        raise UserError(f"--deprivation-s must be > 0 (the summary measures the shift over the deprivation "
                        f"phase), got {durations['deprivation_s']}")
    if args.sample_s is not None and not (math.isfinite(args.sample_s) and args.sample_s > 0):
        raise UserError(f"--sample-s must be a finite number of seconds > 0, got {args.sample_s}")
    if args.sample_s is not None:
        total = sum(durations.values())
        if args.sample_s > durations["deprivation_s"]:
            raise UserError(f"--sample-s must be at most --deprivation-s ({durations['deprivation_s']:g} s), "
                            f"got {args.sample_s:g}")
        if total / args.sample_s > MAX_SAMPLES:
            raise UserError(f"--sample-s must be >= {total / MAX_SAMPLES:.3g} s (at most {MAX_SAMPLES} samples "
                            f"over {total:g} s), got {args.sample_s:g}")
    executor = args.executor or "inline"
    if executor == "inline":
        if args.processes is not None:
            raise UserError("--processes needs --executor ray (the inline executor is one process)")
        if args.address is not None:
            raise UserError("--address needs --executor ray")
        processes = 1
    else:
        processes = 2 if args.processes is None else args.processes
        if processes < 1:
            raise UserError(f"--processes must be an integer >= 1, got {processes}")
    if args.blocks is None:
        blocks = min(processes, k)
    else:
        blocks = args.blocks
        if not 1 <= blocks <= k:
            raise UserError(f"--blocks must be an integer in 1..{k} (the neurons), got {blocks}")
    requested = processes if executor == "ray" else None
    if executor == "ray":
        processes = min(processes, blocks)   # a process with no whole block would only split one
    need = state_bytes(k, s) * (RAY_COPIES if executor == "ray" and not args.address else 1)
    ray_copies = f", x{RAY_COPIES} for Ray checkpoints" if executor == "ray" and not args.address else ""
    check_fits(need, f"--neurons {k} x --synapses {s}",
               f"synapse state: {od.BYTES_PER_SYNAPSE} B x 2 eyes x {k} x {s} synapses{ray_copies}",
               "use fewer neurons or synapses")
    return {"neurons": k, "synapses": s, "executor": executor, "processes": processes, "blocks": blocks,
            "processes_requested": requested, "durations": durations, "state_bytes": need, "sample_s": args.sample_s}


OD_ONLY = ("neurons", "synapses", "executor", "processes", "address", "blocks", "binocular_s", "deprivation_s",
           "recovery_s", "sample_s")


def check_not_given(args) -> None:
    """Ocular-dominance flags on another protocol are a mistake, not something to ignore."""
    given = [name for name in OD_ONLY if getattr(args, name) is not None]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise UserError(f"{flag} applies to the ocular-dominance protocol only, not '{args.protocol}'")


def sample_interval(durations: dict, requested: float | None) -> float:
    """The requested interval, else the config default shortened (if need be) so every phase
    boundary is a sample: the phase changes are read at the samples."""
    if requested is not None:
        return float(requested)
    default = config_default("sample_interval_s")
    step = round(default * 1e6)                       # microseconds
    for value in durations.values():
        step = gcd(step, round(value * 1e6))
    total = sum(durations.values())
    if step <= 0 or total / (step * 1e-6) > MAX_AUTO_SAMPLES:
        return default
    return step * 1e-6


# -- the runs -----------------------------------------------------------------------------------


def _executor(settings: dict, address, checkpoint_every: int, progress):
    if settings["executor"] == "inline":
        return InlineExecutor(progress=progress, progress_every_events=2000)
    try:
        ensure_ray(address)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        if address is None:
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"--address {address}: could not join a Ray cluster ({first})") from exc
    return RayExecutor(address=address, max_processes=settings["processes"], checkpoint_every=checkpoint_every,
                       progress=progress, keep_processes=True, max_window_ps=round(WINDOW_S * 1e12))


def run_ocular_dominance(args, params, out: dict) -> dict:
    """Fill ``out`` (protocol, model, params already there) with the two runs."""
    settings = check_args(args)
    if args.variant not in od.variant_names():
        raise UserError(f"--variant must be one of {', '.join(od.variant_names())}, got '{args.variant}'")
    variant = od.load_variant(args.variant)
    cfg = od.OcularDominanceConfig(neurons=settings["neurons"], synapses_per_eye=settings["synapses"],
                                   contrast_spread=variant.contrast_spread,
                                   sample_interval_s=sample_interval(settings["durations"], settings["sample_s"]),
                                   **settings["durations"])
    # windows are one tick long when blocks share processes, WINDOW_S when each has its own
    window_ps = timing_ps(variant)[0] if settings["blocks"] % max(settings["processes"], 1) else round(WINDOW_S * 1e12)
    checkpoint_every = max(1, round(CHECKPOINT_SIM_S * 1e12 / window_ps))
    duration = cfg.duration_s()
    show = args.progress or (not args.json and sys.stderr.isatty())
    bar = Progress("ocular dominance", total=2 * duration, enabled=show, delay_s=2.0)
    labels = (("boost_on", True), ("boost_off", False))
    state = {"run": 0, "label": labels[0][0]}

    def progress(t_ps, _events):
        bar.update(state["run"] * duration + t_ps * 1e-12, state["label"].replace("_", " "))

    executor = _executor(settings, args.address, checkpoint_every, progress)
    runs, walls, processes = {}, {}, settings["processes"]
    try:
        for i, (label, boosting) in enumerate(labels):
            state.update(run=i, label=label)
            p = replace(params, bap_boosting=boosting)
            system = ocular_dominance_system(p, cfg, variant.name, args.seed, settings["blocks"])
            t0 = time.perf_counter()
            result = executor.run(system)
            walls[label] = time.perf_counter() - t0
            processes = result.stats.get("processes", processes)
            runs[label] = summarise_run(result.results, cfg)
            runs[label]["deprivation"] = od.deprivation_shift(runs[label])
    finally:
        bar.close()
        if hasattr(executor, "close"):
            executor.close()

    on, off = runs["boost_on"], runs["boost_off"]
    crit = od.criteria(on["deprivation"], off["deprivation"])
    wall = sum(walls.values())
    n_syn = 2 * cfg.neurons * cfg.synapses_per_eye
    steps_equiv = 2 * n_syn * duration / 1e-4            # both runs at dt = 0.1 ms
    summary = {}
    for label in ("boost_on", "boost_off"):
        d = runs[label]["deprivation"]
        summary[label] = {**d, "integration_steps": runs[label]["integration_steps"],
                          "synapse_events": runs[label]["synapse_events"], "wall_s": walls[label]}
    summary.update({
        "shift_ratio_off_on": crit["shift_ratio_off_on"],
        **{k: v for k, v in crit.items() if k != "shift_ratio_off_on"},
        "variant": variant.name, "neurons": cfg.neurons, "synapses_per_eye": cfg.synapses_per_eye,
        "blocks": settings["blocks"], "executor": settings["executor"], "processes": processes,
        "processes_requested": settings["processes_requested"],
        "seed": args.seed, "simulated_s": duration, "wall_s": wall,
        "synapse_steps_per_s": steps_equiv / wall if wall > 0 else None,
        "state_bytes_estimate": settings["state_bytes"],
    })

    bands = [f"w_{eye}_{q}" for eye in od.EYES for q in ("p10", "p90")]
    out["config"] = cfg.to_dict()
    out["variant"] = {"name": variant.name, "description": variant.description}
    out["columns"] = (["time_s", "w_left_boost_on", "w_right_boost_on", "w_left_boost_off", "w_right_boost_off"]
                      + [f"{b}_{label}" for label, _ in labels for b in bands])
    series = [on["time_s"], on["w_left"], on["w_right"], off["w_left"], off["w_right"]]
    series += [runs[label][b] for label, _ in labels for b in bands]
    out["rows"] = [list(r) for r in zip(*series)]
    out["runs"] = {k: {"phases": v["phases"], "deprivation": v["deprivation"],
                       "integration_steps": v["integration_steps"], "synapse_events": v["synapse_events"]}
                   for k, v in runs.items()}
    out["summary"] = summary
    return json_safe(out)   # inf/nan (a shift ratio over a zero shift) become null


# -- reporting ----------------------------------------------------------------------------------


def _pct(x) -> str:
    return "     n/a" if x is None else f"{100 * x:+7.2f}%"


def _num(x, fmt) -> str:
    return "n/a" if x is None else format(x, fmt)


def _plural(n: int, word: str, many: str) -> str:
    return f"{n} {word if n == 1 else many}"


def summary_text(result: dict) -> str:
    s = result["summary"]
    where = f"{_plural(s['processes'], 'process', 'processes')}, {_plural(s['blocks'], 'block', 'blocks')}"
    if s.get("processes_requested") not in (None, s["processes"]):
        where += f"; --processes {s['processes_requested']} capped at one per block"
    lines = [f"ocular dominance, variant '{s['variant']}': {_plural(s['neurons'], 'neuron', 'neurons')} x "
             f"{s['synapses_per_eye']} synapses per eye, seed {s['seed']}, {s['executor']} executor ({where}), "
             f"cascade '{result['params'].get('name')}'",
             "",
             "  mean weight change per phase (left eye deprived)",
             f"  {'phase':<12} {'s':>11}  {'boost on: left':>14} {'right':>8} {'post Hz':>7}"
             f"  {'boost off: left':>15} {'right':>8} {'post Hz':>7}"]
    on, off = result["runs"]["boost_on"]["phases"], result["runs"]["boost_off"]["phases"]
    for a, b in zip(on, off):
        lines.append(f"  {a['name']:<12} {a['start_s']:5g}-{a['end_s']:<5g}  {_pct(a['dw_left']):>14} "
                     f"{_pct(a['dw_right']):>8} {a['post_rate_hz']:7.2f}  {_pct(b['dw_left']):>15} "
                     f"{_pct(b['dw_right']):>8} {b['post_rate_hz']:7.2f}")
    lines.append("")
    for label in ("boost_on", "boost_off"):
        d = s[label]
        lines.append(f"  {label.replace('_', ' '):<9}  deprivation: deprived {_pct(d['deprived_change'])}, "
                     f"open {_pct(d['open_change'])}, shift {_pct(d['shift'])}; half-time deprived "
                     f"{_num(d['deprived_half_time_s'], 'g')} s, open {_num(d['open_half_time_s'], 'g')} s")
    lines.append(f"  shift ratio off/on: {_num(s['shift_ratio_off_on'], '.3f')}")
    lines.append("  criteria: " + ", ".join(
        f"{name.replace('_', ' ')} {'PASS' if s[name] else 'FAIL'}"
        for name in ("deprived_falls", "open_rises", "deprived_first", "boosting_needed")))
    lines.append(f"  wall {s['wall_s']:.2f} s for {2 * s['simulated_s']:g} s simulated (two runs), "
                 f"{_num(s['synapse_steps_per_s'], '.3g')} synapse-steps/s (dt = 0.1 ms equivalent)")
    return "\n".join(lines)


PHASE_COLOURS = {"binocular": "0.92", "deprivation": "#fde2c8", "recovery": "#d9ecd0"}


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = {c: i for i, c in enumerate(result["columns"])}
    rows = np.array([[np.nan if v is None else v for v in r] for r in result["rows"]], dtype=float)
    t = rows[:, cols["time_s"]]
    s = result["summary"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), sharey=True)
    eyes = (("left", "left eye (deprived)", "tab:blue"), ("right", "right eye (open)", "tab:red"))
    for ax, label, title in zip(axes, ("boost_on", "boost_off"), ("bAP boosting on", "bAP boosting off")):
        for eye, name, colour in eyes:
            mean = rows[:, cols[f"w_{eye}_{label}"]]
            ax.plot(t, mean, color=colour, lw=2, label=f"{name}, mean")
            p10, p90 = f"w_{eye}_p10_{label}", f"w_{eye}_p90_{label}"
            if s["neurons"] > 1 and p10 in cols:
                ax.fill_between(t, rows[:, cols[p10]], rows[:, cols[p90]], color=colour, alpha=0.2, lw=0,
                                label=f"{name}, p10-p90 of neurons")
        ax.axhline(1.0, color="0.5", lw=0.8, ls=":")
        d = s[label]
        ax.set_title(f"{title}: shift {100 * d['shift']:+.1f}%, post {d['post_rate_hz']:.2f} Hz", fontsize=10)
        ax.set_xlabel("time (s)")
        ax.set_xlim(t[0], t[-1])
    lo, hi = axes[0].get_ylim()
    pad = 0.12 * (hi - lo)
    for ax, label in zip(axes, ("boost_on", "boost_off")):
        ax.set_ylim(lo, hi + pad)
        for phase in result["runs"][label]["phases"]:
            ax.axvspan(phase["start_s"], phase["end_s"], color=PHASE_COLOURS.get(phase["name"], "0.9"), zorder=0)
            ax.text((phase["start_s"] + phase["end_s"]) / 2, hi + 0.6 * pad, phase["name"], ha="center",
                    va="center", fontsize=9, color="0.25")
    axes[0].set_ylabel("mean synaptic weight (1 = initial)")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=8, frameon=False)
    fig.suptitle(f"Ocular dominance: K = {s['neurons']} neurons, S = {s['synapses_per_eye']} synapses per eye, "
                 f"variant '{s['variant']}', seed {s['seed']}", fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    save_figure(fig, path, dpi=120)
    plt.close(fig)


class HelpFormatter(argparse.HelpFormatter):
    """Fills "{od:FIELD}" in help texts with OcularDominanceConfig's default when help is shown."""

    def _get_help_string(self, action):
        text = super()._get_help_string(action) or ""
        return re.sub(r"\{od:(\w+)\}", lambda m: f"{config_default(m.group(1)):g}", text)


def add_flags(p) -> None:
    p.add_argument("--neurons", type=int, default=None, help="ocular dominance: neurons K (default {od:neurons})")
    p.add_argument("--synapses", type=int, default=None,
                   help="ocular dominance: synapses per eye and neuron S (default {od:synapses_per_eye})")
    p.add_argument("--variant", default="network",
                   help="ocular dominance: model variant from models/plasticity/presets/ocular_dominance.toml "
                        "(seed, network; default network)")
    p.add_argument("--executor", choices=("inline", "ray"), default=None,
                   help="ocular dominance: inline (one process, default) or ray")
    p.add_argument("--processes", type=int, default=None,
                   help="ocular dominance with --executor ray: Ray processes, one block of neurons each (default 2)")
    p.add_argument("--address", default=None,
                   help="ocular dominance with --executor ray: join an existing Ray cluster (e.g. 'auto' or "
                        "'ray://head:10001'); default: an embedded local Ray")
    p.add_argument("--blocks", type=int, default=None,
                   help="ocular dominance: blocks of neurons, 1..K (default: --processes with ray, 1 inline; "
                        "the results do not depend on it)")
    p.add_argument("--binocular-s", type=float, default=None,
                   help="ocular dominance: binocular phase in s (default {od:binocular_s})")
    p.add_argument("--deprivation-s", type=float, default=None,
                   help="ocular dominance: left-eye deprivation in s, > 0 (default {od:deprivation_s})")
    p.add_argument("--recovery-s", type=float, default=None,
                   help="ocular dominance: recovery with both eyes open in s (default {od:recovery_s})")
    p.add_argument("--sample-s", type=float, default=None,
                   help="ocular dominance: weight sample interval in s (default {od:sample_interval_s}, "
                        "shortened to fall on every phase boundary)")
    p.add_argument("--progress", action="store_true",
                   help="ocular dominance: show the progress bar on stderr even when it is not a terminal")
