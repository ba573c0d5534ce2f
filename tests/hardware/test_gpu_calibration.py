"""H200 calibration: fitted on part of the measured microbenchmarks, checked on the rest.

Source: measured here, hardware/gpu/data/h200_decode_microbench.json (docs/anchors.md section 4).
Calibration rows: GEMV K x N = 4096x4096, 4096x11008, 8192x28672 (B = 1, 4, 16, 64);
attention L in {4096, 32768, 131072} with B in {1, 16} for (H, KVH) = (32, 32), (32, 8), (64, 8);
the BF16 GEMM throughput (791.5 TFLOP/s) sets the GEMM efficiency.
Held-out rows: GEMV 11008x4096 and 8192x8192 (8 rows); attention every B = 4 row and every
L in {16384, 65536} row (27 rows); the device copy (4.263 TB/s).
Acceptance: median |error| <= 10% on the held-out rows (docs/anchors.md section 4 / issue 3).
Whole decoder layers measured later on a lent H200 (hardware/gpu/data/h200_decoder_layers.json) are
all held out.
Cross-check: AttAcc (ASPLOS'24) GPU model caps 0.8 compute / 0.85 memory, tolerance 10%.
"""
import dataclasses

import numpy as np
import pytest

from lolpim.hardware.gpu.model import gpu_attention_efficiency, gpu_names, load_gpu
from lolpim.hardware.gpu.calibration import (a100_attention_is_fit_row, a100_attention_predictions,
                                             attention_is_fit_row, fit_a100_attention, fit_gpu_efficiencies,
                                             gemv_is_fit_row, load_a100_attention, load_microbench,
                                             load_prefill_parts, predictions, prefill_is_fit_row, refit)
from lolpim.orchestration.anchors import hardware_gpu

CALIBRATED = ("kernel_overhead_s", "attention_overhead_s", "gemv_bandwidth_efficiency",
              "attention_bandwidth_efficiency", "gemm_compute_efficiency", "prefill_attention_overhead_s",
              "prefill_attention_compute_efficiency")


# Computed at collection, unlike the system and plasticity anchors: these rows are the closed-form
# GPU model over the JSON measurements (~0.3 s, no simulation), and their names come from the data.
@pytest.mark.parametrize("check", [
    # a documented miss that drifted out of its recorded band gets no xfail mark: it fails
    pytest.param(c, id=c.name, marks=[pytest.mark.xfail(strict=True, reason=c.note)]
                 if c.documented_as_miss and not c.drifted else [])
    for c in hardware_gpu.checks()])
def test_h200_anchor(check):
    """Each AnchorCheck of orchestration/anchors/hardware_gpu.py (sources in their fields).
    Whole decoder layers (hardware/gpu/data/h200_decoder_layers.json, held out): weight GEMMs and
    in-layer attention median |error| <= 10% (72 rows each), each torch.compile'd layer within
    15%; the same on a lent H100 (hardware/gpu/data/h100_*.json) against the h100-sxm preset with
    the H200-learned efficiencies; whole-model decode steps of Llama-2-7B and Llama-3.1-8B on the
    H200 (hardware/gpu/data/h200_whole_model.json) each within 10%; eager prefill layers and the H100
    70B-TP4 batch-1 fused layer (-15.2%) are documented misses (strict xfail)."""
    assert check.passed, check


def test_split_sizes_are_as_documented():
    mb = load_microbench()
    assert sum(not gemv_is_fit_row(r) for r in mb["gemv"]) == 8
    assert sum(not attention_is_fit_row(r) for r in mb["attention_decode"]) == 27
    prefill = load_prefill_parts()
    assert len(prefill) == 30 and sum(not prefill_is_fit_row(r) for r in prefill) == 15


def test_preset_holds_the_refit_values():
    """The H200 TOML stores exactly what benchmarks/calibrate_gpu.py fits (4 significant digits)."""
    h200 = load_gpu("h200")
    assert refit(h200) == h200


def test_held_out_rows_do_not_influence_the_fit():
    """Scrambling every held-out time leaves the fitted constants unchanged."""
    h200 = load_gpu("h200")
    mb = load_microbench()
    scrambled = dict(mb)
    scrambled["gemv"] = [r if gemv_is_fit_row(r) else dict(r, s=r["s"] * 3) for r in mb["gemv"]]
    scrambled["attention_decode"] = [r if attention_is_fit_row(r) else dict(r, s=r["s"] / 2)
                                     for r in mb["attention_decode"]]
    assert fit_gpu_efficiencies(h200, scrambled) == fit_gpu_efficiencies(h200, mb)
    # ... while the held-out error sees the change
    worse = [abs(p.error) for p in predictions(h200, scrambled) if p.held_out and p.kind == "gemv"]
    assert min(worse) > 0.5


