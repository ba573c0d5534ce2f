"""The host of an LLM serving system: admission, continuous batching, micro-batches.

Requests arrive (all at t=0 for a closed loop, or at their trace times). The host keeps
M micro-batches circulating through the pipeline. Whenever micro-batch m returns from
the last stage (one new token for each of its requests) the host:
  1. retires finished requests and frees their KV on every DPA controller;
  2. asks every DPA, in one "plan" round, to grow the requests whose next token crosses a
     chunk boundary and to admit waiting requests (first come, first served) into m;
  3. admits what every DPA granted, preempts (recompute later) what could not grow, and
     sends m round again.
Per request it records arrival, first-token and finish times and every inter-token
interval; it integrates the KV tokens in use over time for capacity utilisation.
"""
from __future__ import annotations

import math

import numpy as np

from lolpim.actors.kernel.actor import Actor
from lolpim.actors.kernel.events import seconds_to_ps
from lolpim.actors.llm.kv_manager import chunks_for
from lolpim.actors.llm.stage import MICROBATCH

FUTURE, WAITING, RUNNING, DONE = 0, 1, 2, 3


class LlmHost(Actor):
    accepts = {
        "mb": MICROBATCH,
        "granted": {"round": int, "dpa": str, "grow_ok": list, "admit_ok": list},
        "arrive": {},
        "dispatch": {"mb": int},
    }

    def __init__(self, name, seed, trace: dict, first_stage: str, dpas: list, dpa_tokens_per_chunk: list,
                 kv_mode: str, microbatches: int, max_microbatch_requests: int, link_latency_s: float,
                 kv_bytes_per_token: int, kv_capacity_bytes: float, gpu_prefill: dict | None = None,
                 prefill_before: bool = False):
        super().__init__(name, seed)
        self.input = np.asarray(trace["input"], dtype=np.int64)
        self.output = np.asarray(trace["output"], dtype=np.int64)
        self.arrival_ps = np.asarray(trace["arrival_ps"], dtype=np.int64)
        n = len(self.input)
        self.first_stage = first_stage
        self.dpas = list(dpas)
        self.peer_names = frozenset([first_stage, *self.dpas])   # it sends to nothing else
        self.tpc = list(dpa_tokens_per_chunk)
        self.dynamic = kv_mode == "dynamic"
        self.microbatches = microbatches
        self.max_mb = max_microbatch_requests
        self.lookahead_ps = max(1, seconds_to_ps(link_latency_s))
        self.kv_bytes_per_token = kv_bytes_per_token
        self.kv_capacity_bytes = kv_capacity_bytes
        # prefill_before: prompts were prefilled ahead of decode (their cost is reported apart),
        # so an admitted request starts decoding at once with its prompt's KV in place.
        self.prefill_before = prefill_before
        self.gpu_prefill = None
        if gpu_prefill:
            from lolpim.hardware.systems.stage_costs import StageCost
            self.gpu_prefill = StageCost(**gpu_prefill["cost"])
            self.prefill_link_bytes_per_s = gpu_prefill["link_bandwidth_bytes_per_s"]
        self.status = np.zeros(n, dtype=np.int8)
        self.kv = np.zeros(n, dtype=np.int64)
        self.generated = np.zeros(n, dtype=np.int64)
        self.first_token_ps = np.full(n, -1, dtype=np.int64)
        self.last_token_ps = np.full(n, -1, dtype=np.int64)
        self.finish_ps = np.full(n, -1, dtype=np.int64)
        self.preemptions = 0
        self.intervals_ps: list[int] = []
        self.waiting: list[int] = []
        self.members: list[list[int]] = [[] for _ in range(microbatches)]
        self.mb_state = ["idle"] * microbatches
        self.rounds: dict[int, dict] = {}
        self.next_round = 0
        self.gpu_free_ps = 0
        # set when a DPA refused an admission; cleared when memory is freed. Asking again
        # before anything was freed would only be refused again.
        self.admission_blocked = False
        self.used_token_s = 0.0        # integral of KV tokens in use over time
        self.saturated_token_s = 0.0   # the same, only while requests wait for memory
        self.saturated_s = 0.0
        self.saturated_tokens = 0      # tokens produced while requests waited: steady-state throughput
        self.last_tick_ps = 0

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
            out.append(self.send(self.name, "arrive", {}, int(t)))
        return out

    def handle(self, event, payload):
        self._tick()
        kind = event.kind
        if kind == "arrive":
            arrived = np.flatnonzero((self.status == FUTURE) & (self.arrival_ps <= self.now_ps))
            self.status[arrived] = WAITING
            self.waiting.extend(arrived.tolist())
            return self._schedule_idle()
        if kind == "mb":
            return self._on_return(payload)
        if kind == "granted":
            return self._on_granted(payload)
        return self._dispatch(payload["mb"])  # "dispatch": GPU prefill of new members finished

    def _on_return(self, mb):
        m = mb["mb"]
        finished = []
        for r, prompt in zip(mb["reqs"], mb["prompt"]):
            self.kv[r] = prompt if prompt else self.kv[r] + 1
            self._token_out(r)
            if self.generated[r] >= self.output[r]:
                finished.append(r)
        if finished:
            self._retire(m, finished)
        self.mb_state[m] = "idle"
        out = [self.send(d, "free", {"reqs": finished}, self.lookahead_ps) for d in self.dpas] if finished else []
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

    def _retire(self, m, reqs):
        self.admission_blocked = False   # their memory is about to be freed
        for r in reqs:
            self.status[r] = DONE
            self.finish_ps[r] = self.now_ps
            self.members[m].remove(r)

    def _schedule_idle(self):
        out = []
        for m in range(self.microbatches):
            if self.mb_state[m] == "idle":
                out += self._plan(m)
        return out

    # --- admission and growth -------------------------------------------------------
    def _admission_quota(self, m) -> int:
        """Grow micro-batches evenly: none may hold more than one request above the average,
        so memory fills the pipeline's micro-batches in step rather than the first few."""
        if self.admission_blocked:
            return 0
        running = int((self.status == RUNNING).sum())
        target = min(self.max_mb, math.ceil((running + 1) / self.microbatches))
        return max(0, target - len(self.members[m]))

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
        self.rounds[rnd] = {"mb": m, "admit": admit, "grow": grow, "replies": []}
        self.mb_state[m] = "plan"
        # an admitted request's first decode pass appends token prompt + 1: reserve it now
        payload = {"round": rnd, "admit": admit, "admit_tokens": [self._prompt_len(r) + 1 for r in admit],
                   "grow": grow, "grow_tokens": [int(self.kv[r]) + 1 for r in grow]}
        return [self.send(d, "plan", payload, self.lookahead_ps) for d in self.dpas]

    def _prompt_len(self, r) -> int:
        # a preempted request recomputes its KV for the prompt plus what it already generated
        return int(self.input[r] + self.generated[r])

    def _on_granted(self, reply):
        plan = self.rounds[reply["round"]]
        plan["replies"].append(reply)
        if len(plan["replies"]) < len(self.dpas):
            return []
        del self.rounds[reply["round"]]
        m, out = plan["mb"], []
        replies = sorted(plan["replies"], key=lambda x: x["dpa"])
        admitted, refused = [], []
        for i, r in enumerate(plan["admit"]):
            (admitted if all(x["admit_ok"][i] for x in replies) else refused).append(r)
        stuck = [r for i, r in enumerate(plan["grow"]) if not all(x["grow_ok"][i] for x in replies)]
        if refused:
            self.admission_blocked = True
        for x in replies:   # give back what a DPA granted but another refused
            give_back = [r for i, r in enumerate(plan["admit"]) if x["admit_ok"][i] and r in refused]
            give_back += [r for i, r in enumerate(plan["grow"]) if r in stuck]
            if give_back:
                out.append(self.send(x["dpa"], "free", {"reqs": give_back}, self.lookahead_ps))
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
            return out + self._gpu_prefill(m, admitted)
        return out + self._dispatch(m)

    def _gpu_prefill(self, m, admitted):
        ready = self.now_ps
        for r in admitted:
            prompt = self._prompt_len(r)
            t = self.gpu_prefill.prefill_s(np.array([prompt]))
            t += prompt * self.kv_bytes_per_token / self.prefill_link_bytes_per_s
            self.gpu_free_ps = max(self.gpu_free_ps, self.now_ps) + seconds_to_ps(t)
            ready = self.gpu_free_ps
        self.mb_state[m] = "prefill"
        return [self.send(self.name, "dispatch", {"mb": m}, ready - self.now_ps)]

    # --- sending a micro-batch round --------------------------------------------------
    def _dispatch(self, m):
        reqs = self.members[m]
        if self.mb_state[m] == "prefill":   # GPU prefill produced each new request's first token
            for r in reqs:
                if self.kv[r] == 0:
                    self.kv[r] = self._prompt_len(r)
                    self._token_out(r)
            done = [r for r in reqs if self.generated[r] >= self.output[r]]
            if done:
                self._retire(m, done)
            out = [self.send(d, "free", {"reqs": done}, self.lookahead_ps) for d in self.dpas] if done else []
            self.mb_state[m] = "idle"
            return out + (self._dispatch(m) if self.members[m] else self._schedule_idle())
        if not reqs:
            self.mb_state[m] = "idle"
            return []
        prompt = [self._prompt_len(r) if self.kv[r] == 0 else 0 for r in reqs]
        ctx = [p if p else int(self.kv[r]) + 1 for r, p in zip(reqs, prompt)]
        self.mb_state[m] = "flight"
        return [self.send(self.first_stage, "mb", {"mb": m, "reqs": list(reqs), "ctx": ctx, "prompt": prompt,
                                                   "sent_ps": self.now_ps}, self.lookahead_ps)]

    # --- reporting ------------------------------------------------------------------
    def result(self):
        return {
            "arrival_ps": self.arrival_ps.tolist(), "first_token_ps": self.first_token_ps.tolist(),
            "finish_ps": self.finish_ps.tolist(), "generated": self.generated.tolist(),
            "output": self.output.tolist(), "intervals_ps": self.intervals_ps, "preemptions": self.preemptions,
            "used_token_s": self.used_token_s, "saturated_token_s": self.saturated_token_s,
            "saturated_s": self.saturated_s, "saturated_tokens": self.saturated_tokens, "end_ps": self.last_tick_ps,
            "kv_bytes_per_token": self.kv_bytes_per_token, "kv_capacity_bytes": self.kv_capacity_bytes,
        }

    def metrics(self):
        return {"tokens_generated_total": int(self.generated.sum()),
                "requests_admitted_total": int((self.status >= RUNNING).sum()),
                "requests_waiting": len(self.waiting),
                "kv_tokens_in_use": int(self.kv[self.status == RUNNING].sum()),
                "kv_capacity_bytes": float(self.kv_capacity_bytes)}

    def state(self):
        arrays = {k: getattr(self, k).tolist() for k in ("status", "kv", "generated", "first_token_ps",
                                                         "last_token_ps", "finish_ps")}
        return {"arrays": arrays, "preemptions": self.preemptions, "intervals": self.intervals_ps,
                "waiting": self.waiting, "members": self.members, "mb_state": self.mb_state,
                "blocked": self.admission_blocked,
                "rounds": {str(k): v for k, v in self.rounds.items()}, "next_round": self.next_round,
                "gpu_free_ps": self.gpu_free_ps, "used": self.used_token_s, "sat": self.saturated_token_s,
                "sat_s": self.saturated_s, "sat_tokens": self.saturated_tokens,
                "last_tick": self.last_tick_ps}

    def load_state(self, s):
        for k, v in s["arrays"].items():
            setattr(self, k, np.asarray(v, dtype=getattr(self, k).dtype))
        self.preemptions, self.intervals_ps = s["preemptions"], list(s["intervals"])
        self.waiting, self.members = list(s["waiting"]), [list(x) for x in s["members"]]
        self.mb_state = list(s["mb_state"])
        self.admission_blocked = s["blocked"]
        self.rounds = {int(k): v for k, v in s["rounds"].items()}
        self.next_round, self.gpu_free_ps = s["next_round"], s["gpu_free_ps"]
        self.used_token_s, self.saturated_token_s = s["used"], s["sat"]
        self.saturated_s, self.last_tick_ps = s["sat_s"], s["last_tick"]
        self.saturated_tokens = s["sat_tokens"]
