"""`lolpim plasticity ocular-dominance`: the block-actor network (actors/plasticity/ocular_dominance.py) from a
steady binocular state, with its controls from the same state (orchestration/plasticity/od_controls.py:
non-deprived, TTX, lid suture, and the two specificity controls), on the inline or the Ray
executor; summary, text table and plot.

    K neurons (--neurons), S cascade synapses per eye and neuron (--synapses), in B blocks of
    neurons (--blocks; results do not depend on B). With --executor ray each block runs in its own
    Ray process (the system lists a block's three actors together, so RayExecutor(max_processes=B)
    keeps a block's messages in-process).
"""
from __future__ import annotations

import sys
import time
from dataclasses import fields, replace
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np
from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.actors.kernel.ray_executor import (  # imports Ray: only for --executor ray
    RayExecutor,
    ensure_ray,
)
from lolpim.actors.plasticity.ocular_dominance import timing_ps
from lolpim.core.errors import UserError
from lolpim.models.plasticity import ocular_dominance as od
from lolpim.orchestration.learning_config import STEADY, OcularDominanceRun
from lolpim.orchestration.memory import check_fits
from lolpim.orchestration.plasticity import od_controls as oc
from lolpim.orchestration.progress import Progress
from lolpim.orchestration.results import json_safe, save_figure

# With Ray every process also packs a snapshot of its state at each checkpoint, and the driver
# keeps the last one of every process: about three copies of the state at the peak.
RAY_COPIES = 3
# The driver keeps the steady binocular state (every actor's packed snapshot) while the controls
# run from it, and each run returns its final state once: two more copies, inline or Ray.
STATE_COPIES = 2
CHECKPOINT_SIM_S = 5.0           # one Ray checkpoint per this much simulated time
WINDOW_S = 0.2                   # Ray window when no message crosses processes (one block each)
MAX_AUTO_SAMPLES = 10_000       # a default interval shortened to the phase boundaries stops here


def config_default(name: str):
    """A default of OcularDominanceConfig (the CLI does not repeat them)."""
    return next(f.default for f in fields(od.OcularDominanceConfig) if f.name == name)


# -- checks -------------------------------------------------------------------------------------


def state_bytes(neurons: int, synapses: int) -> int:
    """Synapse and bAP state of one run (the runs follow each other)."""
    return od.BYTES_PER_SYNAPSE * 2 * neurons * synapses + od.BYTES_PER_NEURON * neurons


def plan(config: OcularDominanceRun) -> dict:
    """A checked run config -> the run's settings: executor, processes and blocks resolved, and
    the memory the synapse state needs checked against this machine (a UserError naming the
    flags, exit 2, before anything is allocated). Ranges and combinations of the values were
    checked when the config was built (orchestration/learning_config.py)."""
    k, s, executor = config.neurons, config.synapses, config.executor
    durations = {"binocular_s": config.binocular_s, "deprivation_s": float(config.deprivation_s),
                 "recovery_s": float(config.recovery_s)}   # binocular None: until settled (od.SteadyState)
    processes = 1 if executor == "inline" else 2 if config.processes is None else config.processes
    blocks = min(processes, k) if config.blocks is None else config.blocks
    requested = processes if executor == "ray" else None
    if executor == "ray":
        processes = min(processes, blocks)   # a process with no whole block would only split one
    copies = STATE_COPIES + (RAY_COPIES if executor == "ray" and not config.address else 1)
    need = state_bytes(k, s) * copies
    ray_copies = f", x{copies}: the kept steady state, a run's final state"
    if executor == "ray" and not config.address:
        ray_copies += ", Ray checkpoints"
    check_fits(need, f"--neurons {k} x --synapses {s}",
               f"synapse state: {od.BYTES_PER_SYNAPSE} B x 2 eyes x {k} x {s} synapses{ray_copies}",
               "use fewer neurons or synapses")
    return {"neurons": k, "synapses": s, "executor": executor, "processes": processes, "blocks": blocks,
            "processes_requested": requested, "durations": durations, "state_bytes": need,
            "sample_s": config.sample_s, "sutured_rate_hz": float(config.sutured_rate_hz)}


def sample_interval(durations: dict, requested: float | None) -> float:
    """The requested interval, else the config default shortened (if need be) so every phase
    boundary is a sample: the phase changes are read at the samples."""
    if requested is not None:
        return float(requested)
    default = config_default("sample_interval_s")
    step = round(default * 1e6)                       # microseconds
    values = [v for v in durations.values() if v is not None]
    if durations.get("binocular_s", 0.0) is None:
        values.append(STEADY.check_s)                 # the settling segments end on a sample
    for value in values:
        step = gcd(step, round(value * 1e6))
    total = sum(values)
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


