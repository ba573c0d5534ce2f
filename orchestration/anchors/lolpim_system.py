"""LoL-PIM system anchors (docs/anchors.md sections 2-3): DPA capacity utilisation, CENT against
GPUs in CENT's setup, LoL-PIM against CENT. Nothing in the system layer is fitted to these:
the hardware presets come from their own anchors (hardware_pim, hardware_gpu), and the
rows below are predictions. Rows whose miss is understood carry the cause in ``note``.
"""
from __future__ import annotations

from dataclasses import replace
from functools import cache

from lolpim.hardware.systems.cent_study import compare, load_setup
from lolpim.orchestration import config
from lolpim.orchestration.llm.compare import run_systems
from lolpim.orchestration.llm.config import RunConfig
from lolpim.orchestration.llm.result_types import SystemResult
from lolpim.orchestration.validation import AnchorCheck, ErrorKind, RowKind

LOLPIM_V3 = "LoL-PIM v3 (arXiv 2412.20166)"
CENT = "CENT ASPLOS'25 Fig. 13 (docs/anchors.md section 3)"
# The DPA and LoL-PIM/CENT rows simulate these traces (closed loop, output 32 tokens each).
DPA_CASES = (("qwen1.5-7b", "longbench-qmsum", 128.0), ("llama3.1-8b", "lveval-multifieldqa", 128.0))
# "up to 11.3x over CENT at 128K (LV-Eval)" is a maximum over the paper's 128K setups: its 128K
# models (Table I) on its two LV-Eval traces (Table II), at its system sizes (128 GB for 7-8B,
# 512 GB for 70-72B). The row compares the figure with our maximum over the same family.
CENT_128K_FAMILY = (("llama3.1-8b", "lveval-multifieldqa", 128.0), ("llama3.1-8b", "lveval-loogle-sd", 128.0),
                    ("llama3.1-70b", "lveval-multifieldqa", 512.0), ("llama3.1-70b", "lveval-loogle-sd", 512.0))


@cache
def simulate(model: str, source: str, pim_gb: float, systems: tuple, overrides: tuple = (), requests: int = 24,
             output_tokens: int = 32) -> dict[str, SystemResult]:
    """One small closed-loop comparison (inline executor); cached per process."""
    cfg = config.load(RunConfig, None, [f"model={model}", f"workload.source={source}", f"pim_capacity_gib={pim_gb}",
                                        f"workload.requests={requests}", f"workload.output_tokens={output_tokens}",
                                        *overrides])
    return {s.system: s for s in run_systems(cfg, systems, "inline", 0).systems}


def dpa_utilisation(kv_mode: str, key: str = "kv_used_utilisation") -> float:
    """Mean over the LongBench and LV-Eval cases of the KV capacity in use. One definition, fixed
    before comparing (docs/anchors.md): averaged over the whole run (``kv_used_utilisation``); the
    paper does not say over which phase, so the rows report the share while requests wait for
    memory (``kv_used_utilisation_saturated``) beside it."""
    values = [getattr(simulate(m, src, gb, ("lolpim",), (f"lolpim.kv_mode={kv_mode}",), requests=48)["lolpim"], key)
              for m, src, gb in DPA_CASES]
    return sum(values) / len(values)


def cent_128k_ratios(dataflow: str = "ideal") -> dict[str, float]:
    """LoL-PIM / CENT (as published) over the paper's 128K family, by 'model, trace'."""
    return {f"{m}, {src}": lolpim_over_cent(m, src, gb, dataflow) for m, src, gb in CENT_128K_FAMILY}


def _family_text(ratios: dict[str, float]) -> str:
    return "maximum of " + "; ".join(f"{k} {v:.2f}x" for k, v in ratios.items())


# the ratios use sustained rates (steady_throughput_tokens_per_s): the trace's ramp and drain excluded
SATURATED = "kv_used_utilisation_saturated"


