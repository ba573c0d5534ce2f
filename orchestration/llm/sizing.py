"""``lolpim size`` beyond the estimates: which systems each row's ``run_command`` can simulate
(built for that hardware and trace), and simulating the rows (``--simulate``).

The estimates themselves (modules, shapes, requests held, tokens/s) are pure hardware physics:
hardware/systems/sizing.py.
"""
from __future__ import annotations

from dataclasses import replace

from lolpim.core.errors import ParameterError, UserError
from lolpim.hardware.systems import sizing as estimates
from lolpim.hardware.systems.config import SystemKind
from lolpim.hardware.systems.sizing import SizingResult
from lolpim.orchestration import config
from lolpim.orchestration.llm.compare import run_systems
from lolpim.orchestration.llm.config import RunConfig
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
        (summary,) = run_systems(cfg, (kind,), executor, result.seed, max_processes=max_processes)["systems"]
        return summary["steady_throughput_tokens_per_s"]

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