def run_ocular_dominance(config: OcularDominanceRun, params, out: dict, show_progress: bool | None = None) -> dict:
    """Fill ``out`` (protocol, model, params already there) with the experiment (od_controls).
    ``show_progress`` None: when asked (``config.progress``) or stderr is a terminal."""
    settings = plan(config)
    variant = od.load_variant(config.variant)
    durations = settings["durations"]
    fixed = durations["binocular_s"]
    cfg = od.OcularDominanceConfig(neurons=settings["neurons"], synapses_per_eye=settings["synapses"],
                                   contrast_spread=variant.contrast_spread,
                                   sample_interval_s=sample_interval(durations, settings["sample_s"]),
                                   binocular_s=fixed if fixed is not None else STEADY.check_s,
                                   deprivation_s=durations["deprivation_s"], recovery_s=durations["recovery_s"],
                                   sutured_rate_hz=settings["sutured_rate_hz"])
    # windows are one tick long when blocks share processes, WINDOW_S when each has its own
    window_ps = timing_ps(variant)[0] if settings["blocks"] % max(settings["processes"], 1) else round(WINDOW_S * 1e12)
    checkpoint_every = max(1, round(CHECKPOINT_SIM_S * 1e12 / window_ps))
    show = config.progress or (sys.stderr.isatty() if show_progress is None else show_progress)
    bar = Progress("ocular dominance", total=None, unit="s simulated", enabled=show, delay_s=2.0)
    state: dict[str, Any] = {"done": 0.0, "label": "binocular phase", "start": 0.0, "length": 0.0}

    def on_run(label, start_s, end_s):
        state.update(done=state["done"] + state["length"], label=label, start=start_s, length=end_s - start_s)

    def progress(t_ps, _events):
        bar.update(state["done"] + max(t_ps * 1e-12 - state["start"], 0.0), state["label"])

    executor = _executor(settings, config.address, checkpoint_every, progress)
    runner = oc.Runner(executor, params, variant.name, config.seed, settings["blocks"], on_run)
    t0 = time.perf_counter()
    try:
        result = oc.experiment(runner, cfg, STEADY, fixed)
    finally:
        bar.close()
        if hasattr(executor, "close"):
            executor.close()
    wall = time.perf_counter() - t0

    summary = result["summary"]
    n_syn = 2 * cfg.neurons * cfg.synapses_per_eye
    steps_equiv = n_syn * runner.simulated_s / 1e-4            # every run at dt = 0.1 ms
    summary.update({
        "variant": variant.name, "neurons": cfg.neurons, "synapses_per_eye": cfg.synapses_per_eye,
        "sutured_rate_hz": cfg.sutured_rate_hz, "deprivation_s": cfg.deprivation_s,
        "blocks": settings["blocks"], "executor": settings["executor"],
        "processes": runner.processes or settings["processes"],
        "processes_requested": settings["processes_requested"], "seed": config.seed,
        "runs": len(runner.walls), "simulated_s": runner.simulated_s, "wall_s": wall,
        "integration_steps": runner.integration_steps, "synapse_events": runner.synapse_events,
        "synapse_steps_per_s": steps_equiv / wall if wall > 0 else None,
        "state_bytes_estimate": settings["state_bytes"],
    })
    out["config"] = replace(cfg, binocular_s=summary["steady_state"]["binocular_s"], start_s=0.0).to_dict()
    out["variant"] = {"name": variant.name, "description": variant.description}
    out["columns"], out["rows"] = series_table(result)
    out["runs"] = {name: {"phases": run["phases"]} for name, run in result["runs"].items()}
    out["summary"] = summary
    return json_safe(out)   # inf/nan (a ratio over a zero shift) become null


SERIES = ("binocular", "ttx", "lid_suture", "no_boost_rate_matched", "no_boost_rate_matched_binocular",
          "uniform_bap", "uniform_bap_binocular", "no_homeostasis", "no_homeostasis_binocular")


def series_table(result: dict) -> tuple[list, list]:
    """One row per sample time over the whole protocol: the binocular phase ("steady" columns, up
    to its end) and each run of the deprivation interval (from the shared state on); None where
    a series has no sample."""
    steady = result["steady"]["series"]
    named = [("steady", steady)] + [(name, result["runs"][name]["series"]) for name in SERIES
                                    if name in result["runs"]]     # no_homeostasis: variants with it
    times = sorted({round(t, 9) for _, ser in named for t in ser["time_s"]})
    columns = ["time_s"]
    cells = []
    for name, ser in named:
        index = {round(t, 9): i for i, t in enumerate(ser["time_s"])}
        keys = [f"w_{eye}{q}" for eye in od.EYES for q in ("", "_p10", "_p90")] \
            if name in ("steady", "binocular", "lid_suture") else [f"w_{eye}" for eye in od.EYES]
        for key in keys:
            columns.append(f"{key}_{name}")
            cells.append([ser[key][index[t]] if t in index else None for t in times])
    return columns, [[t, *(c[i] for c in cells)] for i, t in enumerate(times)]


