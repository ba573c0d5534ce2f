"""The system kinds a `lolpim run` may name: one descriptor per kind, registered by decorator.

A kind is everything the rest of the project needs to know about one system, in one place:

  name            what `system`, `systems`, sweeps and the outputs call it ("lolpim", "gpu-pim")
  config          its frozen config dataclass; the RunConfig table `<name with _ for ->` holds one
                  (`--set gpu_pim.count=4`); a field that names a hardware preset says which kind
                  (``metadata={"preset": "pim"}``, hardware/preset_kinds.py), which gives the
                  kind's preset keys
  builder         ``builder(kind, cfg, trace, seed, model) -> BuiltSystem``: its actors
  label, style    how plots name and draw it
  pim             whether it is a PIM system (sweeps' `modules` and `batch` axes)
  baseline_ends   a baseline's two ends, "published" and "best" (keys of its table): a comparison
                  runs both and reports LoL-PIM's speedup over it as that bracket
  speedup_reference  what the speedups are of: the first registered kind of this sort in a run

The built-in kinds register in orchestration/llm/kinds.py; a third-party package registers its
own through the entry-point group ``lolpim.systems`` (docs/plugins.md), loaded the first time the
kinds are asked for. A plugin that fails to import, registers an invalid descriptor or reuses a
registered name is refused with a one-line error naming the plugin.
"""
from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass
from importlib import metadata
from typing import Any
from collections.abc import Callable, Mapping

from lolpim.core.errors import UserError
from lolpim.hardware.systems.config import BRACKET_ENDS

ENTRY_POINT_GROUP = "lolpim.systems"
# names the rest of a RunConfig already uses (a kind's table must not shadow them)
RESERVED_NAMES = ("compare", "pipeline-demo", "system", "systems", "model", "workload", "pipeline", "prefill",
                  "prefill_gpu", "pim_capacity_gib", "bracket", "tables")
_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*\Z")


class PluginError(UserError):
    """A system-kind plugin that cannot be used: its import failed or its descriptor is invalid."""


@dataclass(frozen=True)
class PlotStyle:
    """How `lolpim plot` draws a kind's lines: matplotlib line style, marker and colour ("" for
    the next colour of the palette)."""
    linestyle: str = "-"
    marker: str = "o"
    colour: str = ""


@dataclass(frozen=True)
class SystemKindSpec:
    name: str
    config: type
    builder: Callable[..., Any]
    label: str
    style: PlotStyle = PlotStyle()
    pim: bool = False
    baseline_ends: Mapping[str, Mapping[str, str]] | None = None
    speedup_reference: bool = False
    origin: str = "lolpim"          # "lolpim" (built in) or the plugin's entry point

    @property
    def table(self) -> str:
        """The RunConfig table (and `--set` prefix) that configures this kind."""
        return self.name.replace("-", "_")

    @property
    def preset_keys(self) -> dict[str, str]:
        """{dotted key: preset kind} for every field of the kind's table that names a preset."""
        return {f"{self.table}.{f.name}": f.metadata["preset"] for f in dataclasses.fields(self.config)
                if "preset" in f.metadata}


_KINDS: dict[str, SystemKindSpec] = {}
_plugins_loaded = False


def system_kind(name: str, config: type, *, label: str, style: PlotStyle = PlotStyle(), pim: bool = False,
                baseline_ends: Mapping[str, Mapping[str, str]] | None = None, speedup_reference: bool = False):
    """Decorator: register the decorated builder as system kind ``name`` (the other arguments as
    in SystemKindSpec). Returns the builder unchanged, so one builder may serve several kinds."""
    def register_builder(builder: Callable[..., Any]) -> Callable[..., Any]:
        register(SystemKindSpec(name, config, builder, label, style, pim, baseline_ends, speedup_reference,
                                origin=_current_origin))
        return builder
    return register_builder


_current_origin = "lolpim"   # while a plugin's module is imported: its entry point


def register(spec: SystemKindSpec) -> SystemKindSpec:
    problem = check_spec(spec)
    if problem:
        raise PluginError(f"system kind {spec.name!r} ({spec.origin}): {problem}")
    if spec.name in _KINDS:
        other = _KINDS[spec.name].origin
        raise PluginError(f"system kind {spec.name!r} ({spec.origin}): the name is taken by "
                          f"{'a built-in kind' if other == 'lolpim' else other}; choose another name")
    if any(k.table == spec.table for k in _KINDS.values()):
        raise PluginError(f"system kind {spec.name!r} ({spec.origin}): its config table {spec.table!r} is taken")
    _KINDS[spec.name] = spec
    return spec


