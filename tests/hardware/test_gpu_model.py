"""GPU roofline model: kernels, attention efficiency, tensor parallelism, whole-model consistency."""
import dataclasses

import numpy as np
import pytest

from lolpim.hardware.cost import total
from lolpim.core.errors import ParameterError
from lolpim.hardware.gpu.model import (STEP_PARTS, gpu_attention_efficiency, gpu_decode_attention_cost,
                                 gpu_decode_layer_cost, gpu_decode_step_cost, gpu_gemm_cost, gpu_gemv_cost,
                                 gpu_memory_bytes, gpu_names, gpu_prefill_cost, load_gpu)
from lolpim.models.llm.architecture import load_llm, preset_names

H200 = load_gpu("h200")


def test_presets_and_unknown_name():
    assert gpu_names() == ["a100-80gb", "h100-sxm", "h200"]
    with pytest.raises(ParameterError, match="a100-80gb, h100-sxm, h200"):
        load_gpu("b200")


def test_bad_preset_fields_are_named():
    with pytest.raises(ParameterError, match="gemv_bandwidth_efficiency"):
        dataclasses.replace(H200, gemv_bandwidth_efficiency=1.5)
    with pytest.raises(ParameterError, match="peak_flops_per_s"):
        dataclasses.replace(H200, peak_flops_per_s=-1.0)


def test_gemv_is_memory_bound_and_big_gemm_compute_bound():
    small = gpu_gemv_cost(H200, 4096, 4096, 1)
    assert small.bound == "memory"
    assert small.time_s == pytest.approx(H200.kernel_overhead_s + small.bytes_moved /
                                         (H200.hbm_bandwidth_bytes_per_s * H200.gemv_bandwidth_efficiency))
    big = gpu_gemm_cost(H200, 8192, 8192, 8192)
    assert big.bound == "compute"
    assert big.flops == 2 * 8192 ** 3


def test_weight_bits_shrink_weight_bytes():
    assert gpu_gemv_cost(H200, 4096, 4096, 1, weight_bits=8).bytes_moved < \
        0.6 * gpu_gemv_cost(H200, 4096, 4096, 1).bytes_moved


def test_attention_efficiency_grows_with_kv_length_and_batch():
    """docs/anchors.md section 4: short caches at batch 1 stream far below peak, long ones near 95%."""
    lengths = [1024, 4096, 16384, 65536, 131072]
    by_len = [gpu_attention_efficiency(H200, L, 1, kv_heads=8) for L in lengths]
    assert np.all(np.diff(by_len) > 0)
    by_batch = [gpu_attention_efficiency(H200, 4096, b, kv_heads=8) for b in (1, 4, 16, 64)]
    assert np.all(np.diff(by_batch) > 0)
    assert by_len[0] < 0.3 and by_len[-1] > 0.9


def test_tensor_parallel_splits_fc_and_attention():
    m = load_llm("llama2-70b")
    one = gpu_decode_layer_cost(H200, m, [4096] * 8, 1)
    four = gpu_decode_layer_cost(H200, m, [4096] * 8, 4)
    assert four["ffn"].time_s < 0.3 * one["ffn"].time_s
    assert four["attention"].time_s < one["attention"].time_s
    assert one["communication"].time_s == 0 and four["communication"].time_s > 0
    # group totals: the same weights are read whichever way they are split
    assert four["ffn"].bytes_moved == pytest.approx(one["ffn"].bytes_moved, rel=0.01)


def test_gqa_kv_heads_replicate_beyond_their_count():
    m = load_llm("llama3.1-70b")  # 8 KV heads
    eight = gpu_decode_attention_cost(H200, m, [8192], 8)
    sixteen = gpu_decode_attention_cost(H200, m, [8192], 16)
    assert sixteen.detail["kv_bytes"] == eight.detail["kv_bytes"]  # one KV head per GPU either way


@pytest.mark.parametrize("name", preset_names())
def test_whole_model_is_layers_times_one_layer_plus_head(name):
    """Issue 3 acceptance: the whole-model decode step on H200 equals the sum over layers
    plus embedding / LM head, for every part."""
    m = load_llm(name)
    ctx = [2048, 4096, 1000]
    whole = gpu_decode_step_cost(H200, m, ctx, 1)
    one = gpu_decode_step_cost(H200, m, ctx, 1, layers=1)
    layer = gpu_decode_layer_cost(H200, m, ctx, 1)
    assert set(whole) == set(STEP_PARTS)
    for part in STEP_PARTS:
        assert one[part].time_s == pytest.approx(layer[part].time_s, rel=1e-12)
    head = total(whole).time_s - m.layers * total(one).time_s
    assert head > 0
    lm_head = gpu_gemv_cost(H200, m.hidden, m.vocab, len(ctx))
    assert lm_head.time_s < head < 2 * lm_head.time_s + 10 * H200.kernel_overhead_s
    n = min(3, m.layers)
    assert total(gpu_decode_step_cost(H200, m, ctx, 1, layers=n)).time_s == \
        pytest.approx(n * total(one).time_s, rel=1e-12)


def test_decode_step_is_bounded_below_by_streaming_weights_and_kv():
    m = load_llm("llama2-7b")
    step = total(gpu_decode_step_cost(H200, m, [32768] * 4))
    floor = (m.params_total * 2 + 4 * 32768 * m.kv_bytes_per_token()) / H200.hbm_bandwidth_bytes_per_s
    assert floor < step.time_s < 1.3 * floor
    assert step.energy_j > 0 and step.flops > 0


def test_prefill_is_compute_bound_for_long_prompts_and_scales():
    m = load_llm("llama2-7b")
    short = total(gpu_prefill_cost(H200, m, [512]))
    long = total(gpu_prefill_cost(H200, m, [4096]))
    assert long.bound == "compute"
    assert 7 < long.time_s / short.time_s < 12  # linear FC plus quadratic attention


def test_bad_shapes_raise_parameter_errors():
    m = load_llm("llama2-7b")
    with pytest.raises(ParameterError, match="n_gpus"):
        gpu_decode_step_cost(H200, m, [10], 3)          # 32 heads not divisible by 3
    with pytest.raises(ParameterError, match="layers"):
        gpu_decode_step_cost(H200, m, [10], 1, layers=33)
    with pytest.raises(ParameterError, match="contexts_tokens"):
        gpu_decode_step_cost(H200, m, [-1], 1)
    with pytest.raises(ParameterError, match="batch"):
        gpu_gemm_cost(H200, 10, 10, 0)


def test_memory_footprint_counts_weights_and_kv():
    m = load_llm("llama2-7b")
    assert gpu_memory_bytes(m, [0]) == pytest.approx(m.params_total * 2)
    assert gpu_memory_bytes(m, [1000], 2) == pytest.approx(m.params_total + 1000 * m.kv_bytes_per_token() / 2)


@pytest.mark.parametrize("gpu", gpu_names())
def test_modelled_power_stays_below_board_power(gpu):
    """Energy per step / step time is the modelled dynamic power: it must stay under the
    datasheet board power (TDP) for memory-bound decode and compute-bound prefill alike."""
    spec = load_gpu(gpu)
    m = load_llm("llama2-7b")
    for parts in (gpu_decode_step_cost(spec, m, [4096] * 32), gpu_prefill_cost(spec, m, [4096] * 4)):
        step = total(parts)
        assert 0.05 * spec.tdp_w < step.energy_j / step.time_s < spec.tdp_w
