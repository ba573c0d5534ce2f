"""The host of an LLM serving system: admission, continuous batching, micro-batches.

Requests arrive (all at t=0 for a closed loop, or at their trace times). The host keeps
M micro-batches circulating through the pipeline, or through each of several identical pipelines
side by side (data parallelism: micro-batch m belongs to pipeline m // M, which has its own
stages and DPA groups; the waiting requests are one queue, so whichever pipeline has room next
takes the next request, up to its even share, as a front end sharing requests between replicas
would). Whenever micro-batch m returns from the last stage (one new token for each of its
requests) the host:
  1. retires finished requests and frees their KV on every DPA controller of its pipeline;
  2. asks every DPA controller group of m's pipeline (one KvManager per stage), in one "plan" round, to
     grow the requests whose next token crosses a chunk boundary and to admit waiting requests
     (first come, first served) into m, by one of
     two rules (``admission``): "even-growth" (pipeline-parallel PIM: no micro-batch more than
     one request above the average) or "vllm" (every waiting request that fits the micro-batch's
     request cap and the step's token budget, as vLLM's scheduler; KV memory is the DPAs' answer);
  3. admits what every DPA granted, preempts (recompute later) what could not grow, and
     sends m round again.
Per request it records arrival, first-token and finish times and every inter-token
interval; it integrates the KV tokens in use over time for capacity utilisation.

A returning micro-batch, a grant or a dispatch that does not match what the host sent (an
unknown round or DPA, a micro-batch not in flight, other requests) is refused with a
MessageError before anything changes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from lolpim.actors.kernel.actor import Actor
from lolpim.actors.kernel.events import seconds_to_ps
from lolpim.actors.kernel.messages import Empty, message
from lolpim.actors.kernel.system import frozen_params
from lolpim.actors.llm.kv_manager import Free, Granted, Plan, chunks_for, link_lookahead_ps
from lolpim.actors.llm.recording import STATE_FIELDS as TIMELINE_STATE, Rec, Recording
from lolpim.actors.llm.stage import Microbatch
from lolpim.core.compat import StrEnum
from lolpim.hardware.systems.config import Admission, EnumFields, KvMode
from lolpim.hardware.systems.stage_costs import StageSpec


class RequestState(IntEnum):   # stored in an int8 array, one per request
    FUTURE = 0     # not arrived yet
    WAITING = 1    # arrived (or preempted), waiting for KV memory
    RUNNING = 2    # a member of a micro-batch
    DONE = 3


class MicrobatchState(StrEnum):
    IDLE = "idle"          # at the host, nothing to send
    PLAN = "plan"          # waiting for the DPAs' grants
    PREFILL = "prefill"    # new members prefilling on the attached GPU
    FLIGHT = "flight"      # in the pipeline


FUTURE, WAITING, RUNNING, DONE = RequestState


@message
class Dispatch:
    """Self-addressed: the attached GPU finished prefilling micro-batch ``mb``'s new members."""
    mb: int = field(metadata={"min": 0})


@dataclass(frozen=True)
class GpuPrefill:
    """Prompts prefilled on a GPU attached to the host, their KV shipped over its link."""
    cost: StageSpec                     # the GPU
    link_bandwidth_bytes_per_s: float