def check_spec(spec: SystemKindSpec) -> str:
    """What is wrong with ``spec`` ("" if nothing): every part the project reads is checked
    here, so an invalid plugin fails when it registers, not halfway through a run."""
    if not isinstance(spec.name, str) or not _NAME.match(spec.name) or len(spec.name) > 40:
        return "its name must be lower-case letters and digits in words joined by '-' (e.g. 'my-pim')"
    if spec.name in RESERVED_NAMES or spec.table in RESERVED_NAMES:
        return f"the name {spec.name!r} is reserved by the run config"
    if not (isinstance(spec.config, type) and dataclasses.is_dataclass(spec.config)
            and spec.config.__dataclass_params__.frozen):   # type: ignore[attr-defined]
        return "config must be a frozen dataclass class"
    try:
        spec.config()
        hints = typing.get_type_hints(spec.config)
    except Exception as exc:   # a config whose defaults do not build is unusable
        return f"config {spec.config.__name__}() fails with its defaults: {type(exc).__name__}: {exc}"
    fields = {f.name for f in dataclasses.fields(spec.config)}
    if not callable(spec.builder):
        return "builder must be callable as builder(kind, cfg, trace, seed, model)"
    if not isinstance(spec.label, str) or not spec.label.strip():
        return "label must be a non-empty string"
    if not isinstance(spec.style, PlotStyle):
        return "style must be a PlotStyle"
    if not isinstance(spec.pim, bool) or not isinstance(spec.speedup_reference, bool):
        return "pim and speedup_reference must be true or false"
    if spec.pim and not {"module", "modules"} <= fields:
        return "a PIM kind's config needs 'module' and 'modules' fields (e.g. a PimSystemConfig subclass)"
    for key, preset in spec.preset_keys.items():
        if hints.get(key.split(".", 1)[1]) is not str:
            return f"{key} names a {preset} preset but is not a string field"
    if spec.baseline_ends is not None:
        if set(spec.baseline_ends) != set(BRACKET_ENDS):
            return f"baseline_ends must name exactly the ends {', '.join(BRACKET_ENDS)}"
        for end, keys in spec.baseline_ends.items():
            unknown = sorted(set(keys) - fields)
            if unknown:
                return f"baseline_ends[{end!r}] sets {unknown[0]!r}, not a field of {spec.config.__name__}"
    return ""


def load_plugins() -> None:
    """Import every module the entry-point group ``lolpim.systems`` names (once per process); each
    registers its kinds with @system_kind as it is imported."""
    global _plugins_loaded, _current_origin
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for entry in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        origin = f"plugin {entry.name!r} ({entry.value}"
        dist = getattr(entry, "dist", None)
        origin += f", package {dist.name})" if dist is not None else ")"
        _current_origin = origin
        try:
            entry.load()
        except PluginError:
            raise
        except Exception as exc:
            first = next((line for line in str(exc).splitlines() if line.strip()), "")[:200]
            raise PluginError(f"system-kind {origin}: import failed: {type(exc).__name__}: {first}") from None
        finally:
            _current_origin = "lolpim"
        if not any(k.origin == origin for k in _KINDS.values()):   # e.g. the decorator was left out
            raise PluginError(f"system-kind {origin}: registered no system kind (decorate its builder with "
                              "@system_kind, orchestration/llm/registry.py)")


def kinds() -> dict[str, SystemKindSpec]:
    """Every registered kind, by name, built-in ones first (in their order), then plugins'."""
    load_plugins()
    return dict(_KINDS)


def names() -> tuple[str, ...]:
    return tuple(kinds())


def get(name: str) -> SystemKindSpec:
    """The kind called ``name``, or a UserError listing the registered ones."""
    found = kinds().get(str(name))
    if found is None:
        raise UserError(f"unknown system kind {str(name)!r}; registered: {', '.join(names())}")
    return found


def by_table(table: str) -> SystemKindSpec | None:
    return next((k for k in kinds().values() if k.table == table), None)


def pim_kinds() -> tuple[str, ...]:
    return tuple(k.name for k in kinds().values() if k.pim)


def bracketed() -> dict[str, Mapping[str, Mapping[str, str]]]:
    """{kind: its baseline ends} for every kind with a bracket."""
    return {k.name: k.baseline_ends for k in kinds().values() if k.baseline_ends is not None}


def speedup_references() -> tuple[str, ...]:
    """What "LoL-PIM" is in the speedups: the first of these a run has."""
    return tuple(k.name for k in kinds().values() if k.speedup_reference)
