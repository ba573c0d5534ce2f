"""Attention on PIM (head-first vs token-centric), decode/prefill layer costs, capacity account."""
import numpy as np
import pytest

from lolpim.hardware.cost import total
from lolpim.core.errors import ParameterError
from lolpim.hardware.pim import (load_pim_module, module_capacity, pim_attention_cost, pim_decode_layers_cost,
                                 pim_gemv_cost, pim_prefill_layers_cost)
from lolpim.models.llm.architecture import load_llm
from lolpim.orchestration.anchors.hardware_pim import checks, tcp_example_module

LOLPIM = tcp_example_module()                 # 16 channels x 16 banks (the paper's TCP example)
CENT = load_pim_module("cent-module")
QWEN7 = load_llm("qwen1.5-7b")                # 32 heads, no GQA
LLAMA8 = load_llm("llama3.1-8b")              # 8 KV heads (GQA group 4)
PARTS = {"qkv", "attention", "out_proj", "ffn", "other"}


def test_pim_anchor_checks_pass():
    """Every PIM row of `lolpim validate` (AiM 512 GB/s/channel and ~1 TFLOPS/chip; CENT- and
    NeuPIMs-module bandwidth, capacity and compute from LoL-PIM Table IV; token-centric
    thresholds; SV reduction < 0.2%; head-first idle channels)."""
    for c in checks():
        assert c.passed, c


@pytest.mark.parametrize("tokens", [256, 257, 512, 4096, 16384])
def test_token_centric_qk_keeps_all_16_channels_busy_from_256_tokens(tokens):
    """LoL-PIM v3 (docs/anchors.md section 2): in a 16-channel x 16-bank module every channel is busy
    once QK^T covers >= 256 tokens; below that some banks idle."""
    d = pim_attention_cost(LOLPIM, QWEN7, [tokens]).detail
    assert d["channels_busy_fraction"] == pytest.approx(1.0)
    if tokens % 256 == 0:
        assert d["qk_channel_utilisation"] == pytest.approx(1.0)
    assert pim_attention_cost(LOLPIM, QWEN7, [255]).detail["qk_channel_utilisation"] < 1.0


def test_token_centric_sv_keeps_all_16_channels_busy_from_32_tokens():
    """LoL-PIM v3: SV needs only 32 tokens: 128 outputs fill 8 channels, two 16-token groups
    fill the other 8."""
    for tokens in (32, 48, 1000, 16384):
        assert pim_attention_cost(LOLPIM, QWEN7, [tokens]).detail["sv_channel_utilisation"] == pytest.approx(1.0)
    assert pim_attention_cost(LOLPIM, QWEN7, [31]).detail["sv_channel_utilisation"] == pytest.approx(0.5)


def test_head_first_at_batch_1_leaves_most_channels_idle():
    """LoL-PIM v3: head-first maps (request, KV head) pairs to channels; Llama-3.1-8B has 8 KV
    heads, so at batch 1 a 32-channel CENT-style module uses 8 channels and a 16-channel one 8."""
    for spec, busy in ((CENT, 0.25), (LOLPIM, 0.5)):
        hf = pim_attention_cost(spec, LLAMA8, [16384], "head-first")
        tc = pim_attention_cost(spec, LLAMA8, [16384], "token-centric")
        assert hf.detail["channels_busy_fraction"] == pytest.approx(busy)
        assert hf.detail["channel_utilisation"] <= busy + 1e-9
        assert tc.detail["channel_utilisation"] > 0.95
        assert hf.time_s > 1.5 * tc.time_s
    # with enough requests head-first fills the module too
    full = pim_attention_cost(CENT, LLAMA8, [16384] * 4, "head-first")
    assert full.detail["channels_busy_fraction"] == pytest.approx(1.0)


def test_sv_reduction_below_0_2_percent_at_16k():
    """LoL-PIM v3: the SV partial-sum reduction costs < 0.2% of attention time."""
    for model in (QWEN7, LLAMA8):
        cost = pim_attention_cost(LOLPIM, model, [16384])
        assert 0 < cost.detail["reduction_s"] < 0.002 * cost.time_s
        parts = sum(cost.detail[k] for k in ("qk_s", "sv_s", "softmax_s", "reduction_s"))
        assert parts == pytest.approx(cost.time_s)


