"""GPU + HBM-PIM (AttAcc-style). Facts from the AttAcc ASPLOS'24 artifact (docs/anchors.md section 3):
5 HBM3 stacks per device, 670.4 GB/s and 16 GB per stack, bank-group internal bandwidth 3x
external under the power constraint (8x without), 1 FLOP per internal byte."""
import pytest

from lolpim.hardware.cost import total
from lolpim.hardware.gpu.model import STEP_PARTS, gpu_decode_step_cost, gpu_prefill_cost, load_gpu
from lolpim.hardware.hbm_pim import (gpu_pim_decode_step_cost, gpu_pim_prefill_cost, hbm_pim_attention_cost,
                                     hbm_pim_names, load_hbm_pim)
from lolpim.models.llm.architecture import load_llm

A100 = load_gpu("a100-80gb")
BG = load_hbm_pim("attacc-bg")


def test_presets_follow_the_attacc_artifact():
    assert hbm_pim_names() == ["attacc-bg", "attacc-bg-npc"]
    assert BG.internal_bandwidth_bytes_per_s == pytest.approx(5 * 670.4e9 * 3)
    assert load_hbm_pim("attacc-bg-npc").internal_bandwidth_bytes_per_s == pytest.approx(5 * 670.4e9 * 8)
    assert BG.capacity_bytes == 5 * 16 * 2 ** 30
    assert 0.9 < BG.refresh_efficiency < 0.92


def test_mha_attention_is_memory_bound_gqa_compute_bound():
    mha = hbm_pim_attention_cost(BG, load_llm("llama2-7b"), [32768] * 4)
    gqa = hbm_pim_attention_cost(BG, load_llm("llama3.1-8b"), [32768] * 4)  # 4 query heads per KV head
    assert mha.bound == "memory" and gqa.bound == "compute"


def test_pim_attention_beats_gpu_attention_and_fc_is_unchanged():
    m = load_llm("gpt3-175b")
    ctx = [2048] * 32
    gpu = gpu_decode_step_cost(A100, m, ctx, 8)
    hyb = gpu_pim_decode_step_cost(A100, BG, m, ctx, 8)
    assert set(hyb) == set(STEP_PARTS)
    for part in ("qkv", "out_proj", "ffn", "other"):
        assert hyb[part] == gpu[part]
    ratio = gpu["attention"].time_s / hyb["attention"].time_s
    # internal PIM bandwidth 10 TB/s per device against ~1.96 TB/s streamed by an A100
    assert 3 < ratio < 6
    assert hyb["communication"].time_s > gpu["communication"].time_s  # query / output over NVLink
    assert total(hyb).time_s < total(gpu).time_s


def test_layers_consistency():
    m = load_llm("llama2-13b")
    ctx = [4096] * 4
    one = total(gpu_pim_decode_step_cost(A100, BG, m, ctx, 1, layers=1)).time_s
    ten = total(gpu_pim_decode_step_cost(A100, BG, m, ctx, 1, layers=10)).time_s
    assert ten == pytest.approx(10 * one, rel=1e-12)


def test_prefill_runs_on_the_gpu_and_ships_kv_to_pim():
    m = load_llm("llama2-7b")
    gpu = gpu_prefill_cost(A100, m, [1024] * 2, 2)
    hyb = gpu_pim_prefill_cost(A100, BG, m, [1024] * 2, 2)
    for part in ("qkv", "attention", "out_proj", "ffn", "other"):
        assert hyb[part] == gpu[part]
    kv_total = 2 * 1024 * m.kv_bytes_per_token()
    extra = hyb["communication"].bytes_moved - gpu["communication"].bytes_moved
    assert extra == pytest.approx(kv_total)
