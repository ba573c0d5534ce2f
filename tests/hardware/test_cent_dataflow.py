"""CENT's published design as its own simulator prices it (hardware/pim/cent_dataflow.py).

The check: CENT's per-block times in its artifact, github Yufeng98/CENT
cent_simulation/simulation_results.csv (HEAD 8c79786), columns 'PIM latency', 'CXL latency',
'Acc latency' in ms, for the rows below. Nothing is fitted to these rows (no row is used for
calibration; every constant is an artifact or AiM-timing value cited in the module). Tolerance:
20% on the PIM column and on the whole block (PIM + CXL + Acc).
"""
import math

import pytest

from lolpim.hardware.pim import cent_dataflow as cd
from lolpim.core.errors import ParameterError
from lolpim.hardware.pim import load_pim_module
from lolpim.models.llm.architecture import load_llm

SPEC = load_pim_module("cent-module")

# (model, devices, pipeline stages, tensor ways, channels per block, context): PIM, CXL, Acc in us
CENT_CSV = {
    ("llama2-7b", 8, 1, 8, 32, 128): (18.9785, 4.2958, 2.33),
    ("llama2-7b", 8, 1, 8, 32, 1024): (24.971, 4.2958, 5.41),
    ("llama2-7b", 8, 1, 8, 32, 2048): (32.581, 4.2958, 8.93),
    ("llama2-7b", 8, 1, 8, 32, 4096): (47.729, 4.2958, 15.97),
    ("llama2-13b", 20, 1, 20, 32, 128): (23.2955, 9.4062, 2.90525),
    ("llama2-13b", 20, 1, 20, 32, 4096): (62.079, 9.4062, 19.95525),
    ("llama2-70b", 32, 1, 32, 32, 128): (37.8095, 24.5713, 3.287),
    ("llama2-70b", 32, 1, 32, 32, 4096): (119.255, 24.5713, 30.567),
    ("llama2-7b", 8, 32, 1, 8, 128): (212.7925, 0.32239, 9.32),
    ("llama2-7b", 8, 32, 1, 8, 4096): (381.391, 0.32239, 63.88),
    ("llama2-13b", 20, 40, 1, 16, 2048): (216.4525, 0.63981, 22.3105),
    ("llama2-70b", 32, 80, 1, 10, 4096): (927.081, 1.4615, 91.701),
}


