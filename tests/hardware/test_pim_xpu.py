"""xPU+PIM module costs (hardware/pim/xpu.py, issue 16 point 1): FC GEMMs on the matrix units,
attention on the PIM banks, the two overlapped."""
import pytest

from lolpim.hardware.pim import load_pim_module, pim_decode_layers_cost
from lolpim.hardware.pim.xpu import xpu_decode_layers_cost, xpu_step_cost
from lolpim.models.llm.architecture import load_llm

NEUPIMS = load_pim_module("neupims-module")
LOLPIM_XPU = load_pim_module("lolpim-xpu-module")
LLAMA8 = load_llm("llama3.1-8b")


def test_fc_weights_stream_once_per_batch():
    one = xpu_decode_layers_cost(NEUPIMS, LLAMA8, [4096], 32)["fc"]
    many = xpu_decode_layers_cost(NEUPIMS, LLAMA8, [4096] * 64, 32)["fc"]
    # memory bound on the channel I/O: 64 requests cost what one does (PIM GEMVs would pay 64 passes)
    assert many.bound == "io" and many.time_s == pytest.approx(one.time_s)
    weights = LLAMA8.layers * LLAMA8.params_per_layer * 2
    assert one.time_s == pytest.approx(weights / NEUPIMS.io_bytes_per_s, rel=1e-9)


@pytest.mark.parametrize("batch", [1, 16, 64])
def test_step_overlaps_fc_with_attention(batch):
    parts = xpu_decode_layers_cost(NEUPIMS, LLAMA8, [32768] * batch, 32, "head-first")
    step = xpu_step_cost(parts)
    serial = xpu_step_cost(parts, overlap=False)
    assert step.time_s == pytest.approx(max(parts["fc"].time_s, parts["attention"].time_s) + parts["other"].time_s)
    assert serial.time_s == pytest.approx(sum(p.time_s for p in parts.values()))
    assert step.energy_j == pytest.approx(serial.energy_j)       # overlap hides time, not energy


def test_lolpim_command_scheduling_speeds_up_attention_on_the_same_module():
    ctx = [131072] * 16
    neupims = xpu_decode_layers_cost(NEUPIMS, LLAMA8, ctx, 32, "head-first")["attention"]
    lolpim = xpu_decode_layers_cost(LOLPIM_XPU, LLAMA8, ctx, 32, "head-first")["attention"]
    assert lolpim.time_s < neupims.time_s           # multi-entry input buffer, dual-port output


def test_token_centric_attention_fills_the_banks_a_single_request_cannot():
    # one request has 8 KV heads for 1,024 banks: head-first leaves most banks idle
    one = [131072]
    head_first = xpu_decode_layers_cost(LOLPIM_XPU, LLAMA8, one, 32, "head-first")["attention"]
    token_centric = xpu_decode_layers_cost(LOLPIM_XPU, LLAMA8, one, 32, "token-centric")["attention"]
    assert token_centric.time_s < head_first.time_s / 2


def test_attention_is_the_pim_model_of_the_same_module():
    ctx = [8192] * 8
    assert xpu_decode_layers_cost(NEUPIMS, LLAMA8, ctx, 4)["attention"].time_s == pytest.approx(
        pim_decode_layers_cost(NEUPIMS, LLAMA8, ctx, 4)["attention"].time_s)
