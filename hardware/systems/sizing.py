"""How many PIM modules a model needs at a context length or for a trace, and how fast that is
against GPUs: the estimates behind ``lolpim size``.

The work is fixed-length requests (a *fixed-length estimate*) or a dataset trace (the requests
`lolpim run` draws, a *trace estimate*):

- the fewest modules of a preset that hold the weights plus the longest request's whole KV
  (prompt plus output) in some pipeline x tensor shape, found by trying every module count;
- for that count and its doublings: the best shape, how many requests the DPA memory holds at
  once, and the estimated steady decode tokens/s (``shape.estimate_shape``: the same stage
  costs the actors use, the pipeline formula, at the work's mean decode context);
- every other PIM system the row's command runs (CENT, NeuPIMs, LoL-PIM on the xPU+PIM module,
  each at the row's PIM capacity): its own best shape by the same estimate, on the command's
  requests, so no baseline is compared in a poor shape;
- the GPU system: requests its HBM holds after weights (``gpu.activation_reserve_fraction``
  kept free, as the simulated GPU system does) and its decode tokens/s at that batch
  (``gpu_decode_step_cost``, tensor parallel over NVLink).

These are estimates, pure functions of presets and the work. Which systems each row's
``run_command`` can simulate, and the simulations themselves, need the actor systems:
orchestration/llm/sizing.py adds them. Measured gaps, estimate / simulation:
docs/lolpim-system.md ("How many modules?").
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from lolpim.core.errors import ParameterError
from lolpim.hardware.gpu.model import gpu_decode_step_cost, load_gpu
from lolpim.hardware.pim import load_pim_module
from lolpim.hardware.preset_kinds import check_preset
from lolpim.hardware.systems.config import (CentSystemConfig, GpuSystemConfig, LolpimSystemConfig,
                                            LolpimXpuSystemConfig, NeupimsSystemConfig)
from lolpim.hardware.systems.plan import GB, gpu_kv_bytes
from lolpim.hardware.systems.shape import choose_tensor_parallel
from lolpim.models.llm.architecture import LlmConfig, check_context, load_llm
from lolpim.models.llm.workload import Trace, dataset_names, dataset_trace, fixed_trace, load_trace_file


@dataclass(frozen=True)
class PimSize:
    modules: int
    capacity_gib: float
    stages: int
    tensor_parallel: int
    requests_held: int          # all pipelines together
    tokens_per_s: float
    pipelines: int = 1          # side by side (data parallel), each stages x tensor_parallel modules
    # the systems this row's `lolpim run` command simulates (each builds for this hardware and
    # trace) and the ones it leaves out, with the reason the simulator gives
    systems: tuple[str, ...] = ()
    left_out: tuple[tuple[str, str], ...] = ()
    # the other PIM systems' best shapes at this capacity, as (config table, modules per stage,
    # pipelines side by side): the command sets each one, so every system it runs is in its best
    # estimated shape
    baseline_tensor_parallel: tuple[tuple[str, int, int], ...] = ()
    simulated_tokens_per_s: float | None = None   # --simulate: LoL-PIM's simulated steady decode tok/s


@dataclass(frozen=True)
class GpuSize:
    device: str
    count: int
    requests_held: int
    tokens_per_s: float        # 0 when not even one request fits
    simulated_tokens_per_s: float | None = None   # --simulate: the simulated steady decode tok/s


@dataclass(frozen=True)
class SizingResult:
    model: str
    context_tokens: int        # fixed: every prompt; trace: the trace's mean prompt
    output_tokens: int         # fixed: every output; trace: the trace's mean output
    module: str
    pim: tuple[PimSize, ...]   # fewest modules first, then doublings
    gpu: GpuSize
    trace: str | None = None   # a dataset preset, a trace file's path, or None for fixed-length requests
    requests: int = 64         # requests in the trace (fixed: the cap on the batch)
    longest_tokens: int = 0    # the longest request (prompt + output), which the fewest must hold
    seed: int = 0
    trace_output_tokens: int | None = None   # --output-tokens with --trace (None: the dataset's range)
    trace_requests: int = 0    # a trace file: its first this many requests (0: all)

    @property
    def trace_file(self) -> bool:
        return bool(self.trace) and self.trace not in dataset_names()

    @property
    def estimate(self) -> str:
        """What the estimates are for: ``fixed-length`` (every request the same prompt and output)
        or ``trace`` (the trace's requests, at their mean decode context)."""
        return "trace" if self.trace else "fixed-length"

    def run_overrides(self, row: PimSize, systems: tuple[str, ...] | None = None) -> list[str]:
        """The ``--set`` values of the command that simulates ``row`` on the same work: the same
        trace (dataset, requests, seed) or the same fixed-length requests, the row's LoL-PIM shape,
        the GPU system, every other PIM system at the row's PIM capacity in its best shape, only
        the systems that build."""
        if self.trace_file:
            work = [f"workload.csv_path={self.trace}"]
            if self.trace_requests:
                work.append(f"workload.trace_requests={self.trace_requests}")
        elif self.trace:
            work = [f"workload.source={self.trace}", f"workload.requests={self.requests}"]
            if self.trace_output_tokens:
                work.append(f"workload.output_tokens={self.trace_output_tokens}")
        else:
            work = ["workload.source=fixed", f"workload.input_tokens={self.context_tokens}",
                    f"workload.output_tokens={self.output_tokens}",
                    f"workload.requests={command_requests(self.requests, row.requests_held)}"]
        systems = row.systems if systems is None else systems
        return [f"model={self.model}", *work, f"pim_capacity_gib={row.capacity_gib:g}",
                f"lolpim.module={self.module}", f"lolpim.modules={row.modules}",
                f"lolpim.tensor_parallel={row.tensor_parallel}", *_pipelines("lolpim", row.pipelines),
                f"gpu.count={self.gpu.count}", f"gpu.device={self.gpu.device}",
                *(o for table, tp, pipes in row.baseline_tensor_parallel
                  for o in (f"{table}.tensor_parallel={tp}", *_pipelines(table, pipes))),
                "systems=" + ",".join(systems or ("lolpim",))]

    def run_command(self, row: PimSize) -> str:
        seed = f" --seed {self.seed}" if self.trace and not self.trace_file and self.seed else ""
        # quoted: a trace file's path may hold spaces
        return "lolpim run" + "".join(f" --set {shlex.quote(o)}" for o in self.run_overrides(row)) + seed


def pim_size(model: LlmConfig, module: str, modules: int, trace: Trace) -> PimSize | None:
    """Best shape of ``modules`` modules, or None when no shape holds the trace's longest request
    (the shape choice only weighs shapes that hold it)."""
    system = LolpimSystemConfig(module=module, modules=modules, tensor_parallel=0)
    try:
        choice = choose_tensor_parallel(model, system, 0.0, trace)
    except ParameterError:
        return None
    best = next(c for c in choice.candidates
                if (c.tensor_parallel, c.replicas) == (choice.tensor_parallel, choice.replicas))
    capacity = modules * load_pim_module(module).capacity_bytes / GB
    return PimSize(modules, capacity, best.stages, best.tensor_parallel, best.batch_requests, best.tokens_per_s,
                   best.replicas)


def _pipelines(table: str, pipelines: int) -> tuple[str, ...]:
    """The override that keeps a chosen multi-pipeline shape (a given width is one pipeline
    unless data_parallel names more); none for one pipeline, so those commands read as before."""
    return (f"{table}.data_parallel={pipelines}",) if pipelines > 1 else ()


def command_requests(requests: int, held: int) -> int:
    """Requests of a fixed-length row's command: enough to keep the batch full (2 x held), no
    more than the batch cap the estimate assumed."""
    return min(requests, max(2 * held, 8))


# the other PIM systems a size row's command runs at the row's capacity: (config table, config)
BASELINES = (("cent", CentSystemConfig()), ("neupims", NeupimsSystemConfig()),
             ("lolpim_xpu", LolpimXpuSystemConfig()))


def baseline_tensor_parallel(model: LlmConfig, capacity_gib: float,
                             trace: Trace) -> tuple[tuple[str, int, int], ...]:
    """Each other PIM system's best estimated shape at ``capacity_gib`` on ``trace``, as (table,
    modules per stage, pipelines): what its ``tensor_parallel = 0`` picks, pipelines side by side
    included; a system no shape of which holds the work is left at its configured width, one
    pipeline (the command then leaves it out, saying why)."""
    shapes = []
    for table, system in BASELINES:
        try:
            choice = choose_tensor_parallel(model, system, capacity_gib, trace)
            shapes.append((table, choice.tensor_parallel, choice.replicas))
        except ParameterError:
            shapes.append((table, system.tensor_parallel, 1))
    return tuple(shapes)


def gpu_size(model: LlmConfig, device: str, count: int, trace: Trace, reserve_fraction: float) -> GpuSize:
    """Requests the GPUs' HBM holds at their whole length (fixed: prompt + output; trace: the
    mean of prompt + output) and the decode tokens/s of that batch at the mean decode context."""
    gpu = load_gpu(device)
    if model.heads % count:
        raise ParameterError("gpus", f"{count} GPUs must divide the {model.heads} heads of {model.name}")
    kv_bytes = gpu_kv_bytes(model, gpu, count, reserve_fraction)
    lengths = trace.input_tokens + trace.output_tokens
    per_token = model.kv_bytes_per_token()
    if kv_bytes < per_token * int(lengths.max()):
        return GpuSize(device, count, 0, 0.0)
    held = max(0, int(kv_bytes // (per_token * float(lengths.mean()))))
    batch = min(held, len(trace))
    if batch == 0:
        return GpuSize(device, count, 0, 0.0)
    context = int(round(float(np.mean(trace.input_tokens + trace.output_tokens / 2.0))))
    step = gpu_decode_step_cost(gpu, model, np.full(batch, context), count)
    return GpuSize(device, count, held, batch / sum(c.time_s for c in step.values()))


def size(model: str, context_tokens: int | None = None, output_tokens: int | None = None, requests: int | None = None,
         module: str = "lolpim-module", gpu: str = "a100-80gb", gpus: int = 4, max_modules: int = 1024,
         doublings: int = 3, trace: str | None = None, seed: int = 0) -> SizingResult:
    """Estimates for fixed-length requests (``context_tokens`` prompt + ``output_tokens``, default
    256) or for a dataset ``trace`` of ``requests`` requests (drawn with ``seed``, as `lolpim run`
    draws it; ``output_tokens`` None keeps the dataset's output range), or for the trace file
    ``trace`` (its first ``requests`` requests; None: all; docs/traces.md). ``requests`` None
    is 64 otherwise. Each row's ``systems`` is
    left empty here (orchestration/llm/sizing.py fills it by building them)."""
    llm = load_llm(model)   # clear errors for unknown presets before any search; resolved once
    module, gpu = check_preset("pim", module, "module"), check_preset("gpu", gpu, "gpu")
    if (context_tokens is None) == (trace is None):
        raise ParameterError("context", "give either a context length (fixed-length requests) or a trace")
    from_file = trace is not None and trace not in dataset_names()
    if trace is not None and from_file and not Path(trace).exists() and not ({"/", "\\", "."} & set(trace)):
        raise ParameterError("trace", f"unknown trace {trace!r}; available: {', '.join(dataset_names())}, "
                                      "or a trace file's path (docs/traces.md)")
    if from_file and output_tokens is not None:
        raise ParameterError("output_tokens", "a trace file gives each request's output length; "
                                              "leave --output-tokens out with --trace FILE")
    cap = requests or 0
    requests = 64 if requests is None else requests
    checks = [("requests", requests, 1), ("gpus", gpus, 1), ("max_modules", max_modules, 1),
              ("doublings", doublings, 0)]
    if context_tokens is not None:
        output_tokens = 256 if output_tokens is None else output_tokens
        checks.insert(0, ("context", context_tokens, 1))
    if output_tokens is not None:
        checks.insert(1, ("output_tokens", output_tokens, 1))
    for name, value, low in checks:
        if not isinstance(value, int) or value < low:
            raise ParameterError(name, f"must be an integer >= {low}, got {value!r}")
    # without a trace both are integers >= 1 now (checked above); the 0s are never used
    context, output = context_tokens or 0, output_tokens or 0
    if trace is None:
        work = fixed_trace(requests, context, output)
    elif from_file:
        work = load_trace_file(trace, limit=cap, label="trace")
        requests = len(work)
    else:
        work = dataset_trace(trace, requests, seed=seed, output_tokens=output_tokens)
    longest = int(np.max(work.input_tokens + work.output_tokens))
    check_context(llm, longest, "context" if trace is None else "trace",
                  "a request (--context + --output-tokens)" if trace is None else f"the longest request of trace "
                  f"{trace} (prompt + output)", model_key="--model")
    fewest = None
    for n in range(1, max_modules + 1):
        fewest = pim_size(llm, module, n, work)
        if fewest:
            break
    if fewest is None:
        raise ParameterError("max_modules", f"no system of up to {max_modules} x {module} holds {model} with one "
                                            f"request of {longest} tokens")
    rows = [fewest]
    for k in range(1, doublings + 1):
        n = fewest.modules * 2 ** k
        if n > max_modules:
            break
        row = pim_size(llm, module, n, work)
        if row:
            rows.append(row)
    # the baselines' shapes on the requests the row's command runs (fixed: fewer than `requests`)
    rows = [replace(row, baseline_tensor_parallel=baseline_tensor_parallel(
        llm, row.capacity_gib, work if trace else fixed_trace(command_requests(requests, row.requests_held),
                                                              context, output)))
            for row in rows]
    reserve = GpuSystemConfig().activation_reserve_fraction
    return SizingResult(model, context if trace is None else int(round(work.input_tokens.mean())),
                        output if trace is None else int(round(work.output_tokens.mean())), module,
                        tuple(rows), gpu_size(llm, gpu, gpus, work, reserve), trace, requests, longest, seed,
                        output_tokens if trace is not None else None, cap if from_file else 0)