def lolpim_over_cent(model: str, source: str, pim_gb: float, dataflow: str = "ideal") -> float:
    """LoL-PIM's steady rate over CENT as published (head-first, static KV: the paper's CENT)."""
    result = simulate(model, source, pim_gb, ("lolpim", "cent"), requests=48)
    cent = result["cent"]
    if dataflow != "ideal":     # LoL-PIM's run does not depend on how CENT is priced: reuse it
        cent = simulate(model, source, pim_gb, ("cent",), (f"cent.dataflow={dataflow}",), requests=48)["cent"]
    return result["lolpim"].steady_throughput_tokens_per_s / cent.steady_throughput_tokens_per_s


def cent_bracket(model: str, source: str, pim_gb: float) -> str:
    """The same ratio as [vs CENT at its best, vs CENT as published] (BASELINE_ENDS), in words."""
    result = simulate(model, source, pim_gb, ("lolpim", "cent"), requests=48)
    ends = result["cent"].bracket
    assert ends is not None, "a CENT row run beside LoL-PIM has its bracket"
    # a slower best end is not credited
    best = max(ends["best"].run.steady_throughput_tokens_per_s, ends["published"].run.steady_throughput_tokens_per_s)
    lolpim = result["lolpim"].steady_throughput_tokens_per_s
    lost = ends["best"].best_not_faster
    best_is = (f"best: {ends['best'].run.attention_mapping}" if lost is None else
               f"{lost.name} was not faster, so the published end is also the best")
    published = ends["published"].run.steady_throughput_tokens_per_s
    return (f"bracket [vs best, vs published] = [{lolpim / best:.2f}x, {lolpim / published:.2f}x]"
            f" ({best_is})")


def checks() -> list[AnchorCheck]:
    out = [
        AnchorCheck("lolpim",
                    "DPA static: KV capacity in use over the whole run (LongBench QMSum + LV-Eval multifieldqa)",
                    LOLPIM_V3 + ": 36.2% (31.0-40.5%) static", 0.362, dpa_utilisation("static"), 0.08,
                    error_kind=ErrorKind.ABSOLUTE, unit="",
                    note=f"within 8 points; while requests wait {dpa_utilisation('static', SATURATED):.1%}"),
        AnchorCheck("lolpim", "DPA dynamic: KV capacity in use over the whole run (same traces)",
                    LOLPIM_V3 + ": 75.6% dynamic", 0.756, dpa_utilisation("dynamic"), 0.08,
                    error_kind=ErrorKind.ABSOLUTE,
                    note="within 8 points over the whole run; while requests wait "
                         f"{dpa_utilisation('dynamic', SATURATED):.1%} (1 MB chunks per request and module waste "
                         "< 1%, so the saturated phase fills ~90%; the paper does not say over which phase it "
                         "measures)"),
    ]
    published = load_setup()["published"]
    for model in ("llama2-7b", "llama2-13b", "llama2-70b"):
        r = compare(model)
        out.append(AnchorCheck("lolpim", f"CENT-style vs GPU, batch-1 latency ratio GPU/CENT, {model}",
                               CENT + "a, 512 + 3584 tokens", published["latency_gpu_over_cent"][model],
                               r.latency_ratio, 0.25, **_cent_note(model, "latency")))
        out.append(AnchorCheck("lolpim", f"CENT-style vs GPU, decode throughput ratio CENT/GPU, {model}",
                               CENT + "b, max batch", published["decode_throughput_cent_over_gpu"][model],
                               r.throughput_ratio, 0.25, **_cent_note(model, "throughput")))
    out += [
        AnchorCheck("lolpim", "LoL-PIM / CENT throughput, Qwen1.5-72B, LongBench Musique (32K, no GQA), 512 GB",
                    LOLPIM_V3 + ": 2.1-4.5x on 32K non-GQA models", 3.3,
                    lolpim_over_cent("qwen1.5-72b", "longbench-musique", 512.0), 1.2, error_kind=ErrorKind.BOUND,
                    note="pass: ratio in [2.1, 4.5] against CENT as published; "
                         + cent_bracket("qwen1.5-72b", "longbench-musique", 512.0)),
        AnchorCheck("lolpim", "LoL-PIM / CENT throughput, Qwen1.5-7B, LongBench QMSum (32K, no GQA), 128 GB",
                    LOLPIM_V3 + ": 2.1-4.5x on 32K non-GQA models", 3.3,
                    lolpim_over_cent("qwen1.5-7b", "longbench-qmsum", 128.0), 1.2, error_kind=ErrorKind.BOUND,
                    documented_as_miss=True,
                    note="known miss (~1.4x): with 32 KV heads head-first already fills every channel and "
                         "long-context attention is bandwidth-bound in both; only DPA's larger batch helps; "
                         + cent_bracket("qwen1.5-7b", "longbench-qmsum", 128.0)),
        AnchorCheck("lolpim", "LoL-PIM / CENT throughput at 128K, largest over Llama-3.1-8B/70B x LV-Eval "
                    "multifieldqa/Loogle-SD", LOLPIM_V3 + ": up to 11.3x at 128K (LV-Eval)", 11.3,
                    max((r128 := cent_128k_ratios()).values()), 0.25,
                    note=f"within 25% against CENT as published; {_family_text(r128)}; at Llama-3.1-70B "
                         "Loogle-SD " + cent_bracket("llama3.1-70b", "lveval-loogle-sd", 512.0)),
    ]
    # held-out, every row: no parameter of the PIM, GPU or system models was chosen on these figures
    # (the presets come from their own anchors); the artifact rows reproduce CENT's own simulator
    return [replace(c, kind=RowKind.HELD_OUT) for c in out + artifact_checks()]


