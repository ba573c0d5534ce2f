"""Regenerate every simulated figure and table under docs/ (one command: `make docs-figures`).

Parts (all by default; `--parts traces,scaling` for some):

  scaling   deploy/sweep-scaling.toml -> `lolpim sweep` (fresh results/docs/scaling.jsonl)
            -> `lolpim plot --out docs/figures/scaling` (throughput_vs_modules.png,
            throughput_vs_context.png, speedup.png, points.csv) -> the table between
            <!-- generated: scaling-table --> ... <!-- end generated --> in docs/scaling.md
  traces    deploy/sweep-traces.toml, the same way -> docs/figures/traces and the
            traces-table block of docs/scaling.md
  speedups  benchmarks/lolpim_speedups.py -> docs/figures/lolpim_speedups.txt (its output,
            without the per-case wall times)
            and .csv -> the lolpim-speedups-table block of docs/lolpim-system.md (~6 min on
            2 cores)
  long-context  benchmarks/long_context_study.py --docs -> the two generated blocks of
            docs/long-context.md and docs/figures/long_context.csv (~40 s)
  presets   the preset table of docs/hardware-pim.md and the Hebbian PIM-hook figures of
            docs/hebbian.md, from the presets and the cost model (no simulation, < 1 s);
            tests/test_docs_figures.py checks both are current
  anchors   `lolpim validate --out results/docs/validation` -> the anchors-table block of
            docs/anchors.md: rows per area and kind, then every row with its kind, figures and
            status (~1 h: it computes every row, the ocular-dominance grid most; ~1 min with
            --od-grid, or after the od-controls part, which reuse the grid's stored results)
  gpu-pim   benchmarks/gpu_pim_capacity.py -> docs/figures/gpu_pim_capacity.csv and .png (GPU+PIM
            throughput against HBM-PIM stacks, both attention placements, the GPUs alone) -> the
            gpu-pim-capacity-table block of docs/hardware-gpu.md (~40 s)
  od-controls  benchmarks/od_calibration.py (eye EPSP, then --param homeo_tau_s, then --param
            protocol) and od_controls_grid.py --docs -> the od-calibration, od-calibration-homeostasis,
            od-calibration-protocol and the three od-controls blocks of docs/plasticity-cascade.md
            (issue 23's ocular-dominance calibration rows and grid at K = 32: ~75 min on 2 cores, the
            grid 27 of them; docs/figures/od_calibration*.json and od_controls.json, reused by
            --tables-only)
  llm-scale  benchmarks/llm_scale.py --json --with-one-pipeline -> docs/figures/llm_scale.json -> the llm-scale-table
            block of docs/scaling.md: the LLM path's events, messages, CPU cost per event and KV
            use at 64 / 256 / 1024 modules, with the machine load it ran under (~1 min on a quiet
            2-core machine; the wall and CPU columns depend on the machine, the rest does not)

  window-cost  benchmarks/window_model.py --docs -> docs/figures/window_cost.json and the
            window-cost-table block of docs/scaling.md: the Ray executor's cost per window measured
            at 1, 2, 4 processes, the model's parameters measured by microbenchmarks, the model
            against the runs and projected to 64 processes on 8 nodes (~2 min; counts and bytes
            are reproducible, CPU and wall times depend on the machine and its load)
  window-cost-sheet  benchmarks/window_model.py --docs-sheet -> docs/figures/window_cost_sheet.json
            and the window-cost-sheet-table block of docs/scaling.md: the same on the cortical
            sheet (od-map's tiles, 16 x 16 neurons, 20 synapses per eye, 1 s simulated) for push
            and driver routing, the model against it, and the 100 x 100 x 1000 sheet projected to
            64 processes on 8 nodes (~3 min)

  anchors-sheet  benchmarks/sheet_anchors.py --docs -> docs/figures/anchors_sheet.json and the
            anchors-sheet-table block of docs/scaling.md: the cortical sheet in NEST 3.10
            (benchmarks/nest_sheet.py) and the cascade synapse in Brian2 2.9 beside lolpim, each timing
            with the machine's load averages (3-5 min at a load of 6-9). Needs NEST's own virtualenv (`make
            nest-venv`): without it the part is skipped, saying why, and the docs are left alone;
            without Brian2's (`make brian2-venv`) the stored Brian2 figures are kept

`--tables-only` rewrites the markdown blocks from the existing results (results/docs/*.jsonl
and docs/figures/lolpim_speedups.csv) without simulating. The text outside the marker blocks
is not touched: prose that quotes a number must be checked by hand after a rerun.
tests/test_docs_figures.py reruns a few points and checks them against the blocks.

Not generated here: wall-time tables (benchmarks/scale.py, benchmarks/system.py, README's
kernel figures), which depend on the machine and are not reproducible (llm-scale's block has
wall and CPU columns beside its exact counts, and states the load it ran under).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from lolpim.orchestration.llm import registry
from lolpim.orchestration.results import write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results" / "docs"
LOLPIM = [str(Path(sys.executable).parent / "lolpim")]

BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+)[^>]*-->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)

TRACE_LABELS = {"longbench-qmsum": "LongBench QMSum", "longbench-musique": "LongBench Musique",
                "lveval-multifieldqa": "LV-Eval multifieldqa", "lveval-loogle-sd": "LV-Eval Loogle-SD"}


def pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


# ---------------------------------------------------------------- sweep tables (docs/scaling.md)

def _pairs(records: list[dict], key: str) -> list[tuple]:
    """[(workload value, modules, lolpim result, cent result)] in the sweep's order."""
    by = {}
    for r in records:
        if r.get("status") != "ok":
            continue
        p = r["point"]
        by.setdefault((p[key], p["modules"]), {})[p["system"]] = r["result"]
    order = {w: i for i, w in enumerate(dict.fromkeys(k[0] for k in by))}   # workloads as the grid lists them
    return [(k[0], k[1], v["lolpim"], v["cent"])
            for k, v in sorted(by.items(), key=lambda kv: (order[kv[0][0]], kv[0][1]))
            if "lolpim" in v and "cent" in v]


