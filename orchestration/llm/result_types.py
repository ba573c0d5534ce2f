"""The typed results of an LLM serving run: what the table, the JSON, the CSV files, the plots,
the metrics and the sweeps read, instead of loose dicts.

``system_result(built, run)`` turns one simulated system's actor results into a ``SystemResult``;
which actor is the host, a pipeline stage or a KV manager (DPA controller) is read from the
built system (``ActorRoles``: each ActorSpec's class), never from the actor's name.

Every class is frozen and has units in its field names. ``to_dict()`` gives the JSON form, whose
keys are the ones `lolpim run --json` has always written (docs and scripts read them); the field
order is the JSON key order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from lolpim.actors.kernel.system import SystemSpec
from lolpim.actors.llm.host import LlmHost
from lolpim.actors.llm.kv_manager import KvManager
from lolpim.actors.llm.stage import LlmStage
from lolpim.hardware.systems.config import BRACKET_ENDS
from lolpim.hardware.systems.plan import GB

@dataclass(frozen=True)
class ActorRoles:
    """Which actor of a built LLM system does what, read from the classes of its ActorSpecs."""
    host: str
    stages: tuple[str, ...]        # pipeline order
    kv_managers: tuple[str, ...]   # one DPA controller per module, in module order

    @classmethod
    def of(cls, spec: SystemSpec) -> ActorRoles:
        hosts = [a.name for a in spec.actors if a.cls is LlmHost]
        if len(hosts) != 1:
            raise ValueError(f"an LLM system has one LlmHost, this one {len(hosts)}")
        return cls(hosts[0], tuple(a.name for a in spec.actors if a.cls is LlmStage),
                   tuple(a.name for a in spec.actors if a.cls is KvManager))

    def module_of(self) -> dict[str, str]:
        """Actor -> the module label the metrics use: stage i and KV manager i are "00i"."""
        return {name: f"{i:03d}" for names in (self.stages, self.kv_managers) for i, name in enumerate(names)}


@dataclass(frozen=True)
class DeviceGroup:
    """``count`` devices of one preset and the memory each has."""
    count: int
    model: str                 # the preset's name (with a note, e.g. "attacc-bg (4 stacks)")
    memory: str                # "PIM", "HBM", "HBM-PIM"
    gib_each: float
    gib: float
    power_w_each: float
    power_w: float


@dataclass(frozen=True)
class Hardware:
    """What a system really has, as the table, the plot and the JSON report it."""
    label: str                 # "8 x lolpim-module, 128 GiB PIM"
    devices: tuple[DeviceGroup, ...]
    memory_gib: float
    power_w: float             # the devices' power budget: GPU TDP, PIM at full activity

    @classmethod
    def of(cls, *groups: tuple[int, str, str, float, float]) -> Hardware:
        """``groups``: (count, preset, memory kind, bytes of that memory per device, power budget
        per device in W: the presets' power_w / tdp_w, docs/lolpim-system.md "Iso-power view")."""
        devices = tuple(DeviceGroup(n, model, kind, each / GB, n * each / GB, watts, n * watts)
                        for n, model, kind, each, watts in groups)
        label = " + ".join(f"{d.count} x {d.model}" for d in devices) + ", " + " + ".join(
            f"{d.gib:.0f} GiB {d.memory}" for d in devices)
        return cls(label, devices, sum(d.gib for d in devices), sum(d.power_w for d in devices))

    def to_dict(self) -> dict:
        return {"label": self.label, "devices": [_plain(d) for d in self.devices], "memory_gib": self.memory_gib,
                "power_w": self.power_w}

    @classmethod
    def from_dict(cls, data: dict) -> Hardware:
        return cls(data["label"], tuple(DeviceGroup(**d) for d in data["devices"]), data["memory_gib"],
                   data["power_w"])


@dataclass(frozen=True)
class RequestResult:
    """One request of a run. With prefill = before no prompt is simulated, and first token -
    arrival is the wait for KV memory (``queue_wait_s``); otherwise it is ``ttft_s``."""
    request: int
    arrival_s: float
    input_tokens: int
    ttft_s: float | None
    queue_wait_s: float | None
    finish_s: float
    output_tokens: int
    tpot_s: float

    def to_dict(self) -> dict:
        wait = ("queue_wait_s", self.queue_wait_s) if self.ttft_s is None else ("ttft_s", self.ttft_s)
        return {"request": self.request, "arrival_s": self.arrival_s, "input_tokens": self.input_tokens,
                wait[0]: wait[1], "finish_s": self.finish_s, "output_tokens": self.output_tokens,
                "tpot_s": self.tpot_s}

    @classmethod
    def from_dict(cls, data: dict) -> RequestResult:
        return cls(data["request"], data["arrival_s"], data["input_tokens"], data.get("ttft_s"),
                   data.get("queue_wait_s"), data["finish_s"], data["output_tokens"], data["tpot_s"])


@dataclass(frozen=True)
class BestNotFaster:
    """A baseline's best end that ran slower than its published one on this trace (not credited)."""
    name: str
    attention_mapping: str | None
    throughput_tokens_per_s: float


@dataclass(frozen=True)
class BracketEnd:
    """One end of a baseline's bracket: that end's run, its config keys and LoL-PIM's speedup over it."""
    run: SystemResult                 # the row's own result where the row is this end (``is_row``)
    end_config: dict[str, Any]
    is_row: bool
    speedup: float
    best_not_faster: BestNotFaster | None = None

    def to_dict(self) -> dict:
        out = self.run.to_dict(per_request=False, bracket=False)
        out.update(end_config=dict(self.end_config), is_row=self.is_row, speedup=self.speedup)
        if self.best_not_faster is not None:
            out["best_not_faster"] = _plain(self.best_not_faster)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> BracketEnd:
        slower = data.get("best_not_faster")
        return cls(SystemResult.from_dict(data), dict(data["end_config"]), data["is_row"], _float(data["speedup"]),
                   BestNotFaster(**slower) if slower else None)


@dataclass(frozen=True)
class SystemResult:
    """One simulated system on a trace: a row of the comparison table."""
    system: str
    description: str
    attention_mapping: str | None      # PIM systems: how attention is laid over the channels
    requests: int
    output_tokens: int
    makespan_s: float                  # last finish - first arrival
    throughput_tokens_per_s: float     # output tokens / makespan
    # while requests wait for memory the system runs at its sustained rate (no ramp, no drain); NaN: never
    steady_throughput_tokens_per_s: float
    tpot_mean_s: float
    tpot_p99_s: float
    token_interval_p99_s: float
    decode_only: bool                  # prefill = before: prompts are not simulated
    ttft_mean_s: float | None          # None when decode_only (then the wait is a queue wait)
    ttft_p99_s: float | None
    queue_wait_mean_s: float | None    # None unless decode_only
    queue_wait_p99_s: float | None
    kv_used_utilisation: float
    kv_used_utilisation_saturated: float
    kv_allocated_utilisation: float
    kv_capacity_gib: float
    module_utilisation: float          # the stages' mean busy fraction of the makespan
    preemptions: int
    energy_j: float                    # the stages' decode passes (prefill is not priced for energy)
    energy_per_token_j: float
    power_w: float                     # the devices' power budget
    tokens_per_s_per_w: float
    stages: int
    devices: int
    hardware: Hardware
    # choices the builder recorded (gpu-pim: attention placement, FLOPs per byte, KV per memory);
    # written as keys of their own in the JSON
    settings: dict[str, Any] = field(default_factory=dict)
    events: int = 0
    wall_s: float = 0.0
    per_request: tuple[RequestResult, ...] = ()
    # set once every system of a comparison ran: LoL-PIM's tok/s over this row's (NaN: no LoL-PIM run)
    speedup: float | None = None
    # a bracketed baseline: its two ends, which end the row is, and [vs best, vs published]
    bracket: dict[str, BracketEnd] | None = None
    row_end: str | None = None
    speedup_bracket: tuple[float, float] | None = None

    def to_dict(self, per_request: bool = True, bracket: bool = True) -> dict:
        """The JSON form (`lolpim run --json`, comparison.json): the keys it has always had."""
        out: dict = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "hardware":
                out["hardware"] = value.to_dict()
            elif f.name == "settings":
                out.update(value)
            elif f.name == "per_request":
                if per_request:
                    out["per_request"] = [r.to_dict() for r in value]
            elif f.name == "speedup":
                if value is not None:
                    out["speedup"] = value
            elif f.name in ("bracket", "row_end", "speedup_bracket"):
                if bracket and self.bracket is not None:
                    out[f.name] = ({end: b.to_dict() for end, b in value.items()} if f.name == "bracket"
                                   else list(value) if f.name == "speedup_bracket" else value)
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict) -> SystemResult:
        """A SystemResult back from its JSON (comparison.json, a sweep's results file). JSON has no
        NaN: a null where a number belongs reads as NaN; keys that are no field are ``settings``."""
        own = {f.name: f for f in fields(cls)}
        kwargs: dict = {}
        for name, value in data.items():
            if name not in own:
                continue
            if name == "hardware":
                value = Hardware.from_dict(value)
            elif name == "per_request":
                value = tuple(RequestResult.from_dict(r) for r in value)
            elif name == "bracket":
                value = {end: BracketEnd.from_dict(b) for end, b in value.items()}
            elif name == "speedup_bracket":
                value = tuple(_float(v) for v in value)
            elif own[name].type == "float":
                value = _float(value)
            kwargs[name] = value
        # a bracket end's own keys are not settings of the system
        skip = set(own) | {"end_config", "is_row", "best_not_faster"}
        kwargs["settings"] = {k: v for k, v in data.items() if k not in skip}
        return cls(**kwargs)

    def csv_row(self) -> dict:
        """A flat row of comparison.csv: no per-request rows, the bracket as its two speedups and
        the ends' attention mappings, the hardware as its label."""
        row = self.to_dict(per_request=False, bracket=False)
        row["hardware"] = self.hardware.label
        if self.bracket is not None:
            row["row_end"] = self.row_end
        for i, end in enumerate(BRACKET_ENDS):
            row[f"speedup_vs_{end}"] = self.speedup_bracket[i] if self.speedup_bracket else ""
            row[f"attention_mapping_{end}"] = (self.bracket[end].run.attention_mapping or ""
                                               if self.bracket else "")
        return row