class LlmHost(Recording, Actor):
    accepts = {"mb": Microbatch, "granted": Granted, "arrive": Empty, "dispatch": Dispatch}
    timers = frozenset({"arrive", "dispatch"})
    state_fields = ("status", "kv", "generated", "first_token_ps", "last_token_ps", "finish_ps", "preemptions",
                    "intervals_ps", "waiting", "members", "mb_state", "rounds", "next_round", "gpu_free_ps",
                    "admission_blocked", "used_token_s", "saturated_token_s", "saturated_s", "saturated_tokens",
                    "last_tick_ps", "timeline_queue", *TIMELINE_STATE)

    @frozen_params
    class Params(EnumFields):   # kv_mode given as text becomes a KvMode; a typo fails, never means static
        input_tokens: tuple[int, ...]       # per request: the trace
        output_tokens: tuple[int, ...]
        arrival_ps: tuple[int, ...]
        first_stages: tuple[str, ...]       # one per pipeline
        dpas: tuple[str, ...]               # every DPA controller group (KvManager), pipeline after pipeline
        dpa_tokens_per_chunk: tuple[int, ...]
        kv_mode: KvMode
        microbatches: int                   # per pipeline
        max_microbatch_requests: int
        link_latency_s: float
        kv_bytes_per_token: int
        kv_capacity_bytes: float
        gpu_prefill: GpuPrefill | None = None
        # prompts were prefilled ahead of decode (their cost is reported apart), so an admitted
        # request starts decoding at once with its prompt's KV in place
        prefill_before: bool = False
        timeline_max_events: int = 0        # --timeline: queue samples, preemptions, GPU prefills (0: off)
        admission: Admission = Admission.EVEN_GROWTH
        # "vllm" admission: tokens one pass may compute (vLLM's max_num_batched_tokens); 0: no budget
        max_step_tokens: int = 0

    @classmethod
    def lookahead_for(cls, params: Params) -> int:
        return link_lookahead_ps(params.link_latency_s)

    @classmethod
    def peers_for(cls, name: str, params: Params) -> frozenset:
        return frozenset([*params.first_stages, *params.dpas])   # it sends to nothing else

    def __init__(self, name: str, seed: int, params: Params):
        super().__init__(name, seed)
        self.p = params
        self.input = np.asarray(params.input_tokens, dtype=np.int64)
        self.output = np.asarray(params.output_tokens, dtype=np.int64)
        self.arrival_ps = np.asarray(params.arrival_ps, dtype=np.int64)
        n = len(self.input)
        self.first_stages = list(params.first_stages)
        self.dpas = list(params.dpas)
        pipes = len(self.first_stages)
        if pipes < 1 or len(self.dpas) % pipes:
            raise ValueError(f"{name}: {len(self.dpas)} DPA groups do not split over {pipes} pipelines")
        per_pipe = len(self.dpas) // pipes
        self.pipe_dpas = [self.dpas[j * per_pipe:(j + 1) * per_pipe] for j in range(pipes)]
        self.dpa_pipe = {d: j for j, ds in enumerate(self.pipe_dpas) for d in ds}
        self.peer_names = self.peers_for(name, params)
        # the distinct chunk sizes: a request grows when its next token starts a chunk on any DPA
        self.tpc = sorted(set(params.dpa_tokens_per_chunk))
        self.dynamic = params.kv_mode == KvMode.DYNAMIC
        self.mb_per_pipe = params.microbatches
        self.microbatches = params.microbatches * pipes   # all pipelines' micro-batches
        self.max_mb = params.max_microbatch_requests
        self.admission = params.admission
        self.max_step_tokens = params.max_step_tokens
        # an admitted request's prompt is computed in its first pass (its tokens count against the
        # step's budget) unless it was prefilled before decode or on an attached GPU
        self.prompt_in_step = not params.prefill_before and params.gpu_prefill is None
        self.lookahead_ps = self.lookahead_for(params)
        self.kv_bytes_per_token = params.kv_bytes_per_token
        self.kv_capacity_bytes = params.kv_capacity_bytes
        self.prefill_before = params.prefill_before
        self.gpu_prefill = None
        if params.gpu_prefill:
            self.gpu_prefill = params.gpu_prefill.cost.build()
            self.prefill_link_bytes_per_s = params.gpu_prefill.link_bandwidth_bytes_per_s
        self.status = np.zeros(n, dtype=np.int8)
        self.kv = np.zeros(n, dtype=np.int64)
        self.generated = np.zeros(n, dtype=np.int64)
        self.first_token_ps = np.full(n, -1, dtype=np.int64)
        self.last_token_ps = np.full(n, -1, dtype=np.int64)
        self.finish_ps = np.full(n, -1, dtype=np.int64)
        self.preemptions = 0
        self.intervals_ps: list[int] = []
        self.waiting: list[int] = []
        self.members: list[list[int]] = [[] for _ in range(self.microbatches)]
        self.mb_state = [MicrobatchState.IDLE] * self.microbatches
        # open plan rounds: micro-batch, admit, grow, the replies so far by DPA group
        self.rounds: dict[int, dict] = {}
        self.next_round = 0
        # rounds opened while handling the current event, sent together when it is handled (one
        # message per DPA group): always empty between events, so not state
        self.opening: list[int] = []
        self.gpu_free_ps = 0
        # set when a DPA refused an admission; cleared when memory is freed. Asking again
        # before anything was freed would only be refused again.
        self.admission_blocked = [False] * pipes   # per pipeline: each has its own memory
        self.used_token_s = 0.0        # integral of KV tokens in use over time
        self.saturated_token_s = 0.0   # the same, only while requests wait for memory
        self.saturated_s = 0.0
        self.saturated_tokens = 0      # tokens produced while requests waited: steady-state throughput
        self.last_tick_ps = 0
        self._timeline_init(params.timeline_max_events)
        self.timeline_queue = [-1, -1]   # the last recorded (waiting, running): a sample only on change

    # --- bookkeeping --------------------------------------------------------------
    def _tick(self):
        dt = (self.now_ps - self.last_tick_ps) * 1e-12
        if dt > 0:
            used = float(self.kv[self.status == RUNNING].sum())
            self.used_token_s += used * dt
            if self.waiting:
                self.saturated_token_s += used * dt
                self.saturated_s += dt
        self.last_tick_ps = self.now_ps

    def start(self):
        out = []
        for t in sorted(set(self.arrival_ps.tolist())):
            out.append(self.send(self.name, "arrive", Empty(), int(t)))
        return out

    def handle(self, event, payload):
        out = self._handle(event, payload)
        if self.opening:
            out += self._send_plans()
        if self.timeline_on:
            self._record_queue()
        return out

    def _record_queue(self):
        queue = [len(self.waiting), sum(len(m) for m in self.members)]
        if queue != self.timeline_queue:
            self.timeline_queue = queue
            self._rec(Rec.QUEUE, self.now_ps, self.now_ps, *queue)

    def _handle(self, event, payload):
        kind = event.kind
        # refuse what the host did not send before anything changes
        if kind == "mb":
            self._check_return(event, payload)
        elif kind == "granted":
            self._check_grant(event, payload)
        elif kind == "dispatch" and (payload.mb >= self.microbatches
                                     or self.mb_state[payload.mb] != MicrobatchState.PREFILL):
            self.reject(event, "mb", f"micro-batch {payload.mb} is not prefilling")
        self._tick()
        if kind == "arrive":
            arrived = np.flatnonzero((self.status == FUTURE) & (self.arrival_ps <= self.now_ps))
            self.status[arrived] = WAITING
            self.waiting.extend(arrived.tolist())
            return self._schedule_idle()
        if kind == "mb":
            return self._on_return(payload)
        if kind == "granted":
            return self._on_granted(payload)
        return self._dispatch(payload.mb)   # "dispatch": GPU prefill of new members finished

    # --- refusing messages that do not match what the host sent ------------------------
    def _check_return(self, event, mb: Microbatch):
        if mb.mb >= self.microbatches or self.mb_state[mb.mb] != MicrobatchState.FLIGHT:
            self.reject(event, "mb", f"micro-batch {mb.mb} is not in flight (this host has {self.microbatches})")
        if mb.reqs != self.members[mb.mb]:
            self.reject(event, "reqs", f"are not the requests of micro-batch {mb.mb}")
        if mb.sent_ps > self.now_ps:
            self.reject(event, "sent_ps", f"is {mb.sent_ps}, after the arrival time {self.now_ps}")

    def _check_grant(self, event, reply: Granted):
        if len(set(reply.rounds)) != len(reply.rounds):
            self.reject(event, "rounds", "names a round twice")
        if reply.dpa not in self.dpas:
            self.reject(event, "dpa", f"{reply.dpa!r} is no DPA of this host")
        if len(reply.grow_ok) != len(reply.rounds) or len(reply.admit_ok) != len(reply.rounds):
            self.reject(event, "grow_ok", "does not answer the rounds one for one")
        for rnd, grow_ok, admit_ok in zip(reply.rounds, reply.grow_ok, reply.admit_ok):
            plan = self.rounds.get(rnd)
            if plan is None:
                self.reject(event, "rounds", f"{rnd} is no open plan round")
            if self.dpa_pipe[reply.dpa] != self._pipe(plan["mb"]):
                self.reject(event, "dpa", f"{reply.dpa!r} is not in the pipeline of round {rnd}")
            if reply.dpa in plan["replies"]:
                self.reject(event, "dpa", f"{reply.dpa!r} has already answered round {rnd}")
            if len(grow_ok) != len(plan["grow"]) or len(admit_ok) != len(plan["admit"]):
                self.reject(event, "grow_ok", f"does not answer round {rnd}'s growths and admissions one for one")

    def _on_return(self, mb: Microbatch):
        m = mb.mb
        finished = []
        for r, prompt in zip(mb.reqs, mb.prompt):
            self.kv[r] = prompt if prompt else self.kv[r] + 1
            self._token_out(r)
            if self.generated[r] >= self.output[r]:
                finished.append(r)
        if finished:
            self._retire(m, finished)
        self.mb_state[m] = MicrobatchState.IDLE
        out = [self.send(d, "free", Free(reqs=finished), self.lookahead_ps)
               for d in self.pipe_dpas[self._pipe(m)]] if finished else []
        out += self._plan(m)
        if finished:
            out += self._schedule_idle()
        return out

    def _token_out(self, r):
        self.generated[r] += 1
        if self.waiting:
            self.saturated_tokens += 1
        if self.first_token_ps[r] < 0:
            self.first_token_ps[r] = self.now_ps
        elif self.last_token_ps[r] >= 0:
            self.intervals_ps.append(int(self.now_ps - self.last_token_ps[r]))
        self.last_token_ps[r] = self.now_ps

    def _pipe(self, m) -> int:
        """The pipeline micro-batch ``m`` circulates in."""
        return m // self.mb_per_pipe

    def _retire(self, m, reqs):
        self.admission_blocked[self._pipe(m)] = False   # their memory is about to be freed
        for r in reqs:
            self.status[r] = DONE
            self.finish_ps[r] = self.now_ps
            self.members[m].remove(r)

    def _schedule_idle(self):
        out = []
        for m in range(self.microbatches):
            if self.mb_state[m] == MicrobatchState.IDLE:
                out += self._plan(m)
        return out

    # --- admission and growth -------------------------------------------------------
    def _admission_quota(self, m) -> int:
        """How many waiting requests (first come, first served) micro-batch ``m`` asks the DPAs to admit."""
        pipe = self._pipe(m)
        if self.admission_blocked[pipe]:
            return 0
        if self.admission == Admission.VLLM:
            return min(self._vllm_quota(m), self._pipeline_share(pipe))
        # even growth: no micro-batch may hold more than one request above the average, so memory
        # fills the pipeline's micro-batches in step rather than the first few (the running
        # requests of m's pipeline: its members)
        first = pipe * self.mb_per_pipe
        running = sum(len(self.members[i]) for i in range(first, first + self.mb_per_pipe))
        target = min(self.max_mb, math.ceil((running + 1) / self.mb_per_pipe))
        return min(max(0, target - len(self.members[m])), self._pipeline_share(pipe))

    def _pipeline_share(self, pipe) -> int:
        """Several pipelines: how many more requests ``pipe`` may take before it holds more than
        its even share of the requests in the system (running, being admitted, waiting), so a
        pipeline that asks first does not take every request its memory holds while the others
        idle (a least-loaded front end). Where memory is the limit the shares exceed it and the
        DPAs decide, as with one pipeline."""
        pipes = len(self.first_stages)
        if pipes == 1:
            return len(self.waiting)
        load = [0] * pipes
        for m, members in enumerate(self.members):
            load[self._pipe(m)] += len(members)
        for plan in self.rounds.values():
            load[self._pipe(plan["mb"])] += len(plan["admit"])
        share = math.ceil((sum(load) + len(self.waiting)) / pipes)
        return max(0, share - load[pipe])

    def _vllm_quota(self, m) -> int:
        """vLLM's rule: every waiting request, in order, while the batch stays within its request
        cap (max_num_seqs) and the pass within its token budget (max_num_batched_tokens: one token
        per running request first, then each newcomer's prompt if the pass computes it, else its
        first decode token). The first request that does not fit stops the queue; a prompt larger
        than what is left of the budget still starts alone (vLLM would chunk it over several
        passes; here its whole prefill is priced in this one)."""
        room = self.max_mb - len(self.members[m])
        if not self.max_step_tokens:
            return max(0, min(room, len(self.waiting)))
        budget = self.max_step_tokens - len(self.members[m])
        count = 0
        for r in self.waiting[:max(0, room)]:
            need = self._prompt_len(r) if self.prompt_in_step else 1
            if need > budget:
                return count + (1 if count == 0 and budget > 0 else 0)
            budget -= need
            count += 1
        return count

    def _plan(self, m):
        quota = self._admission_quota(m)
        admit = self.waiting[:quota]
        del self.waiting[:len(admit)]
        grow = []
        if self.dynamic:
            grow = [r for r in self.members[m]
                    if any(chunks_for(int(self.kv[r]) + 1, t) > chunks_for(int(self.kv[r]), t) for t in self.tpc)]
        if not admit and not grow:
            return self._dispatch(m)
        rnd = self.next_round
        self.next_round += 1
        # an admitted request's first decode pass appends token prompt + 1: reserve it now
        self.rounds[rnd] = {"mb": m, "admit": admit, "grow": grow, "replies": {},
                            "admit_tokens": [self._prompt_len(r) + 1 for r in admit],
                            "grow_tokens": [int(self.kv[r]) + 1 for r in grow]}
        self.mb_state[m] = MicrobatchState.PLAN
        self.opening.append(rnd)
        return []

    def _send_plans(self):
        """The rounds opened while handling this event, in one message to each DPA group of their
        pipeline. Every DPA gets them after this event's frees (frees are sent before any round is
        opened), and answers them in order, as it would have answered them one message each."""
        by_pipe: dict[int, list[int]] = {}
        for rnd in self.opening:
            by_pipe.setdefault(self._pipe(self.rounds[rnd]["mb"]), []).append(rnd)
        self.opening = []
        out = []
        for pipe, opened in sorted(by_pipe.items()):
            rounds = [self.rounds[r] for r in opened]
            payload = Plan(rounds=opened, admit=[r["admit"] for r in rounds],
                           admit_tokens=[r["admit_tokens"] for r in rounds], grow=[r["grow"] for r in rounds],
                           grow_tokens=[r["grow_tokens"] for r in rounds])
            out += [self.send(d, "plan", payload, self.lookahead_ps) for d in self.pipe_dpas[pipe]]
        return out

    def _prompt_len(self, r) -> int:
        # a preempted request recomputes its KV for the prompt plus what it already generated
        return int(self.input[r] + self.generated[r])

    def _on_granted(self, reply: Granted):
        for rnd, grow_ok, admit_ok in zip(reply.rounds, reply.grow_ok, reply.admit_ok):
            # as a map: rounds are declared state
            self.rounds[rnd]["replies"][reply.dpa] = {"dpa": reply.dpa, "grow_ok": grow_ok, "admit_ok": admit_ok}
        # the rounds of one plan message are answered by every DPA in one reply each, so they
        # complete together, with the last DPA's reply, and close in the order they were opened
        out: list = []
        give_back: dict[str, list[int]] = {}   # DPA actor -> request ids to free
        for rnd in reply.rounds:
            if len(self.rounds[rnd]["replies"]) == len(self.pipe_dpas[self.dpa_pipe[reply.dpa]]):
                out += self._close_round(rnd, give_back)
        # what a DPA granted but another refused, given back: one message per DPA
        frees = [self.send(d, "free", Free(reqs=reqs), self.lookahead_ps) for d, reqs in sorted(give_back.items())]
        return frees + out

    def _close_round(self, rnd: int, give_back: dict) -> list:
        """Admit what every DPA granted in round ``rnd``, preempt what could not grow, and send its
        micro-batch; what some DPA granted but another refused is added to ``give_back``."""
        plan = self.rounds.pop(rnd)
        m = plan["mb"]
        replies = [plan["replies"][d] for d in sorted(plan["replies"])]
        admitted: list[int] = []   # request ids
        refused: list[int] = []
        for i, r in enumerate(plan["admit"]):
            (admitted if all(x["admit_ok"][i] for x in replies) else refused).append(r)
        stuck = [r for i, r in enumerate(plan["grow"]) if not all(x["grow_ok"][i] for x in replies)]
        if refused:
            self.admission_blocked[self._pipe(m)] = True
        if self.timeline_on:
            if refused:
                self._rec(Rec.ADMIT_REFUSED, self.now_ps, self.now_ps, m, len(refused))
            if stuck:
                self._rec(Rec.PREEMPT, self.now_ps, self.now_ps, m, len(stuck))
        for x in replies:
            back = [r for i, r in enumerate(plan["admit"]) if x["admit_ok"][i] and r in refused]
            back += [r for i, r in enumerate(plan["grow"]) if r in stuck]
            if back:
                give_back.setdefault(x["dpa"], []).extend(back)
        for r in stuck:  # no memory to grow: preempt, recompute later (vLLM-style)
            self.members[m].remove(r)
            self.status[r] = WAITING
            self.kv[r] = 0
            self.preemptions += 1
        self.waiting[:0] = stuck + refused
        for r in admitted:
            self.status[r] = RUNNING
            self.members[m].append(r)
            if self.prefill_before:
                self.kv[r] = self._prompt_len(r)
                if self.generated[r] == 0:
                    self._token_out(r)   # the prefill's token: TTFT here is the wait for memory
        if self.gpu_prefill is not None and admitted:
            return self._gpu_prefill(m, admitted)
        return self._dispatch(m)

    def _gpu_prefill(self, m, admitted):
        cost = self.gpu_prefill
        assert cost is not None    # called only when a GPU prefills (_on_granted)
        ready = self.now_ps
        for r in admitted:
            prompt = self._prompt_len(r)
            t = cost.prefill_s(np.array([prompt]))
            t += prompt * self.kv_bytes_per_token / self.prefill_link_bytes_per_s
            start_ps = max(self.gpu_free_ps, self.now_ps)
            self.gpu_free_ps = start_ps + seconds_to_ps(t)
            ready = self.gpu_free_ps
            if self.timeline_on:
                self._rec(Rec.GPU_PREFILL, start_ps, self.gpu_free_ps, m, r, prompt)
        self.mb_state[m] = MicrobatchState.PREFILL
        return [self.send(self.name, "dispatch", Dispatch(mb=m), ready - self.now_ps)]

    # --- sending a micro-batch round --------------------------------------------------
    def _dispatch(self, m):
        reqs = self.members[m]
        if self.mb_state[m] == MicrobatchState.PREFILL:   # GPU prefill produced each new request's first token
            for r in reqs:
                if self.kv[r] == 0:
                    self.kv[r] = self._prompt_len(r)
                    self._token_out(r)
            done = [r for r in reqs if self.generated[r] >= self.output[r]]
            if done:
                self._retire(m, done)
            out = [self.send(d, "free", Free(reqs=done), self.lookahead_ps)
                   for d in self.pipe_dpas[self._pipe(m)]] if done else []
            self.mb_state[m] = MicrobatchState.IDLE
            return out + (self._dispatch(m) if self.members[m] else self._schedule_idle())
        if not reqs:
            self.mb_state[m] = MicrobatchState.IDLE
            return []
        prompt = [self._prompt_len(r) if self.kv[r] == 0 else 0 for r in reqs]
        ctx = [p if p else int(self.kv[r]) + 1 for r, p in zip(reqs, prompt)]
        self.mb_state[m] = MicrobatchState.FLIGHT
        batch = Microbatch(mb=m, reqs=list(reqs), ctx=ctx, prompt=prompt, sent_ps=self.now_ps)
        return [self.send(self.first_stages[self._pipe(m)], "mb", batch, self.lookahead_ps)]

    # --- reporting ------------------------------------------------------------------
    def result(self):
        return {
            "arrival_ps": self.arrival_ps.tolist(), "first_token_ps": self.first_token_ps.tolist(),
            "finish_ps": self.finish_ps.tolist(), "generated": self.generated.tolist(),
            "output": self.output.tolist(), "intervals_ps": self.intervals_ps, "preemptions": self.preemptions,
            "used_token_s": self.used_token_s, "saturated_token_s": self.saturated_token_s,
            "saturated_s": self.saturated_s, "saturated_tokens": self.saturated_tokens, "end_ps": self.last_tick_ps,
            "kv_bytes_per_token": self.kv_bytes_per_token, "kv_capacity_bytes": self.kv_capacity_bytes,
            **self._timeline_result(),
        }

    def metrics(self):
        return {"tokens_generated_total": int(self.generated.sum()),
                "requests_admitted_total": int((self.status >= RUNNING).sum()),
                "requests_waiting": len(self.waiting),
                "kv_tokens_in_use": int(self.kv[self.status == RUNNING].sum()),
                "kv_capacity_bytes": float(self.kv_capacity_bytes)}
