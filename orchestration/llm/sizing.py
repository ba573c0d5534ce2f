"""``lolpim size`` beyond the estimates: which systems each row's ``run_command`` can simulate
(built for that hardware and trace), and simulating the rows (``--simulate``).

The estimates themselves (modules, shapes, requests held, tokens/s) are pure hardware physics:
hardware/systems/sizing.py.
"""
from __future__ import annotations

import math
from dataclasses import asdict, replace

from lolpim.core.errors import ParameterError, UserError
from lolpim.hardware.systems import sizing as estimates
from lolpim.hardware.systems.config import GpuSystemConfig, PimSystemConfig, SystemKind
from lolpim.hardware.systems.sizing import SizingResult
from lolpim.orchestration import config
from lolpim.orchestration.llm.compare import run_systems
from lolpim.orchestration.config import field_range
from lolpim.orchestration.llm.config import RunConfig, WorkloadConfig
from lolpim.orchestration.llm.systems import build, make_trace, resolve


# The systems a size row's command may simulate: each is built on the row's hardware (the same
# PIM capacity; the xPU+PIM pair with its own module at that capacity) and kept where it fits.
# Listed, not every SystemKind: a system added later joins once its build on a sized row is
# known to make sense.
SIZED_SYSTEMS = (SystemKind.LOLPIM, SystemKind.GPU, SystemKind.GPU_PIM, SystemKind.CENT,
                 SystemKind.NEUPIMS, SystemKind.LOLPIM_XPU)


def runnable_systems(overrides: list[str], seed: int = 0) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Which systems of ``lolpim run --set <overrides>`` build (weights and the longest request
    fit), and why each other one does not."""
    cfg = config.load(RunConfig, None, [o for o in overrides if not o.startswith("systems=")])
    trace = make_trace(cfg, seed)
    model = resolve(cfg)
    ok, left_out = [], []
    for kind in SIZED_SYSTEMS:
        try:
            build(kind, cfg, trace, seed, model)
        except (ParameterError, UserError) as exc:
            left_out.append((str(kind), str(exc)))
        else:
            ok.append(str(kind))
    return tuple(ok), tuple(left_out)


def size(*args, **kwargs) -> SizingResult:
    """hardware/systems/sizing.size (same arguments), each row with the systems its command can run (every one is
    built for that hardware and trace) and the reasons the others cannot."""
    result = estimates.size(*args, **kwargs)
    checked = []
    for row in result.pim:
        ok, left_out = runnable_systems(result.run_overrides(row, tuple(str(k) for k in SIZED_SYSTEMS)), result.seed)
        checked.append(replace(row, systems=ok, left_out=left_out))
    return replace(result, pim=tuple(checked))


def simulate(result: SizingResult, executor: str = "inline", max_processes: int | None = None) -> SizingResult:
    """``result`` with each row's LoL-PIM system and the GPU system simulated on the work of the
    printed commands (steady decode tok/s, as the estimates are): LoL-PIM per row, the GPUs once,
    with as many requests as their batch needs (fixed) or the same trace."""

    def steady(overrides: list[str], kind: str) -> float:
        cfg = config.load(RunConfig, None, overrides)
        (summary,) = run_systems(cfg, (kind,), executor, result.seed, max_processes=max_processes).systems
        return summary.steady_throughput_tokens_per_s

    rows = tuple(replace(p, simulated_tokens_per_s=steady(result.run_overrides(p, ("lolpim",)), "lolpim"))
                 for p in result.pim)
    gpu = result.gpu
    if gpu.requests_held:
        overrides = result.run_overrides(result.pim[0], ("gpu",))
        if not result.trace:
            requests = min(result.requests, max(2 * gpu.requests_held, 8))
            overrides = [o if not o.startswith("workload.requests=") else f"workload.requests={requests}"
                         for o in overrides]
        gpu = replace(gpu, simulated_tokens_per_s=steady(overrides, "gpu"))
    return replace(result, pim=rows, gpu=gpu)


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


def format_sizing(result: SizingResult) -> str:
    """The table `lolpim size` prints."""
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
    # the simulated columns are added to every row when there are any
    rows: list[tuple[str, ...]] = [("PIM", "modules", "GiB", "stages x tensor", "requests held",
                                    "est. decode tok/s", versus)]
    if simulated:
        rows[0] += ("simulated tok/s", "est. / sim.", f"sim. {versus}")
    for i, p in enumerate(result.pim):
        speedup = f"{p.tokens_per_s / gpu.tokens_per_s:.2f}x" if gpu.tokens_per_s else "GPUs hold none"
        shape = (f"{p.pipelines} x " if p.pipelines > 1 else "") + f"{p.stages} x {p.tensor_parallel}"
        row: tuple[str, ...] = ("fewest" if i == 0 else "", str(p.modules), f"{p.capacity_gib:.0f}", shape,
                                str(p.requests_held), f"{p.tokens_per_s:.1f}", speedup)
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


def sizing_dict(result: SizingResult) -> dict:
    """The JSON of `lolpim size --json`: every field, what the estimate is for, and each row's
    `lolpim run` command."""
    out = asdict(result)
    out["estimate"] = result.estimate
    out["run_command"] = result.run_command(result.pim[0])
    out["run_commands"] = [result.run_command(p) for p in result.pim]
    return out