def _float(value) -> float:
    return math.nan if value is None else float(value)


def _plain(obj) -> dict:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def system_result(built, run) -> SystemResult:
    """One system's results (``built``: orchestration/llm/systems.BuiltSystem, ``run``: the
    executor's RunResult) as a SystemResult."""
    roles = ActorRoles.of(built.spec)
    res = run.results
    host = res[roles.host]
    arrival = np.asarray(host["arrival_ps"]) * 1e-12
    first = np.asarray(host["first_token_ps"]) * 1e-12
    finish = np.asarray(host["finish_ps"]) * 1e-12
    generated = np.asarray(host["generated"])
    if np.any(finish < 0):
        unfinished = int(np.sum(finish < 0))
        raise RuntimeError(f"{built.kind}: {unfinished} requests never finished (simulation stalled)")
    makespan = float(finish.max() - arrival.min())
    tpot = (finish - first) / np.maximum(generated - 1, 1)
    # first token - arrival: with prefill = before the prompt's KV is in place on admission, so
    # this is the wait for KV memory (a queue wait), not a time to first token
    wait = first - arrival
    decode_only = built.decode_only
    intervals = np.asarray(host["intervals_ps"], dtype=np.float64) * 1e-12
    stages = [res[name] for name in roles.stages]
    dpas = [res[name] for name in roles.kv_managers]
    duration = host["end_ps"] * 1e-12
    kv_cap = host["kv_capacity_bytes"]
    used_util = host["used_token_s"] * host["kv_bytes_per_token"] / (kv_cap * duration) if duration else 0.0
    sat_util = (host["saturated_token_s"] * host["kv_bytes_per_token"] / (kv_cap * host["saturated_s"])
                if host["saturated_s"] > 0 else math.nan)
    alloc_util = float(np.mean([d["allocated_chunk_s"] / (d["capacity_chunks"] * duration) for d in dpas]))
    tokens = int(generated.sum())
    energy = float(sum(s["energy_j"] for s in stages))
    hw: Hardware = built.hardware
    input_tokens = next(a for a in built.spec.actors if a.name == roles.host).params.input_tokens

    wait_mean, wait_p99 = float(wait.mean()), float(np.percentile(wait, 99))
    return SystemResult(
        system=str(built.kind), description=built.description, attention_mapping=built.attention_mapping,
        requests=int(len(generated)), output_tokens=tokens, makespan_s=makespan,
        throughput_tokens_per_s=float(tokens / makespan),
        steady_throughput_tokens_per_s=(host["saturated_tokens"] / host["saturated_s"]
                                        if host["saturated_s"] > 0 else math.nan),
        tpot_mean_s=float(tpot.mean()), tpot_p99_s=float(np.percentile(tpot, 99)),
        token_interval_p99_s=float(np.percentile(intervals, 99)) if intervals.size else math.nan,
        decode_only=decode_only,
        ttft_mean_s=None if decode_only else wait_mean, ttft_p99_s=None if decode_only else wait_p99,
        queue_wait_mean_s=wait_mean if decode_only else None, queue_wait_p99_s=wait_p99 if decode_only else None,
        kv_used_utilisation=float(used_util), kv_used_utilisation_saturated=float(sat_util),
        kv_allocated_utilisation=alloc_util, kv_capacity_gib=kv_cap / GB,
        module_utilisation=float(np.mean([s["busy_ps"] * 1e-12 / makespan for s in stages])),
        preemptions=int(host["preemptions"]),
        energy_j=energy, energy_per_token_j=energy / max(tokens, 1),
        power_w=hw.power_w, tokens_per_s_per_w=float(tokens / makespan) / hw.power_w,
        stages=built.stages, devices=built.devices, hardware=hw, settings=dict(built.settings or {}),
        events=run.events, wall_s=run.stats.get("wall_s", 0.0),
        per_request=tuple(RequestResult(i, float(a), int(n), None if decode_only else float(f - a),
                                        float(f - a) if decode_only else None, float(e), int(g), float(t))
                          for i, (a, n, f, e, g, t) in enumerate(zip(arrival, input_tokens, first, finish,
                                                                     generated, tpot))))

