"""The DPA (direct PIM access) controllers of one tensor-parallel group of modules: each owns
its module's KV memory.

The host sends it "plan" rounds (admit these requests with these prompt lengths; grow
these running requests to these lengths; the rounds opened at one instant in one message) and
"free" messages; it answers each plan message with what it granted, round by round. Memory is
handed out in fixed chunks (1 MB by default, as LoL-PIM's host allocates it):

  dynamic  chunks are mapped on demand as a sequence grows (paged, as PagedAttention does
           inside the module); admission needs the prompt's chunks plus a small watermark;
           a growth that finds no free chunk is refused and the host preempts that request.
  static   admission reserves the chunks for the longest context a request may reach
           (what compile-time PIM address streams force); growth never allocates.

It integrates allocated chunks over simulated time to report its capacity utilisation.

One actor stands for the ``modules`` controllers of a pipeline stage's tensor-parallel group.
Every module of the group keeps the same share of the same requests' KV (plan.pim_plan gives
them one ``DpaMemory``) and the host sends each of them the same plans and frees, so their
memories move in lockstep and each would answer every round alike: one actor answering once is
the same simulation with one message per stage instead of one per module. (At 1024 modules a
plan round was 2048 events; now it is twice the stage count.) Capacity, peak and allocation
figures are per module; ``metrics`` reports the group's totals.
A plan or free naming a request it does not hold (or admitting one it already holds) is
refused with a MessageError: the host never sends one, so it is a forged or corrupted message.
"""
from __future__ import annotations

from dataclasses import field

from lolpim.actors.kernel.actor import Actor
from lolpim.actors.kernel.events import seconds_to_ps
from lolpim.actors.kernel.messages import message
from lolpim.actors.kernel.system import frozen_params
from lolpim.actors.llm.recording import STATE_FIELDS as TIMELINE_STATE, Rec, Recording
from lolpim.hardware.systems.config import EnumFields, KvMode


