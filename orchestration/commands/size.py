"""`lolpim size`: the fewest PIM modules a model needs at a context length, and the speedup over GPUs."""
from __future__ import annotations

import json
from dataclasses import asdict


def _format(result) -> str:
    gpu = result.gpu
    versus = f"vs {gpu.count} x {gpu.device}"
    lines = [f"{result.model}, {result.context_tokens} prompt + {result.output_tokens} output tokens per request "
             "(analytic estimates; simulate a row with the command below)",
             ""]
    rows = [("PIM", "modules", "GiB", "stages x tensor", "requests held", "decode tok/s", versus)]
    for i, p in enumerate(result.pim):
        speedup = f"{p.tokens_per_s / gpu.tokens_per_s:.2f}x" if gpu.tokens_per_s else "GPUs hold none"
        rows.append(("fewest" if i == 0 else "", str(p.modules), f"{p.capacity_gib:.0f}",
                     f"{p.stages} x {p.tensor_parallel}", str(p.requests_held), f"{p.tokens_per_s:.1f}", speedup))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    table.insert(1, "  ".join("-" * w for w in widths))
    lines += table
    lines.append("")
    if gpu.requests_held:
        lines.append(f"GPU: {gpu.count} x {gpu.device} hold {gpu.requests_held} such requests after the weights: "
                     f"{gpu.tokens_per_s:.1f} decode tok/s")
    else:
        lines.append(f"GPU: {gpu.count} x {gpu.device} cannot hold the weights and one such request")
    lines.append(f"simulate the fewest: {result.run_command(result.pim[0])}")
    return "\n".join(lines)


def run(args) -> int:
    from lolpim.orchestration.sizing import size
    result = size(args.model, args.context, args.output_tokens, args.requests, args.module, args.gpu, args.gpus,
                  args.max_modules, args.doublings)
    if args.json:
        out = asdict(result)
        out["run_command"] = result.run_command(result.pim[0])
        print(json.dumps(out, indent=1))
    else:
        print(_format(result))
    return 0


def register(sub) -> None:
    p = sub.add_parser("size", help="fewest PIM modules for a model and context, and the speedup over GPUs",
                       description="The fewest PIM modules that hold a model and one request at a context length, "
                                   "their doublings, each one's best pipeline x tensor shape, the requests it holds "
                                   "and its estimated decode throughput, against a GPU system (estimates, no "
                                   "simulation).")
    p.add_argument("--model", required=True, help="LLM preset, e.g. llama3.1-70b")
    p.add_argument("--context", type=int, required=True, help="prompt tokens per request, e.g. 131072")
    p.add_argument("--output-tokens", type=int, default=256, help="tokens generated per request (default 256)")
    p.add_argument("--requests", type=int, default=64,
                   help="requests waiting, which caps the batch the estimate assumes (default 64)")
    p.add_argument("--module", default="lolpim-module", help="PIM module preset (default lolpim-module)")
    p.add_argument("--gpu", default="a100-80gb", help="GPU preset of the GPU system (default a100-80gb)")
    p.add_argument("--gpus", type=int, default=4, help="GPUs in the GPU system, tensor parallel (default 4)")
    p.add_argument("--max-modules", type=int, default=1024, help="largest PIM system searched (default 1024)")
    p.add_argument("--doublings", type=int, default=3, help="also show 2x, 4x, ... the fewest (default 3)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
