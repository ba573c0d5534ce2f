"""LoL-PIM system anchors (docs/anchors.md sections 2-3), the same rows `lolpim validate` prints.

Each row cites its figure and tolerance in orchestration/anchors/lolpim_system.py:
- DPA KV capacity in use, LoL-PIM v3: static 36.2% and dynamic 75.6%, each within 8 points;
- CENT-style vs GPU in CENT's setup (CENT Fig. 13a/b): batch-1 latency ratios 6.32 / 4.65 / 3.18
  and decode throughput ratios 2.97 / 4.13 / 1.25 for Llama-2 7B / 13B / 70B, each within 25%;
- LoL-PIM vs CENT, LoL-PIM v3: 2.1-4.5x on 32K non-GQA models, up to 11.3x at 128K (25%; our maximum
  over the paper's 128K family of setups).
The same CENT rows are repeated with CENT priced as its own simulator prices its published design
("[artifact dataflow]", hardware/pim/cent_dataflow.py), plus CENT's absolute figures behind the ratios
(artifact figure_source_data/figure_13a.csv and 13b.csv: 6.796 / 11.065 / 39.986 s per query and
2850.5 / 3931.4 / 1150.8 decode tok/s, each within 20%).
Rows whose miss is understood are strict xfails: they must keep failing until the model
changes, and the reason is printed in the validation table and the docs.
"""
import pytest

from lolpim.orchestration.anchors.lolpim_system import checks

# The rows of checks(), by name: the tests are parametrised over these, so collection runs none
# of the ~2 minutes of simulations behind them; test_every_row_is_listed keeps the list in step.
ROW_NAMES = (
    "DPA static: KV capacity in use over the whole run (LongBench QMSum + LV-Eval multifieldqa)",
    "DPA dynamic: KV capacity in use over the whole run (same traces)",
    *(f"CENT-style vs GPU, {metric}, {model}" for model in ("llama2-7b", "llama2-13b", "llama2-70b")
      for metric in ("batch-1 latency ratio GPU/CENT", "decode throughput ratio CENT/GPU")),
    "LoL-PIM / CENT throughput, Qwen1.5-72B, LongBench Musique (32K, no GQA), 512 GB",
    "LoL-PIM / CENT throughput, Qwen1.5-7B, LongBench QMSum (32K, no GQA), 128 GB",
    "LoL-PIM / CENT throughput at 128K, largest over Llama-3.1-8B/70B x LV-Eval multifieldqa/Loogle-SD",
    *(f"{row}, {model} [artifact dataflow]" for model in ("llama2-7b", "llama2-13b", "llama2-70b")
      for row in ("CENT as published: one query's latency (s)", "CENT as published: decode tokens/s",
                  "CENT vs GPU, batch-1 latency ratio GPU/CENT", "CENT vs GPU, decode throughput ratio CENT/GPU")),
    "LoL-PIM / CENT throughput, Qwen1.5-72B, LongBench Musique (32K, no GQA), 512 GB [artifact dataflow]",
    "LoL-PIM / CENT throughput, Qwen1.5-7B, LongBench QMSum (32K, no GQA), 128 GB [artifact dataflow]",
    "LoL-PIM / CENT throughput at 128K, largest over Llama-3.1-8B/70B x LV-Eval multifieldqa/Loogle-SD"
    " [artifact dataflow]",
)

pytestmark = pytest.mark.slow   # every test here needs the rows (the first one pays for them)


def test_every_row_is_listed(anchor_rows):
    assert list(anchor_rows(checks)) == list(ROW_NAMES)


@pytest.mark.parametrize("name", ROW_NAMES, ids=ROW_NAMES)
def test_lolpim_anchor(name, anchor_row):
    check = anchor_row(checks, name)   # a documented miss is a strict xfail, decided there
    assert check.passed, f"{check.name}: expected {check.expected}, simulated {check.simulated:.4g}"


def test_dynamic_kv_at_least_doubles_what_static_reservation_uses(anchor_rows):
    """The DPA's effect, whatever the absolute level: LoL-PIM v3 reports 36.2% -> 75.6% (2.09x)."""
    static, dynamic = (c for c in anchor_rows(checks).values() if c.name.startswith("DPA"))
    assert dynamic.simulated >= 2.0 * static.simulated


@pytest.mark.parametrize("artifact", [False, True], ids=["ideal-cent", "artifact-cent"])
def test_lolpim_gain_over_cent_grows_with_context_and_gqa(artifact, anchor_rows):
    """LoL-PIM v3: 2.1-4.5x at 32K without GQA, up to 11.3x at 128K with GQA (either CENT dataflow)."""
    ratios = {c.name: c.simulated for c in anchor_rows(checks).values()
              if c.name.startswith("LoL-PIM / CENT") and ("[artifact dataflow]" in c.name) == artifact}
    at_32k = [v for k, v in ratios.items() if "32K" in k]
    at_128k = [v for k, v in ratios.items() if "128K" in k]
    assert len(at_32k) == 2 and len(at_128k) == 1
    assert min(at_128k) > 2 * max(at_32k)