def test_other_gpus_reuse_the_h200_efficiencies():
    """H100 reuses every H200-learned field (checked on a lent H100); the A100 every one except
    decode attention, which is fitted on published A100 measurements (test_a100_attention_*)."""
    h200 = load_gpu("h200")
    a100_own = {"attention_overhead_s", "attention_bandwidth_efficiency"}
    for name in gpu_names():
        spec = load_gpu(name)
        shared = [f for f in CALIBRATED if not (name == "a100-80gb" and f in a100_own)]
        assert {f: getattr(spec, f) for f in shared} == {f: getattr(h200, f) for f in shared}, name
        assert spec.attention_half_efficiency_bytes == (0.0 if name != "a100-80gb" else pytest.approx(3.785e7))


def test_a100_preset_holds_the_fit_of_the_published_rows():
    fitted = fit_a100_attention()
    a100 = load_gpu("a100-80gb")
    for field, value in fitted.items():
        assert getattr(a100, field) == pytest.approx(value, rel=1e-3), field
    assert a100.attention_overhead_s == 0.0


def test_a100_attention_held_out_rows():
    """Fit on FlashInfer batch 1 and 64 (Figure 6); held out: batch 16 and the GQA batch
    (Figure 9). Documented in docs/hardware-gpu.md: median 5.0%, max 8.6%."""
    rows = [p for p in a100_attention_predictions(load_gpu("a100-80gb")) if p.held_out and "vllm" not in p.label]
    errors = np.abs([p.error for p in rows])
    assert len(rows) == 14 and np.median(errors) < 0.05 and errors.max() < 0.10
    # the fixed-overhead form refitted on the same rows misses them by twice as much or more
    data = load_a100_attention()
    fit = [r for r in data["rows"] if a100_attention_is_fit_row(r)]
    assert len(fit) == 18


def test_a100_decode_attention_spans_the_published_range():
    """Issue 21: published A100 decode attention reaches 3-87% of peak depending on batch and
    length; the H200-learned efficiency (0.961 with a 7.4 us overhead) put a 16.8 MB cache at
    51% of peak where FlashInfer measured 32%."""
    a100 = load_gpu("a100-80gb")
    short = gpu_attention_efficiency(a100, 1024, 1, kv_heads=32)      # 16.8 MB: measured 32%
    long = gpu_attention_efficiency(a100, 65536, 1, kv_heads=32)      # 1.07 GB: measured 87%
    assert 0.25 < short < 0.40 and 0.80 < long < 0.93
    old = dataclasses.replace(a100, attention_overhead_s=7.443e-6, attention_bandwidth_efficiency=0.961,
                              attention_half_efficiency_bytes=0.0)
    assert gpu_attention_efficiency(old, 1024, 1, kv_heads=32) > 1.4 * short


def test_datasheet_peaks():
    """docs/anchors.md section 4: A100 312 TFLOPS / 2.04 TB/s; H100 989 / 3.35; H200 989 / 4.8, 141 GB."""
    a100, h100, h200 = (load_gpu(n) for n in ("a100-80gb", "h100-sxm", "h200"))
    assert (a100.peak_flops_per_s, round(a100.hbm_bandwidth_bytes_per_s / 1e12, 2)) == (312e12, 2.04)
    assert (h100.peak_flops_per_s, h100.hbm_bandwidth_bytes_per_s) == (989e12, 3.35e12)
    assert (h200.peak_flops_per_s, h200.hbm_bandwidth_bytes_per_s, h200.hbm_capacity_bytes) == (989e12, 4.8e12, 141e9)
    # the measured copy and GEMM stay below the datasheet peaks the model divides by
    mb = load_microbench()
    assert mb["hbm_copy_TBps"] * 1e12 < h200.hbm_bandwidth_bytes_per_s
    assert mb["gemm_bf16_TFLOPs"] * 1e12 < h200.peak_flops_per_s


def test_fit_recovers_known_constants_from_synthetic_data():
    """Times generated by the model itself are fitted back exactly."""
    h200 = load_gpu("h200")
    truth = dataclasses.replace(h200, kernel_overhead_s=4e-6, gemv_bandwidth_efficiency=0.7,
                                attention_overhead_s=9e-6, attention_bandwidth_efficiency=0.9)
    mb = load_microbench()
    synth = dict(mb)
    synth["gemv"] = [dict(r, s=p.predicted) for r, p in zip(mb["gemv"], predictions(truth, mb))]
    att = [p for p in predictions(truth, mb) if p.kind == "attention"]
    synth["attention_decode"] = [dict(r, s=p.predicted) for r, p in zip(mb["attention_decode"], att)]
    fitted = fit_gpu_efficiencies(h200, synth)
    assert fitted["kernel_overhead_s"] == pytest.approx(4e-6, rel=1e-9)
    assert fitted["gemv_bandwidth_efficiency"] == pytest.approx(0.7, rel=1e-9)
    assert fitted["attention_overhead_s"] == pytest.approx(9e-6, rel=1e-9)
    assert fitted["attention_bandwidth_efficiency"] == pytest.approx(0.9, rel=1e-9)
