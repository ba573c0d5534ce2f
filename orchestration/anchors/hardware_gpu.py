"""GPU model anchors: the H200 preset against measured microbenchmarks it was not fitted on,
and its learned efficiencies against the AttAcc GPU model's published utilisation caps.

Calibration split (see lolpim/hardware/gpu_calibration.py): GEMV fitted on K x N = 4096x4096,
4096x11008, 8192x28672 and held out 11008x4096, 8192x8192 (all batches); attention fitted on
L in {4K, 32K, 128K} x B in {1, 16} and held out every B = 4 row and every L in {16K, 64K} row;
the device copy is held out; the BF16 GEMM throughput is the calibration point of the GEMM
efficiency. Whole decoder layers (hardware/gpu/data/h200_decoder_layers.json, measured after the fit
on a lent H200) are all held out: see lolpim/hardware/gpu_layer_check.py.
"""
from __future__ import annotations

import numpy as np
from lolpim.hardware.gpu.calibration import (
    PREFILL_PATH,
    a100_attention_predictions,
    load_microbench,
    load_prefill_parts,
    predictions,
    prefill_attention_predictions,
)
from lolpim.hardware.gpu.layer_check import MEASURED as MEASURED_LAYER_FILES
from lolpim.hardware.gpu.layer_check import compare_layers
from lolpim.hardware.gpu.model import gpu_attention_kernel_cost, load_gpu
from lolpim.orchestration.validation import AnchorCheck, ErrorKind, RowKind

HELD_OUT, CALIBRATION, CONSISTENCY = RowKind.HELD_OUT, RowKind.CALIBRATION, RowKind.CONSISTENCY

MEASURED = "measured here: hardware/gpu/data/h200_decode_microbench.json"
LAYERS = "measured here: hardware/gpu/data/h200_decoder_layers.json"
PREFILL = "measured here: hardware/gpu/data/h200_prefill_parts.json"


def checks() -> list[AnchorCheck]:

    h200 = load_gpu("h200")
    mb = load_microbench()
    preds = predictions(h200, mb)
    held = [p for p in preds if p.held_out and p.kind in ("gemv", "attention")]
    out = [
        AnchorCheck("hardware", "H200 held-out GEMV+attention time, median |error| (35 rows)",
                    MEASURED + " (held-out rows)", 0.0, float(np.median([abs(p.error) for p in held])),
                    0.10, error_kind=ErrorKind.BOUND, kind=HELD_OUT),
        AnchorCheck("hardware", "H200 held-out GEMV time, median |error| (11008x4096, 8192x8192; B 1-64)",
                    MEASURED + " (gemv rows)", 0.0,
                    float(np.median([abs(p.error) for p in held if p.kind == "gemv"])), 0.10,
                    error_kind=ErrorKind.BOUND, kind=HELD_OUT),
        AnchorCheck("hardware", "H200 held-out decode-attention time, median |error| (B=4, L=16K/64K rows)",
                    MEASURED + " (attention_decode rows)", 0.0,
                    float(np.median([abs(p.error) for p in held if p.kind == "attention"])), 0.10,
                    error_kind=ErrorKind.BOUND, kind=HELD_OUT),
    ]
    # docs/anchors.md section 4 highlight: long KV caches stream at ~95% of peak (held-out row).
    row = next(r for r in mb["attention_decode"]
               if (r["H"], r["KVH"], r["B"], r["L"]) == (32, 32, 4, 65536))
    cost = gpu_attention_kernel_cost(h200, row["B"] * row["L"], row["H"], row["KVH"], row["D"], row["B"])
    out.append(AnchorCheck("hardware", "H200 decode attention KV bandwidth, L=64K B=4 MHA (held out)",
                           MEASURED + " (kv_GBps)", row["kv_GBps"],
                           cost.detail["kv_bytes"] / cost.time_s / 1e9, 0.10, unit=" GB/s", kind=HELD_OUT))
    prefill = [abs(p.error) for p in preds if p.held_out and p.kind == "prefill_attention"]
    out.append(AnchorCheck("hardware", "H200 held-out causal prefill attention, median |error| (P=512/2K/8K)",
                           PREFILL + " (attention_s; fit on P=1K/4K/16K)", 0.0, float(np.median(prefill)),
                           0.10, error_kind=ErrorKind.BOUND, kind=HELD_OUT))
    copy = next(p for p in preds if p.kind == "copy")
    out.append(AnchorCheck("hardware", "H200 device copy bandwidth, read+write (held out)",
                           MEASURED + " (hbm_copy_TBps)", copy.measured / 1e12, copy.predicted / 1e12,
                           0.10, unit=" TB/s",
                           note="predicted with the GEMV streaming efficiency; copy size assumed 1 GiB", kind=HELD_OUT))
    gemm = next(p for p in preds if p.kind == "gemm")
    out.append(AnchorCheck("hardware", "H200 BF16 GEMM throughput, 8192^3 (calibration point)",
                           MEASURED + " (gemm_bf16_TFLOPs)", gemm.measured / 1e12, gemm.predicted / 1e12,
                           0.10, unit=" TFLOP/s",
                           note="sets gemm_compute_efficiency: checks the preset, not a prediction", kind=CALIBRATION))
    # AttAcc (ASPLOS'24) GPU model caps utilisation at 0.8 (compute) and 0.85 (memory):
    # an independent published figure for the shares of peak our H200 fit learned.
    out.append(AnchorCheck("hardware", "learned GEMM efficiency vs AttAcc GPU compute cap",
                           "AttAcc ASPLOS'24 artifact src/config.py MAX_COMPUTE_UTIL 0.8",
                           0.8, h200.gemm_compute_efficiency, 0.10, kind=CONSISTENCY))
    out.append(AnchorCheck("hardware", "learned GEMV bandwidth efficiency vs AttAcc GPU memory cap",
                           "AttAcc ASPLOS'24 artifact src/config.py MAX_OFF_MEM_BW_UTIL 0.85",
                           0.85, h200.gemv_bandwidth_efficiency, 0.10, kind=CONSISTENCY))
    return out + layer_checks(h200) + h100_checks() + a100_checks()


