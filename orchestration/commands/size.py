"""`lolpim size`: the fewest PIM modules a model needs at a context length or for a trace, and the
speedup over GPUs."""
from __future__ import annotations

import json
import math
from dataclasses import asdict

from lolpim.models.llm.workload import dataset_names
from lolpim.hardware.systems.config import GpuSystemConfig, PimSystemConfig
from lolpim.orchestration.cli_checks import check_int_flags
from lolpim.orchestration.config import field_range
from lolpim.orchestration.llm.config import WorkloadConfig
from lolpim.orchestration.llm.sizing import simulate, size

# Ranges of the size flags, those of the run config's keys they stand for (workload.input_tokens,
# workload.output_tokens, workload.requests, gpu.count, a system's modules; a count of 0 there
# means "choose", so these start at 1); 12 doublings of one module reach the largest system searched.
BOUNDS = {"context": field_range(WorkloadConfig, "input_tokens"),
          "output_tokens": field_range(WorkloadConfig, "output_tokens"),
          "requests": field_range(WorkloadConfig, "requests"),
          "gpus": (1, field_range(GpuSystemConfig, "count")[1]),
          "max_modules": (1, field_range(PimSystemConfig, "modules")[1]), "doublings": (0, 12)}

ESTIMATE_NOTE = {
    "fixed-length": "fixed-length estimate (every request {context} + {output} tokens; --trace NAME sizes for a "
                    "dataset's mix of lengths)",
    "trace": "trace estimate (steady decode at the trace's mean context; optimistic when the KV holds few "
             "requests: docs/lolpim-system.md)",
}


def _steady(tokens_per_s: float | None) -> float | None:
    """A simulated steady decode rate, None where the run never reached one (NaN)."""
    return None if tokens_per_s is None or math.isnan(tokens_per_s) else tokens_per_s


def _format(result) -> str:
    gpu = result.gpu
    versus = f"vs {gpu.count} x {gpu.device}"
    if result.trace:
        drawn = "" if result.trace_file else f" (seed {result.seed})"
        work = (f"trace {result.trace}: {result.requests} requests{drawn}, mean {result.context_tokens} "
                f"prompt + {result.output_tokens} output tokens, longest {result.longest_tokens}")
    else:
        work = f"{result.context_tokens} prompt + {result.output_tokens} output tokens per request"
    note = ESTIMATE_NOTE[result.estimate].format(context=result.context_tokens, output=result.output_tokens)
    lines = [f"{result.model}, {work}",
             f"analytic {note}, no simulation",
             ""]
    simulated = result.pim[0].simulated_tokens_per_s is not None
    if simulated:
        lines[1] = f"analytic {note}; simulated: `lolpim run` of each row's command, steady decode"
    rows: list[tuple[str, ...]] = [("PIM", "modules", "GiB", "stages x tensor", "requests held", "est. decode tok/s",
                                    versus)]
    if simulated:
        rows[0] += ("simulated tok/s", "est. / sim.", f"sim. {versus}")
    for i, p in enumerate(result.pim):
        speedup = f"{p.tokens_per_s / gpu.tokens_per_s:.2f}x" if gpu.tokens_per_s else "GPUs hold none"
        row: tuple[str, ...] = ("fewest" if i == 0 else "", str(p.modules), f"{p.capacity_gib:.0f}",
                                f"{p.stages} x {p.tensor_parallel}", str(p.requests_held), f"{p.tokens_per_s:.1f}",
                                speedup)
        if simulated:
            sim, gpu_sim = _steady(p.simulated_tokens_per_s), _steady(gpu.simulated_tokens_per_s)
            row += (f"{sim:.1f}" if sim is not None else "-", f"{p.tokens_per_s / sim:.2f}" if sim else "-",
                    f"{sim / gpu_sim:.2f}x" if sim is not None and gpu_sim else "-")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    table.insert(1, "  ".join("-" * w for w in widths))
    lines += table
    lines.append("")
    if gpu.requests_held:
        lines.append(f"GPU: {gpu.count} x {gpu.device} hold {gpu.requests_held} such requests after the weights: "
                     f"{gpu.tokens_per_s:.1f} decode tok/s"
                     + (f" (simulated {gpu.simulated_tokens_per_s:.1f})" if _steady(gpu.simulated_tokens_per_s)
                        else ""))
    else:
        lines.append(f"GPU: {gpu.count} x {gpu.device} cannot hold the weights and one such request")
    fewest = result.pim[0]
    lines.append(f"simulate the fewest ({', '.join(fewest.systems)}; the other PIM systems at the same "
                 f"{fewest.capacity_gib:.0f} GiB): {result.run_command(fewest)}")
    for kind, why in fewest.left_out:
        lines.append(f"  left out: {kind}: {why}")
    if simulated and any(_steady(x) is None for x in [gpu.simulated_tokens_per_s, *(p.simulated_tokens_per_s
                                                                                   for p in result.pim)]):
        lines.append("simulated '-': no steady decode rate (it is measured while requests wait for KV memory, "
                     "and none of these requests did)")
    lines.append("(every row's command: --json, \"run_commands\")")
    return "\n".join(lines)


