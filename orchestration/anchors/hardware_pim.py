"""PIM module anchors: the AiM chip and the module presets against docs/anchors.md sections 1-2.

Nothing here is fitted, and nothing here is independent evidence either: every row is a
consistency row. The chip and module figures restate the organisation and timing in the presets
(hardware/presets/pim/*.toml, taken from the same datasheets); the token-centric thresholds, the
SV reduction share and the head-first bounds follow from the attention mapping rules coded in
hardware/pim/attention.py. The PIM timing model's independent check is the cycle-level AiM
simulator comparison (docs/hardware-pim.md).
"""
from __future__ import annotations

from dataclasses import replace

from lolpim.hardware.pim import load_pim_module, pim_attention_cost
from lolpim.models.llm.architecture import load_llm
from lolpim.orchestration.validation import AnchorCheck, ErrorKind, RowKind

AIM = "AiM ISSCC 2022 / JSSC 2023 (docs/anchors.md section 1)"
TABLE_IV = "LoL-PIM journal revision Table IV (docs/anchors.md section 1)"
TCP = "LoL-PIM v3 token-centric partitioning, 16 ch x 16 banks (docs/anchors.md section 2)"
GIB = 2 ** 30


def tcp_example_module():
    """The 16-channel x 16-bank, 16 GB module LoL-PIM v3 uses to explain token-centric partitioning."""
    return load_pim_module("lolpim-module").with_changes(channels=16, rows_per_bank=32768)


def checks() -> list[AnchorCheck]:

    aim = load_pim_module("aim-gddr6")
    cent = load_pim_module("cent-module")
    neupims = load_pim_module("neupims-module")
    lolpim = tcp_example_module()
    out = [
        AnchorCheck("hardware", "AiM internal bandwidth per channel, all-bank MAC mode",
                    AIM + ": 16 banks x 32 B/cycle x 1 GHz", 512.0,
                    aim.channel_internal_bandwidth_bytes_per_s / 1e9, 0.01, unit=" GB/s"),
        AnchorCheck("hardware", "AiM chip peak BF16 throughput (2 channels)",
                    AIM + ": ~1 TFLOPS per chip", 1.0, aim.pim_flops_per_s / 1e12, 0.05, unit=" TFLOPS"),
        AnchorCheck("hardware", "AiM chip capacity", AIM + ": 8 Gb", 1.0, aim.capacity_bytes / GIB, 0.0,
                    unit=" GiB"),
        AnchorCheck("hardware", "CENT-module internal bandwidth", TABLE_IV + ": 16 TB/s", 16.0,
                    cent.internal_bandwidth_bytes_per_s / 1e12, 0.05, unit=" TB/s",
                    note="32 x 512 GB/s = 16.4 TB/s (decimal)"),
        AnchorCheck("hardware", "CENT-module capacity", TABLE_IV + ": 16 GB", 16.0, cent.capacity_bytes / GIB,
                    0.0, unit=" GiB", note="GB read as GiB: 16 AiM chips of 8 Gb"),
        AnchorCheck("hardware", "CENT-module PIM channels", TABLE_IV, 32.0, float(cent.channels), 0.0),
        AnchorCheck("hardware", "CENT-module near-memory unit throughput", TABLE_IV + ": 3 TFLOPS", 3.0,
                    cent.nmu_flops_per_s / 1e12, 0.0, unit=" TFLOPS", note="preset value"),
        AnchorCheck("hardware", "NeuPIMs-module internal bandwidth", TABLE_IV + ": 32 TB/s", 32.0,
                    neupims.internal_bandwidth_bytes_per_s / 1e12, 0.05, unit=" TB/s",
                    note="32 ch x 32 banks x 32 B / 1 ns = 32.8 TB/s (decimal)"),
        AnchorCheck("hardware", "NeuPIMs-module capacity", TABLE_IV + ": 32 GB; NeuPIMs 32 GB", 32.0,
                    neupims.capacity_bytes / GIB, 0.0, unit=" GiB"),
        AnchorCheck("hardware", "NeuPIMs-module matrix units", TABLE_IV + ": 256 TFLOPS", 256.0,
                    neupims.nmu_flops_per_s / 1e12, 0.0, unit=" TFLOPS", note="preset value"),
    ]
    # Token-centric thresholds on the 16 x 16 module (MHA, one request, one KV head at a time).
    qwen = load_llm("qwen1.5-7b")
    llama8 = load_llm("llama3.1-8b")

    def attn(spec, model, tokens, partitioning="token-centric"):
        return pim_attention_cost(spec, model, [tokens], partitioning).detail

    out += [
        AnchorCheck("hardware", "TCP: QK^T bank-slot utilisation at 256 tokens (all 16 channels busy)",
                    TCP + ": busy once QK^T >= 256 tokens", 1.0,
                    attn(lolpim, qwen, 256)["qk_channel_utilisation"], 1e-9, error_kind=ErrorKind.BOUND),
        AnchorCheck("hardware", "TCP: QK^T utilisation at 128 tokens (below the threshold)",
                    TCP + ": not all busy below 256 tokens", 0.5,
                    attn(lolpim, qwen, 128)["qk_channel_utilisation"], 0.01, error_kind=ErrorKind.BOUND),
        AnchorCheck("hardware", "TCP: SV bank-slot utilisation at 32 tokens (all 16 channels busy)",
                    TCP + ": busy once SV >= 32 tokens", 1.0,
                    attn(lolpim, qwen, 32)["sv_channel_utilisation"], 1e-9, error_kind=ErrorKind.BOUND),
        AnchorCheck("hardware", "TCP: SV utilisation at 16 tokens (below the threshold)",
                    TCP + ": not all busy below 32 tokens", 0.5,
                    attn(lolpim, qwen, 16)["sv_channel_utilisation"], 0.01, error_kind=ErrorKind.BOUND),
    ]
    at16k = pim_attention_cost(lolpim, qwen, [16384], "token-centric")
    share = at16k.detail["reduction_s"] / at16k.time_s
    out.append(AnchorCheck("hardware", "TCP: SV partial-sum reduction share of attention time, 16K tokens",
                           TCP + ": < 0.2%", 0.001, share, 0.001, error_kind=ErrorKind.BOUND,
                           note="pass: share in [0, 0.2%]"))
    busy = attn(cent, llama8, 16384, "head-first")["channels_busy_fraction"]
    out.append(AnchorCheck("hardware", "head-first, batch 1, Llama-3.1-8B (8 KV heads) on 32 channels: busy share",
                           "LoL-PIM v3: head-first leaves most channels idle at small batch", 0.25, busy, 0.25,
                           error_kind=ErrorKind.BOUND, note="pass: busy share <= 0.5"))
    tc = pim_attention_cost(cent, llama8, [16384], "token-centric").time_s
    hf = pim_attention_cost(cent, llama8, [16384], "head-first").time_s
    out.append(AnchorCheck("hardware", "token-centric speed-up over head-first, batch 1, Llama-3.1-8B, 16K, 32 ch",
                           "LoL-PIM v3: TCP faster at small batch (no single published ratio)", 2.5, hf / tc,
                           1.5, error_kind=ErrorKind.BOUND,
                           note="pass: speed-up in [1, 4]; 4 = all 32 channels vs the 8 head-first uses"))
    return [replace(c, kind=RowKind.CONSISTENCY) for c in out]
