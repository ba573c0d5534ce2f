"""Speed anchors for the cortical sheet from other simulators, with the machine load of each timing:
the anchors-sheet-table block of docs/scaling.md (`benchmarks/docs_figures.py --parts anchors-sheet`).

    .venv/bin/python benchmarks/sheet_anchors.py [--docs] [--tables-only] [--sizes 16,32]

NEST   benchmarks/nest_sheet.py: the sheet of `lolpim plasticity od-map` exported by lolpim's model
       code and rebuilt in NEST 3.10 with stdp_synapse (each NEST configuration, its static-synapse
       control), lolpim's inline run of the same sheet beside it (S = 100 per eye, 2 s simulated).
       Needs NEST's virtualenv (`make nest-venv`): without it the whole part is skipped, saying why,
       and the docs are left as they are.
Brian2 the cascade synapse's own equations in Brian2 2.9 (benchmarks/brian2_cascade.py, rk2 at
       dt = 0.1 ms, its equal-accuracy choice in docs/plasticity-cascade.md section 7) on N
       independent synapses with seeded pre spikes and bAPs (benchmarks/cascade_reference.py), lolpim's
       CascadePopulation on the same events beside it. Brian2 does not run the sheet (no neurons,
       no lateral wiring): N is the 16 x 16 sheet's count of cascade synapses and the simulated time
       the same 2 s, so the per-synapse work is comparable. Brian2's interpreter:
       $LOLPIM_BRIAN2_PYTHON, else .venv-brian2 (`make brian2-venv`), else /tmp/brianvenv; without
       one the stored Brian2 figures are kept (with their own date and load).

Every timing is stored with the load averages before and after it (os.getloadavg, as `uptime`
prints them) and the time it was measured, in docs/figures/anchors_sheet.json; --tables-only
rewrites the block from that file.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / "docs" / "figures" / "anchors_sheet.json"
DOC = ROOT / "docs" / "scaling.md"
BLOCK = "anchors-sheet-table"
BRIAN_N, BRIAN_SECONDS, BRIAN_METHOD, BRIAN_DT_S = 51_200, 2.0, "rk2", 1e-4


def sibling(name: str):
    """A module of benchmarks/ (not a package), whether this file runs as a script or is imported."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def brian2_python() -> str | None:
    for python in (os.environ.get("LOLPIM_BRIAN2_PYTHON"), str(ROOT / ".venv-brian2" / "bin" / "python"),
                   "/tmp/brianvenv/bin/python"):
        if python and Path(python).exists():
            return python
    return None


