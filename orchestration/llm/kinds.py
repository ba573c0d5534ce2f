"""The built-in system kinds, each registered with its config, builder, label and plot style
(orchestration/llm/registry.py). A third-party kind registers the same way from its own package
(docs/plugins.md); nothing here or elsewhere lists the kinds again.

Registered in the order of the RunConfig tables (and of `lolpim plot`'s legends).
"""
from __future__ import annotations

from dataclasses import replace

from lolpim.hardware.systems.config import (BASELINE_ENDS, CentDataflow, CentSystemConfig, GpuPimSystemConfig,
                                            GpuSystemConfig, LolpimSystemConfig, LolpimXpuSystemConfig,
                                            NeupimsSystemConfig, SystemKind)
from lolpim.models.llm.architecture import LlmConfig
from lolpim.models.llm.workload import Trace
from lolpim.orchestration.llm.config import RunConfig
from lolpim.orchestration.llm.registry import PlotStyle, system_kind
from lolpim.orchestration.llm.systems import BuiltSystem, build_gpu, build_pim


@system_kind(SystemKind.LOLPIM, LolpimSystemConfig, label="LoL-PIM", style=PlotStyle("-", "o", "#1f77b4"),
             pim=True, speedup_reference=True)
def lolpim(kind: str, cfg: RunConfig, trace: Trace, seed: int, model: LlmConfig) -> BuiltSystem:
    """LoL-PIM: PIM modules in a pipeline (or one tensor-parallel group), dynamic KV (DPA)."""
    return build_pim(kind, cfg, trace, seed, model)


@system_kind(SystemKind.CENT, CentSystemConfig, label="CENT", style=PlotStyle("--", "s", "#d62728"),
             pim=True, baseline_ends=BASELINE_ENDS[SystemKind.CENT])
def cent(kind: str, cfg: RunConfig, trace: Trace, seed: int, model: LlmConfig) -> BuiltSystem:
    """CENT-style PIM-only system; its artifact dataflow, when chosen, is named in the description."""
    built = build_pim(kind, cfg, trace, seed, model)
    dataflow = cfg.table(kind).dataflow
    if dataflow == CentDataflow.IDEAL:
        return built
    return replace(built, description=f"{built.description}, {dataflow} dataflow")


@system_kind(SystemKind.GPU, GpuSystemConfig, label="GPU", style=PlotStyle(":", "^", "#2ca02c"))
def gpu(kind: str, cfg: RunConfig, trace: Trace, seed: int, model: LlmConfig) -> BuiltSystem:
    """Multi-GPU serving: tensor parallel, paged KV, vLLM-style admission."""
    return build_gpu(kind, cfg, trace, seed, model)


@system_kind(SystemKind.GPU_PIM, GpuPimSystemConfig, label="GPU+PIM", style=PlotStyle("-.", "D", "#ff7f0e"),
             baseline_ends=BASELINE_ENDS[SystemKind.GPU_PIM])
def gpu_pim(kind: str, cfg: RunConfig, trace: Trace, seed: int, model: LlmConfig) -> BuiltSystem:
    """GPUs with HBM-PIM stacks running decode attention (AttAcc-style)."""
    return build_gpu(kind, cfg, trace, seed, model)


@system_kind(SystemKind.NEUPIMS, NeupimsSystemConfig, label="NeuPIMs", style=PlotStyle("--", "X", "#8c564b"),
             pim=True, baseline_ends=BASELINE_ENDS[SystemKind.NEUPIMS])
def neupims(kind: str, cfg: RunConfig, trace: Trace, seed: int, model: LlmConfig) -> BuiltSystem:
    """NeuPIMs-style xPU+PIM baseline."""
    return build_pim(kind, cfg, trace, seed, model)


@system_kind(SystemKind.LOLPIM_XPU, LolpimXpuSystemConfig, label="LoL-PIM (xPU+PIM)",
             style=PlotStyle("-", "P", "#9467bd"), pim=True, speedup_reference=True)
def lolpim_xpu(kind: str, cfg: RunConfig, trace: Trace, seed: int, model: LlmConfig) -> BuiltSystem:
    """LoL-PIM's techniques on the xPU+PIM module."""
    return build_pim(kind, cfg, trace, seed, model)