# -- reporting ----------------------------------------------------------------------------------


def _pct(x) -> str:
    return "     n/a" if x is None else f"{100 * x:+7.2f}%"


def _num(x, fmt) -> str:
    return "n/a" if x is None else format(x, fmt)


def _per_s(x) -> str:
    return "n/a (shorter than two windows)" if x is None else f"{x:.1e}/s"


def _plural(n: int, word: str, many: str) -> str:
    return f"{n} {word if n == 1 else many}"


CONTROL_LABELS = {"binocular": "binocular (control)", "ttx": "TTX (deprived eye silent)",
                  "lid_suture": "lid suture (deprived run)", "no_boost_rate_matched": "(a) no boost, rate matched",
                  "uniform_bap": "(b) uniform bAP", "no_homeostasis": "threshold fixed (no homeostasis)"}
CRITERIA = ("deprived_below_control", "suture_deeper_than_ttx", "open_above_control", "deprived_first",
            "higher_suture_rate_deepens", "specificity_needed", "open_above_control_without_homeostasis")


def summary_text(result: dict) -> str:
    s = result["summary"]
    where = f"{_plural(s['processes'], 'process', 'processes')}, {_plural(s['blocks'], 'block', 'blocks')}"
    if s.get("processes_requested") not in (None, s["processes"]):
        where += f"; --processes {s['processes_requested']} capped at one per block"
    st = s["steady_state"]
    how = ("fixed length" if st["fixed"] else
           f"{'settled' if st['settled'] else 'NOT settled'}: bound {st['bound_per_s']:g}/s over {st['window_s']:g} s")
    lines = [f"ocular dominance, variant '{s['variant']}': {_plural(s['neurons'], 'neuron', 'neurons')} x "
             f"{s['synapses_per_eye']} synapses per eye, seed {s['seed']}, {s['executor']} executor ({where}), "
             f"cascade '{result['params'].get('name')}'"]
    if "param_set" in result:
        b = result["bap"]
        lines.append(f"  parameter set: {result['param_set']['name']} ({result['param_set']['why']}); spine bAP "
                     f"{b['unboosted_mV']:g} mV unboosted, up to {b['max_mV']:.1f} mV (bound {b['bound_mV']:g} mV)")
    lines += [f"  binocular phase {st['binocular_s']:g} s ({how}); drift {_per_s(st['drift_per_s'])}, mean weight "
              f"{st['mean_weight']:.3f}, post {st['post_rate_hz']:.2f} Hz",
              f"  then {s['deprivation_s']:g} s from that state (sutured eye {s['sutured_rate_hz']:g} Hz); changes "
              "over the interval, and against the control (binocular; (a) and (b): binocular under their own rule)",
              "",
              f"  {'condition':<32} {'deprived':>9} {'open':>9} {'shift':>9}  {'dep-ctrl':>9} {'open-ctrl':>9} "
              f"{'shift-ctrl':>10} {'post Hz':>7} {'bAP mV':>7}"]
    for name, c in s["controls"].items():
        lines.append(f"  {CONTROL_LABELS[name]:<32} {_pct(c['deprived_change']):>9} {_pct(c['open_change']):>9} "
                     f"{_pct(c['shift']):>9}  {_pct(c['deprived_vs_control']):>9} {_pct(c['open_vs_control']):>9} "
                     f"{_pct(c['shift_vs_control']):>10} {c['post_rate_hz']:7.2f} {_num(c['bap_mean_mV'], '7.1f')}")
    lid = s["controls"]["lid_suture"]
    if lid.get("deprived_vs_control_se") is not None:
        lines.append(f"  lid suture against the control, +- the standard error of the {s['neurons']} neurons' paired "
                     f"differences: deprived {_pct(lid['deprived_vs_control']).strip()} +- "
                     f"{100 * lid['deprived_vs_control_se']:.1f}, open {_pct(lid['open_vs_control']).strip()} +- "
                     f"{100 * lid['open_vs_control_se']:.1f}")
    rs = s["controls"]["no_boost_rate_matched"]["rate_search"]
    lines.append(f"  (a): EPSP x {rs['epsp_scale']:.3f}, rate {rs['rate_hz']:.3f} Hz for a target of "
                 f"{rs['target_hz']:.3f} Hz "
                 f"({'matched' if rs['matched'] else 'NOT matched'}, {rs['runs']} runs); (b): every bAP "
                 f"{s['controls']['uniform_bap']['bap_amplitude_mV']:.1f} mV")
    if "no_homeostasis" in s["controls"]:
        h = {name: s["controls"][name]["homeostasis"] for name in ("binocular", "lid_suture")}
        lines.append(f"  homeostatic threshold: set point {_num(h['lid_suture']['set_point_hz'], '.2f')} Hz (mean), "
                     f"shift at the end {h['lid_suture']['threshold_shift_mV']:+.2f} mV under lid suture, "
                     f"{h['binocular']['threshold_shift_mV']:+.2f} mV in the control; fixed: open eye vs its control "
                     f"{_pct(s['controls']['no_homeostasis']['open_vs_control']).strip()}")
    crit = s["criteria"]
    ratios = crit["specificity_ratio"]
    lines.append("  specificity ratio (shift against own control / boosted): "
                 + ", ".join(f"{k} {_num(v, '+.2f')}" for k, v in ratios.items()))
    lines.append("  criteria: " + ", ".join(
        f"{name.replace('_', ' ')} {'n/a' if crit[name] is None else 'PASS' if crit[name] else 'FAIL'}"
        for name in CRITERIA))
    lines.append(f"  wall {s['wall_s']:.2f} s for {s['simulated_s']:g} s simulated ({s['runs']} runs), "
                 f"{_num(s['synapse_steps_per_s'], '.3g')} synapse-steps/s (dt = 0.1 ms equivalent)")
    return "\n".join(lines)