def test_attention_scales_with_context_and_reads_the_kv_cache():
    short = pim_attention_cost(LOLPIM, QWEN7, [4096] * 4)
    long = pim_attention_cost(LOLPIM, QWEN7, [32768] * 4)
    assert 6 < long.time_s / short.time_s < 9
    kv = 4 * 32768 * QWEN7.kv_bytes_per_token_per_layer()
    assert long.detail["kv_bytes"] == kv and long.bytes_moved >= kv
    assert long.energy_j > 0 and long.flops > 0
    with pytest.raises(ParameterError, match="partitioning"):
        pim_attention_cost(LOLPIM, QWEN7, [10], "row-major")
    with pytest.raises(ParameterError, match="contexts_tokens"):
        pim_attention_cost(LOLPIM, QWEN7, [])


def test_decode_layers_parts_scale_with_layers_and_use_the_gemv_model():
    one = pim_decode_layers_cost(LOLPIM, QWEN7, [8192] * 4, layers=1)
    four = pim_decode_layers_cost(LOLPIM, QWEN7, [8192] * 4, layers=4)
    assert set(one) == PARTS
    for part in PARTS:
        assert four[part].time_s == pytest.approx(4 * one[part].time_s)
    k, n = QWEN7.fc_shapes()["qkv"]
    assert one["qkv"].time_s == pytest.approx(pim_gemv_cost(LOLPIM, k, n, 4).time_s)
    assert total(one).time_s > one["attention"].time_s > 0


def test_decode_with_low_bit_weights_is_faster():
    full = total(pim_decode_layers_cost(LOLPIM, LLAMA8, [4096] * 4, 2, weight_bits=16))
    binary = total(pim_decode_layers_cost(LOLPIM, LLAMA8, [4096] * 4, 2, weight_bits=1))
    assert binary.time_s < 0.8 * full.time_s


def test_prefill_layers():
    parts = pim_prefill_layers_cost(LOLPIM, QWEN7, 512, layers=2)
    assert set(parts) == PARTS
    assert parts["qkv"].detail["engine"] in ("pim", "nmu")
    # a NeuPIMs-style module's 256 TFLOPS matrix units prefill far faster than AiM banks alone
    neupims = load_pim_module("neupims-module")
    assert total(pim_prefill_layers_cost(neupims, QWEN7, 4096, 2)).time_s < \
        0.5 * total(pim_prefill_layers_cost(CENT, QWEN7, 4096, 2)).time_s
    two = pim_prefill_layers_cost(LOLPIM, QWEN7, [256, 256], layers=2)
    assert total(two).time_s < total(parts).time_s   # causal attention grows with T^2


def test_capacity_account():
    cap = module_capacity(LOLPIM, QWEN7, layers=4)
    fc_bytes = 4 * QWEN7.params_per_layer * 2
    assert cap.weight_bytes >= fc_bytes and cap.weight_bytes < 1.01 * fc_bytes
    assert cap.weight_bytes + cap.buffer_bytes + cap.kv_bytes_available == LOLPIM.capacity_bytes
    assert cap.fits and cap.max_kv_tokens == cap.kv_bytes_available // (4 * 16384)
    assert cap.fits_tokens(100_000) and not cap.fits_tokens(cap.max_kv_tokens + 1)
    assert "fits" in cap.explanation
    too_many = module_capacity(LOLPIM, load_llm("qwen1.5-72b"), layers=10)
    assert not too_many.fits and "NOT fit" in too_many.explanation and too_many.max_kv_tokens == 0
    with pytest.raises(ParameterError, match="layers"):
        module_capacity(LOLPIM, QWEN7, layers=33)


def test_lower_precision_raises_what_fits():
    caps = [module_capacity(LOLPIM, QWEN7, 16, bits) for bits in (16, 8, 3, 2, 1)]
    weights = [c.weight_bytes for c in caps]
    tokens = [c.max_kv_tokens for c in caps]
    assert weights == sorted(weights, reverse=True) and tokens == sorted(tokens)
    assert weights[0] == pytest.approx(16 * weights[-1], rel=0.05)
    # 70B in 8 layers per 16 GB module fits only below 16 bit
    llama70 = load_llm("llama3.1-70b")
    assert not module_capacity(LOLPIM, llama70, 20, 16).fits
    assert module_capacity(LOLPIM, llama70, 20, 3).fits


def test_decode_call_returns_plain_numbers():
    parts = pim_decode_layers_cost(LOLPIM, LLAMA8, np.array([100, 5000, 30000]), 3, "head-first")
    for cost in parts.values():
        assert isinstance(cost.time_s, float) and cost.time_s > 0
    assert parts["attention"].detail["partitioning"] == "head-first"


# --- request-per-channel (NeuPIMs' artifact: a whole request in one channel, greedy least-loaded) ----

