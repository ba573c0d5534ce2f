"""The long-context study: LoL-PIM over CENT (PIM-only) and over NeuPIMs (xPU+PIM) at 32K, 128K
and 1M tokens, next to LoL-PIM v3's figures.

    .venv/bin/python benchmarks/long_context_study.py            # print the tables (~1 min)
    .venv/bin/python benchmarks/long_context_study.py --docs     # and rewrite docs/long-context.md's
                                                                 # generated blocks + docs/figures/long_context.csv

Cases and protocol: hardware/systems/presets/long_context_study.toml; the runs:
orchestration/llm/long_context.py. Wall times go to stderr only (they depend on the machine).
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from docs_figures import markdown, read_block, write_block  # noqa: E402,F401 (read_block: tests)

from lolpim.orchestration.llm.long_context import run_study  # noqa: E402
from lolpim.orchestration.results import atomic_open  # noqa: E402

DOC = ROOT / "docs" / "long-context.md"
CSV_OUT = ROOT / "docs" / "figures" / "long_context.csv"
TRACES = {"longbench-qmsum": "LongBench QMSum", "lveval-multifieldqa": "LV-Eval multifieldqa",
          "lveval-loogle-sd": "LV-Eval Loogle-SD", "fixed": "fixed 1,048,576 tokens"}
NAMES = {"lolpim": "LoL-PIM", "cent": "CENT (published)", "cent best": "CENT (best)",
         "lolpim-xpu": "LoL-PIM (xPU+PIM)", "neupims": "NeuPIMs (published)", "neupims best": "NeuPIMs (best)"}


def pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def bracket(r, system: str, baseline: str) -> str:
    """LoL-PIM's speedup as [vs the baseline at its best, vs it as published]."""
    best, published = r.bracket(system, baseline)
    return f"[{best:.2f}x, {published:.2f}x]"


def ratio_rows(results, published) -> list[list[str]]:
    paper = {"128K": (f"up to {published['lolpim_over_cent_128k_max']}x",
                      f"up to {published['lolpim_over_neupims_max']}x"),
             "1M": (f"{published['lolpim_over_cent_1m']}x", f"{published['lolpim_over_neupims_1m']}x")}
    rows = []
    for r in results:
        c = r.case
        p_cent, p_neu = paper.get(c.label, ("2.1-4.5x (32K, no GQA)" if c.label == "32K" else "-", "-"))
        rows.append([c.label, c.model, TRACES.get(c.source, c.source), f"{c.pim_capacity_gib:g}",
                     bracket(r, "lolpim", "cent"), p_cent,
                     bracket(r, "lolpim-xpu", "neupims"), p_neu, bracket(r, "lolpim", "neupims")])
    return rows


def run_rows(results) -> list[list[str]]:
    rows = []
    for r in results:
        for name, run in r.runs.items():
            rows.append([r.case.label, r.case.model, NAMES[name], run.description.split(";")[0],
                         run.attention_mapping, run.shape,
                         f"{run.throughput_tokens_per_s:.1f}", f"{run.tpot_mean_s * 1e3:.1f}",
                         pct(run.kv_used_utilisation), pct(run.mac_utilisation),
                         pct(run.attention_channel_utilisation)])
    return rows


RATIO_HEAD = ["context", "model", "trace", "PIM GiB", "LoL-PIM / CENT [best, published]", "paper",
              "LoL-PIM (xPU) / NeuPIMs [best, published]", "paper", "LoL-PIM / NeuPIMs [best, published]"]
RUN_HEAD = ["context", "model", "system", "hardware", "attention mapping", "[pipelines x] stages x TP", "tok/s",
            "TPOT ms", "KV used", "MAC util", "attention channel util"]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", action="store_true", help="rewrite docs/long-context.md's tables and the CSV")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    last = [start]

    def progress(done, total, case):
        now = time.perf_counter()
        print(f"[{done}/{total}] {case.title}: {now - last[0]:.1f} s", file=sys.stderr)
        last[0] = now

    results, published = run_study(progress)
    print(f"study: {time.perf_counter() - start:.1f} s wall", file=sys.stderr)
    ratios, runs = markdown(RATIO_HEAD, ratio_rows(results, published)), markdown(RUN_HEAD, run_rows(results))
    print(ratios + "\n" + runs)
    if args.docs:
        write_block(DOC, "long-context-ratios", ratios)
        write_block(DOC, "long-context-runs", runs)
        CSV_OUT.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(CSV_OUT, "w") as fh:
            out = csv.writer(fh)
            out.writerow(["context", "model", "source", "pim_capacity_gib", "system", "end", "attention_mapping",
                          "modules", "tensor_parallel", "pipelines",
                          "throughput_tokens_per_s", "tpot_mean_s", "kv_used_utilisation", "mac_utilisation",
                          "attention_channel_utilisation", "description"])
            for r in results:
                for _name, run in r.runs.items():
                    out.writerow([r.case.label, r.case.model, r.case.source, r.case.pim_capacity_gib, run.system,
                                  run.end, run.attention_mapping, run.modules,
                                  run.tensor_parallel, run.pipelines, run.throughput_tokens_per_s, run.tpot_mean_s,
                                  run.kv_used_utilisation, "" if run.mac_utilisation is None else run.mac_utilisation,
                                  run.attention_channel_utilisation, run.description])
        print(f"wrote {DOC.relative_to(ROOT)} and {CSV_OUT.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