def layer_checks(spec) -> list[AnchorCheck]:
    """Whole decoder layers measured on the card of ``spec``, none of them used in the fit.
    Tolerances: 10% on the medians (as for the held-out kernels), 15% on each fused layer (a
    layer sums ~12 kernels)."""

    rows = compare_layers(spec)
    card = spec.name.upper().split("-")[0]
    layers = f"measured here: hardware/gpu/data/{MEASURED_LAYER_FILES[spec.name]}_decoder_layers.json"
    prefill = f"measured here: hardware/gpu/data/{MEASURED_LAYER_FILES[spec.name]}_prefill_parts.json"

    def median(kind):
        return float(np.median([abs(r.error) for r in rows if r.kind == kind]))

    out = [
        AnchorCheck("hardware", f"{card} decode layer: 4 weight GEMMs in sequence, median |error| (72 rows)",
                    layers + " (gemms_only_s; 5 presets, B 1-64, KV 1K-32K)", 0.0, median("fc"), 0.10,
                    error_kind=ErrorKind.BOUND, kind=HELD_OUT),
        AnchorCheck("hardware", f"{card} decode layer: attention inside the layer, median |error| (72 rows)",
                    layers + " (layer_s - no_attention_s)", 0.0, median("attention"), 0.10,
                    error_kind=ErrorKind.BOUND, kind=HELD_OUT),
    ]
    for r in (r for r in rows if r.kind == "fused_layer"):
        out.append(AnchorCheck("hardware", f"{card} whole decode layer, fused element-wise: {r.label}",
                               layers + " (decode_compiled rows, torch.compile)", r.measured_s * 1e6,
                               r.predicted_s * 1e6, 0.15, unit=" us",
                               note=KNOWN_FUSED_MISSES.get((spec.name, r.label), ""),
                               documented_as_miss=(spec.name, r.label) in KNOWN_FUSED_MISSES, kind=HELD_OUT))
    for r in (r for r in rows if r.kind == "whole_model"):
        out.append(AnchorCheck("hardware", f"{card} whole-model decode step (fused, one CUDA graph): {r.label}",
                               f"measured here: hardware/gpu/data/{MEASURED_LAYER_FILES[spec.name]}_whole_model.json",
                               r.measured_s * 1e3, r.predicted_s * 1e3, 0.10, unit=" ms", kind=HELD_OUT))
    for r in (r for r in rows if r.kind == "fused_prefill_layer"):
        out.append(AnchorCheck("hardware", f"{card} whole prefill layer, fused element-wise: {r.label}",
                               prefill + " (prefill_compiled rows, torch.compile)", r.measured_s * 1e6,
                               r.predicted_s * 1e6, 0.15, unit=" us", kind=HELD_OUT))
    out.append(AnchorCheck("hardware", f"{card} prefill: 4 weight GEMMs in sequence, median |error| (30 rows)",
                           prefill + " (gemms_only_s; P 512-16K)", 0.0, median("prefill_fc"), 0.10,
                           error_kind=ErrorKind.BOUND, kind=HELD_OUT))
    out.append(AnchorCheck("hardware", f"{card} prefill layer (eager PyTorch), median |error| (15 rows)",
                           prefill + " (prefill rows, P 512-8192)", 0.0, median("prefill_layer"), 0.15,
                           error_kind=ErrorKind.BOUND, documented_as_miss=True,
                           note="known miss: the model assumes fused element-wise kernels (its fused prefill "
                                "layers are within 2-13%); the eager layer runs ~30 unfused kernels, "
                                "each streaming P x hidden activations", kind=HELD_OUT))
    return out