NEUPIMS = load_pim_module("neupims-hbm2-module")


def _pim_s(spec, model, contexts, channel_tokens=0) -> float:
    """The GEMV time of the most loaded channel (softmax and reduction left out)."""
    d = pim_attention_cost(spec, model, contexts, "request-per-channel", channel_tokens).detail
    return d["qk_s"] + d["sv_s"]


def test_request_per_channel_puts_all_of_a_requests_kv_heads_in_one_channel():
    one = pim_attention_cost(NEUPIMS, LLAMA8, [16384], "request-per-channel")
    hf = pim_attention_cost(NEUPIMS, LLAMA8, [16384], "head-first")
    assert one.detail["channels_busy_fraction"] == pytest.approx(1 / 32)
    assert hf.detail["channels_busy_fraction"] == pytest.approx(8 / 32)   # one channel per KV head
    # the same KV is read either way; one channel does all 8 heads' GEMVs one after another
    assert one.bytes_moved == pytest.approx(hf.bytes_moved)
    assert one.detail["qk_s"] + one.detail["sv_s"] == pytest.approx(8 * (hf.detail["qk_s"] + hf.detail["sv_s"]))


def test_request_per_channel_places_the_longest_request_first_on_the_least_loaded_channel():
    from dataclasses import replace
    two = replace(NEUPIMS, channels=2)
    alone = {c: _pim_s(two, LLAMA8, [c]) for c in (6000, 5000, 4000, 3000)}
    # longest first onto the least loaded: 6000 | 5000, then 4000 -> the 5000 channel, 3000 -> the 6000 one
    greedy = max(alone[6000] + alone[3000], alone[5000] + alone[4000])
    in_order = max(alone[6000] + alone[4000], alone[5000] + alone[3000])   # round-robin would be slower
    assert _pim_s(two, LLAMA8, [3000, 6000, 4000, 5000]) == pytest.approx(greedy)
    assert greedy < in_order
    # the request order does not matter (longest first), and 32 equal requests fill 32 channels
    assert _pim_s(two, LLAMA8, [6000, 5000, 4000, 3000]) == pytest.approx(greedy)
    full = pim_attention_cost(NEUPIMS, LLAMA8, [4096] * 32, "request-per-channel").detail
    assert full["channels_busy_fraction"] == pytest.approx(1.0)
    assert _pim_s(NEUPIMS, LLAMA8, [4096] * 33) == pytest.approx(2 * _pim_s(NEUPIMS, LLAMA8, [4096] * 32))


def test_a_request_longer_than_a_channel_spans_the_fewest_channels_that_hold_it():
    ctx = 1_000_000
    whole = pim_attention_cost(NEUPIMS, LLAMA8, [ctx], "request-per-channel")
    spread = pim_attention_cost(NEUPIMS, LLAMA8, [ctx], "request-per-channel", channel_tokens=100_000)
    assert spread.detail["channels_busy_fraction"] == pytest.approx(10 / 32)
    assert 8 < (whole.detail["qk_s"] + whole.detail["sv_s"]) / (spread.detail["qk_s"] + spread.detail["sv_s"]) < 11
    assert spread.detail["reduction_s"] > 0 == whole.detail["reduction_s"]    # the pieces' SV partial sums
    # a limit the request fits changes nothing; token-centric stays faster than any request mapping
    assert pim_attention_cost(NEUPIMS, LLAMA8, [ctx], "request-per-channel", ctx).time_s == pytest.approx(whole.time_s)
    assert pim_attention_cost(NEUPIMS, LLAMA8, [ctx], "token-centric").time_s < spread.time_s


def test_neupims_hbm2_preset_is_the_artifacts_memory():
    """NeuPIMs artifact (configs/memory_configs/neupims.json, HBM2_8Gb_x128_dualpim.ini): 32 channels
    x 32 banks, 1 KB pages, 32 GB, 16 multipliers per bank, tCK 1 ns."""
    assert (NEUPIMS.channels, NEUPIMS.banks_per_channel, NEUPIMS.row_bytes) == (32, 32, 1024)
    assert NEUPIMS.capacity_bytes == 32 * 2**30 and NEUPIMS.mac_lanes_per_bank == 16 and NEUPIMS.tck_s == 1e-9
    # half the internal bandwidth of LoL-PIM v3's Table IV NeuPIMs module (AiM timing)
    table_iv = load_pim_module("neupims-module")
    assert NEUPIMS.channel_internal_bandwidth_bytes_per_s == pytest.approx(
        table_iv.channel_internal_bandwidth_bytes_per_s / 2)
