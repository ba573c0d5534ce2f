"""The PIM advantage for a mixture-of-experts model beside its dense peers (issue 16 point 4).

    .venv/bin/python benchmarks/moe_vs_dense.py           # print the table (inline, ~1 min)
    .venv/bin/python benchmarks/moe_vs_dense.py --docs    # and rewrite docs/models.md's generated block

Mixtral-8x7B (from its Hugging Face config.json) against three dense models, each served by
LoL-PIM and by GPUs on the same hardware for every model and the same fixed-length requests:

- Mistral-7B, the architectural peer: Mixtral is Mistral-7B with its FFN replaced by 8 expert
  FFNs of the same shape, 2 routed per token. Both configs (tests/data/hf/) differ in the
  experts only: the same 32 layers, hidden size 4096, 32 query and 8 KV heads (the same KV
  bytes per token and attention work), 32,000-token vocabulary. (Mistral-7B-v0.1 was released
  with a 4,096-token sliding attention window; the shape here attends to the whole context, as
  Mixtral does, so that the experts are the only difference.)
- Llama-2-13B, the peer in work per token: 13.0B parameters against Mixtral's 12.9B active per
  token, but multi-head attention (40 KV heads over 40 layers: 6.25x Mixtral's KV bytes per token).
- Llama-2-70B, the peer in stored size: 69B parameters against Mixtral's 46.7B, with GQA (8 KV
  heads, 80 layers: 2.5x Mixtral's KV bytes per token); all of it is read for every token.

Every run is a `lolpim run` of the two systems (the config overrides are printed with the
table); the numbers are the simulator's, nothing is fitted. Wall time goes to stderr only.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from docs_figures import markdown, write_block  # noqa: E402

from lolpim.models.llm.architecture import load_llm  # noqa: E402
from lolpim.orchestration import config  # noqa: E402
from lolpim.orchestration.llm.compare import run_systems  # noqa: E402
from lolpim.orchestration.llm.config import RunConfig  # noqa: E402

DOC = ROOT / "docs" / "models.md"
BLOCK = "moe-vs-dense"
MIXTRAL = "hf:tests/data/hf/mixtral-8x7b/config.json"      # relative to the repository root
MODELS = ((MIXTRAL, "Mixtral-8x7B (MoE, 8 experts, top-2)"),
          ("hf:tests/data/hf/mistral-7b/config.json", "Mistral-7B (dense: Mixtral with one expert)"),
          ("llama2-13b", "Llama-2-13B (dense: Mixtral's active size)"),
          ("llama2-70b", "Llama-2-70B (dense: larger than Mixtral's stored size)"))
# The same hardware for every model: 16 LoL-PIM modules (16 GiB each) and four 80 GiB A100s,
# near the same memory (256 GiB PIM, 320 GiB HBM); every model's weights fit both.
HARDWARE = ("pim_capacity_gib=256", "lolpim.module=lolpim-module", "gpu.device=a100-80gb", "gpu.count=4")
# Small fixed-length workloads (closed loop, prompts prefilled before decode): a few long
# requests, and more shorter ones (a larger batch activates more of Mixtral's experts per step).
# The long one reaches Llama-2's 4,096-token maximum context (4,064 prompt + 32 output).
WORKLOADS = ((16, 4064, 32), (64, 2048, 32))      # (requests, prompt tokens, output tokens)
SYSTEMS = ("lolpim", "gpu")
HEAD = ["requests x (prompt + output) tokens", "model", "params stored / per token (B)", "KV per token (KiB)",
        "LoL-PIM tok/s", "LoL-PIM modules busy", "GPU tok/s", "LoL-PIM / GPU", "LoL-PIM J/token", "GPU J/token"]


def overrides(model: str, requests: int, prompt: int, output: int) -> list[str]:
    return [f"model={model}", "workload.source=fixed", f"workload.requests={requests}",
            f"workload.input_tokens={prompt}", f"workload.output_tokens={output}", *HARDWARE,
            "systems=" + ",".join(SYSTEMS)]


def run_case(model: str, requests: int, prompt: int, output: int, seed: int = 0) -> dict:
    """The two systems' summaries (by system) for one model and workload."""
    cfg = config.load(RunConfig, None, overrides(model, requests, prompt, output))
    result = run_systems(cfg, SYSTEMS, "inline", seed).to_dict()
    return {s["system"]: s for s in result["systems"]}


def kv_kib_per_token(llm) -> float:
    # keys and values of every layer, at the model's bytes per value
    return 2 * llm.layers * llm.kv_heads * llm.head_dim * llm.bytes_per_value / 1024


def rows(results: list[tuple[str, str, tuple, dict]]) -> list[list[str]]:
    out = []
    for model, label, (requests, prompt, output), by in results:
        llm = load_llm(model)
        pim, gpu = by["lolpim"], by["gpu"]
        out.append([f"{requests} x ({prompt:,} + {output})", label,
                    f"{llm.params_total / 1e9:.1f} / {llm.params_active_per_token / 1e9:.1f}",
                    f"{kv_kib_per_token(llm):.0f}", f"{pim['throughput_tokens_per_s']:.0f}",
                    f"{pim['module_utilisation']:.0%}", f"{gpu['throughput_tokens_per_s']:.0f}",
                    f"{pim['throughput_tokens_per_s'] / gpu['throughput_tokens_per_s']:.2f}x",
                    f"{pim['energy_per_token_j']:.3f}", f"{gpu['energy_per_token_j']:.3f}"])
    return out


def hardware_line(results) -> str:
    (_, _, _, by), *_ = results
    return (f"LoL-PIM: {by['lolpim']['hardware']['label']} (shape chosen per model); "
            f"GPU: {by['gpu']['hardware']['label']}, tensor parallel, paged KV.")


def table(results) -> str:
    head = markdown(HEAD, rows(results))
    return (head + "\n" + hardware_line(results) + " tok/s = output tokens / (last finish - first arrival); "
            "J/token = decode energy of the devices per output token (no prefill, no idle power). "
            "Per row: `lolpim run --executor inline --set " + " --set ".join(overrides("MODEL", 0, 0, 0))
            .replace("workload.requests=0", "workload.requests=R")
            .replace("workload.input_tokens=0", "workload.input_tokens=P")
            .replace("workload.output_tokens=0", "workload.output_tokens=O") + "`.\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", action="store_true", help=f"rewrite the generated block in {DOC.relative_to(ROOT)}")
    args = ap.parse_args(argv)
    results = []
    t0 = time.perf_counter()
    for workload in WORKLOADS:
        for model, label in MODELS:
            results.append((model, label, workload, run_case(model, *workload)))
    text = table(results)
    print(text)
    print(f"(simulated in {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    if args.docs:
        changed = write_block(DOC, BLOCK, text)
        print(f"{DOC.relative_to(ROOT)}: {'updated' if changed else 'unchanged'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