def scaling_rows(records: list[dict]) -> list[list[str]]:
    rows = []
    for ctx, mods, lol, cent in _pairs(records, "context"):
        t_l, t_c = lol["throughput_tokens_per_s"], cent["throughput_tokens_per_s"]
        rows.append([str(ctx), str(mods), f"{t_l:.0f}", f"{t_c:.0f}", f"{t_l / t_c:.2f}x",
                     pct(lol["kv_used_utilisation"]), pct(lol["module_utilisation"])])
    return rows


def traces_rows(records: list[dict]) -> list[list[str]]:
    rows = []
    for trace, mods, lol, cent in _pairs(records, "trace"):
        t_l, t_c = lol["throughput_tokens_per_s"], cent["throughput_tokens_per_s"]
        wait = ["(none wait)" if r.get("kv_used_utilisation_saturated") is None
                else pct(r["kv_used_utilisation_saturated"]) for r in (lol, cent)]
        rows.append([trace, str(mods), f"{t_l:.0f}", f"{t_c:.0f}", f"{t_l / t_c:.2f}x", " / ".join(wait)])
    return rows


SCALING_HEAD = ["context", "modules", "LoL-PIM tok/s", "CENT tok/s", "LoL-PIM / CENT", "LoL-PIM KV used",
                "module busy"]
TRACES_HEAD = ["trace", "modules", "LoL-PIM tok/s", "CENT tok/s", "LoL-PIM / CENT",
               "KV used while requests wait, LoL-PIM / CENT"]