ARTIFACT = " [artifact dataflow]"


def artifact_checks() -> list[AnchorCheck]:
    """The same CENT anchors with CENT priced as its own simulator prices its published design
    (cent.dataflow = "artifact", hardware/pim/cent_dataflow.py), plus CENT's absolute figures behind
    the ratios. The GPU side is unchanged."""
    published = load_setup()["published"]
    out = []
    for model in ("llama2-7b", "llama2-13b", "llama2-70b"):
        r = compare(model, "artifact")
        out += [
            AnchorCheck("lolpim", f"CENT as published: one query's latency (s), {model}" + ARTIFACT,
                        "CENT artifact figure_source_data/figure_13a.csv (CENT latency, 512 + 3584 tokens)",
                        published["cent_latency_s"][model], r.cent_latency_s, 0.20, unit="s",
                        note="within 20%: CENT's own simulator reproduced"),
            AnchorCheck("lolpim", f"CENT as published: decode tokens/s, {model}" + ARTIFACT,
                        "CENT artifact figure_source_data/figure_13b.csv (CENT decode throughput, PP mode)",
                        published["cent_decode_tokens_per_s"][model], r.cent_decode_tokens_per_s, 0.20,
                        unit="tok/s", note="within 20%: CENT's own simulator reproduced"),
            AnchorCheck("lolpim", f"CENT vs GPU, batch-1 latency ratio GPU/CENT, {model}" + ARTIFACT,
                        CENT + "a, 512 + 3584 tokens", published["latency_gpu_over_cent"][model],
                        r.latency_ratio, 0.25, **_artifact_note(model, "latency")),
            AnchorCheck("lolpim", f"CENT vs GPU, decode throughput ratio CENT/GPU, {model}" + ARTIFACT,
                        CENT + "b, max batch", published["decode_throughput_cent_over_gpu"][model],
                        r.throughput_ratio, 0.25, **_artifact_note(model, "throughput")),
        ]
    long_context = ("known miss (overshoot): CENT's published design is ~4-5x slower at 32K-128K than the CENT "
                    "behind the paper's ratios (16-17x vs 2.1-4.5x at 32K, 42x vs 11.3x at 128K): "
                    "every query runs at batch 1 through FC tiles at ~1/3 of AiM peak, and the softmax goes "
                    "through the banks at one DMA request per cycle (6 x heads x L/16 per block, for every "
                    "block on the device) plus PNM softmax at 3.4 ns x L per block; LoL-PIM v3's CENT "
                    "baseline cannot be this design, so the artifact dataflow bounds the ratio from above")
    out += [
        AnchorCheck("lolpim", "LoL-PIM / CENT throughput, Qwen1.5-72B, LongBench Musique (32K, no GQA), 512 GB"
                    + ARTIFACT, LOLPIM_V3 + ": 2.1-4.5x on 32K non-GQA models", 3.3,
                    lolpim_over_cent("qwen1.5-72b", "longbench-musique", 512.0, "artifact"), 1.2,
                    error_kind=ErrorKind.BOUND, note=long_context, documented_as_miss=True),
        AnchorCheck("lolpim", "LoL-PIM / CENT throughput, Qwen1.5-7B, LongBench QMSum (32K, no GQA), 128 GB"
                    + ARTIFACT, LOLPIM_V3 + ": 2.1-4.5x on 32K non-GQA models", 3.3,
                    lolpim_over_cent("qwen1.5-7b", "longbench-qmsum", 128.0, "artifact"), 1.2,
                    error_kind=ErrorKind.BOUND, note=long_context, documented_as_miss=True),
        AnchorCheck("lolpim", "LoL-PIM / CENT throughput at 128K, largest over Llama-3.1-8B/70B x LV-Eval "
                    "multifieldqa/Loogle-SD" + ARTIFACT, LOLPIM_V3 + ": up to 11.3x at 128K (LV-Eval)", 11.3,
                    max((a128 := cent_128k_ratios("artifact")).values()), 0.25,
                    note=long_context + f"; {_family_text(a128)}", documented_as_miss=True),
    ]
    return out


