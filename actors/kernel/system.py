"""A simulated system = a list of actor specs plus a seed; a run = that system on an executor.

A spec names its actor, its class (the class object itself) and the class's frozen parameter
dataclass (``cls.Params``), so a typo in a parameter fails when the spec is written, not
inside an actor process. Both are picklable, so the Ray executor can rebuild any actor in
another process, and again after that process dies.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lolpim.actors.kernel.actor import Actor, KernelError
from lolpim.core import schema
from lolpim.core.compat import dataclass_transform

_T = TypeVar("_T")


@dataclass(frozen=True)
class ActorSpec:
    name: str
    cls: type[Actor]
    params: Any = None              # an instance of cls.Params (None when the class has none)

    def __post_init__(self):
        if not (isinstance(self.cls, type) and issubclass(self.cls, Actor)):
            raise TypeError(f"actor '{self.name}': cls must be an Actor subclass, got {self.cls!r}")
        expected = self.cls.Params
        if expected is None:
            if self.params is not None:
                raise TypeError(f"actor '{self.name}': {self.cls.__name__} takes no parameters")
        elif type(self.params) is not expected:
            raise TypeError(f"actor '{self.name}': params must be {self.cls.__name__}.Params "
                            f"({expected.__name__}), got {type(self.params).__name__}")

    def build(self, seed: int) -> Actor:
        if self.params is None:
            actor = self.cls(name=self.name, seed=seed)
        else:
            # a class with a Params dataclass takes params= (checked in __post_init__); Actor does not
            actor = self.cls(name=self.name, seed=seed, params=self.params)  # type: ignore[call-arg]
        if declares_without_building(self.cls):
            # the Ray driver plans windows from the classmethods without building actors: they must agree
            declared = (self.cls.lookahead_for(self.params), self.cls.peers_for(self.name, self.params))
            if (actor.lookahead_ps, actor.peer_names) != declared:
                raise KernelError(f"actor '{self.name}' ({self.cls.__name__}) has lookahead {actor.lookahead_ps!r} "
                                  f"and peers {actor.peer_names!r}, but {self.cls.__name__}.lookahead_for/peers_for "
                                  f"declare {declared[0]!r} and {declared[1]!r}; make them match")
        return actor


def declares_without_building(cls: type[Actor]) -> bool:
    """Whether ``cls`` overrides ``lookahead_for`` / ``peers_for`` (then the Ray driver reads them
    from the class). During the transition a class that does not is built once on the driver,
    since it may set them in ``__init__`` (``actor_plan``)."""
    # a classmethod bound to its class has __func__, which the checker's Callable type does not declare
    return (cls.lookahead_for.__func__ is not Actor.lookahead_for.__func__  # type: ignore[attr-defined]
            or cls.peers_for.__func__ is not Actor.peers_for.__func__)  # type: ignore[attr-defined]


def actor_plan(spec: ActorSpec, seed: int) -> tuple[int, frozenset | None]:
    """(lookahead_ps, peer_names) of the actor ``spec`` builds, without building it when its class declares them."""
    if declares_without_building(spec.cls):
        return spec.cls.lookahead_for(spec.params), spec.cls.peers_for(spec.name, spec.params)
    actor = spec.build(seed)   # transition: the class may set them in __init__
    return actor.lookahead_ps, actor.peer_names


@dataclass_transform(frozen_default=True, kw_only_default=True,
                     field_specifiers=(dataclasses.field, schema.field))
def frozen_params(cls: type[_T]) -> type[_T]:
    """Decorator for an actor's parameter dataclass: frozen, keyword-only fields. A field that
    declares a constraint (core/schema.py ``field(min=..., ...)``) is checked when the spec is
    written, by the same layer that checks configs, presets, messages and flags."""
    declared = any(isinstance(v, dataclasses.Field) and set(v.metadata) - {"doc", "help", "unit"}
                   for v in vars(cls).values())
    if declared:   # installed before dataclass() writes __init__, which calls it
        own_post_init = getattr(cls, "__post_init__", None)

        def __post_init__(self):
            schema.check(self)
            if own_post_init is not None:
                own_post_init(self)
        cls.__post_init__ = __post_init__   # type: ignore[attr-defined]
    return dataclasses.dataclass(frozen=True, kw_only=True)(cls)


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


MEASURED = "measured"   # an actor result's key for its own timings: reported, not compared (RunResult.comparable)


@dataclass
class RunResult:
    results: dict[str, Any]          # actor name -> actor.result()
    end_time_ps: int                 # time of the last processed event
    events: int                      # events processed
    trace: list[tuple] | None        # sorted trace entries when recorded
    stats: dict[str, Any] = field(default_factory=dict)  # executor facts (windows, calls, wall time)

    def comparable(self) -> tuple:
        """Everything that must be bit-identical across executors: the results without each
        actor's ``measured`` entry (its own timings, e.g. a tile's CPU time, which differ run to
        run and are reported, never compared)."""
        results = {name: ({k: v for k, v in r.items() if k != MEASURED} if isinstance(r, dict) else r)
                   for name, r in self.results.items()}
        return (results, self.end_time_ps, self.events, self.trace)