def chunks_for(tokens: int, tokens_per_chunk: int) -> int:
    return -(-tokens // tokens_per_chunk)


def link_lookahead_ps(link_latency_s: float) -> int:
    """The host and the DPAs send to each other over the host link: nothing arrives sooner."""
    return max(1, seconds_to_ps(link_latency_s))


@message
class Plan:
    """The admission rounds the host opened at one instant, in the order it opened them: round
    ``rounds[i]`` admits ``admit[i]`` (each reserving ``admit_tokens[i]``) and grows ``grow[i]``
    to ``grow_tokens[i]``. A returning micro-batch can open a round for every idle micro-batch at
    once; sending them as one message per DPA group (not one per round) keeps a round of many
    micro-batches one event per DPA, and the DPA answers them in order, as it did one by one."""
    rounds: list[int] = field(metadata={"min": 0})
    admit: list[list[int]] = field(metadata={"min": 0})
    admit_tokens: list[list[int]] = field(metadata={"min": 1})
    grow: list[list[int]] = field(metadata={"min": 0})
    grow_tokens: list[list[int]] = field(metadata={"min": 1})

    def __post_init__(self):
        if not len(self.rounds) == len(self.admit) == len(self.admit_tokens) == len(self.grow) == len(self.grow_tokens):
            raise ValueError("rounds, admit, admit_tokens, grow and grow_tokens must be as long")
        if any(len(a) != len(t) for a, t in zip(self.admit, self.admit_tokens)) or \
                any(len(g) != len(t) for g, t in zip(self.grow, self.grow_tokens)):
            raise ValueError("admit/admit_tokens and grow/grow_tokens must be pairwise as long in every round")


@message
class Free:
    reqs: list[int] = field(metadata={"min": 0})


@message
class Granted:
    """A DPA group's answer to one plan message: per round, per requested growth and admission,
    1 granted, 0 refused."""
    rounds: list[int] = field(metadata={"min": 0})
    dpa: str
    grow_ok: list[list[int]] = field(metadata={"choices": (0, 1)})
    admit_ok: list[list[int]] = field(metadata={"choices": (0, 1)})


class KvManager(Recording, Actor):
    accepts = {"plan": Plan, "free": Free}
    state_fields = ("alloc", "free_chunks", "peak_chunks", "area_chunk_s", "last_ps", "refused_growths",
                    *TIMELINE_STATE)

    @frozen_params
    class Params(EnumFields):   # kv_mode given as text becomes a KvMode; a typo fails, never means static
        host: str
        capacity_chunks: int
        tokens_per_chunk: int
        kv_mode: KvMode
        static_reserve_tokens: int     # static KV: tokens reserved per request on admission
        watermark_chunks: int          # dynamic KV: chunks kept free beyond an admission's need
        link_latency_s: float
        timeline_max_events: int = 0   # --timeline: allocations, frees, refusals, chunk counter (0: off)
        # identical module controllers this actor stands for (a tensor-parallel group; module docstring)
        modules: int = 1

    @classmethod
    def lookahead_for(cls, params: Params) -> int:
        return link_lookahead_ps(params.link_latency_s)

    @classmethod
    def peers_for(cls, name: str, params: Params) -> frozenset:
        return frozenset([params.host])

    def __init__(self, name: str, seed: int, params: Params):
        super().__init__(name, seed)
        if params.modules < 1:
            raise ValueError(f"{name}: modules is {params.modules}; a DPA group stands for at least one module")
        self.p = params
        self.peer_names = self.peers_for(name, params)
        self.lookahead_ps = self.lookahead_for(params)
        self.capacity = params.capacity_chunks
        self.tokens_per_chunk = params.tokens_per_chunk
        self.static = params.kv_mode == KvMode.STATIC
        self.alloc: dict[int, int] = {}   # request id -> chunks
        self.free_chunks = params.capacity_chunks
        self.peak_chunks = 0
        self.area_chunk_s = 0.0            # integral of allocated chunks over time (float: no overflow)
        self.last_ps = 0
        self.refused_growths = 0
        self._timeline_init(params.timeline_max_events)

    def _tick(self):
        self.area_chunk_s += (self.capacity - self.free_chunks) * ((self.now_ps - self.last_ps) * 1e-12)
        self.last_ps = self.now_ps

    def _grow_to(self, req: int, tokens: int) -> bool:
        need = chunks_for(tokens, self.tokens_per_chunk) - self.alloc[req]
        if need <= 0:
            return True
        if self.static:
            raise RuntimeError(f"{self.name}: request {req} grew to {tokens} tokens, past its static reservation "
                               f"of {self.p.static_reserve_tokens}")
        if need > self.free_chunks:
            return False
        self.alloc[req] += need
        self.free_chunks -= need
        return True

    def _check_held(self, event, field: str, reqs, held: bool):
        for r in reqs:
            if (r in self.alloc) != held:
                self.reject(event, field, f"request {r} {'holds no KV here' if held else 'already holds KV here'}")
        if len(set(reqs)) != len(reqs):
            self.reject(event, field, "names a request twice")

    def handle(self, event, payload):
        # validate before anything changes, so a refused message leaves the state as it was
        if event.kind == "free":
            self._check_held(event, "reqs", payload.reqs, held=True)
        else:
            self._check_held(event, "grow", [r for grow in payload.grow for r in grow], held=True)
            self._check_held(event, "admit", [r for admit in payload.admit for r in admit], held=False)
            if self.static:   # a static reservation never grows: a plan asking for it is refused
                for grow, grow_tokens in zip(payload.grow, payload.grow_tokens):
                    for r, t in zip(grow, grow_tokens):
                        if chunks_for(t, self.tokens_per_chunk) > self.alloc[r]:
                            self.reject(event, "grow_tokens", f"request {r} to {t} tokens is past its static "
                                                              f"reservation of {self.p.static_reserve_tokens} tokens")
        self._tick()
        if event.kind == "free":
            freed = self.free_chunks
            for req in payload.reqs:
                self.free_chunks += self.alloc.pop(req)
            if self.timeline_on and self.free_chunks != freed:
                self._rec(Rec.FREE, self.now_ps, self.now_ps, self.free_chunks - freed, len(payload.reqs))
                self._rec(Rec.CHUNKS, self.now_ps, self.now_ps, self.capacity - self.free_chunks)
            return []
        answers = [self._round(*r) for r in zip(payload.grow, payload.grow_tokens, payload.admit, payload.admit_tokens)]
        return [self.send(self.p.host, "granted", Granted(rounds=payload.rounds, dpa=self.name,
                                                          grow_ok=[g for g, _ in answers],
                                                          admit_ok=[a for _, a in answers]), self.lookahead_ps)]

    def _round(self, grow: list, grow_tokens: list, admit: list, admit_tokens: list) -> tuple[list, list]:
        """One plan round: (grow_ok, admit_ok)."""
        free_before = self.free_chunks
        grow_ok = [int(self._grow_to(r, t)) for r, t in zip(grow, grow_tokens)]
        self.refused_growths += grow_ok.count(0)
        admit_ok = []
        blocked = False   # first-come first-served: once one request does not fit, later ones wait too
        for req, tokens in zip(admit, admit_tokens):
            reserve = self.p.static_reserve_tokens if self.static else tokens
            need = chunks_for(reserve, self.tokens_per_chunk)
            headroom = 0 if self.static else self.p.watermark_chunks
            ok = not blocked and need + headroom <= self.free_chunks
            blocked = blocked or not ok
            if ok:
                self.alloc[req] = need
                self.free_chunks -= need
            admit_ok.append(int(ok))
        self.peak_chunks = max(self.peak_chunks, self.capacity - self.free_chunks)
        if self.timeline_on:
            self._record_round(free_before, grow_ok, admit_ok)
        return grow_ok, admit_ok

    def _record_round(self, free_before: int, grow_ok: list, admit_ok: list) -> None:
        # a refusal is a memory stall (the host preempts or keeps requests waiting): an instant of
        # its own, so it stands out from the allocations around it
        t = self.now_ps
        if free_before != self.free_chunks:
            self._rec(Rec.ALLOC, t, t, free_before - self.free_chunks, sum(admit_ok), sum(grow_ok))
            self._rec(Rec.CHUNKS, t, t, self.capacity - self.free_chunks)
        if 0 in admit_ok or 0 in grow_ok:
            self._rec(Rec.REFUSED, t, t, admit_ok.count(0), grow_ok.count(0))

    def result(self):
        return {"modules": self.p.modules, "capacity_chunks": self.capacity, "peak_chunks": self.peak_chunks,
                "allocated_chunk_s": self.area_chunk_s, "until_ps": self.last_ps,
                "refused_growths": self.refused_growths, "tokens_per_chunk": self.tokens_per_chunk,
                **self._timeline_result()}

    def metrics(self):
        # the group's totals: the exporter labels them by stage, as it labels the stages
        modules = self.p.modules
        return {"kv_allocated_chunks": (self.capacity - self.free_chunks) * modules,
                "kv_capacity_chunks": self.capacity * modules, "kv_tokens_per_chunk": self.tokens_per_chunk,
                "kv_modules": modules}

