"""A simulated system = a list of actor specs plus a seed; a run = that system on an executor.

Specs are plain data (class path + parameters), so the Ray executor can rebuild any
actor in another process, and again after that process dies.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from lolpim.actors.kernel.actor import Actor


@dataclass(frozen=True)
class ActorSpec:
    name: str
    cls: str                        # "package.module:ClassName"
    params: dict = field(default_factory=dict)

    def build(self, seed: int) -> Actor:
        module_name, _, class_name = self.cls.partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        return cls(name=self.name, seed=seed, **self.params)


@dataclass(frozen=True)
class SystemSpec:
    actors: tuple[ActorSpec, ...]
    seed: int = 0
    until_ps: int | None = None     # stop after the last event at or before this time

    def __post_init__(self):
        names = [a.name for a in self.actors]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"actor names must be unique; repeated: {', '.join(dup)}")
        if not names:
            raise ValueError("a system needs at least one actor")


@dataclass
class RunResult:
    results: dict[str, Any]          # actor name -> actor.result()
    end_time_ps: int                 # time of the last processed event
    events: int                      # events processed
    trace: list[tuple] | None        # sorted trace entries when recorded
    stats: dict[str, Any] = field(default_factory=dict)  # executor facts (windows, calls, wall time)

    def comparable(self) -> tuple:
        """Everything that must be bit-identical across executors."""
        return (self.results, self.end_time_ps, self.events, self.trace)
