"""`lolpim plasticity od-map`: ocular-dominance columns on a cortical sheet (actors/plasticity/od_map.py,
models/plasticity/od_map.py; docs/od-map.md).

    1. binocular phase: --binocular-s seconds in segments of SEGMENT_S, each resumed from the
       last one's final state; the map statistics after every segment (their time course), and
       Ctrl-C keeps the map of the last finished segment;
    2. with --deprivation-s > 0, from that state and seed: lid suture of the left eye and the
       non-deprived control (binocular continues), each that long; the map's shift is the
       deprived run's change of the OD index against the control's.
The sheet is cut into tiles (--tiles, default one row of tiles per process); with --executor ray
every process holds whole tiles and lateral spikes between tiles in different processes are the
cross-process messages counted in the summary.

The run's settings are a typed config (orchestration/learning_config.py: OdMapRun, which also
gives the command its flags and checks them); the Python API (orchestration/api_learning.py:
``od_map``) runs ``experiment`` and wraps the result, and the command calls the API.
"""
from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.actors.kernel.ray_executor import (  # imports Ray: only for --executor ray
    RayExecutor,
    ensure_ray,
)
from lolpim.actors.plasticity import od_map as actors
from lolpim.core.errors import ParameterError
from lolpim.models.plasticity import cascade
from lolpim.models.plasticity import od_map as om
from lolpim.orchestration.learning_config import OD_MAP_SEGMENT_S, OdMapRun
from lolpim.orchestration.memory import check_fits
from lolpim.orchestration.progress import Progress
from lolpim.orchestration.results import (
    json_safe,
    save_figure,
    write_table_csv,
    write_text,
)

SEGMENT_S = OD_MAP_SEGMENT_S   # the binocular phase runs in pieces this long (statistics, Ctrl-C)
CHECKPOINT_SIM_S = 5.0      # one Ray checkpoint per this much simulated time
BYTES_PER_SYNAPSE = 8 * 12 + 8      # a cascade row and its applied-bAP counter (models/plasticity/od_map: EyeBlock)
STATE_COPIES = 3                    # the live state, the kept state the controls start from, a run's final one
RAY_COPIES = 2                      # and with Ray a checkpoint in the process and on the driver


def plan(config: OdMapRun) -> dict:
    """A checked run config -> the run's processes and tiles, with the memory the synapse state
    needs checked against this machine (a UserError naming the flags, exit 2, before anything is
    allocated). Ranges and combinations were checked when the config was built (OdMapRun)."""
    size, synapses = config.size, config.synapses
    copies = STATE_COPIES + (RAY_COPIES if config.executor == "ray" else 0)
    need = BYTES_PER_SYNAPSE * 2 * size ** 2 * synapses * copies
    check_fits(need, f"--size {size} x --synapses {synapses}",
               f"synapse state: {BYTES_PER_SYNAPSE} B x 2 eyes x {size}^2 neurons x {synapses}, copies",
               "use a smaller sheet or fewer synapses")
    return {"processes": config.process_count(), "tiles": config.tile_counts()}


