"""Constrained backpropagation on scikit-learn's digits, as a run: a CbpRun config in
(orchestration/learning_config.py), the runs, summary, histories and packed layers out.

Pretrains a full-precision MLP, post-trains it with CBP under a weight constraint; the text
table, and ``write_outputs``: CSV/JSON, CFS and accuracy curves (PNG) and the constrained
layers as packed low-bit arrays (.npz, see models/cbp/export.py). `lolpim cbp` and the Python
API (orchestration/api_learning.py) both run it through ``train``.
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from lolpim.hardware.pim.packed_layers import pim_deployment
from lolpim.models.cbp.experiment import (ABLATIONS, DigitsSetup, export_result, pretrained_digits,
                                          rounded_accuracy, run_cbp)
from lolpim.models.cbp.export import to_arrays
from lolpim.models.cbp.levels import level_set
from lolpim.orchestration.learning_config import CONSTRAINTS, CbpRun
from lolpim.orchestration.memory import check_fits
from lolpim.orchestration.progress import Progress
from lolpim.orchestration.results import save_figure, save_npz, write_csv, write_text

try:
    from threadpoolctl import threadpool_limits
except ImportError:   # optional (it comes with scikit-learn): without it, BLAS runs as configured
    threadpool_limits = None



def _single_thread_blas():
    """Tiny matrices run far faster on one BLAS thread than on contended many."""
    return contextlib.nullcontext() if threadpool_limits is None else threadpool_limits(1)


def _runs(config: CbpRun) -> list[tuple[str, str]]:
    """(constraint, variant) pairs this run trains."""
    constraints = CONSTRAINTS if config.constraint == "all" else (config.constraint,)
    if config.ablation:
        return [(c, v) for c in constraints for v in ABLATIONS]
    return [(c, "cbp") for c in constraints]


DIGITS_INPUTS, DIGITS_CLASSES, DIGITS_SAMPLES = 64, 10, 1797   # scikit-learn's 8x8 digits
WEIGHT_COPIES = 8       # float64 arrays per weight while CBP runs: pretrained, trained, multipliers,
                        # velocity, quantised, gradient and the constraint's temporaries


def train_bytes(hidden: list[int]) -> int:
    """Memory of one CBP run: every weight WEIGHT_COPIES times, plus the activations of the
    whole data set (accuracy passes) forward and backward."""
    sizes = [DIGITS_INPUTS, *hidden, DIGITS_CLASSES]
    weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
    return 8 * (WEIGHT_COPIES * weights + 2 * DIGITS_SAMPLES * sum(sizes))


def train(config: CbpRun) -> dict:
    """Every (constraint, variant, seed) of ``config``: {"setup", "runs", "summary", "pim",
    "histories", "packed"}; the first four are the CLI's --json."""
    check_fits(train_bytes(list(config.hidden)), f"--hidden {' '.join(map(str, config.hidden))}",
               f"{WEIGHT_COPIES} float64 copies of every weight while training", "use smaller hidden layers")
    setup = DigitsSetup(hidden_sizes=tuple(config.hidden), pretrain_epochs=config.pretrain_epochs,
                        cbp_epochs=config.epochs)
    setup = replace(setup, settings=replace(setup.settings, p_max_epochs=config.p_max))
    seeds = list(range(config.seed, config.seed + config.seeds))
    runs = _runs(config)
    # redrawn on a terminal, a line every 10% elsewhere (stderr: --json output stays clean)
    bar = Progress("cbp", total=len(seeds) * (setup.pretrain_epochs + len(runs) * setup.cbp_epochs), delay_s=0.0,
                   enabled=not config.quiet, log_lines=True, log_every=0.1)
    rows, histories, packed = [], {}, {}
    with _single_thread_blas():
        for seed in seeds:
            # the progress lambdas (noqa: B023) are called within their own iteration, never kept
            pre = pretrained_digits(seed, setup, on_epoch=lambda r: bar.step(f"seed {seed} pretrain"))  # noqa: B023
            for constraint, variant in runs:
                tag = f"{constraint}/{variant}/seed{seed}"
                result = run_cbp(pre, constraint, setup, variant, on_epoch=lambda r: bar.step(
                    f"{tag} epoch {r['epoch'] + 1} g={r['g']:g} cfs={r['cfs']:.3f}"))  # noqa: B023
                final = result.final
                rows.append({"constraint": constraint, "variant": variant, "seed": seed,
                             "weight_bits": level_set(constraint).weight_bits,
                             "fp_test_acc": pre.fp_test_acc,
                             "rounded_test_acc": rounded_accuracy(pre, constraint),
                             "test_acc": final["test_acc"], "train_acc": final["train_acc"],
                             "drop_points": 100 * (pre.fp_test_acc - final["test_acc"]),
                             "final_cfs": final["cfs"],
                             # g means nothing without a constraint, and is infinite without a window
                             "final_g": final["g"] if variant == "cbp" else None,
                             "lambda_updates": sum(h["updated"] for h in result.history)})
                histories[tag] = result.history
                packed[tag] = export_result(result)
    bar.close()
    return {"setup": {"hidden_sizes": list(setup.hidden_sizes), "pretrain_epochs": setup.pretrain_epochs,
                      "cbp_epochs": setup.cbp_epochs, "seeds": seeds, "p_max_epochs": setup.settings.p_max_epochs},
            "runs": rows, "summary": _summary(rows), "pim": _pim_costs(packed) if config.pim else None,
            "histories": histories, "packed": packed}