def markdown(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def parse_markdown(text: str) -> list[list[str]]:
    """The body rows of a markdown table (the header and the |---| line dropped)."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.startswith("|")]
    return rows[2:]


# ---------------------------------------------------------------- marker blocks

def read_block(path: Path, name: str) -> str:
    for m in BLOCK.finditer(path.read_text()):
        if m.group("name") == name:
            return m.group("body")
    raise KeyError(f"{path}: no <!-- generated: {name} --> block")


def write_block(path: Path, name: str, body: str) -> bool:
    text = path.read_text()
    found = False

    def sub(m):
        nonlocal found
        if m.group("name") != name:
            return m.group(0)
        found = True
        return m.group(1) + body + m.group(4)
    new = BLOCK.sub(sub, text)
    if not found:
        raise KeyError(f"{path}: no <!-- generated: {name} --> block")
    if new != text:
        write_text(path, new)
    return new != text


# ---------------------------------------------------------------- speedup table (docs/lolpim-system.md)

SPEEDUP_BASELINES = (("gpu", "vs multi-GPU"), ("gpu-pim", "vs GPU+PIM"), ("cent", "vs CENT"))
# a baseline with a best end in the CSV (hardware/systems/config.py BASELINE_ENDS) gets its bracket
SPEEDUPS_HEAD = ["model", "trace", "PIM", "GPUs", "LoL-PIM shape (best)",
                 *(f"{label} [best, published]" if registry.get(k).baseline_ends else label
                   for k, label in SPEEDUP_BASELINES), "auto shape"]


def _speedup_cell(r: dict, k: str) -> str:
    published = f"{float(r[f'steady_speedup_vs_{k}']):.2f}x"
    best = r.get(f"steady_speedup_vs_{k}-best")
    return f"[{float(best):.2f}x, {published}]" if best else published


def _shape(description: str) -> str:
    m = re.search(r"\((\d+ stages? x \d+-way)", description)
    if m:
        return m.group(1)
    m = re.search(r"\((\d+ stages?)\)", description)
    return m.group(1) if m else description


def speedups_rows(csv_rows: list[dict]) -> list[list[str]]:
    rows = []
    for r in csv_rows:
        auto = (f"{r['auto_tensor_parallel']}-way, {float(r['auto_over_best']):.1%}"
                if r.get("auto_tensor_parallel") else "-")
        auto = auto.replace("100.0%", "100%")
        rows.append([r["model"], TRACE_LABELS.get(r["trace"], r["trace"]), f"{r['pim_gb']} GiB", str(r["gpus"]),
                     _shape(r["lolpim_shape"]),
                     *(_speedup_cell(r, k) for k, _ in SPEEDUP_BASELINES), auto])
    return rows


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------- GPU+PIM capacity (docs/hardware-gpu.md)

GPU_PIM_HEAD = ["model, trace", "GPUs", "HBM-PIM stacks per GPU (GiB)", "gpu tok/s", "gpu-pim hbm-pim tok/s",
                "gpu-pim best tok/s", "best FLOP/B"]


def gpu_pim_rows(csv_rows: list[dict]) -> list[list[str]]:
    """One row per (case, stacks): both placements side by side, each with its ratio to the GPUs."""
    def cell(r: dict) -> str:
        return f"{float(r['gpu_pim_tok_s']):.0f} ({float(r['over_gpu']):.2f}x)" if r["gpu_pim_tok_s"] else r["note"]
    by = {}
    for r in csv_rows:
        by.setdefault((r["model"], r["trace"], r["gpus"], r["stacks_per_device"]), {})[r["placement"]] = r
    rows = []
    for (model, trace, gpus, stacks), pair in by.items():
        best, pub = pair["best"], pair["hbm-pim"]
        rows.append([f"{model}, {TRACE_LABELS.get(trace, trace)}", gpus, f"{stacks} ({best['hbm_pim_gib']})",
                     f"{float(best['gpu_tok_s']):.0f}", cell(pub), cell(best),
                     f"{float(best['ops_per_byte']):g}" if best["ops_per_byte"] else "-"])
    return rows


def do_gpu_pim(tables_only: bool) -> None:
    csv_path, png = ROOT / "docs/figures/gpu_pim_capacity.csv", ROOT / "docs/figures/gpu_pim_capacity.png"
    if not tables_only:
        run([sys.executable, "benchmarks/gpu_pim_capacity.py", "--csv", str(csv_path), "--png", str(png)],
            stdout=subprocess.DEVNULL)
    changed = write_block(ROOT / "docs/hardware-gpu.md", "gpu-pim-capacity-table",
                          markdown(GPU_PIM_HEAD, gpu_pim_rows(read_csv(csv_path))))
    print(f"  docs/hardware-gpu.md [gpu-pim-capacity-table]: {'rewritten' if changed else 'unchanged'}", flush=True)


# ---------------------------------------------------------------- parts

SWEEPS = {  # part: (sweep file, figures folder, markdown file, block, head, rows)
    "scaling": ("deploy/sweep-scaling.toml", "docs/figures/scaling", "docs/scaling.md", "scaling-table",
                SCALING_HEAD, scaling_rows),
    "traces": ("deploy/sweep-traces.toml", "docs/figures/traces", "docs/scaling.md", "traces-table",
               TRACES_HEAD, traces_rows),
}
PARTS = ("scaling", "traces", "speedups", "long-context", "gpu-pim", "presets", "od-controls", "anchors",
         "window-cost", "window-cost-sheet", "llm-scale", "anchors-sheet")


def sweep_table(part: str, records: list[dict]) -> str:
    _, _, _, _, head, rows = SWEEPS[part]
    return markdown(head, rows(records))


def run(cmd: list[str], **kw) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True, **kw)


def do_sweep(part: str, tables_only: bool, serial: bool) -> None:
    from lolpim.orchestration.sweep import load_sweep, read_results, sweep_records
    sweep, figures, md, block, _, _ = SWEEPS[part]
    results = RESULTS / f"{part}.jsonl"
    if not tables_only:
        for p in (results, results.with_name(results.name + ".lock")):
            p.unlink(missing_ok=True)    # a fresh run: never resume from results of older code
        results.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        run(LOLPIM + ["sweep", sweep, "--results", str(results)] + (["--serial"] if serial else []),
            stdout=subprocess.DEVNULL)
        print(f"  {part}: sweep {time.perf_counter() - t0:.0f} s wall", flush=True)
        shutil.rmtree(ROOT / figures, ignore_errors=True)
        run(LOLPIM + ["plot", str(results), "--out", figures])
    records = sweep_records(load_sweep(ROOT / sweep), read_results(results))
    changed = write_block(ROOT / md, block, sweep_table(part, records))
    print(f"  {md} [{block}]: {'rewritten' if changed else 'unchanged'}", flush=True)


def do_speedups(tables_only: bool) -> None:
    txt, csv_path = ROOT / "docs/figures/lolpim_speedups.txt", ROOT / "docs/figures/lolpim_speedups.csv"
    if not tables_only:
        tmp = RESULTS / "lolpim_speedups.csv"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        out = subprocess.run([sys.executable, "benchmarks/lolpim_speedups.py", "--csv", str(tmp)], cwd=ROOT,
                             check=True, stdout=subprocess.PIPE, text=True).stdout
        write_text(txt, re.sub(r" +\[\d+ s wall\]", "", out))   # wall times vary: the file stays reproducible
        shutil.copyfile(tmp, csv_path)
    changed = write_block(ROOT / "docs/lolpim-system.md", "lolpim-speedups-table",
                          markdown(SPEEDUPS_HEAD, speedups_rows(read_csv(csv_path))))
    print(f"  docs/lolpim-system.md [lolpim-speedups-table]: {'rewritten' if changed else 'unchanged'}", flush=True)


# ---------------------------------------------------------------- presets (docs/hardware-pim.md, docs/hebbian.md)

PRESETS_HEAD = ["preset", "channels x banks", "capacity", "internal BW", "bank PIM peak", "near-memory unit",
                "input buffer", "output buffer", "timing (tCK; nRCD-MAC / nRP / nRAS / nRC / nRTP)", "link"]


def presets_table() -> str:
    """One row per PIM module preset, every figure computed from the preset (never typed)."""
    from lolpim.hardware.pim.spec import load_pim_module, pim_module_names
    rows = []
    for name in pim_module_names():
        m = load_pim_module(name)
        entries = f"{m.input_buffer_entries} {'entry' if m.input_buffer_entries == 1 else 'entries'}"
        rows.append([f"`{name}`", f"{m.channels} x {m.banks_per_channel}", f"{m.capacity_bytes / 2**30:g} GiB",
                     f"{m.internal_bandwidth_bytes_per_s / 1e12:.1f} TB/s", f"{m.pim_flops_per_s / 1e12:.1f} TFLOPS",
                     m.nmu_description,
                     ("2 sets x " if m.input_prefetch else "") + entries + (", prefetch" if m.input_prefetch else ""),
                     "dual port" if m.output_dual_port else "single port",
                     f"{m.tck_s * 1e9:g} ns; {m.n_rcd_mac} / {m.n_rp} / {m.n_ras} / {m.n_rc} / {m.n_rtp}", m.link])
    return markdown(PRESETS_HEAD, rows)


def hebbian_hook_text() -> str:
    """The digits layer's PIM cost as docs/hebbian.md quotes it (the CLI prints the same figures)."""
    import numpy as np
    from lolpim.hardware.pim.ternary_layer import pim_inference_cost
    d = pim_inference_cost(np.zeros((100, 448), dtype=np.int8)).as_dict()   # (outputs, inputs)
    return (f"For the digits layer (448 inputs x 100 outputs, batch 1) on `{d['module']}` the 2-bit GEMV "
            f"takes {d['ternary_time_s'] * 1e9:.0f} ns and {d['ternary_energy_j'] * 1e9:.0f} nJ against "
            f"{d['bf16_time_s'] * 1e9:.0f} ns and {d['bf16_energy_j'] * 1e9:.0f} nJ with bf16 weights.\n")


def do_presets() -> None:
    for md, block, body in (("docs/hardware-pim.md", "pim-presets-table", presets_table()),
                            ("docs/hebbian.md", "hebbian-pim-hook", hebbian_hook_text())):
        changed = write_block(ROOT / md, block, body)
        print(f"  {md} [{block}]: {'rewritten' if changed else 'unchanged'}", flush=True)


# ---------------------------------------------------------------- validation rows (docs/anchors.md)

KINDS = ("held-out", "calibration", "consistency")


def _figure(value, unit: str) -> str:
    return "-" if value is None else f"{float(value):.4g}{unit}"


def anchors_table(rows: list[dict]) -> str:
    """Counts per area and kind, then one line per row (names and sources in full)."""
    areas = list(dict.fromkeys(r["area"] for r in rows))
    counts = [[a, *(str(sum(r["kind"] == k for r in rows if r["area"] == a)) for k in KINDS),
               str(sum(r["status"] == "MISS*" for r in rows if r["area"] == a)),
               str(sum(r["status"] == "FAIL" for r in rows if r["area"] == a))] for a in areas]
    counts.append(["all", *(str(sum(r["kind"] == k for r in rows)) for k in KINDS),
                   str(sum(r["status"] == "MISS*" for r in rows)), str(sum(r["status"] == "FAIL" for r in rows))])
    detail = [[r["area"], r["name"].replace("|", "/"), r["kind"] or "?",
               ("<= " if r["error_kind"] == "at_most" else "") + _figure(r["expected"], r["unit"]),
               _figure(r["simulated"], r["unit"]), r["status"], r["source"].replace("|", "/")] for r in rows]
    return ("Rows per area and kind (a documented miss, MISS*, counts under its kind too):\n\n"
            + markdown(["area", "held-out", "calibration", "consistency", "MISS*", "FAIL"], counts) + "\n"
            + markdown(["area", "row", "kind", "expected", "simulated", "status", "source"], detail))


OD_GRID = "docs/figures/od_controls.json"


def do_anchors(tables_only: bool, od_grid: bool = False) -> None:
    out = RESULTS / "validation"
    if not tables_only:
        # validate exits 1 when a row fails: the table still shows it, so do not stop here.
        # --od-grid: the ocular-dominance grid's experiments from the grid benchmark's stored
        # output (the same deterministic runs) instead of ~55 min of reruns (K = 32)
        env = dict(os.environ, **({"LOLPIM_OD_GRID": str(ROOT / OD_GRID)} if od_grid else {}))
        subprocess.run(LOLPIM + ["validate", "--out", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL, env=env)
    rows = json.loads((out / "validation.json").read_text())
    changed = write_block(ROOT / "docs/anchors.md", "anchors-table", anchors_table(rows))
    print(f"  docs/anchors.md [anchors-table]: {'rewritten' if changed else 'unchanged'}", flush=True)


LLM_SCALE = "docs/figures/llm_scale.json"


def do_llm_scale(tables_only: bool) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import llm_scale
    path = ROOT / LLM_SCALE
    if not tables_only:
        out = subprocess.run([sys.executable, "benchmarks/llm_scale.py", "--json", "--with-one-pipeline"], cwd=ROOT,
                             check=True,
                             stdout=subprocess.PIPE, text=True).stdout
        write_text(path, out)
    measured = json.loads(path.read_text())
    body = llm_scale.table(measured["rows"])
    if measured.get("one_pipeline_rows"):
        body += ("\n\nThe best single pipeline (`lolpim.data_parallel=1`, the automatic shape before data "
                 "parallelism), the same runs otherwise:\n\n" + llm_scale.table(measured["one_pipeline_rows"]))
    body += f"\n\nMachine: {measured['load']}.\n"
    changed = write_block(ROOT / "docs/scaling.md", "llm-scale-table", body)
    print(f"  docs/scaling.md [llm-scale-table]: {'rewritten' if changed else 'unchanged'}", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)} (default: all)")
    ap.add_argument("--tables-only", action="store_true",
                    help="rewrite the markdown blocks from existing results, without simulating")
    ap.add_argument("--serial", action="store_true", help="run the sweeps in one process, without Ray")
    ap.add_argument("--od-grid", action="store_true",
                    help=f"anchors: read the ocular-dominance grid from {OD_GRID} instead of rerunning it")
    args = ap.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    bad = [p for p in parts if p not in PARTS]
    if bad:
        ap.error(f"unknown part(s) {', '.join(bad)}; choose from {', '.join(PARTS)}")
    for part in parts:
        t0 = time.perf_counter()
        print(f"[{part}]", flush=True)
        if part == "speedups":
            do_speedups(args.tables_only)
        elif part == "presets":
            do_presets()
        elif part == "anchors":
            # the od-controls part, when it ran first, has just stored the grid the OD rows need
            do_anchors(args.tables_only, args.od_grid or "od-controls" in parts[:parts.index(part)])
        elif part == "gpu-pim":
            do_gpu_pim(args.tables_only)
        elif part == "llm-scale":
            do_llm_scale(args.tables_only)
        elif part == "long-context":   # its own script: simulates in this process, ~40 s
            if args.tables_only:
                print("  long-context: no stored results to reuse; run without --tables-only", flush=True)
            else:
                subprocess.run([sys.executable, "benchmarks/long_context_study.py", "--docs"], cwd=ROOT, check=True)
        elif part == "window-cost":     # measures this machine (~2 min): its own script
            subprocess.run([sys.executable, "benchmarks/window_model.py", "--docs"]
                           + (["--tables-only"] if args.tables_only else []), cwd=ROOT, check=True)
        elif part == "window-cost-sheet":     # measures this machine (~3 min): its own script
            subprocess.run([sys.executable, "benchmarks/window_model.py", "--docs-sheet"]
                           + (["--tables-only"] if args.tables_only else []), cwd=ROOT, check=True)
        elif part == "anchors-sheet":   # other simulators in their own virtualenvs; skips without NEST
            subprocess.run([sys.executable, "benchmarks/sheet_anchors.py", "--docs"]
                           + (["--tables-only"] if args.tables_only else []), cwd=ROOT, check=True)
        elif part == "od-controls":     # the calibration rows, then the validation grid
            for script in (["benchmarks/od_calibration.py"], ["benchmarks/od_calibration.py", "--param", "homeo_tau_s"],
                           ["benchmarks/od_calibration.py", "--param", "protocol"],
                           ["benchmarks/od_controls_grid.py"]):
                subprocess.run([sys.executable, *script, "--docs", "--jobs", "2"]
                               + (["--tables-only"] if args.tables_only else []), cwd=ROOT, check=True)
        else:
            do_sweep(part, args.tables_only, args.serial)
        print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
