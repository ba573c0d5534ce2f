"""The config of `lolpim run`: which system(s), the model, the workload, each system's knobs.

The systems' own typed configs (and the choices as enums) live with their physics in
hardware/systems/config.py; this composes them with the workload and the pipeline demo.

Every field has units in its name where it has units; presets are named, not inlined.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from collections.abc import Iterator, Mapping

from lolpim.core.errors import ConfigError
from lolpim.core.presets import absolute_file_reference, is_file_reference
from lolpim.hardware.systems.config import Prefill, SystemKind, as_enum
from lolpim.models.llm.workload import ARRIVALS, TRACE_FORMATS, dataset_names
from lolpim.orchestration.llm import registry
from lolpim.orchestration.pipeline_demo import PipelineDemoConfig

# what `system` may name besides one system kind
COMPARE, PIPELINE_DEMO = "compare", "pipeline-demo"
# what `system = "compare"` runs unless `systems` says otherwise: the main job's four systems
# (the xPU+PIM pair is asked for by name: `systems = lolpim,neupims,lolpim-xpu,cent,gpu`)
DEFAULT_COMPARE = (SystemKind.LOLPIM, SystemKind.GPU, SystemKind.GPU_PIM, SystemKind.CENT)


def system_tables() -> dict[str, type]:
    """{RunConfig table: its config class} for every registered system kind, in registry order
    (`--set <table>.<key>=...`; orchestration/llm/registry.py)."""
    return {k.table: k.config for k in registry.kinds().values()}


class SystemTables(Mapping[str, Any]):
    """Each registered system kind's config, by its table name (``lolpim``, ``gpu_pim``, a
    plugin's): the ones given, every other kind at its defaults. Immutable and hashable, as the
    frozen RunConfig holding it."""

    def __init__(self, given: Mapping[str, Any] | None = None, **tables: Any):
        given = {**(given or {}), **tables}
        classes = system_tables()
        unknown = sorted(set(given) - set(classes))
        if unknown:
            raise ConfigError(unknown[0], f"not a system's table; the system tables: {', '.join(classes)}")
        for table, value in given.items():
            if not isinstance(value, classes[table]):
                raise ConfigError(table, f"expected a {classes[table].__name__}, got {type(value).__name__}")
        self._tables = {table: given[table] if table in given else cls() for table, cls in classes.items()}

    def __getitem__(self, table: str) -> Any:
        return self._tables[table]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)

    def __hash__(self) -> int:
        return hash(tuple(self._tables.items()))

    def __repr__(self) -> str:
        return f"SystemTables({self._tables!r})"

    def replace(self, table: str, value: Any) -> SystemTables:
        return SystemTables({**self._tables, table: value})


WORKLOAD_DEFAULT_SOURCE = "longbench-qmsum"


@dataclass(frozen=True)
class WorkloadConfig:
    # a dataset from models/llm/datasets.toml, "fixed" (input_tokens/output_tokens), or "csv"
    source: str = field(default=WORKLOAD_DEFAULT_SOURCE,
                        metadata={"choices": tuple(dataset_names()) + ("fixed", "csv")})
    requests: int = field(default=32, metadata={"min": 1, "max": 1_000_000})
    input_tokens: int = field(default=16384, metadata={"min": 1, "max": 10_000_000})   # for source = "fixed"
    output_tokens: int = field(default=0, metadata={"min": 0, "max": 1_000_000})  # 0: the dataset's range
    arrival: str = field(default="closed", metadata={"choices": ARRIVALS})
    arrival_rate_per_s: float = field(default=1.0, metadata={"min": 0.0})
    # a trace file (docs/traces.md); given alone it means source = "csv"
    csv_path: str = ""
    trace_format: str = field(default="auto", metadata={"choices": TRACE_FORMATS})   # auto: from the header
    time_scale: float = field(default=1.0, metadata={"min": 1e-9, "max": 1e9})   # trace arrivals x this
    # the first this many requests of the trace file (0: all of them; workload.requests sizes drawn traces)
    trace_requests: int = field(default=0, metadata={"min": 0, "max": 1_000_000})

    def __post_init__(self):
        # a trace file given without naming the source means that file; beside another named
        # source it is refused rather than silently ignored
        if self.csv_path and self.source != "csv":
            if self.source != WORKLOAD_DEFAULT_SOURCE:
                raise ConfigError("workload.source", f"is {self.source!r} but workload.csv_path is given; set "
                                                     "workload.source = 'csv' (or leave it out) to run the trace "
                                                     "file, or drop workload.csv_path")
            object.__setattr__(self, "source", "csv")


@dataclass(frozen=True)
class RunConfig:
    # "compare" (the systems below), one registered system kind, or "pipeline-demo"
    system: str = COMPARE
    model: str = "qwen1.5-7b"
    pim_capacity_gib: float = field(default=128.0, metadata={"min": 1.0, "max": 1_000_000.0})
    # before: prompts are prefilled ahead of decode (charged to TTFT, not to decode throughput);
    # inline: each system prefills in its own passes (PIM near-memory unit / GPU);
    # attached-gpu: PIM systems prefill on `prefill_gpu`, overlapping decode
    prefill: Prefill = Prefill.BEFORE
    prefill_gpu: str = field(default="a100-80gb", metadata={"preset": "gpu"})
    systems: tuple[str, ...] = DEFAULT_COMPARE   # which system kinds "compare" runs
    # a comparison also runs each baseline at both ends of its bracket (its kind's baseline_ends:
    # as published, at its best) and reports LoL-PIM's speedup over it as [vs best, vs published]
    bracket: bool = True
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    # each system kind's table (`lolpim`, `gpu_pim`, ...: `cfg.lolpim` reads one): its own keys in
    # TOML and --set, not under "tables" (orchestration/config.py flattens it)
    tables: SystemTables = field(default_factory=SystemTables, metadata={"tables": system_tables})
    pipeline: PipelineDemoConfig = field(default_factory=PipelineDemoConfig)   # system = "pipeline-demo"

    def __post_init__(self):
        # parsed strings (or ones given in Python) become members; a wrong one names the key
        object.__setattr__(self, "prefill", as_enum(Prefill, self.prefill, "prefill"))
        names = registry.names()
        allowed = (COMPARE, *names, PIPELINE_DEMO)
        if self.system not in allowed:
            raise ConfigError("system", f"got {self.system!r}; allowed values: {', '.join(map(repr, allowed))}")
        bad = [s for s in self.systems if s not in names]
        if bad:
            raise ConfigError("systems", f"unknown system {bad[0]!r}; allowed: {', '.join(names)}")
        # a built-in kind as its SystemKind member, a plugin's as its name
        object.__setattr__(self, "systems", tuple(_kind(s) for s in self.systems))
        if is_file_reference(self.prefill_gpu):
            object.__setattr__(self, "prefill_gpu", absolute_file_reference(self.prefill_gpu))

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails: `cfg.lolpim`, `cfg.gpu_pim`, a plugin's table
        tables = self.__dict__.get("tables")
        if tables is not None and not name.startswith("_") and name in tables:
            return tables[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def table(self, kind: str) -> Any:
        """The config of system ``kind``."""
        return self.tables[registry.get(kind).table]

    def with_table(self, kind: str, config: Any) -> RunConfig:
        """This config with system ``kind``'s table replaced by ``config``."""
        return replace(self, tables=self.tables.replace(registry.get(kind).table, config))


def _kind(name: str) -> str:
    try:
        return SystemKind(name)
    except ValueError:
        return str(name)
