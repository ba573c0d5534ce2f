"""`lolpim estimate` (Python function and CLI): every model preset x system answers; bad input
gets a clear error listing what exists (exit 2); whole-model H200 decode equals the sum over
layers plus embedding / LM head (issue 3 acceptance)."""
import importlib.util
import json

import pytest

from lolpim.core.errors import ParameterError
from lolpim.hardware.estimate import PARTS, SYSTEMS, estimate
from lolpim.hardware.gpu.model import gpu_decode_step_cost, load_gpu
from lolpim.models.llm.architecture import load_llm, preset_names
from lolpim.orchestration.cli import main

HAVE_PIM = importlib.util.find_spec("lolpim.hardware.pim") is not None


def _needs_pim(system):
    if system == "pim" and not HAVE_PIM:
        pytest.skip("lolpim.hardware.pim (PIM module models) not installed yet")


@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize("model", preset_names())
def test_every_model_and_system_answers(model, system):
    _needs_pim(system)
    cfg = load_llm(model)
    modules = 8 if cfg.params_total > 3e10 else 2
    for prefill in (False, True):
        r = estimate(system, model, batch=2, context=2048, modules=modules, prefill=prefill)
        d = r.to_dict()
        assert set(d["parts"]) == set(PARTS)
        assert d["total_s"] == pytest.approx(sum(p["time_s"] for p in d["parts"].values()))
        assert d["total_s"] > 0 and d["bytes"] > 0 and d["flops"] > 0 and d["energy_j"] > 0
        assert d["bound"] in ("compute", "memory", "io", "latency")
        json.dumps(d)  # serialisable


def test_whole_model_h200_is_sum_over_layers_plus_head():
    m = load_llm("qwen1.5-7b")   # a 32K-context model: the KV is 32K tokens per request
    one = estimate("gpu", "qwen1.5-7b", batch=4, context=32768, device="h200", layers=1)
    whole = estimate("gpu", "qwen1.5-7b", batch=4, context=32768, device="h200")
    head = whole.total_s - m.layers * one.total_s
    # the head is the embedding gather, final norm and LM head: about one 4096 x 151936 GEMV
    lm_head_s = 4096 * 151936 * 2 / (4.8e12 * load_gpu("h200").gemv_bandwidth_efficiency)
    assert lm_head_s < head < 1.5 * lm_head_s
    for part in ("qkv", "attention", "out_proj", "ffn"):
        assert whole.parts[part].time_s == pytest.approx(m.layers * one.parts[part].time_s, rel=1e-12)
    direct = gpu_decode_step_cost(load_gpu("h200"), m, [32768] * 4, 1)
    assert whole.total_s == pytest.approx(sum(c.time_s for c in direct.values()), rel=1e-12)


def test_cli_json_matches_function(capsys):
    argv = ["estimate", "--system", "gpu", "--device", "h200", "--model", "qwen1.5-7b", "--batch", "4",
            "--context", "32768", "--layers", "1", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    ref = estimate("gpu", "qwen1.5-7b", 4, 32768, device="h200", layers=1).to_dict()
    assert out == json.loads(json.dumps(ref))
    assert out["layers"] == 1 and out["parts"]["attention"]["label"] == "attention"
    assert out["parts"]["attention"]["time_s"] > out["parts"]["ffn"]["time_s"]  # 32K context


def test_cli_table(capsys):
    assert main(["estimate", "--system", "gpu-pim", "--device", "a100-80gb", "--modules", "8",
                 "--model", "gpt3-175b", "--batch", "16", "--context", "2048"]) == 0
    out = capsys.readouterr().out
    for label in ("QKV projection", "attention", "output projection", "FFN", "communication", "other", "total"):
        assert label in out


@pytest.mark.parametrize("argv, listed", [
    (["--model", "llama9-7b"], "llama2-7b"),
    (["--model", "llama2-7b", "--device", "h100"], "h100-sxm"),
    (["--model", "llama2-7b", "--system", "tpu"], "gpu-pim"),
    (["--model", "llama2-7b", "--batch", "0"], "batch"),
    (["--model", "llama2-7b", "--layers", "40"], "32 decoder layers"),
    (["--model", "llama2-7b", "--modules", "3"], "divide the 32 heads"),
    (["--model", "llama2-7b", "--system", "gpu-pim", "--hbm-pim", "hbm4"], "attacc-bg"),
])
def test_cli_bad_input_exits_2_with_a_listing(capsys, argv, listed):
    base = ["estimate", "--context", "1024"]
    assert main(base + argv) == 2
    err = capsys.readouterr().err
    assert "lolpim: error:" in err and listed in err


def test_pim_system_without_pim_models_is_a_clear_error():
    if HAVE_PIM:
        with pytest.raises(ParameterError, match="lolpim-module|available"):
            estimate("pim", "llama2-7b", module="no-such-module")
    else:
        with pytest.raises(ParameterError, match="lolpim.hardware.pim"):
            estimate("pim", "llama2-7b")


def test_pim_pipeline_stages_share_the_layers():
    """Pipeline parallelism moves layers between modules without changing their total work;
    each extra stage adds one activation hop over the module link."""
    _needs_pim("pim")
    from lolpim.hardware.estimate import _stage_layers
    assert _stage_layers(32, 5) == [7, 7, 6, 6, 6]
    one = estimate("pim", "qwen1.5-7b", batch=4, context=8192, module="lolpim-module", modules=1)
    four = estimate("pim", "qwen1.5-7b", batch=4, context=8192, module="lolpim-module", modules=4)
    for part in ("qkv", "attention", "out_proj", "ffn", "other"):
        assert four.parts[part].time_s == pytest.approx(one.parts[part].time_s, rel=1e-9)
    assert four.parts["communication"].time_s > one.parts["communication"].time_s
    assert four.memory["stage_layers"] == [8, 8, 8, 8]
    assert four.memory["max_kv_tokens"] > one.memory["max_kv_tokens"]


def test_cli_prints_memory_in_gib_with_its_unit(capsys):
    """Issue 21 item 8: `estimate` printed decimal GB for bytes moved and raw byte counts in its
    memory warning; every memory figure is now binary (GiB/MiB/KiB) and labelled."""
    import re
    assert main(["estimate", "--model", "llama3.1-70b", "--batch", "64", "--context", "131072",
                 "--modules", "2", "--device", "a100-80gb"]) == 0
    out = capsys.readouterr().out
    assert not re.search(r"\d (GB|MB|kB)\b", out), out
    sizes = re.findall(r"(\d[\d.]*) (GiB|MiB|KiB)", out)
    assert sizes and "gpu_capacity 80 GiB" in out          # the A100's 80 GiB, no longer 74.5
    # the figure is the traffic in binary units: 2**30 bytes per GiB
    r = estimate("gpu", "llama3.1-70b", batch=64, context=131072, modules=2, device="a100-80gb")
    assert f"{r.total.bytes_moved / 2**30:.4g} GiB" in out


def test_gpu_presets_hold_what_the_cards_hold():
    """An "80GB" A100 or H100 holds 80 GiB = 81920 MiB (the preset had 80e9 bytes, 74.5 GiB)."""
    for name in ("a100-80gb", "h100-sxm"):
        assert load_gpu(name).hbm_capacity_bytes == 80 * 2**30
