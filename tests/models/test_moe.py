"""Mixture-of-experts shapes and pricing (issue 16 point 4).

Checked against published parameter counts, which nothing here was fitted to:
- Mixtral-8x7B: 46.7B parameters in all, 12.9B used per token (Mistral AI, "Mixtral of experts",
  Dec 2023 announcement); tolerance 1%.
- Qwen1.5-MoE-A2.7B: 14.3B in all, 2.7B activated (Qwen model card); tolerance 2% (the card
  rounds to one decimal).
"""
from pathlib import Path

import pytest

from lolpim.hardware.pim import load_pim_module, module_capacity, pim_decode_layers_cost, pim_gemv_cost
from lolpim.models.llm.architecture import load_llm

DATA = Path(__file__).resolve().parents[1] / "data" / "hf"
MIXTRAL = load_llm(f"hf:{DATA / 'mixtral-8x7b'}")
QWEN_MOE = load_llm(f"hf:{DATA / 'qwen1.5-moe-a2.7b'}")


@pytest.mark.parametrize("model, total_b, active_b, tol", [
    (MIXTRAL, 46.7, 12.9, 0.01),
    (QWEN_MOE, 14.3, 2.7, 0.02),
])
def test_parameter_counts_match_the_published_figures(model, total_b, active_b, tol):
    assert model.params_total / 1e9 == pytest.approx(total_b, rel=tol)
    assert model.params_active_per_token / 1e9 == pytest.approx(active_b, rel=tol)


def test_expert_load_from_the_batch():
    # one token activates exactly its k experts; a large batch activates all of them
    assert MIXTRAL.expert_load(1) == (pytest.approx(2.0), pytest.approx(1.0))
    active, rows = MIXTRAL.expert_load(256)
    assert active == pytest.approx(8.0) and rows == pytest.approx(64.0)   # 256 tokens x 2 / 8 experts
    active16, rows16 = MIXTRAL.expert_load(16)
    assert active16 == pytest.approx(8 * (1 - 0.75**16)) and rows16 == pytest.approx(32 / active16)


@pytest.mark.parametrize("tokens", [1, 3, 4, 16, 57, 256])
def test_whole_row_gemms_count_every_token_expert_pair_once(tokens):
    # experts with floor(r) and floor(r) + 1 rows: the pairs add up to tokens x k exactly, over
    # the expected number of active experts
    active, _ = MIXTRAL.expert_load(tokens)
    ups = [(rows, count) for role, _k, _n, rows, count in MIXTRAL.ffn_gemms(tokens) if role == "up"]
    assert all(isinstance(rows, int) and rows >= 1 for rows, _ in ups)
    assert sum(rows * count for rows, count in ups) == pytest.approx(tokens * 2)
    assert sum(count for _, count in ups) == pytest.approx(active)


def test_dense_models_have_one_ffn_gemm_each_way():
    dense = load_llm("llama3.1-8b")
    assert [(r, c) for r, *_, c in dense.ffn_gemms(8)] == [("up", 1.0), ("down", 1.0)]
    assert dense.params_active_per_token == dense.params_total


def test_pim_decode_charges_only_the_activated_experts():
    spec = load_pim_module("lolpim-module")
    ffn = pim_decode_layers_cost(spec, MIXTRAL, [4096], layers=1)["ffn"]
    expert = pim_gemv_cost(spec, 4096, 2 * 14336, 1) + pim_gemv_cost(spec, 14336, 4096, 1)
    router = pim_gemv_cost(spec, 4096, 8, 1)
    # two experts (batch 1) plus the router, plus the activation on the near-memory unit
    assert ffn.time_s == pytest.approx(2 * expert.time_s + router.time_s, rel=0.01)
    big = pim_decode_layers_cost(spec, MIXTRAL, [4096] * 64, layers=1)["ffn"]
    assert big.time_s > 3 * ffn.time_s                           # 64 tokens reach all 8 experts


def test_every_expert_is_stored():
    spec = load_pim_module("lolpim-module")
    one_layer = module_capacity(spec, MIXTRAL, layers=1)
    assert one_layer.weight_bytes >= MIXTRAL.params_per_layer * 2      # bf16, bank layout pads up
    assert MIXTRAL.params_per_layer > 8 * 3 * 4096 * 14336               # eight experts of three matrices