# Rows known to miss, with their cause (strict xfails in the tests: a fix is noticed).
KNOWN_FUSED_MISSES = {
    ("h100-sxm", "llama3.1-70b tp4 B=1 L=4096"):
        "known miss (-15.2%): the model charges 5 element-wise kernels (~13 us); the fused layer launches "
        "12 (split-K reductions included), ~20 us more at batch 1, which weighs most on a small TP share",
}


def h100_checks() -> list[AnchorCheck]:
    """The H100 preset is the datasheet (989 TFLOPS, 3.35 TB/s) plus the efficiencies learned on
    the H200: its measured layers test whether those carry over (nothing refitted)."""

    h100 = load_gpu("h100-sxm")
    path = "hardware/gpu/data/h100_prefill_parts.json"
    rows = load_prefill_parts(PREFILL_PATH.with_name("h100_prefill_parts.json"))
    errors = [abs(p.error) for p in prefill_attention_predictions(h100, rows)]
    return layer_checks(h100) + [
        AnchorCheck("hardware", "H100 causal prefill attention, median |error| (30 rows, H200 fit)",
                    f"measured here: {path} (attention_s)", 0.0, float(np.median(errors)), 0.10,
                    error_kind=ErrorKind.BOUND, kind=HELD_OUT)]



A100_SOURCE = ("FlashInfer blog (Ye et al., 2024-02-02), Figures 6 and 9, A100 PCIe 80GB panels, read off the "
               "published figures: hardware/gpu/data/a100_published_decode_attention.json")


def a100_checks() -> list[AnchorCheck]:
    """The A100's decode attention, fitted on FlashInfer's published batch 1 and 64 rows, against
    the rows it was not fitted on (held out), and one published figure read directly."""
    rows = a100_attention_predictions(load_gpu("a100-80gb"))
    held = [p for p in rows if p.held_out and "vllm" not in p.label]
    long = next(p for p in rows if p.label.endswith("flashinfer H=32 KVH=32 B=1 L=65536"))
    return [
        AnchorCheck("hardware", f"A100 held-out decode-attention time, median |error| ({len(held)} rows: "
                                "batch 16, GQA batch 64)", A100_SOURCE + " (held-out rows)", 0.0,
                    float(np.median([abs(p.error) for p in held])), 0.10, error_kind=ErrorKind.BOUND, kind=HELD_OUT),
        AnchorCheck("hardware", "A100 decode attention, batch 1 at 64K tokens (fit row), time",
                    A100_SOURCE + " (Figure 6: 87% of peak)", long.measured * 1e6, long.predicted * 1e6, 0.10,
                    unit=" us", note="a calibration row: checks the preset, not a prediction", kind=CALIBRATION),
    ]
