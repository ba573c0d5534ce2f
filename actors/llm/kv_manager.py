"""The DPA (direct PIM access) controller of one module: it owns the module's KV memory.

The host sends it "plan" rounds (admit these requests with these prompt lengths; grow
these running requests to these lengths) and "free" messages; it answers each plan with
what it granted. Memory is handed out in fixed chunks (1 MB by default, as LoL-PIM's host
allocates it):

  dynamic  chunks are mapped on demand as a sequence grows (paged, as PagedAttention does
           inside the module); admission needs the prompt's chunks plus a small watermark;
           a growth that finds no free chunk is refused and the host preempts that request.
  static   admission reserves the chunks for the longest context a request may reach
           (what compile-time PIM address streams force); growth never allocates.

It integrates allocated chunks over simulated time to report its capacity utilisation.
"""
from __future__ import annotations

from lolpim.actors.kernel.actor import Actor
from lolpim.actors.kernel.events import seconds_to_ps

MODES = ("dynamic", "static")


def chunks_for(tokens: int, tokens_per_chunk: int) -> int:
    return -(-tokens // tokens_per_chunk)


class KvManager(Actor):
    accepts = {
        "plan": {"round": int, "admit": list, "admit_tokens": list, "grow": list, "grow_tokens": list},
        "free": {"reqs": list},
    }

    def __init__(self, name, seed, host: str, capacity_chunks: int, tokens_per_chunk: int, mode: str,
                 static_reserve_tokens: int, watermark_chunks: int, link_latency_s: float):
        super().__init__(name, seed)
        if mode not in MODES:
            raise ValueError(f"KV mode must be one of {MODES}, got {mode!r}")
        self.host = host
        self.peer_names = frozenset([host])
        self.capacity = capacity_chunks
        self.tokens_per_chunk = tokens_per_chunk
        self.mode = mode
        self.static_reserve_tokens = static_reserve_tokens
        self.watermark = watermark_chunks
        self.lookahead_ps = max(1, seconds_to_ps(link_latency_s))
        self.alloc: dict[str, int] = {}   # request id (as text: msgpack map keys) -> chunks
        self.free_chunks = capacity_chunks
        self.peak_chunks = 0
        self.area_chunk_s = 0.0            # integral of allocated chunks over time (float: no overflow)
        self.last_ps = 0
        self.refused_growths = 0

    def _tick(self):
        self.area_chunk_s += (self.capacity - self.free_chunks) * ((self.now_ps - self.last_ps) * 1e-12)
        self.last_ps = self.now_ps

    def _grow_to(self, req: str, tokens: int) -> bool:
        need = chunks_for(tokens, self.tokens_per_chunk) - self.alloc.get(req, 0)
        if need <= 0:
            return True
        if self.mode == "static":
            raise RuntimeError(f"{self.name}: request {req} grew to {tokens} tokens, past its static reservation "
                               f"of {self.static_reserve_tokens}")
        if need > self.free_chunks:
            return False
        self.alloc[req] = self.alloc.get(req, 0) + need
        self.free_chunks -= need
        return True

    def handle(self, event, payload):
        self._tick()
        if event.kind == "free":
            for req in payload["reqs"]:
                self.free_chunks += self.alloc.pop(str(req), 0)
            return []
        grow_ok = [int(self._grow_to(str(r), t)) for r, t in zip(payload["grow"], payload["grow_tokens"])]
        self.refused_growths += grow_ok.count(0)
        admit_ok = []
        blocked = False   # first-come first-served: once one request does not fit, later ones wait too
        for req, tokens in zip(payload["admit"], payload["admit_tokens"]):
            reserve = self.static_reserve_tokens if self.mode == "static" else tokens
            need = chunks_for(reserve, self.tokens_per_chunk)
            headroom = self.watermark if self.mode == "dynamic" else 0
            ok = not blocked and need + headroom <= self.free_chunks
            blocked = blocked or not ok
            if ok:
                self.alloc[str(req)] = need
                self.free_chunks -= need
            admit_ok.append(int(ok))
        self.peak_chunks = max(self.peak_chunks, self.capacity - self.free_chunks)
        return [self.send(self.host, "granted", {"round": payload["round"], "dpa": self.name,
                                                  "grow_ok": grow_ok, "admit_ok": admit_ok}, self.lookahead_ps)]

    def result(self):
        return {"capacity_chunks": self.capacity, "peak_chunks": self.peak_chunks,
                "allocated_chunk_s": self.area_chunk_s, "until_ps": self.last_ps,
                "refused_growths": self.refused_growths, "tokens_per_chunk": self.tokens_per_chunk}

    def metrics(self):
        return {"kv_allocated_chunks": self.capacity - self.free_chunks, "kv_capacity_chunks": self.capacity,
                "kv_tokens_per_chunk": self.tokens_per_chunk}

    def state(self):
        return {"alloc": self.alloc, "free": self.free_chunks, "peak": self.peak_chunks,
                "area": self.area_chunk_s, "last": self.last_ps, "refused": self.refused_growths}

    def load_state(self, s):
        self.alloc, self.free_chunks, self.peak_chunks = dict(s["alloc"]), s["free"], s["peak"]
        self.area_chunk_s, self.last_ps, self.refused_growths = s["area"], s["last"], s["refused"]
