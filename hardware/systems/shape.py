"""Automatic pipeline x tensor shape of a PIM system (``<system>.tensor_parallel = 0``): LoL-PIM,
and every PIM baseline (CENT, NeuPIMs), which "automatic" credits with its own best shape.

With n modules, every divisor t of n gives n / t pipeline stages of t modules each. A wider
stage splits each layer's weights and heads t ways, so one pass is faster, but (a) the
per-stage all-reduces cost link time and (b) KV heads are replicated once t exceeds them, which
eats KV memory and so batch. Which shape wins depends on the model, the trace, the module and
the system's own mechanisms (static or dynamic KV, head-first or token-centric attention, a "pim"
or "xpu" stage); the paper's designer picks one per setup, and so does this module, before the
simulation runs, for each system with its own config.

The choice is an analytic steady-state estimate, not a simulation (several full simulations per
run would cost more than the run): for each width t that plan.allowed_tensor_parallel lists and
whose memory holds the trace's longest request,

- batch = the requests the DPA memory holds at the trace's mean decode context (dynamic KV) or
  its static reservation (static KV), capped by the trace size and the micro-batch limits;
- M = min(micro-batches, batch) micro-batches carry b = batch / M requests each at that mean
  context; stage i takes s_i = its decode pass (stage_costs, with its all-reduces, interpolated
  between floor(b) and ceil(b) requests) + the activation hop to the next;
- tokens/s = (batch / M) x min(M / sum_i s_i, 1 / max_i s_i), the pipeline formula the system
  tests check (throughput = min(M / C, 1 / s_max) per micro-batch).

The highest estimate wins (ties: fewer modules per stage). tests/system/test_pim_shape.py
checks the pick against full simulations of every candidate, for LoL-PIM and for the baselines.

Several pipelines side by side (``<system>.data_parallel``; 0, the default, = chosen with the
shape where ``tensor_parallel = 0``, one pipeline where the width is given): r pipelines of n / r
modules each, the host's waiting requests shared between them. One pipeline cannot always use
its memory: every request needs room on every stage, so with more stages than the layers divide
evenly the stages with fewer layers keep spare KV, and a stage must be wide enough that the
stages fit the layers (at 1024 modules Llama-3.1-70B needs >= 16 modules per stage, twice its KV
heads). Each pipeline is estimated as above with its share of the requests (batch capped at
len / r) and r pipelines give r times its tokens/s. The rule: with ``data_parallel = 0`` every
divisor r of the modules up to the request count is weighed with every width; several
pipelines are chosen only when their best estimate beats the best single pipeline's by more
than MULTI_PIPELINE_MARGIN (5%), otherwise the single pipeline is kept, which is what the
choice was before data parallelism. The margin is a judgement against the estimate's error, not
a bound on it: the 1024-module Llama-3.1-70B shapes estimate within 2.5% of their simulated
steady tok/s (docs/scaling.md), while on a 24-request Llama-3.1-8B trace the misses run from
-21% to +15% (tests/system/test_data_parallel.py simulates every candidate there and checks that
the choice is never slower than the best single pipeline).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lolpim.core.errors import ParameterError
from lolpim.hardware.links import LinkSpec
from lolpim.hardware.pim import load_pim_module
from lolpim.hardware.systems.config import KvMode, PimSystemConfig
from lolpim.hardware.systems.plan import allowed_tensor_parallel, check_fits, pim_module_count, pim_plan
from lolpim.hardware.systems.stage_costs import StageCost
from lolpim.models.llm.architecture import LlmConfig
from lolpim.models.llm.workload import Trace

# a multi-pipeline shape must beat the best single pipeline's estimate by this much to be chosen
MULTI_PIPELINE_MARGIN = 0.05


@dataclass(frozen=True)
class ShapeEstimate:
    tensor_parallel: int
    stages: int                 # per pipeline
    batch_requests: int         # all pipelines together
    tokens_per_s: float         # all pipelines together
    replicas: int = 1           # pipelines side by side

    @property
    def label(self) -> str:
        one = f"{self.stages}x{self.tensor_parallel}"
        return one if self.replicas == 1 else f"{self.replicas} x {one}"


@dataclass(frozen=True)
class ShapeChoice:
    tensor_parallel: int
    candidates: tuple[ShapeEstimate, ...]
    replicas: int = 1

    def summary(self) -> str:
        return "auto, est. tok/s " + ", ".join(f"{c.label}: {c.tokens_per_s:.0f}" for c in self.candidates)


def _hop_s(link: LinkSpec, requests: int, hidden: int, bytes_per_value: int) -> float:
    return link.latency_s + link.message_overhead_s + requests * hidden * bytes_per_value / \
        link.payload_bandwidth_bytes_per_s


def estimate_shape(model: LlmConfig, system: PimSystemConfig, pim_capacity_gib: float, trace: Trace,
                   tensor_parallel: int, replicas: int = 1) -> ShapeEstimate:
    """Steady decode tokens/s of PIM system ``system`` with ``tensor_parallel`` modules per stage
    and ``replicas`` pipelines side by side (each serving an even share of the trace)."""
    plan = pim_plan(model, system, pim_capacity_gib, tensor_parallel, replicas)
    check_fits(trace, plan.dpa_specs, system.module)   # a shape that cannot hold a request cannot serve it
    # a request's KV grows from its prompt to prompt + output: its mean decode context
    mean_context = float(np.mean(trace.input_tokens + trace.output_tokens / 2.0))
    if system.kv_mode == KvMode.DYNAMIC:
        per_module = [d.capacity_chunks * d.tokens_per_chunk / mean_context for d in plan.dpa_specs]
    else:
        per_module = [d.capacity_chunks // -(-trace.context_limit // d.tokens_per_chunk) for d in plan.dpa_specs]
    microbatches = system.microbatches or plan.stages
    # one pipeline's batch: its memory, its share of the requests (the host shares its queue
    # between the pipelines, so each holds about len / replicas when memory is not the limit)
    batch = int(min(min(per_module), len(trace) / replicas, microbatches * system.max_microbatch_requests))
    if batch < 1:
        raise ParameterError("tensor_parallel", f"{tensor_parallel} modules per stage leave no KV room"
                             if len(trace) >= replicas else f"{replicas} pipelines for {len(trace)} requests")
    in_flight = min(microbatches, batch)      # micro-batches with at least one request
    per_mb = batch / in_flight                # requests per micro-batch, on average
    context = int(round(mean_context))
    # stages with the same layers share one cost model (building one loads its presets)
    built: dict = {}
    for spec in plan.stage_costs:
        if spec not in built:
            built[spec] = spec.build()
    costs = [built[spec] for spec in plan.stage_costs]

    def stage_s(cost: StageCost, requests: int) -> float:
        hop = _hop_s(plan.link, requests, model.hidden, model.bytes_per_value)
        return cost.decode_s(np.full(requests, context, dtype=np.int64))[0] + hop

    # micro-batches of floor and ceil(per_mb) requests alternate: interpolate between them
    low, frac = int(per_mb), per_mb - int(per_mb)
    times, seen = [], {}
    for cost in costs:
        if id(cost) not in seen:
            t_low = stage_s(cost, low)
            seen[id(cost)] = t_low + frac * (stage_s(cost, low + 1) - t_low) if frac else t_low
        times.append(seen[id(cost)])
    passes_per_s = min(in_flight / sum(times), 1.0 / max(times))
    return ShapeEstimate(plan.tensor_parallel, plan.stages, batch * replicas, replicas * per_mb * passes_per_s,
                         replicas)


def replica_options(system: PimSystemConfig, modules: int, requests: int) -> tuple[int, ...]:
    """The pipelines side by side the shape choice weighs: the configured count, or (0, automatic)
    every divisor of the modules up to the requests (a pipeline with nothing to serve is waste)."""
    if system.data_parallel:
        return (system.data_parallel,)
    return tuple(r for r in range(1, min(modules, max(1, requests)) + 1) if modules % r == 0)


def choose_tensor_parallel(model: LlmConfig, system: PimSystemConfig, pim_capacity_gib: float,
                           trace: Trace) -> ShapeChoice:
    """The modules-per-stage (and, with ``data_parallel`` = 0, the pipelines side by side) with the
    highest estimated steady decode throughput; ties: fewer pipelines, then fewer modules per
    stage. Several pipelines replace the best single one only when their estimate beats it by
    more than MULTI_PIPELINE_MARGIN (the estimate's error against simulations, module docstring),
    so where the estimate cannot tell them apart the choice stays what it was with one pipeline.
    The builder calls this only for ``tensor_parallel = 0``: a given width is built as given,
    one pipeline unless ``data_parallel`` names more."""
    n = pim_module_count(load_pim_module(system.module), system.modules, pim_capacity_gib)
    candidates = []
    for replicas in replica_options(system, n, len(trace)):
        if n % replicas:
            continue
        for tp in allowed_tensor_parallel(model, n // replicas):
            try:
                candidates.append(estimate_shape(model, system, pim_capacity_gib, trace, tp, replicas))
            except ParameterError:      # weights or the longest request do not fit, or more stages than layers
                continue
    if not candidates:
        raise ParameterError("tensor_parallel", f"no pipeline x tensor shape of {n} modules fits {model.name}; "
                                                "use more modules")

    def key(c: ShapeEstimate):
        return c.tokens_per_s, -c.replicas, -c.tensor_parallel

    best = max(candidates, key=key)
    single = [c for c in candidates if c.replicas == min(x.replicas for x in candidates)]
    best_single = max(single, key=key)
    if best.tokens_per_s <= (1 + MULTI_PIPELINE_MARGIN) * best_single.tokens_per_s:
        best = best_single
    return ShapeChoice(best.tensor_parallel, tuple(candidates), best.replicas)