def summary_text(result: dict) -> str:
    """The results table, and the PIM costs when they were asked for."""
    return _table(result["summary"]) + (f"\n{_pim_table(result['pim'])}" if result["pim"] else "")


def write_outputs(out: Path, result: dict) -> None:
    _write(out, result["runs"], result["summary"], result["histories"], result["packed"], result["pim"])


def _summary(rows: list[dict]) -> list[dict]:
    out = []
    for key in dict.fromkeys((r["constraint"], r["variant"]) for r in rows):
        group = [r for r in rows if (r["constraint"], r["variant"]) == key]
        mean = lambda k: float(np.mean([r[k] for r in group]))  # noqa: E731, B023 (used in this iteration only)
        out.append({"constraint": key[0], "variant": key[1], "seeds": len(group),
                    "weight_bits": group[0]["weight_bits"],
                    "fp_test_acc": mean("fp_test_acc"), "rounded_test_acc": mean("rounded_test_acc"),
                    "test_acc": mean("test_acc"), "drop_points": mean("drop_points"),
                    "final_cfs": mean("final_cfs"),
                    "final_g": mean("final_g") if group[0]["final_g"] is not None else None})
    return out


def _table(summary: list[dict]) -> str:
    header = ("constraint", "variant", "bits", "seeds", "FP acc", "rounded acc", "trained acc",
              "drop (pts)", "CFS", "g")
    lines = [header] + [(s["constraint"], s["variant"], str(s["weight_bits"]), str(s["seeds"]),
                         f"{100 * s['fp_test_acc']:.2f}", f"{100 * s['rounded_test_acc']:.2f}",
                         f"{100 * s['test_acc']:.2f}", f"{s['drop_points']:+.2f}",
                         f"{s['final_cfs']:.4f}",
                         "-" if s["final_g"] is None else f"{s['final_g']:g}") for s in summary]
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    text = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


def _pim_costs(packed: dict) -> dict:
    """Per run: each exported layer's GEMV time and bank bytes on the PIM module, vs bf16."""
    return {tag: pim_deployment(layers) for tag, layers in packed.items()}


def _pim_table(pim: dict) -> str:
    lines = ["PIM module 'lolpim-module', one GEMV per exported layer (batch 1):"]
    for tag, rows in pim.items():
        for r in rows:
            lines.append(f"  {tag} {r['layer']} {r['shape'][0]}x{r['shape'][1]} {r['weight_bits']}-bit: "
                         f"GEMV {1e9 * r['gemv_time_s']:.0f} ns (bf16 {1e9 * r['gemv_time_bf16_s']:.0f} ns), "
                         f"{r['bank_bytes']} bank bytes (bf16 {r['bank_bytes_bf16']})")
    return "\n".join(lines)


def _write(out: Path, rows, summary, histories, packed, pim) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, table in (("runs.csv", rows), ("summary.csv", summary)):
        write_csv(out / name, table, fields=list(table[0]))
    finite = {tag: [{k: (None if v == float("inf") else v) for k, v in h.items()} for h in hist]
              for tag, hist in histories.items()}   # strict JSON has no Infinity
    write_text(out / "results.json", json.dumps({"runs": rows, "summary": summary,
                                                 "histories": finite, "pim": pim}, indent=1))
    for tag, layers in packed.items():
        save_npz(out / f"weights_{tag.replace('/', '_')}.npz", **to_arrays(layers))
    _plot(out / "curves.png", histories)


def _plot(path: Path, histories: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax_cfs, ax_acc, ax_g) = plt.subplots(3, 1, figsize=(7, 10))
    for tag, hist in histories.items():
        epochs = [h["epoch"] + 1 for h in hist]
        cfs = [max(h["cfs"], 1e-6) for h in hist]
        line, = ax_cfs.plot(epochs, cfs, label=tag, lw=1)
        ax_acc.plot(epochs, [100 * h["test_acc"] for h in hist], lw=1, color=line.get_color())
        finite = [(h["g"], c) for h, c in zip(hist, cfs) if h["g"] != float("inf")]
        if finite:  # the no-window ablation has g = inf throughout
            ax_g.plot(*zip(*finite), ".", ms=2, color=line.get_color())
    ax_cfs.set_yscale("log")
    ax_cfs.set_ylabel("CFS (mean Y / a)")
    ax_cfs.set_xlabel("CBP epoch")
    ax_acc.set_ylabel("test accuracy, rounded weights (%)")
    ax_acc.set_xlabel("CBP epoch")
    ax_g.set_xscale("log")
    ax_g.set_yscale("log")
    ax_g.set_xlabel("window parameter g")
    ax_g.set_ylabel("CFS (mean Y / a)")
    ax_cfs.legend(fontsize=6, ncol=2)
    ax_cfs.set_title("CBP on digits: constraint failure, accuracy, CFS against g")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