def brian2_anchor(n: int, seconds: float, seed: int = 0) -> dict:
    """Brian2 and lolpim on the same n independent cascade synapses for ``seconds``."""
    plasticity = sibling("plasticity")
    cr = plasticity.cascade_reference_module()
    params = plasticity.cascade_params()
    os.environ["LOLPIM_BRIAN2_PYTHON"] = brian2_python()
    pre, bap = cr.build_events(n, seconds, seed)
    pre_events, bap_events = sum(len(p) for p in pre), sum(len(b) for b in bap)
    wpre, wbap = cr.build_events(50, 0.5, seed + 99)            # lolpim's warm-up (numba)
    plasticity.lolpim_cascade(params, *cr.schedule_arrays(wpre, wbap), 0.5)
    times, kinds = cr.schedule_arrays(pre, bap)
    load0 = load_averages()
    c0 = time.process_time()
    _, wall = plasticity.lolpim_cascade(params, times, kinds, seconds)
    lolpim = {"wall_s": wall, "cpu_s": time.process_time() - c0, "load_before": load0, "load_after": load_averages()}
    with tempfile.TemporaryDirectory(prefix="lolpim_brian2_") as tmp:
        load0 = load_averages()
        runs = plasticity.brian2_cascade_runs(params, pre, bap, seconds, [
            {"dt_s": BRIAN_DT_S, "method": BRIAN_METHOD, "target": "cython"}], Path(tmp), return_weights=False)
        brian = {**runs[0], "load_before": load0, "load_after": load_averages()}
    return {"n_synapses": n, "simulated_s": seconds, "pre_events": pre_events, "bap_events": bap_events,
            "brian2": brian, "lolpim": lolpim,
            "cost_ratio_brian2_over_lolpim": brian["run_s"] / lolpim["wall_s"],
            "cpu_ratio_brian2_over_lolpim": brian["run_cpu_s"] / lolpim["cpu_s"],
            "measured_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}


def load_averages() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


# -- the table ----------------------------------------------------------------------------------


def _load(a: list) -> str:
    return f"{a[0]:.1f} / {a[1]:.1f} / {a[2]:.1f}"


def _loads(entry: dict) -> str:
    return f"{_load(entry['load_before'])} -> {_load(entry['load_after'])}"


def table(stored: dict) -> str:
    """The markdown of the block: the NEST sheet rows, then the Brian2 cascade rows."""
    out = [f"Machine: {stored['machine']}. Load: the 1 / 5 / 15-minute load averages (as `uptime` "
           "prints them) before -> after each timing. CPU seconds are the process's own (time.process_time), "
           "which the other jobs on the machine disturb less than wall time.\n"]
    head = ["sheet, S per eye, simulated", "simulator", "input nodes", "build s (CPU)", "run s (CPU)",
            "synapse-events", "events/s (wall)", "CPU us per event", "STDP's own CPU us per event", "post rate (Hz)",
            "lolpim CPU per event over this", "load before -> after", "measured (UTC)"]
    rows = []
    for r in stored.get("nest", []):
        where = f"{r['size']} x {r['size']}, {r['synapses_per_eye']}, {r['simulated_s']:g} s"
        for n in r["nest"]:
            stdp = n.get("stdp_us_per_event_cpu")
            rows.append([where, f"NEST {n['nest']}, {n['input_node']}, {n['resolution_ms']:g} ms, {n['plastic_model']}",
                         f"{n['input_nodes']:,}", f"{n['build_s']:.1f} ({n['build_cpu_s']:.1f})",
                         f"{n['simulate_s']:.2f} ({n['simulate_cpu_s']:.2f})", f"{n['synapse_events']:,}",
                         f"{n['events_per_s']:.3g}", f"{n['us_per_event_cpu']:.2f}",
                         stdp_cell(n, stdp), f"{n['post_rate_hz']:.2f}",
                         f"{n['lolpim_over_nest']:.2g}x ({n['lolpim_over_nest_with_build']:.2g}x with build)",
                         _loads(n), r["measured_utc"]])
        lo = r["lolpim"]
        rows.append([where, "lolpim, cascade, inline", "-", "-", f"{lo['wall_s']:.2f} ({lo['cpu_s']:.2f})",
                     f"{r['synapse_events']:,}", f"{lo['events_per_s']:.3g}", f"{lo['us_per_event_cpu']:.2f}", "-",
                     f"{lo['post_rate_hz']:.2f}", "1x", _loads(lo), r["measured_utc"]])
    if rows:
        out.append(markdown(head, rows))
        shared = [f"{r['size']} x {r['size']}: {r['neurons']:,} neurons, {r['plastic_synapses']:,} plastic "
                  f"synapses, {r['lateral_synapses']:,} lateral ({r['lateral_per_neuron']} per neuron), "
                  f"mean input {r['mean_input_rate_hz']:.2f} Hz per synapse" for r in stored.get("nest", [])]
        out.append("The sheet as lolpim exported it (both simulators build from it; the injector rows are the same "
                   "network): " + "; ".join(shared) + ".\n")
    b = stored.get("brian2")
    if b:
        br, lo = b["brian2"], b["lolpim"]
        events = b["pre_events"] + b["bap_events"]
        head2 = ["cascade synapses (independent), simulated", "simulator", "run s (CPU)", "pre spikes + bAPs",
                 "synapse-steps/s (0.1 ms, wall)", "CPU us per event", "CPU over lolpim (wall over lolpim)",
                 "load before -> after", "measured (UTC)"]
        where = f"{b['n_synapses']:,}, {b['simulated_s']:g} s"
        steps = b["n_synapses"] * b["simulated_s"] / 1e-4
        rows2 = [[where, f"Brian2 {br['brian2']}, {br['target']}, {br['method']}, dt {br['dt_s'] * 1e3:g} ms",
                  f"{br['run_s']:.2f} ({br['run_cpu_s']:.2f})", f"{b['pre_events']:,} + {b['bap_events']:,}",
                  f"{steps / br['run_s']:.3g}", f"{1e6 * br['run_cpu_s'] / events:.1f}",
                  f"{b['cpu_ratio_brian2_over_lolpim']:.0f}x ({b['cost_ratio_brian2_over_lolpim']:.0f}x)", _loads(br),
                  b["measured_utc"]],
                 [where, "lolpim CascadePopulation", f"{lo['wall_s']:.2f} ({lo['cpu_s']:.2f})",
                  f"{b['pre_events']:,} + {b['bap_events']:,}", f"{steps / lo['wall_s']:.3g}",
                  f"{1e6 * lo['cpu_s'] / events:.1f}", "1x", _loads(lo), b["measured_utc"]]]
        out.append(markdown(head2, rows2))
    return "\n".join(out)


# STDP's own cost (the STDP run's CPU less its static control's) is shown only where it exceeds
# this fraction of the control's CPU: below it, run-to-run noise on the shared machine decides the sign
STDP_RESOLVED_FRACTION = 0.10


def stdp_cell(n: dict, stdp: float | None) -> str:
    if stdp is None:
        return "-"
    control_us = n["us_per_event_cpu"] - stdp
    if stdp <= STDP_RESOLVED_FRACTION * control_us:
        return f"not resolved ({stdp:+.2f}, within {STDP_RESOLVED_FRACTION:.0%} of the static run)"
    return f"{stdp:.3f}"


def markdown(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def machine() -> str:
    return f"{os.cpu_count()} cores, shared with other jobs"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="16,32")
    ap.add_argument("--synapses", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--docs", action="store_true", help=f"store the figures and rewrite the {BLOCK} block")
    ap.add_argument("--tables-only", action="store_true", help="rewrite the block from the stored figures")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    from docs_figures import write_block
    if args.tables_only:
        changed = write_block(DOC, BLOCK, table(json.loads(STORE.read_text())))
        print(f"  docs/scaling.md [{BLOCK}]: {'rewritten' if changed else 'unchanged'}")
        return 0
    nest_sheet = sibling("nest_sheet")
    python = nest_sheet.nest_python()
    if python is None:
        print("  anchors-sheet skipped: no NEST interpreter at .venv-nest/bin/python (make it with `make nest-venv`, "
              "or set LOLPIM_NEST_PYTHON); docs/scaling.md left as it is")
        return 0
    try:
        sizes = [int(v) for v in args.sizes.split(",")]
    except ValueError:
        print(f"error: --sizes must be comma-separated whole numbers, got {args.sizes!r}", file=sys.stderr)
        return 2
    stored = json.loads(STORE.read_text()) if STORE.exists() else {}
    stored["machine"] = machine()
    stored["nest"] = [nest_sheet.compare(n, args.synapses, args.seconds, 0, python) for n in sizes]
    nest_sheet.print_rows(stored["nest"])
    if brian2_python() is None:
        print("  Brian2 anchor not rerun: no Brian2 interpreter ($LOLPIM_BRIAN2_PYTHON, .venv-brian2, "
              "/tmp/brianvenv; `make brian2-venv`)" + ("; the stored figures are kept" if stored.get("brian2") else ""))
    else:
        stored["brian2"] = brian2_anchor(BRIAN_N, BRIAN_SECONDS)
    print(table(stored))
    if args.docs:
        from lolpim.orchestration.results import write_text
        write_text(STORE, json.dumps(stored, indent=1) + "\n")
        changed = write_block(DOC, BLOCK, table(stored))
        print(f"  docs/scaling.md [{BLOCK}]: {'rewritten' if changed else 'unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