def run(args) -> int:
    check_int_flags(args, BOUNDS)
    result = size(args.model, args.context, args.output_tokens, args.requests, args.module, args.gpu, args.gpus,
                  args.max_modules, args.doublings, trace=args.trace, seed=args.seed)
    if args.simulate:
        result = simulate(result, args.executor)
    if args.json:
        out = asdict(result)
        out["estimate"] = result.estimate
        out["run_command"] = result.run_command(result.pim[0])
        out["run_commands"] = [result.run_command(p) for p in result.pim]
        print(json.dumps(out, indent=1))
    else:
        print(_format(result))
    return 0


def register(sub) -> None:
    p = sub.add_parser("size", help="fewest PIM modules for a model and context or trace, and the speedup over GPUs",
                       description="The fewest PIM modules that hold a model and its longest request (one fixed "
                                   "context length, or a dataset trace), their doublings, each one's best pipeline x "
                                   "tensor shape, the requests it holds and its estimated decode throughput, against "
                                   "a GPU system (analytic estimates; the printed `lolpim run` command simulates "
                                   "a row on the same work with every system that fits, --simulate runs the rows).")
    p.add_argument("--model", required=True, help="LLM preset, e.g. llama3.1-70b")
    work = p.add_mutually_exclusive_group(required=True)
    work.add_argument("--context", type=int, help="prompt tokens per request (fixed-length requests), e.g. 131072")
    work.add_argument("--trace", metavar="NAME|FILE",
                      help="a dataset trace instead, as `lolpim run` draws it (workload.source): "
                           + ", ".join(dataset_names()) + "; or a trace file (lolpim, Azure, BurstGPT, Mooncake "
                           "or vidur format, as workload.csv_path: docs/traces.md)")
    p.add_argument("--output-tokens", type=int, default=None,
                   help="tokens generated per request (default 256 with --context, the dataset's range with --trace)")
    p.add_argument("--requests", type=int, default=None,
                   help="requests waiting, which caps the batch the estimate assumes; with --trace NAME the trace's "
                        "size (default 64); with --trace FILE the first this many of the file (default all)")
    p.add_argument("--seed", type=int, default=0, help="seed that draws the --trace requests (default 0)")
    p.add_argument("--module", default="lolpim-module", help="PIM module preset (default lolpim-module)")
    p.add_argument("--gpu", default="a100-80gb", help="GPU preset of the GPU system (default a100-80gb)")
    p.add_argument("--gpus", type=int, default=4, help="GPUs in the GPU system, tensor parallel (default 4)")
    p.add_argument("--max-modules", type=int, default=1024, help="largest PIM system searched (default 1024)")
    p.add_argument("--doublings", type=int, default=3, help="also show 2x, 4x, ... the fewest (default 3)")
    p.add_argument("--simulate", action="store_true",
                   help="also simulate each row's LoL-PIM system and the GPU system (inline; a minute or more per "
                        "row for 70B at 128K) and show simulated tok/s and estimate / simulation")
    p.add_argument("--executor", default="inline", choices=("inline", "ray"),
                   help="executor for --simulate (default inline)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
