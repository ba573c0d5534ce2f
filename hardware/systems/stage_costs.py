"""What one pipeline stage charges for one pass of a micro-batch, from hardware/ models.

A stage is built from plain parameters (so a Ray process can rebuild it); every choice is an enum
(StageKind, AttentionMapping, CentDataflow), its string accepted and made the member:
  kind        "pim" (layers on one PIM module), "xpu" (layers on an xPU+PIM module: matrix units run
              FC GEMMs, banks run attention, overlapped; NeuPIMs-style), "gpu" (a tensor-parallel
              GPU group running the whole model) or "gpu-pim" (GPUs run FC, HBM-PIM runs
              attention; AttAcc-style)
  model       the LLM (an LlmConfig, resolved once by the system builder; a preset name is loaded)
  layers      decoder layers held by this stage
  lm_head     whether this stage also runs the LM head (the last pipeline stage does)
  device      PIM module / GPU preset name; hbm_pim (and hbm_pim_stacks, 0 = preset): HBM-PIM for gpu-pim
  hbm_pim_ops_per_byte   gpu-pim: the HBM-PIM units' FLOPs per internal byte (0 = the preset's)
  gpu_kv_tokens, hbm_pim_kv_tokens   gpu-pim: the KV tokens the GPUs' HBM and the HBM-PIM stacks
              hold (the whole system); attention is split between them (hbm_pim.split_attention).
              gpu_kv_tokens = 0: all of it in HBM-PIM (AttAcc as published)
  n_devices   tensor-parallel width (GPUs, or PIM modules acting as one stage)
  partitioning, weight_bits   PIM attention mapping (hardware/pim/attention.py) and weight precision
  channel_kv_tokens  request-per-channel mapping: the tokens of one request's KV one channel of
              the module holds (0: no limit); a longer request spans several channels
  dataflow    "ideal" (default) or "artifact": a CENT stage priced the way CENT's own simulator
              prices its published design (hardware/pim/cent_dataflow.py); system_devices = CXL
              devices in the whole system (they share the host's PCIe lanes)
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from lolpim.hardware.cost import total
from lolpim.hardware.gpu.model import GpuSpec, gpu_decode_step_cost, gpu_prefill_cost, load_gpu
from lolpim.hardware.hbm_pim import gpu_pim_decode_step_cost, load_hbm_pim
from lolpim.hardware.links import allreduce_cost, load_link
from lolpim.hardware.pim import (load_pim_module, pim_decode_layers_cost, pim_gemv_cost,
                                 pim_prefill_layers_cost)
from lolpim.hardware.pim import cent_dataflow as cd
from lolpim.hardware.pim.attention import nmu_gemm_cost
from lolpim.hardware.pim.xpu import xpu_decode_layers_cost, xpu_step_cost
from lolpim.hardware.pim.attention import AttentionMapping
from lolpim.hardware.pim.cent_dataflow import CentBlockLayout, CentDataflow, check_dataflow
from lolpim.hardware.pim.spec import PimModuleSpec
from lolpim.hardware.systems.config import StageKind
from lolpim.models.llm.architecture import LlmConfig, load_llm


def _member(enum, value, name: str):
    """``value`` as a member of ``enum`` (a StrEnum), or a ValueError naming the allowed values."""
    try:
        return enum(value)
    except ValueError:
        raise ValueError(f"unknown stage {name} {value!r}; allowed: {', '.join(enum)}") from None


def shard_model(model: LlmConfig, ways: int) -> LlmConfig:
    """The slice of every layer one of ``ways`` tensor-parallel devices holds (Megatron-style:
    heads and FFN columns split; KV heads replicated when there are fewer than ``ways``)."""
    if ways == 1:
        return model
    heads = max(1, model.heads // ways)
    kv_heads = max(1, model.kv_heads // ways)
    # every expert is split the same way (expert tensor parallelism), and the shared FFN too
    return replace(model, heads=heads, kv_heads=min(kv_heads, heads), ffn_hidden=max(1, model.ffn_hidden // ways),
                   expert_ffn_hidden=model.expert_ffn_hidden and max(1, model.expert_ffn_hidden // ways),
                   shared_expert_ffn_hidden=model.shared_expert_ffn_hidden
                   and max(1, model.shared_expert_ffn_hidden // ways))


def _group(cost, n_devices: int):
    """One tensor-parallel shard's cost as the group's: the same time, n_devices x the bytes,
    FLOPs and energy (as the GPU model sums its tensor-parallel group)."""
    if n_devices == 1:
        return cost
    return replace(cost, bytes_moved=cost.bytes_moved * n_devices, flops=cost.flops * n_devices,
                   energy_j=cost.energy_j * n_devices)


@dataclass(frozen=True)
class StageSpec:
    """What one stage is priced from (the fields above): the typed form builders pass to actors."""
    kind: StageKind
    model: LlmConfig
    layers: int
    device: str
    n_devices: int = 1
    partitioning: AttentionMapping = AttentionMapping.TOKEN_CENTRIC
    weight_bits: int = 16
    lm_head: bool = False
    hbm_pim: str = "attacc-bg"
    hbm_pim_stacks: int = 0
    dataflow: CentDataflow = CentDataflow.IDEAL
    system_devices: int = 0
    hbm_pim_ops_per_byte: float = 0.0
    gpu_kv_tokens: int = 0
    hbm_pim_kv_tokens: int = 0
    channel_kv_tokens: int = 0
    allreduce: str = "nccl-ring"        # GPU stages: the tensor-parallel all-reduce (hardware/links.py)

    def __post_init__(self):
        # the choices as members, from their strings too (a builder may pass a config's value)
        object.__setattr__(self, "kind", _member(StageKind, self.kind, "kind"))
        object.__setattr__(self, "partitioning", _member(AttentionMapping, self.partitioning, "partitioning"))
        object.__setattr__(self, "dataflow", check_dataflow(self.dataflow))

    def build(self) -> StageCost:
        return StageCost(**{f.name: getattr(self, f.name) for f in fields(self)})


class StageCost:
    def __init__(self, kind: StageKind | str, model: LlmConfig | str, layers: int, device: str, n_devices: int = 1,
                 partitioning: AttentionMapping | str = AttentionMapping.TOKEN_CENTRIC, weight_bits: int = 16,
                 lm_head: bool = False, hbm_pim: str = "attacc-bg", hbm_pim_stacks: int = 0,
                 dataflow: CentDataflow | str = CentDataflow.IDEAL,
                 system_devices: int = 0, hbm_pim_ops_per_byte: float = 0.0, gpu_kv_tokens: int = 0,
                 hbm_pim_kv_tokens: int = 0, channel_kv_tokens: int = 0,
                 allreduce: str = "nccl-ring"):
        self.kind = kind = _member(StageKind, kind, "kind")
        self.dataflow = check_dataflow(dataflow)
        if self.dataflow != CentDataflow.IDEAL and kind != StageKind.PIM:
            raise ValueError(f"dataflow {str(dataflow)!r} applies to PIM stages only, not {str(kind)!r}")
        self.system_devices = system_devices or n_devices
        self.model = model if isinstance(model, LlmConfig) else load_llm(model)
        self.layers = layers
        self.n_devices = n_devices
        self.partitioning = _member(AttentionMapping, partitioning, "partitioning")
        self.channel_kv_tokens = channel_kv_tokens
        self.weight_bits = weight_bits
        self.lm_head = lm_head
        self.spec: PimModuleSpec | GpuSpec    # a PimModuleSpec for kind pim/xpu, a GpuSpec for gpu/gpu-pim
        if kind in (StageKind.PIM, StageKind.XPU):
            self.spec = module = load_pim_module(device)
            self.shard = shard_model(self.model, n_devices)
            self.link = load_link(module.link)   # once: a preset file read per pass cost ~40% of a TP run
        else:   # a GPU group, with HBM-PIM stacks for gpu-pim
            self.spec = replace(load_gpu(device), allreduce=str(allreduce))
            if kind == StageKind.GPU_PIM:
                self.pim = load_hbm_pim(hbm_pim)
                if hbm_pim_stacks:
                    self.pim = replace(self.pim, stacks_per_device=hbm_pim_stacks)
                if hbm_pim_ops_per_byte:
                    self.pim = replace(self.pim, ops_per_byte=hbm_pim_ops_per_byte)
                self.gpu_kv_tokens = gpu_kv_tokens
                self.pim_kv_tokens = hbm_pim_kv_tokens or None   # 0: as much as the step needs

    def __eq__(self, other):
        # built from the same parameters = the same prices (it holds no run state)
        return type(other) is type(self) and vars(other) == vars(self)

    __hash__ = None     # type: ignore[assignment]  # equal by value, so not hashable by identity

    @property
    def pim_spec(self) -> PimModuleSpec:
        """The module a pim or xpu stage runs on."""
        assert isinstance(self.spec, PimModuleSpec), f"a {self.kind} stage has no PIM module"
        return self.spec

    @property
    def gpu_spec(self) -> GpuSpec:
        """The GPU a gpu or gpu-pim stage runs on."""
        assert isinstance(self.spec, GpuSpec), f"a {self.kind} stage has no GPU"
        return self.spec

    def decode_s(self, contexts: np.ndarray) -> tuple[float, dict]:
        """One new token for every request; ``contexts`` = KV length each attends over."""
        if self.kind == StageKind.PIM:
            parts = self._module_group_parts(
                pim_decode_layers_cost(self.pim_spec, self.shard, contexts, self.layers, self.partitioning,
                                       self.weight_bits, self.channel_kv_tokens), pim_gemv_cost, len(contexts))
            if self.dataflow == CentDataflow.ARTIFACT:
                return self._artifact_decode_s(contexts, parts)
            cost = total(parts)
        elif self.kind == StageKind.XPU:
            # FC GEMMs on the matrix units overlap attention on the banks (hardware/pim/xpu.py); the
            # LM head is one more matrix-unit GEMM, after them
            parts = self._module_group_parts(
                xpu_decode_layers_cost(self.pim_spec, self.shard, contexts, self.layers, self.partitioning,
                                       self.weight_bits, self.channel_kv_tokens), nmu_gemm_cost, len(contexts))
            cost = xpu_step_cost(parts)
        elif self.kind == StageKind.GPU:
            parts = gpu_decode_step_cost(self.gpu_spec, self.model, contexts, self.n_devices,
                                         layers=None if self.lm_head else self.layers, weight_bits=self.weight_bits)
            cost = total(parts)
        else:
            parts = gpu_pim_decode_step_cost(self.gpu_spec, self.pim, self.model, contexts, self.n_devices,
                                             layers=None if self.lm_head else self.layers,
                                             weight_bits=self.weight_bits, gpu_kv_tokens=self.gpu_kv_tokens,
                                             pim_kv_tokens=self.pim_kv_tokens)
            cost = total(parts)
        return cost.time_s, {"energy_j": cost.energy_j, "attention_s": parts["attention"].time_s}

    def _module_group_parts(self, parts: dict, lm_head_cost, batch: int) -> dict:
        """A PIM or xPU+PIM stage's parts for its whole tensor-parallel group: the LM head (priced by
        ``lm_head_cost(spec, K, N, batch, bits)``) on the last stage, and the all-reduces."""
        if self.lm_head:
            parts["lm_head"] = lm_head_cost(self.pim_spec, self.model.hidden, self.model.vocab // self.n_devices, batch,
                                            self.weight_bits)
        # Each part above is one module's shard; the group's modules run theirs side by side, so
        # the time is one shard's and the energy is the whole group's (n_devices shards).
        parts = {name: _group(cost, self.n_devices) for name, cost in parts.items()}
        if self.n_devices > 1:
            parts["communication"] = self._pim_allreduce(batch)   # ring: already all senders
        return parts

    def _artifact_layout(self):
        if self.n_devices > 1:      # tensor parallel: every device runs every block on all its channels
            return CentBlockLayout(fc_devices=self.n_devices, channels_per_block=self.pim_spec.channels,
                                   blocks_per_device=1, devices=self.system_devices)
        # pipeline: the module's blocks sit on disjoint channel groups (CENT's throughput mode)
        return CentBlockLayout(channels_per_block=max(1, self.pim_spec.channels // self.layers),
                               blocks_per_device=self.layers, devices=self.system_devices)

    def _artifact_decode_s(self, contexts: np.ndarray, ideal_parts: dict) -> tuple[float, dict]:
        """CENT's published dataflow: every request at batch 1, one after another.
        Tensor parallel: layers x (PIM + PNM + CXL multicast) per request. Pipeline: the module's
        blocks form an internal pipeline, one block step per request plus (layers - 1) steps to
        fill; the hop to the next stage is the simulator's link. Energy stays the ideal model's."""
        layout = self._artifact_layout()
        steps, attention = 0.0, 0.0
        spec = self.pim_spec
        for ctx in np.asarray(contexts, dtype=np.int64):
            terms = cd.block_terms_s(spec, self.model, int(ctx), layout)
            if self.n_devices == 1:
                terms.pop("cxl")
            steps += sum(terms.values())
            attention += sum(terms[k] for k in ("attention_qk", "attention_sv", "softmax_banks", "softmax_ewmul"))
        n = len(contexts)
        if self.n_devices > 1:
            time_s = self.layers * steps
            attention_s = self.layers * attention
        else:
            per_step = steps / max(n, 1)
            time_s = steps + (self.layers - 1) * per_step
            attention_s = attention * (n + self.layers - 1) / max(n, 1)
        if self.lm_head:
            time_s += n * cd.lm_head_s(self.pim_spec, self.model, layout)
        return time_s, {"energy_j": total(ideal_parts).energy_j, "attention_s": attention_s}

    def prefill_s(self, prompts: np.ndarray) -> float:
        if len(prompts) == 0:
            return 0.0
        if self.kind in (StageKind.PIM, StageKind.XPU):     # prompts run on the module's compute (NMU / matrix units)
            return sum(total(pim_prefill_layers_cost(self.pim_spec, self.shard, int(p), self.layers)).time_s
                       for p in prompts)
        return total(gpu_prefill_cost(self.gpu_spec, self.model, prompts, self.n_devices,
                                      layers=None if self.lm_head else self.layers,
                                      weight_bits=self.weight_bits)).time_s

    def _pim_allreduce(self, batch: int):
        per_layer = allreduce_cost(self.link, batch * self.model.hidden * 2, self.n_devices)
        return per_layer.scaled(2 * self.layers)

    def min_pass_s(self) -> float:
        """A lower bound on any pass: one request at a one-token context (weights still stream)."""
        return min(self.decode_s(np.array([1]))[0], self.prefill_s(np.array([1])) or np.inf)
