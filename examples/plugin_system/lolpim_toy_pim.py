"""toy-pim: a PIM system kind added to lolpim from outside it, in this one file.

It is LoL-PIM's serving (host, pipeline stages, DPA KV managers: lolpim's own PIM actors, wired
by lolpim's PIM builder) on CENT's module (the cent-module preset: the AiM chip's timing over
CXL) with LoL-PIM's dynamic KV and token-centric attention, i.e. "what LoL-PIM's techniques give
on CENT's hardware". Everything lolpim needs to know about the kind is the config class and the
@system_kind decorator below:

    lolpim run --set systems=lolpim,toy-pim,cent --set toy_pim.kv_mode=static
    lolpim run --set systems=toy-pim --set toy_pim.module=file:my-module.toml
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lolpim.hardware.systems.config import KvMode, LolpimSystemConfig, Partitioning
from lolpim.models.llm.architecture import LlmConfig
from lolpim.models.llm.workload import Trace
from lolpim.orchestration.llm.config import RunConfig
from lolpim.orchestration.llm.registry import PlotStyle, system_kind
from lolpim.orchestration.llm.systems import BuiltSystem, build_pim


@dataclass(frozen=True)
class ToyPimConfig(LolpimSystemConfig):
    """The `toy_pim` table of a run config: LoL-PIM's keys, with CENT's module by default (the
    field names a PIM module preset, so `toy_pim.module` is checked as `lolpim.module` is)."""
    module: str = field(default="cent-module", metadata={"preset": "pim"})
    kv_mode: KvMode = KvMode.DYNAMIC
    partitioning: Partitioning = Partitioning.TOKEN_CENTRIC


@system_kind("toy-pim", ToyPimConfig, label="toy PIM (LoL-PIM on CENT's module)",
             style=PlotStyle("-.", "v", "#e377c2"), pim=True)
def build_toy_pim(kind: str, cfg: RunConfig, trace: Trace, seed: int, model: LlmConfig) -> BuiltSystem:
    """lolpim's PIM builder, on this kind's table (cfg.table(kind) is a ToyPimConfig)."""
    return build_pim(kind, cfg, trace, seed, model)