# With CENT priced as published, CENT's own absolute latency and throughput come out within 1-3%;
# what is left of each ratio miss is the GPU side (unchanged here).
GPU_SIDE = ("CENT's side matches its published figure (row above) within 3%, so the miss is the GPU side: "
            "our A100 model (FC kernels calibrated on H200 measurements, attention on published A100 ones) is "
            "faster than CENT's measured A100")
KNOWN_ARTIFACT_MISSES = {
    ("llama2-13b", "latency"): GPU_SIDE + " (2 x A100: 36 s vs the measured 51 s)",
    ("llama2-70b", "latency"): GPU_SIDE + " (4 x A100: 87 s vs the measured 127 s)",
    ("llama2-13b", "throughput"): GPU_SIDE + " (2 x A100 at its largest batch: 1.35k vs the measured 953 tok/s)",
    ("llama2-70b", "throughput"): "the measured 4xA100 70B decode (917 tok/s at batch 128) is ~3x below "
    "a tensor-parallel roofline (2.8k tok/s); CENT's side matches its published 1151 tok/s",
}


def _artifact_note(model: str, metric: str) -> dict:
    """The row's note, and whether it is a documented miss."""
    reason = KNOWN_ARTIFACT_MISSES.get((model, metric))
    return {"note": f"known miss: {reason}" if reason else "within 25%", "documented_as_miss": bool(reason)}


KNOWN_CENT_MISSES = {
    ("llama2-7b", "latency"): "our CENT-style per-token latency is ~2x lower than CENT's own simulator "
                              "(3.3 s vs 6.8 s per query) while the A100 model is ~20% faster than the "
                              "measured GPU (34 s vs 43 s per query); the ratio overshoots. "
                              "The artifact keeps all heads' attention on every TP device, "
                              "sends softmax through the DRAM banks one request per cycle, "
                              "prices PNM softmax/RoPE by cycle counts and runs FC tiles through an in-order "
                              "controller (docs/lolpim-system.md); none of it is an AiM array timing",
    ("llama2-70b", "latency"): "same cause as 7B: CENT's simulator charges attention, softmax and PNM work "
                               "that our head-sharded TP and 3 TFLOPS near-memory unit price lower",
    ("llama2-7b", "throughput"): "CENT-style stage model faster than CENT's simulator (4.7k vs 2.9k tok/s): "
                                 "its softmax through the banks and slower PNM and FC tiles, as for latency",
    ("llama2-70b", "throughput"): "the measured 4xA100 70B decode (917 tok/s at batch 128) is ~3x below a "
                                  "tensor-parallel roofline (2.8k tok/s); the measured baseline's parallelism "
                                  "is not public",
}


def _cent_note(model: str, metric: str) -> dict:
    """The row's note, and whether it is a documented miss."""
    reason = KNOWN_CENT_MISSES.get((model, metric))
    return {"note": f"known miss: {reason}" if reason else "within 25%", "documented_as_miss": bool(reason)}
