"""One decode step or one prefill of a model on a system: the engine behind `lolpim estimate`.

Systems
- ``gpu``: ``modules`` GPUs of preset ``device``, tensor parallel, paged KV in GPU memory.
- ``gpu-pim``: as ``gpu`` for the FC layers; attention in one HBM-PIM device per GPU
  (AttAcc-style, preset ``hbm_pim``).
- ``pim``: ``modules`` PIM modules of preset ``module``, pipeline parallel: decoder layers are
  split into contiguous stages; activations hop between stages over ``link`` (default: the
  module preset's own link); for the whole model the LM head is a GEMV on the last module.

Every request in the batch has the same ``context`` (KV length for decode, prompt length for
prefill). ``layers=N`` restricts the estimate to the first N decoder layers (no embedding or
LM head); ``layers=None`` is the whole model.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from lolpim.hardware.gpu import model as gpu_model
from lolpim.hardware import hbm_pim, pim
from lolpim.hardware.cost import ZERO, OpCost, total
from lolpim.core.errors import ParameterError
from lolpim.hardware.links import link_transfer_cost, load_link
from lolpim.hardware.preset_kinds import check_preset
from lolpim.models.llm.architecture import LlmConfig, check_context, load_llm

SYSTEMS = ("gpu", "gpu-pim", "pim")
PARTS = gpu_model.STEP_PARTS
PART_LABELS = {"qkv": "QKV projection", "attention": "attention", "out_proj": "output projection",
               "ffn": "FFN", "communication": "communication", "other": "other"}


@dataclass(frozen=True)
class Estimate:
    system: str
    device: str               # GPU preset (gpu, gpu-pim) or PIM module preset (pim)
    model: str
    phase: str                # "decode" (one token per request) or "prefill"
    batch: int
    context: int
    layers: int | None        # None = whole model
    modules: int
    parts: dict[str, OpCost]
    memory: dict = field(default_factory=dict)   # per-device footprint and whether it fits

    @property
    def total(self) -> OpCost:
        return total(self.parts)

    @property
    def total_s(self) -> float:
        return self.total.time_s

    @property
    def bound(self) -> str:
        """The bound of the part that takes longest (compute / memory / io / latency)."""
        return max(self.parts.values(), key=lambda c: c.time_s).bound

    def to_dict(self) -> dict:
        t = self.total
        return {
            "system": self.system, "device": self.device, "model": self.model, "phase": self.phase,
            "batch": self.batch, "context": self.context, "layers": self.layers, "modules": self.modules,
            "total_s": t.time_s, "bytes": t.bytes_moved, "flops": t.flops, "energy_j": t.energy_j,
            "bound": self.bound,
            "parts": {name: {"label": PART_LABELS[name], "time_s": c.time_s, "bytes": c.bytes_moved,
                             "flops": c.flops, "energy_j": c.energy_j, "bound": c.bound}
                      for name, c in self.parts.items()},
            "memory": self.memory,
        }


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParameterError(name, f"must be a positive integer, got {value!r}")
    return int(value)


def estimate(system: str, model: str | LlmConfig, batch: int = 1, context: int = 4096, *,
             device: str = "h200", module: str = "lolpim-module", modules: int = 1,
             layers: int | None = None, prefill: bool = False, hbm_pim_device: str = "attacc-bg",
             link: str | None = None, weight_bits: int = 16,
             partitioning: str = "token-centric", allreduce: str = "nccl-ring") -> Estimate:
    if system not in SYSTEMS:
        raise ParameterError("system", f"unknown system {system!r}; available: {', '.join(SYSTEMS)}")
    cfg = model if isinstance(model, LlmConfig) else load_llm(model)
    batch = _positive_int("batch", batch)
    context = _positive_int("context", context)
    modules = _positive_int("modules", modules)
    check_context(cfg, context, "context", "a prompt" if prefill else "a KV cache", model_key="--model")
    if layers is not None:
        layers = _positive_int("layers", layers)
        if layers > cfg.layers:
            raise ParameterError("layers", f"{cfg.name} has {cfg.layers} decoder layers, got {layers}")
    contexts = np.full(batch, context, dtype=np.int64)
    phase = "prefill" if prefill else "decode"
    common: dict[str, Any] = dict(system=system, model=cfg.name, phase=phase, batch=batch, context=context,
                                  layers=layers, modules=modules)

    if system in ("gpu", "gpu-pim"):
        spec = replace(gpu_model.load_gpu(device), allreduce=allreduce)
        if system == "gpu":
            if prefill:
                parts = gpu_model.gpu_prefill_cost(spec, cfg, contexts, modules, layers, weight_bits)
            else:
                parts = gpu_model.gpu_decode_step_cost(spec, cfg, contexts, modules, layers, weight_bits)
            need = gpu_model.gpu_memory_bytes(cfg, contexts, modules, weight_bits)
            memory = {"gpu_bytes": need, "gpu_capacity_bytes": spec.hbm_capacity_bytes,
                      "fits": need <= spec.hbm_capacity_bytes}
        else:
            pim_spec = hbm_pim.load_hbm_pim(hbm_pim_device)
            if prefill:
                parts = hbm_pim.gpu_pim_prefill_cost(spec, pim_spec, cfg, contexts, modules, layers, weight_bits)
            else:
                parts = hbm_pim.gpu_pim_decode_step_cost(spec, pim_spec, cfg, contexts, modules, layers,
                                                         weight_bits)
            weights, kv = hbm_pim.gpu_pim_memory_bytes(cfg, contexts, modules, weight_bits)
            memory = {"gpu_bytes": weights, "gpu_capacity_bytes": spec.hbm_capacity_bytes,
                      "pim_bytes": kv, "pim_capacity_bytes": pim_spec.capacity_bytes,
                      "fits": weights <= spec.hbm_capacity_bytes and kv <= pim_spec.capacity_bytes}
        return Estimate(device=device, parts=parts, memory=memory, **common)

    parts, memory = _pim_system(cfg, contexts, module, modules, layers, prefill, link, weight_bits, partitioning)
    return Estimate(device=module, parts=parts, memory=memory, **common)


def _stage_layers(n_layers: int, modules: int) -> list[int]:
    """Contiguous pipeline stages, as even as possible (earlier stages take the remainder)."""
    if modules > n_layers:
        raise ParameterError("modules", f"{modules} modules for {n_layers} decoder layers: every "
                                        "pipeline stage needs at least one layer")
    base, extra = divmod(n_layers, modules)
    return [base + (1 if i < extra else 0) for i in range(modules)]


def _pim_system(cfg: LlmConfig, contexts: np.ndarray, module: str, modules: int, layers: int | None,
                prefill: bool, link_name: str | None, weight_bits: int, partitioning: str):
    spec = pim.load_pim_module(check_preset("pim", module, "module"))
    link = load_link(link_name or spec.link)
    n_layers = layers or cfg.layers
    stages = _stage_layers(n_layers, modules)
    parts = {p: ZERO for p in PARTS}
    for n in sorted(set(stages)):
        if prefill:
            stage = pim.pim_prefill_layers_cost(spec, cfg, contexts, n)
        else:
            stage = pim.pim_decode_layers_cost(spec, cfg, contexts, n, partitioning=partitioning,
                                               weight_bits=weight_bits)
        count = stages.count(n)
        for p, cost in stage.items():
            parts[p] = parts[p] + cost.scaled(count)
    # Activations enter the first stage and hop between stages (one message of rows x hidden
    # per hop); a partial model returns its hidden state to the host, a whole model its logits.
    rows = int(contexts.sum()) if prefill else contexts.size
    hop = link_transfer_cost(link, rows * cfg.hidden * gpu_model.ACT_BYTES)
    parts["communication"] = parts["communication"] + hop.scaled(modules + (1 if layers else 0))
    if layers is None:
        # The host looks up embeddings (their rows are the first hop above). The LM head is a
        # GEMV on the last module, whose logits (one row per request) go back to the host.
        lm_head = pim.pim_gemv_cost(spec, cfg.hidden, cfg.vocab, contexts.size, weight_bits)
        parts["other"] = parts["other"] + lm_head
        parts["communication"] = parts["communication"] + link_transfer_cost(
            link, contexts.size * cfg.vocab * gpu_model.ACT_BYTES)
    # Capacity of the fullest stage (the LM head's weights on the last module are not counted).
    account = pim.module_capacity(spec, cfg, max(stages), weight_bits)
    kv_tokens = int(contexts.sum()) + (0 if prefill else contexts.size)
    memory = {"stage_layers": stages, "module_capacity_bytes": account.capacity_bytes,
              "module_weight_bytes": account.weight_bytes, "max_kv_tokens": account.max_kv_tokens,
              "kv_tokens": kv_tokens, "fits": account.fits_tokens(kv_tokens)}
    return {p: parts[p] for p in PARTS}, memory
