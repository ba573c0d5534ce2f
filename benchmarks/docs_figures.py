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
  od-controls  benchmarks/od_calibration.py and od_controls_grid.py --docs -> the od-calibration
            and the three od-controls blocks of docs/plasticity-cascade.md (issue 23's
            ocular-dominance calibration rows and grid: 25 experiments, ~30 min on 2 cores;
            docs/figures/od_calibration.json and od_controls.json, reused by --tables-only)

`--tables-only` rewrites the markdown blocks from the existing results (results/docs/*.jsonl
and docs/figures/lolpim_speedups.csv) without simulating. The text outside the marker blocks
is not touched: prose that quotes a number must be checked by hand after a rerun.
tests/test_docs_figures.py reruns a few points and checks them against the blocks.

Not generated here: wall-time tables (benchmarks/scale.py, benchmarks/system.py, README's
kernel figures), which depend on the machine and are not reproducible.
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

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
    return [(k[0], k[1], v["lolpim"], v["cent"]) for k, v in sorted(by.items(), key=lambda kv: (order[kv[0][0]], kv[0][1]))
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
        path.write_text(new)
    return new != text


# ---------------------------------------------------------------- speedup table (docs/lolpim-system.md)

SPEEDUPS_HEAD = ["model", "trace", "PIM", "GPUs", "LoL-PIM shape (best)", "vs multi-GPU", "vs GPU+PIM", "vs CENT",
                 "auto shape"]


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
        rows.append([r["model"], TRACE_LABELS.get(r["trace"], r["trace"]), f"{r['pim_gb']} GB", str(r["gpus"]),
                     _shape(r["lolpim_shape"]),
                     *(f"{float(r[f'steady_speedup_vs_{k}']):.2f}x" for k in ("gpu", "gpu-pim", "cent")), auto])
    return rows


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------- parts

SWEEPS = {  # part: (sweep file, figures folder, markdown file, block, head, rows)
    "scaling": ("deploy/sweep-scaling.toml", "docs/figures/scaling", "docs/scaling.md", "scaling-table",
                SCALING_HEAD, scaling_rows),
    "traces": ("deploy/sweep-traces.toml", "docs/figures/traces", "docs/scaling.md", "traces-table",
               TRACES_HEAD, traces_rows),
}
PARTS = ("scaling", "traces", "speedups", "long-context", "od-controls")


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
        txt.write_text(re.sub(r" +\[\d+ s wall\]", "", out))   # wall times vary: the file stays reproducible
        shutil.copyfile(tmp, csv_path)
    changed = write_block(ROOT / "docs/lolpim-system.md", "lolpim-speedups-table",
                          markdown(SPEEDUPS_HEAD, speedups_rows(read_csv(csv_path))))
    print(f"  docs/lolpim-system.md [lolpim-speedups-table]: {'rewritten' if changed else 'unchanged'}", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)} (default: all)")
    ap.add_argument("--tables-only", action="store_true",
                    help="rewrite the markdown blocks from existing results, without simulating")
    ap.add_argument("--serial", action="store_true", help="run the sweeps in one process, without Ray")
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
        elif part == "long-context":   # its own script: simulates in this process, ~40 s
            if args.tables_only:
                print("  long-context: no stored results to reuse; run without --tables-only", flush=True)
            else:
                subprocess.run([sys.executable, "benchmarks/long_context_study.py", "--docs"], cwd=ROOT, check=True)
        elif part == "od-controls":     # the calibration rows, then the validation grid
            for script in ("benchmarks/od_calibration.py", "benchmarks/od_controls_grid.py"):
                subprocess.run([sys.executable, script, "--docs", "--jobs", "2"]
                               + (["--tables-only"] if args.tables_only else []), cwd=ROOT, check=True)
        else:
            do_sweep(part, args.tables_only, args.serial)
        print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