PANELS = (("lid_suture", "binocular", "boosted: lid suture vs binocular control"),
          ("no_boost_rate_matched", "no_boost_rate_matched_binocular", "(a) no boost, rate matched"),
          ("uniform_bap", "uniform_bap_binocular", "(b) uniform bAP"),
          ("no_homeostasis", "no_homeostasis_binocular", "threshold fixed (no homeostasis)"))


def plot(result: dict, path: Path) -> None:
    """Panels over the end of the binocular phase and the deprivation interval: the boosted
    lid-suture run (solid) beside its non-deprived control (dashed) and TTX (dotted, deprived eye),
    then the two specificity controls and (with homeostasis) the fixed-threshold control beside
    their own binocular controls."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = {c: i for i, c in enumerate(result["columns"])}
    rows = np.array([[np.nan if v is None else v for v in r] for r in result["rows"]], dtype=float)
    t = rows[:, cols["time_s"]]
    s = result["summary"]
    b = s["steady_state"]["binocular_s"]
    t_lo = max(0.0, b - max(2 * s["deprivation_s"], 10.0))
    shown = t >= t_lo - 1e-9
    col = lambda name: rows[shown, cols[name]]
    panels = [p for p in PANELS if p[0] in s["controls"]]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.8), sharey=True)
    eyes = (("left", "deprived eye", "tab:blue"), ("right", "open eye", "tab:red"))
    for ax, (run, control, title) in zip(axes, panels):
        for eye, name, colour in eyes:
            ax.plot(t[shown], col(f"w_{eye}_steady"), color="0.35", lw=1.5)
            ax.plot(t[shown], col(f"w_{eye}_{run}"), color=colour, lw=2, label=f"{name}, deprived run")
            ax.plot(t[shown], col(f"w_{eye}_{control}"), color=colour, lw=1.5, ls="--",
                    label=f"{name}, binocular control")
            if run == "lid_suture" and s["neurons"] > 1:
                ax.fill_between(t[shown], col(f"w_{eye}_p10_lid_suture"), col(f"w_{eye}_p90_lid_suture"),
                                color=colour, alpha=0.15, lw=0)
        if run == "lid_suture":
            ax.plot(t[shown], col("w_left_ttx"), color="tab:blue", lw=1.5, ls=":", label="deprived eye, TTX")
        c = s["controls"][run]
        ax.axvspan(b, b + s["deprivation_s"], color="#fde2c8", zorder=0)
        ax.axvline(b, color="0.5", lw=0.8)
        ax.set_title(f"{title}\nshift vs control {100 * c['shift_vs_control']:+.1f}%, post {c['post_rate_hz']:.2f} Hz",
                     fontsize=10)
        ax.set_xlabel("time (s)")
        ax.set_xlim(t[shown][0], t[shown][-1])
    axes[0].set_ylabel("mean synaptic weight (1 = initial)")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=8, frameon=False)
    st = s["steady_state"]
    fig.suptitle(f"Ocular dominance from a steady state (grey: binocular phase, {st['binocular_s']:g} s, drift "
                 f"{_per_s(st['drift_per_s'])}; shaded: deprivation): K = {s['neurons']}, S = {s['synapses_per_eye']} "
                 f"per eye, seed {s['seed']}", fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    save_figure(fig, path, dpi=120)
    plt.close(fig)