def _layout(model, devices, stages, tp, cpb):
    if tp > 1:
        return cd.CentBlockLayout(fc_devices=tp, channels_per_block=cpb, devices=devices)
    return cd.CentBlockLayout(channels_per_block=cpb, blocks_per_device=-(-stages // devices), devices=devices)


@pytest.mark.parametrize("row", list(CENT_CSV), ids=lambda r: f"{r[0]}-pp{r[2]}-tp{r[3]}-L{r[5]}")
def test_block_matches_cent_simulation_results_csv(row):
    """CENT artifact simulation_results.csv per-block times, within 20% (PIM) and 20% (block)."""
    name, devices, stages, tp, cpb, context = row
    pim_us, cxl_us, acc_us = CENT_CSV[row]
    terms = cd.block_terms_s(SPEC, load_llm(name), context, _layout(name, devices, stages, tp, cpb))
    pim = sum(terms[k] for k in cd.PIM_TERMS) * 1e6
    block = sum(terms.values()) * 1e6
    assert pim == pytest.approx(pim_us, rel=0.20)
    assert block == pytest.approx(pim_us + cxl_us + acc_us, rel=0.20)


def test_pnm_and_cxl_terms_are_the_artifact_closed_forms():
    """'Acc latency' and 'CXL latency' are closed forms in the artifact: reproduced to 0.1%."""
    m = load_llm("llama2-7b")
    tp8 = cd.CentBlockLayout(fc_devices=8, devices=8)
    assert cd.pnm_block_s(m, 4096, tp8) * 1e6 == pytest.approx(15.97, rel=1e-3)
    assert cd.cxl_block_s(m, tp8) * 1e6 == pytest.approx(4.2958, rel=1e-3)
    pp = cd.CentBlockLayout(channels_per_block=8, blocks_per_device=4, devices=8)
    assert cd.pnm_block_s(m, 128, pp) * 1e6 == pytest.approx(9.32, rel=1e-3)
    assert cd.cxl_block_s(m, pp) * 1e6 == pytest.approx(0.32239, rel=1e-3)


def test_softmax_through_banks_is_six_requests_per_head_and_16_scores_per_dma_cycle():
    """Mechanism 2: 6 x heads x L/16 single-channel requests, one per tCK, per block on the device."""
    m = load_llm("llama2-7b")
    t1 = cd.pim_block_terms_s(SPEC, m, 4096, cd.CentBlockLayout(fc_devices=8, devices=8))
    assert t1["softmax_banks"] == pytest.approx(6 * 32 * 4096 / 16 * SPEC.tck_s)
    t4 = cd.pim_block_terms_s(SPEC, m, 4096, cd.CentBlockLayout(channels_per_block=8, blocks_per_device=4, devices=8))
    assert t4["softmax_banks"] == pytest.approx(4 * t1["softmax_banks"])   # four blocks share the DMA


def test_attention_keeps_every_head_and_grows_with_context():
    """Mechanism 1: more tensor-parallel devices do not shrink a device's SV work (all heads)."""
    m = load_llm("llama2-7b")
    t8 = cd.pim_block_terms_s(SPEC, m, 4096, cd.CentBlockLayout(fc_devices=8, devices=8))
    t16 = cd.pim_block_terms_s(SPEC, m, 4096, cd.CentBlockLayout(fc_devices=16, devices=16))
    assert t16["attention_sv"] == t8["attention_sv"]
    assert t16["fc"] < t8["fc"]
    short = cd.pim_block_terms_s(SPEC, m, 1024, cd.CentBlockLayout(fc_devices=8, devices=8))
    assert t8["attention_sv"] == pytest.approx(4 * short["attention_sv"], rel=0.01)


def test_fc_tile_costs_about_three_times_its_mac_columns():
    """Mechanism 4: a 64-column FC tile (128 tCK of MACs) costs ~415 tCK through the in-order
    controller (WR-GB 128, two mode switches 64, tRTP + tRP + tRCD 100, WR-BIAS / RD-MAC)."""
    tck = cd._fc_gemv_tck(SPEC, cd.ARTIFACT, 1024, 512, 512)      # one output per bank, one tile
    assert 400 <= tck <= 430
    assert tck / 128 == pytest.approx(3.2, rel=0.1)


def test_bad_constants_and_layouts_raise_parameter_errors():
    with pytest.raises(ParameterError, match="n_modch_tck"):
        cd.CentArtifactConstants(n_modch_tck=0)
    with pytest.raises(ParameterError, match="channels_per_block"):
        cd.CentBlockLayout(channels_per_block=0)
    with pytest.raises(ParameterError, match="allowed: ideal, artifact"):
        cd.check_dataflow("cycle-accurate")


def test_stage_cost_artifact_prices_requests_one_after_another():
    """A CENT tensor-parallel stage in artifact mode: batch 1 per request, so two requests cost
    twice one; the ideal dataflow batches the FC weights and is cheaper."""
    from lolpim.hardware.systems.stage_costs import StageCost
    import numpy as np
    art = StageCost("pim", "llama2-7b", 32, "cent-module", n_devices=8, partitioning="head-first",
                    dataflow="artifact", system_devices=8)
    one = art.decode_s(np.array([2048]))[0]
    two = art.decode_s(np.array([2048, 2048]))[0]
    assert two == pytest.approx(2 * one)
    m = load_llm("llama2-7b")
    expected = 32 * cd.block_s(SPEC, m, 2048, cd.CentBlockLayout(fc_devices=8, devices=8))
    assert one == pytest.approx(expected)
    ideal = StageCost("pim", "llama2-7b", 32, "cent-module", n_devices=8, partitioning="head-first")
    assert ideal.decode_s(np.array([2048, 2048]))[0] < two
    assert math.isfinite(one)