def process_of_tiles(n_tiles: int, processes: int) -> list[int]:
    """Which process each tile runs in: RayExecutor(max_processes=P) places the listed actors in
    P consecutive groups (actors/kernel/ray_executor.py ``_place``); inline all share one."""
    n = min(processes, n_tiles)
    return [next(p for p in range(n) if p * n_tiles // n <= i < (p + 1) * n_tiles // n) for i in range(n_tiles)]


class Runner:
    """Runs sheet systems of one (params, variant, seed, tiling) on one executor, adding up the work."""

    def __init__(self, executor, params, variant, seed, tiles, processes, on_run=None, eye_threads=1):
        self.executor, self.params, self.variant, self.seed = executor, params, variant, seed
        self.tiles, self.processes, self.on_run = tiles, processes, on_run
        self.eye_threads = eye_threads
        self.process_of = process_of_tiles(tiles[0] * tiles[1], processes)
        self.simulated_s = self.wall_s = 0.0
        self.events = self.steps = self.messages = self.cross = self.windows = self.calls = 0

    def run(self, cfg: om.SheetConfig, label: str, resume=None, keep_state=True) -> tuple[dict, dict | None]:
        if self.on_run is not None:
            self.on_run(label, cfg.start_s, cfg.duration_s())
        system = actors.sheet_system(self.params, cfg, self.variant, self.seed, self.tiles[0], self.tiles[1],
                                     resume=resume, keep_state=keep_state, eye_threads=self.eye_threads)
        t0 = time.perf_counter()
        result = self.executor.run(system)
        self.wall_s += time.perf_counter() - t0
        data = actors.collect(result.results, cfg.size)
        self.simulated_s += cfg.duration_s() - cfg.start_s
        self.events += data["events"]
        self.steps += data["steps"]
        self.windows += result.stats.get("windows", 0)
        self.calls += result.stats.get("calls", 0)
        for src, sent in data["sent"].items():
            for dst, count in sent.items():
                self.messages += count
                if self.process_of[int(src[1:])] != self.process_of[int(dst[1:])]:
                    self.cross += count
        return data, (actors.final_states(result.results) if keep_state else None)


def _executor(config: OdMapRun, settings: dict, cfg: om.SheetConfig, progress):
    if config.executor == "inline":
        return InlineExecutor(progress=progress, progress_every_events=200)
    ensure_ray(None)
    window = actors.window_ps(cfg)
    return RayExecutor(max_processes=settings["processes"], keep_processes=True, progress=progress,
                       checkpoint_every=max(1, round(CHECKPOINT_SIM_S * 1e12 / window)))


def _stats(data: dict, size: int, index: int = -1) -> dict:
    w = data["mean_w"][index]
    return om.map_summary(w[0], w[1], size)


def experiment(config: OdMapRun, partial: dict, normalisation: str | None = None,
               show_progress: bool = False, sheet_overrides: dict | None = None) -> dict:
    """Run the protocol; ``partial`` holds the latest finished state of the result (Ctrl-C keeps it).
    ``normalisation``: the preset's synaptic conservation, or "none" (the control; benchmarks/od_map.py).
    ``show_progress``: the progress bar on stderr (also with ``config.progress``).
    ``sheet_overrides``: preset values to replace (om.load_sheet's overrides; the controls of
    benchmarks/od_map_lateral.py)."""
    settings = plan(config)
    params = cascade.load_params("cortical")
    extra = dict(sheet_overrides or {})
    if normalisation is not None:
        extra["normalisation"] = normalisation
    cfg, variant = om.load_sheet(size=config.size, synapses_per_eye=config.synapses, binocular_s=SEGMENT_S,
                                 sample_interval_s=SEGMENT_S, **extra)
    total_s = config.binocular_s + 2 * config.deprivation_s
    bar = Progress("od-map", total=total_s, unit="s simulated", enabled=config.progress or show_progress,
                   delay_s=2.0)
    st: dict[str, Any] = {"done": 0.0, "label": "", "start": 0.0, "length": 0.0}

    def on_run(label, start_s, end_s):
        st.update(done=st["done"] + st["length"], label=label, start=start_s, length=end_s - start_s)

    def progress(t_ps, _events):
        bar.update(st["done"] + max(t_ps * 1e-12 - st["start"], 0.0), st["label"])

    executor = _executor(config, settings, cfg, progress)
    runner = Runner(executor, params, variant, config.seed, settings["tiles"], settings["processes"], on_run,
                    config.eye_threads)
    t0 = time.perf_counter()
    partial.update(sheet=cfg.to_dict(), variant={"name": variant.name, "description": variant.description},
                   lateral=lateral_facts(cfg), timeline=[])
    try:
        state, end = None, 0.0
        binocular_s = float(config.binocular_s)
        while end < binocular_s - 1e-9:
            seg_end = min(end + SEGMENT_S, binocular_s)
            seg = replace(cfg, binocular_s=seg_end, start_s=end)
            data, state = runner.run(seg, f"binocular {end:g}-{seg_end:g} s", resume=state)
            end = seg_end
            stats = _stats(data, cfg.size)
            rate = float(data["spikes"].mean() / (seg_end - seg.start_s))
            partial["timeline"].append({"time_s": end, **stats, "post_rate_hz": rate,
                                        "w_left": float(data["mean_w"][-1, 0].mean()),
                                        "w_right": float(data["mean_w"][-1, 1].mean())})
            partial["final"] = {"w": data["mean_w"][-1], "rate_hz": data["spikes"] / (seg_end - seg.start_s)}
            partial["binocular_s"] = end
            partial["summary"] = _summary(partial, runner, config, settings, time.perf_counter() - t0)
        if config.deprivation_s > 0:
            runs = {}
            for condition in ("binocular", "lid_suture"):
                c = replace(cfg, binocular_s=end, deprivation_s=float(config.deprivation_s), condition=condition,
                            sutured_rate_hz=float(config.sutured_rate_hz), start_s=end)
                data, _ = runner.run(c, f"deprivation: {condition}", resume=state, keep_state=False)
                runs[condition] = data
            partial["deprivation"] = deprivation_shift(runs, partial["final"]["w"], cfg.size, config)
            partial["deprivation_maps"] = {k: v["mean_w"][-1] for k, v in runs.items()}
        partial["summary"] = _summary(partial, runner, config, settings, time.perf_counter() - t0)
        partial["finished"] = True
    finally:
        bar.close()
        if hasattr(executor, "close"):
            executor.close()
    return partial


def lateral_facts(cfg: om.SheetConfig) -> dict:
    lat = om.lateral(cfg)
    k = np.linspace(0.005, 0.5, 400)
    spec = om.interaction_spectrum(cfg, k)
    peak = float(k[int(np.argmax(spec))])
    # the linear rate model's fastest-growing OD pattern on this sheet (no arbors: the lateral
    # response times the within-eye input correlation in space; om.development_spectrum)
    try:
        predicted, note = om.predicted_wavelength(cfg), None
    except ParameterError as exc:      # a strong lateral excitation: the linear model has no steady state
        predicted, note = None, f"no linear prediction: {exc}"
    return {"connections_per_neuron": lat.count, "excitatory": int((lat.weight_mV > 0).sum()),
            "inhibitory": int((lat.weight_mV < 0).sum()),
            "sum_excitatory_mV": float(lat.weight_mV[lat.weight_mV > 0].sum()),
            "sum_inhibitory_mV": float(lat.weight_mV[lat.weight_mV < 0].sum()),
            "delay_ms": [int(lat.delay_ms.min()), int(lat.delay_ms.max())],
            "interaction_peak_wavelength_neurons": 1 / peak, "predicted_wavelength_neurons": predicted,
            "prediction_gain_per_mV": om.RATE_GAIN_PER_MV, "prediction_note": note}


def deprivation_shift(runs: dict, w_before, size: int, config: OdMapRun) -> dict:
    """The deprived run against the non-deprived control from the same state: each eye's mean
    weight change, the OD index change (right eye = the open eye, so positive is towards it) and
    the fraction of neurons dominated by the open eye."""
    out: dict[str, Any] = {"deprivation_s": float(config.deprivation_s),
                           "sutured_rate_hz": float(config.sutured_rate_hz)}
    before = om.od_index(w_before[0], w_before[1])
    for name, data in runs.items():
        w = data["mean_w"][-1]
        index = om.od_index(w[0], w[1])
        out[name] = {"deprived_change": float(w[0].mean() / w_before[0].mean() - 1),
                     "open_change": float(w[1].mean() / w_before[1].mean() - 1),
                     "od_index_change": float((index - before).mean()),
                     "open_dominated_fraction": float(np.mean(index > 0)),
                     "post_rate_hz": float(data["spikes"].mean() / config.deprivation_s)}
    d, c = out["lid_suture"], out["binocular"]
    out["od_shift_vs_control"] = d["od_index_change"] - c["od_index_change"]
    out["open_dominated_vs_control"] = d["open_dominated_fraction"] - c["open_dominated_fraction"]
    out["deprived_vs_control"] = (1 + d["deprived_change"]) / (1 + c["deprived_change"]) - 1
    out["open_vs_control"] = (1 + d["open_change"]) / (1 + c["open_change"]) - 1
    out["shifted_towards_open_eye"] = bool(out["od_shift_vs_control"] > 0)
    return out


STRUCTURE_FIELDS = ("od_neighbour_correlation", "od_neighbour_correlation_z", "od_autocorrelation_trough",
                    "od_autocorrelation_wavelength_neurons")
STRUCTURE_STATISTIC = ("neighbour correlation: the OD index's correlation with its 4 nearest neighbours (z against "
                       "the map shuffled in space); autocorrelation wavelength: the first trough of the radial "
                       "autocorrelation (3 sd below a shuffled map's) / 0.61 (J0's first minimum)")


def _summary(partial: dict, runner: Runner, config: OdMapRun, settings: dict, wall: float) -> dict:
    last = partial["timeline"][-1] if partial["timeline"] else {}
    sim = runner.simulated_s
    out = {"size": config.size, "synapses_per_eye": config.synapses, "seed": config.seed, "executor": config.executor,
           "normalisation": partial["sheet"]["normalisation"],
           "processes": settings["processes"], "tiles": list(settings["tiles"]),
           "binocular_s": partial.get("binocular_s", 0.0),
           "od_wavelength_neurons": last.get("od_wavelength_neurons"), "od_bimodality": last.get("od_bimodality"),
           "od_bimodal": last.get("od_bimodal"), "od_spectrum_prominence": last.get("od_spectrum_prominence"),
           "monocular_fraction": last.get("monocular_fraction"), "od_index_sd": last.get("od_index_sd"),
           "post_rate_hz": last.get("post_rate_hz"),
           **{key: last.get(key) for key in STRUCTURE_FIELDS},
           "bimodality_statistic": "Sarle's coefficient (g^2 + 1) / (kappa + 3(n-1)^2/((n-2)(n-3))); > 5/9 bimodal",
           "wavelength_statistic": "side / k at the peak of the radially averaged 2-D power spectrum of the OD index",
           "structure_statistic": STRUCTURE_STATISTIC,
           "cross_process_messages": runner.cross, "lateral_messages": runner.messages,
           "cross_process_messages_per_simulated_s": runner.cross / sim if sim else None,
           "windows": runner.windows, "driver_calls": runner.calls,
           "simulated_s": sim, "wall_s": wall, "run_wall_s": runner.wall_s,
           "synapse_events": runner.events, "integration_steps": runner.steps,
           "synapse_events_per_s": runner.events / runner.wall_s if runner.wall_s else None,
           "synapses": 2 * config.size ** 2 * config.synapses}
    if "deprivation" in partial:
        out["deprivation"] = partial["deprivation"]
    return out


# -- output -------------------------------------------------------------------------------------


def result_json(partial: dict) -> dict:
    out = {k: v for k, v in partial.items() if k not in ("final", "deprivation_maps")}
    out["protocol"] = "od-map"
    return json_safe(out)


def write_outputs(partial: dict, out_dir: Path, size: int) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [out_dir / "od_map.json", out_dir / "od_map.csv", out_dir / "od_map.png"]
    write_text(files[0], json.dumps(result_json(partial), indent=1))
    w = partial["final"]["w"]
    index = om.od_index(w[0], w[1])
    ids = np.arange(size * size)
    columns = ["x", "y", "w_left", "w_right", "od_index", "post_rate_hz"]
    extra = partial.get("deprivation_maps", {})
    for name in extra:
        columns += [f"od_index_{name}"]
    rows = []
    for i in ids:
        row = [int(i % size), int(i // size), float(w[0, i]), float(w[1, i]), float(index[i]),
               float(partial["final"]["rate_hz"][i])]
        row += [float(om.od_index(m[0], m[1])[i]) for m in extra.values()]
        rows.append(row)
    write_table_csv(files[1], columns, rows)
    plot(partial, files[2], size)
    return files


def plot(partial: dict, path: Path, size: int) -> None:
    w = partial["final"]["w"]
    index = om.od_index(w[0], w[1]).reshape(size, size)
    extra = partial.get("deprivation_maps", {})
    shift = (om.od_index(*extra["lid_suture"]) - om.od_index(*extra["binocular"])).reshape(size, size) \
        if extra else None
    draw(index, shift, partial["summary"], partial["lateral"], path, size)


def draw(index, shift, s: dict, lateral: dict, path: Path, size: int) -> None:
    """The figure of a run: the OD map, its spectrum, its autocorrelation, its histogram and, with
    ``shift`` (lid suture minus control, per neuron), the deprivation's map."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 4 + (1 if shift is not None else 0)
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 4.4))
    lim = max(float(np.abs(index).max()), 1e-6)
    im = axes[0].imshow(index, cmap="RdBu_r", vmin=-lim, vmax=lim, origin="lower")
    fig.colorbar(im, ax=axes[0], fraction=0.046, label="OD index (right - left) / (right + left)")
    axes[0].set_title(f"OD map after {s['binocular_s']:g} s binocular")
    axes[0].set_xlabel("x (neurons)")
    axes[0].set_ylabel("y (neurons)")
    ks, power = om.radial_power_spectrum(index)
    axes[1].plot(ks / size, power, "o-", ms=3)
    lam = s["od_wavelength_neurons"]
    if lam:
        axes[1].axvline(1 / lam, color="tab:red", ls="--", lw=1, label=f"peak: wavelength {lam:.1f} neurons")
    if lateral.get("sum_excitatory_mV") or lateral.get("sum_inhibitory_mV"):   # no marks without a wiring
        pred = lateral["interaction_peak_wavelength_neurons"]
        axes[1].axvline(1 / pred, color="0.4", ls=":", lw=1, label=f"interaction's peak: {pred:.1f} neurons")
        rate_model = lateral["predicted_wavelength_neurons"]
        if rate_model:
            axes[1].axvline(1 / rate_model, color="tab:green", ls=":", lw=1,
                            label=f"linear rate model's fastest growth: {rate_model:.1f} neurons")
    axes[1].set_xlabel("spatial frequency (cycles per neuron)")
    axes[1].set_ylabel("power (radial mean)")
    axes[1].set_title("radially averaged power spectrum")
    axes[1].legend(fontsize=8)
    _plot_autocorrelation(axes[2], index, size)
    axes[3].hist(index.ravel(), bins=30, color="0.4")
    b = s["od_bimodality"]
    axes[3].set_title(f"OD index histogram: Sarle's b = {b:.3f}" if b is not None else "OD index histogram")
    axes[3].set_xlabel("OD index")
    axes[3].set_ylabel("neurons")
    if shift is not None:
        lim = max(float(np.abs(shift).max()), 1e-6)
        im = axes[4].imshow(shift, cmap="PuOr_r", vmin=-lim, vmax=lim, origin="lower")
        fig.colorbar(im, ax=axes[4], fraction=0.046, label="OD index, lid suture - control")
        d = s["deprivation"]
        axes[4].set_title(f"left-eye lid suture {d['deprivation_s']:g} s vs control\nmean shift "
                          f"{d['od_shift_vs_control']:+.3f} (towards the open eye if > 0)", fontsize=10)
    fig.suptitle(f"Cortical sheet {size} x {size}, S = {s['synapses_per_eye']} per eye, seed {s['seed']}", fontsize=11)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def _plot_autocorrelation(ax, index, size: int) -> None:
    """The radial autocorrelation out to 12 neurons, the band a map shuffled in space stays in
    (3 sd), and what a map of columns at the read wavelength would show (J0)."""
    st = om.spatial_structure(index)
    far = min(size // 2, 12)
    dist, radial, lags = om.radial_autocorrelation(index)
    r = dist[1:far + 1]
    band = np.array([3 * om.shuffle_sd(size, int(lags[k])) for k in r])
    ax.fill_between(r, -band, band, color="0.85", label="map shuffled in space (3 sd)")
    ax.plot(dist[:far + 1], radial[:far + 1], "o-", ms=3, label="this map")
    wl = st["autocorrelation_wavelength_neurons"]
    if wl:
        x = np.linspace(0, far, 200)
        ax.plot(x, om.bessel_j0(2 * np.pi * x / wl), color="tab:green", ls=":", lw=1,
                label=f"isotropic columns, {wl:.1f} neurons (J0)")
        ax.axvline(st["trough_distance"], color="tab:red", ls="--", lw=1,
                   label=f"trough at {st['trough_distance']:.2f}: wavelength {wl:.1f}")
    nn = st["neighbour_correlation"]
    if nn is not None:
        ax.plot([1], [nn], "s", color="tab:orange", ms=5, label=f"4 nearest neighbours: {nn:.2f}")
    ax.set_title("radial autocorrelation of the OD map")
    ax.set_xlabel("distance (neurons)")
    ax.set_ylabel("correlation of OD index")
    ax.legend(fontsize=7)


def summary_text(partial: dict) -> str:
    s = partial["summary"]
    lat = partial["lateral"]
    lines = [f"od-map: {s['size']} x {s['size']} neurons x {s['synapses_per_eye']} synapses per eye (cascade, cortical "
             f"set), seed {s['seed']}, {s['executor']} executor, {s['processes']} process(es), tiles "
             f"{s['tiles'][0]}x{s['tiles'][1]}",
             f"  lateral: {lat['connections_per_neuron']} connections per neuron ({lat['excitatory']} net excitatory, "
             f"{lat['inhibitory']} net inhibitory), delays {lat['delay_ms'][0]}-{lat['delay_ms'][1]} ms; the "
             f"interaction's spectrum peaks at a wavelength of {lat['interaction_peak_wavelength_neurons']:.1f} "
             f"neurons; the linear rate model of this sheet (lateral response x input correlation, in space) "
             + (f"grows fastest at {lat['predicted_wavelength_neurons']:.1f}" if lat['predicted_wavelength_neurons']
                else f"has none ({lat['prediction_note']})"),
             "  time (s)  bimodality  wavelength  prominence  monocular  OD sd   rate Hz  w left  w right  "
             "nbr corr"]
    for r in partial["timeline"]:
        lam = r["od_wavelength_neurons"]
        lines.append(f"  {r['time_s']:8.0f}  {r['od_bimodality'] or float('nan'):10.3f}  "
                     f"{lam if lam is not None else float('nan'):10.2f}  "
                     f"{r['od_spectrum_prominence'] or float('nan'):10.2f}  "
                     f"{r['monocular_fraction']:9.2f}  {r['od_index_sd']:.3f}  {r['post_rate_hz']:7.2f}  "
                     f"{r['w_left']:.3f}   {r['w_right']:.3f}  "
                     f"{r.get('od_neighbour_correlation') or float('nan'):8.3f}")
    if s["od_bimodality"] is not None:
        lines.append(f"  map: wavelength {s['od_wavelength_neurons']:.2f} neurons, Sarle's bimodality "
                     f"{s['od_bimodality']:.3f} ({'bimodal' if s['od_bimodal'] else 'not bimodal'}: threshold 5/9)")
    if s.get("od_neighbour_correlation") is not None:
        acf_wl = s["od_autocorrelation_wavelength_neurons"]
        lines.append(f"  spatial structure: nearest-neighbour OD correlation {s['od_neighbour_correlation']:.3f} "
                     f"(z {s['od_neighbour_correlation_z']:.1f} against the map shuffled; a map of columns "
                     f"{acf_wl or 5:.1f} neurons across would have "
                     f"{om.column_neighbour_correlation(acf_wl or 5):.2f}); autocorrelation "
                     + (f"trough {s['od_autocorrelation_trough']:.3f}, wavelength {acf_wl:.2f} neurons" if acf_wl
                        else "without a trough (no periodic structure)"))
    if "deprivation" in s:
        d = s["deprivation"]
        lines.append(f"  lid suture of the left eye for {d['deprivation_s']:g} s vs the binocular control: OD index "
                     f"{d['od_shift_vs_control']:+.4f} (open-eye dominated "
                     f"{100 * d['lid_suture']['open_dominated_fraction']:.1f}% "
                     f"vs {100 * d['binocular']['open_dominated_fraction']:.1f}%), deprived eye "
                     f"{100 * d['deprived_vs_control']:+.2f}%, open eye {100 * d['open_vs_control']:+.2f}% "
                     "against the control")
    lines.append(f"  wall {s['wall_s']:.1f} s for {s['simulated_s']:g} s simulated; {s['synapse_events']:,} synapse "
                 f"events ({s['synapse_events_per_s'] or 0:.3g}/s); lateral messages {s['lateral_messages']:,}, "
                 f"cross-process {s['cross_process_messages']:,}")
    return "\n".join(lines)
