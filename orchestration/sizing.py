"""How many PIM modules a model needs at a context length, and how fast that is against GPUs.

``lolpim size`` answers the question in the README's first line ("how many PIM modules does a 70B
model need at 128K context, and how much faster is that than four GPUs?") in a second, before
anyone runs a simulation:

- the fewest modules of a preset that hold the weights plus one request's whole KV (prompt plus
  output) in some pipeline x tensor shape, found by trying every module count in turn;
- for that count and its doublings: the best shape, how many such requests the DPA memory holds
  at once, and the estimated steady decode tokens/s (``pim_shape.estimate_shape``: the same
  stage costs the actors use, the pipeline formula);
- the GPU system: requests its HBM holds after weights (``gpu.activation_reserve_fraction``
  kept free, as the simulated GPU system does) and its decode tokens/s at that batch
  (``gpu_decode_step_cost``, tensor parallel over NVLink).

These are estimates; ``lolpim run --set workload.source=fixed ...`` simulates any row (the
command prints the exact line).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lolpim.hardware.errors import ParameterError
from lolpim.hardware.pim import load_pim_module
from lolpim.models.llm import load_llm
from lolpim.models.workload import fixed_trace

from . import config
from .llm_config import RunConfig
from .llm_systems import GB, _check_fits, gpu_kv_bytes, pim_plan
from .pim_shape import choose_tensor_parallel


@dataclass(frozen=True)
class PimSize:
    modules: int
    capacity_gib: float
    stages: int
    tensor_parallel: int
    requests_held: int
    tokens_per_s: float


@dataclass(frozen=True)
class GpuSize:
    device: str
    count: int
    requests_held: int
    tokens_per_s: float        # 0 when not even one request fits


@dataclass(frozen=True)
class SizingResult:
    model: str
    context_tokens: int
    output_tokens: int
    module: str
    pim: tuple[PimSize, ...]   # fewest modules first, then doublings
    gpu: GpuSize

    def run_command(self, row: PimSize) -> str:
        return (f"lolpim run --set model={self.model} --set workload.source=fixed "
                f"--set workload.input_tokens={self.context_tokens} --set workload.output_tokens={self.output_tokens} "
                f"--set workload.requests={max(2 * row.requests_held, 8)} --set lolpim.module={self.module} "
                f"--set lolpim.modules={row.modules} --set lolpim.tensor_parallel={row.tensor_parallel} "
                f"--set gpu.count={self.gpu.count} --set gpu.device={self.gpu.device}")


def _cfg(model: str, module: str, modules: int, context: int, output: int, requests: int) -> RunConfig:
    return config.load(RunConfig, None, [f"model={model}", f"lolpim.module={module}", f"lolpim.modules={modules}",
                                         "lolpim.tensor_parallel=0", "workload.source=fixed",
                                         f"workload.input_tokens={context}", f"workload.output_tokens={output}",
                                         f"workload.requests={requests}"])


def _holds_one_request(cfg: RunConfig, tensor_parallel: int, trace) -> bool:
    try:
        _check_fits(trace, pim_plan("lolpim", cfg, tensor_parallel).dpa_specs, cfg.lolpim.module)
    except ParameterError:
        return False
    return True


def _pim_size(model: str, module: str, modules: int, context: int, output: int, requests: int) -> PimSize | None:
    """Best shape of ``modules`` modules, or None when no shape holds one whole request."""
    cfg = _cfg(model, module, modules, context, output, requests)
    trace = fixed_trace(requests, context, output)
    try:
        choice = choose_tensor_parallel(cfg, trace)
    except ParameterError:
        return None
    fitting = [c for c in choice.candidates if _holds_one_request(cfg, c.tensor_parallel, trace)]
    if not fitting:
        return None
    best = max(fitting, key=lambda c: (c.tokens_per_s, -c.tensor_parallel))
    capacity = modules * load_pim_module(module).capacity_bytes / GB
    return PimSize(modules, capacity, best.stages, best.tensor_parallel, best.batch_requests, best.tokens_per_s)


def _gpu_size(model_name: str, device: str, count: int, context: int, output: int, requests: int,
              reserve_fraction: float) -> GpuSize:
    from lolpim.hardware.gpu import gpu_decode_step_cost, load_gpu
    model, gpu = load_llm(model_name), load_gpu(device)
    if model.heads % count:
        raise ParameterError("gpus", f"{count} GPUs must divide the {model.heads} heads of {model_name}")
    kv_bytes = gpu_kv_bytes(model, gpu, count, reserve_fraction)
    held = max(0, int(kv_bytes // (model.kv_bytes_per_token() * (context + output))))
    batch = min(held, requests)
    if batch == 0:
        return GpuSize(device, count, 0, 0.0)
    step = gpu_decode_step_cost(gpu, model, np.full(batch, context + output // 2), count)
    return GpuSize(device, count, held, batch / sum(c.time_s for c in step.values()))


def size(model: str, context_tokens: int, output_tokens: int = 256, requests: int = 64,
         module: str = "lolpim-module", gpu: str = "a100-80gb", gpus: int = 4, max_modules: int = 1024,
         doublings: int = 3) -> SizingResult:
    from lolpim.hardware.gpu import gpu_names
    from lolpim.hardware.pim import pim_module_names
    load_llm(model)   # clear errors for unknown presets before any search
    if module not in pim_module_names():
        raise ParameterError("module", f"unknown PIM module {module!r}; available: {', '.join(pim_module_names())}")
    if gpu not in gpu_names():
        raise ParameterError("gpu", f"unknown GPU {gpu!r}; available: {', '.join(gpu_names())}")
    for name, value, low in (("context", context_tokens, 1), ("output_tokens", output_tokens, 1),
                             ("requests", requests, 1), ("gpus", gpus, 1), ("max_modules", max_modules, 1),
                             ("doublings", doublings, 0)):
        if not isinstance(value, int) or value < low:
            raise ParameterError(name, f"must be an integer >= {low}, got {value!r}")
    fewest = None
    for n in range(1, max_modules + 1):
        fewest = _pim_size(model, module, n, context_tokens, output_tokens, requests)
        if fewest:
            break
    if fewest is None:
        raise ParameterError("max_modules", f"no system of up to {max_modules} x {module} holds {model} with one "
                                            f"request of {context_tokens + output_tokens} tokens")
    rows = [fewest]
    for k in range(1, doublings + 1):
        n = fewest.modules * 2 ** k
        if n > max_modules:
            break
        row = _pim_size(model, module, n, context_tokens, output_tokens, requests)
        if row:
            rows.append(row)
    reserve = RunConfig().gpu.activation_reserve_fraction
    return SizingResult(model, context_tokens, output_tokens, module, tuple(rows),
                        _gpu_size(model, gpu, gpus, context_tokens, output_tokens, requests, reserve))
