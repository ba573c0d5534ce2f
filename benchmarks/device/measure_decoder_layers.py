"""Measure whole decoder layers (decode and prefill) on a real GPU, for checking the GPU model.

The GPU cost model (hardware/gpu/model.py) is calibrated on single kernels (GEMV, decode attention:
data/h200_decode_microbench.json). This script measures what the model must then predict
without further fitting: whole decoder layers of the model presets, one decode step (one new
token per request) and one prefill, built from the same PyTorch kernels a simple serving stack
uses (RMSNorm, one fused QKV GEMM, rotary, KV append, SDPA attention, output projection, gated
FFN). Tensor-parallel shards (70B/72B) are measured as the one-GPU share of the layer; the
all-reduces are not measured (one GPU).

Standalone on purpose: it needs only torch and runs on the lent GPU machine, where lolpim is not
installed. Compare with `python benchmarks/check_decoder_layers.py FILE`.

    python3 benchmarks/device/measure_decoder_layers.py --out DIR          # on the GPU
    python3 benchmarks/device/measure_decoder_layers.py --dry-run          # CPU smoke test

Timing: CUDA-graph replay (as decode servers run), 3 warm-up replays then 20 replays each timed
with CUDA events; median reported. Two layers with their own weights and KV are captured per
graph, so one layer's KV never stays in L2 across replays; the time is divided by two.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch
import torch.nn.functional as F

# (preset, tensor-parallel ways, hidden, query heads, KV heads, FFN hidden) of the one-GPU share
SHAPES = [
    ("llama2-7b", 1, 4096, 32, 32, 11008),
    ("llama3.1-8b", 1, 4096, 32, 8, 14336),
    ("llama2-13b", 1, 5120, 40, 40, 13824),
    ("llama3.1-70b", 4, 8192, 64, 8, 28672),
    ("qwen1.5-72b", 8, 8192, 64, 64, 24576),
]
HEAD_DIM = 128
BATCHES = [1, 4, 16, 64]
CONTEXTS = [1024, 4096, 16384, 32768]
PROMPTS = [512, 2048, 8192]
KV_BYTES_CAP = 8e9          # per layer; two layers live at once
DTYPE = torch.bfloat16


class Layer:
    """One decoder layer's weights and KV cache on the device (one TP shard)."""

    def __init__(self, hidden, q_heads, kv_heads, ffn, batch, cache_tokens, device, gen):
        def w(k, n):
            return (torch.randn(k, n, device=device, dtype=DTYPE, generator=gen) * k ** -0.5)
        self.hidden, self.q_heads, self.kv_heads, self.ffn = hidden, q_heads, kv_heads, ffn
        self.w_qkv = w(hidden, (q_heads + 2 * kv_heads) * HEAD_DIM)
        self.w_o = w(q_heads * HEAD_DIM, hidden)
        self.w_up = w(hidden, 2 * ffn)
        self.w_down = w(ffn, hidden)
        self.norm1 = torch.ones(hidden, device=device, dtype=DTYPE)
        self.norm2 = torch.ones(hidden, device=device, dtype=DTYPE)
        shape = (batch, kv_heads, cache_tokens, HEAD_DIM)
        self.k_cache = torch.randn(shape, device=device, dtype=DTYPE, generator=gen)
        self.v_cache = torch.randn(shape, device=device, dtype=DTYPE, generator=gen)

    def gemms_only(self, h, a, act):
        """The layer's four weight GEMMs alone (what the model prices as qkv, out_proj, ffn)."""
        return h @ self.w_qkv, a @ self.w_o, h @ self.w_up, act @ self.w_down

    def forward(self, x, pos, cos, sin, attention=True):
        """x: [B, T, hidden]; writes K/V at positions pos..pos+T-1 and attends causally."""
        b, t, _ = x.shape
        h = F.rms_norm(x, (self.hidden,), self.norm1)
        qkv = h @ self.w_qkv
        q, k, v = qkv.split([self.q_heads * HEAD_DIM, self.kv_heads * HEAD_DIM, self.kv_heads * HEAD_DIM], -1)
        q = q.view(b, t, self.q_heads, HEAD_DIM).transpose(1, 2)
        k = k.view(b, t, self.kv_heads, HEAD_DIM).transpose(1, 2)
        v = v.view(b, t, self.kv_heads, HEAD_DIM).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        self.k_cache[:, :, pos:pos + t] = k
        self.v_cache[:, :, pos:pos + t] = v
        if attention:
            # one query token: the same SDPA call as data/h200_decode_microbench.json measured
            # (its kernels split long KV across the chip); more tokens: causal flash attention
            keys, values = self.k_cache[:, :, :pos + t], self.v_cache[:, :, :pos + t]
            a = F.scaled_dot_product_attention(q, keys, values, is_causal=t > 1,
                                               enable_gqa=self.kv_heads != self.q_heads)
        else:
            a = q
        a = a.transpose(1, 2).reshape(b, t, self.q_heads * HEAD_DIM)
        x = x + a @ self.w_o
        h = F.rms_norm(x, (self.hidden,), self.norm2)
        gate, up = (h @ self.w_up).chunk(2, -1)
        return x + (F.silu(gate) * up) @ self.w_down


def rotate(x, cos, sin):
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), -1)


def time_graph(fn, device, warmup=3, reps=20):
    """Median seconds of one replay of a CUDA graph of fn (eager wall time on CPU)."""
    if device.type != "cuda":
        fn()
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0, [time.perf_counter() - t0]
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    for _ in range(warmup):
        graph.replay()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e-3)
    times.sort()
    return times[len(times) // 2], times


def _decode_setup(shape, batch, context, device, gen):
    """Two layers (own weights and KV of context + 1 tokens), one token per request, rotary."""
    name, tp, hidden, heads, kv_heads, ffn = shape
    q_heads, kv_local = heads // tp, max(1, kv_heads // tp)
    layers = [Layer(hidden, q_heads, kv_local, ffn // tp, batch, context + 1, device, gen) for _ in range(2)]
    x = torch.randn(batch, 1, hidden, device=device, dtype=DTYPE, generator=gen)
    cos = torch.randn(1, 1, 1, HEAD_DIM // 2, device=device, dtype=DTYPE, generator=gen)
    sin = torch.randn(1, 1, 1, HEAD_DIM // 2, device=device, dtype=DTYPE, generator=gen)
    return layers, x, cos, sin


def measure_decode(shape, batch, context, device, gen):
    name, tp, hidden, heads, kv_heads, ffn = shape
    q_heads = heads // tp
    layers, x, cos, sin = _decode_setup(shape, batch, context, device, gen)
    out = {}
    for label, attention in (("layer_s", True), ("no_attention_s", False)):
        # time_graph runs the lambda before the loop moves on
        t, _ = time_graph(lambda: [layer.forward(x, context, cos, sin, attention) for layer in layers],  # noqa: B023
                          device)
        out[label] = t / 2
    h = torch.randn(batch, 1, hidden, device=device, dtype=DTYPE, generator=gen)
    a = torch.randn(batch, 1, q_heads * HEAD_DIM, device=device, dtype=DTYPE, generator=gen)
    act = torch.randn(batch, 1, ffn // tp, device=device, dtype=DTYPE, generator=gen)
    t, _ = time_graph(lambda: [layer.gemms_only(h, a, act) for layer in layers], device)
    out["gemms_only_s"] = t / 2
    if batch == 1 and context == CONTEXTS[0]:
        out["kernels_per_layer"] = count_kernels(lambda: layers[0].forward(x, context, cos, sin), device)
    return {"kind": "decode", "model": name, "tp": tp, "batch": batch, "context": context, **out}


def measure_compiled(shape, batch, context, device, gen):
    """The same decode layer with torch.compile fusing the element-wise work (norms, rotary,
    residuals, SiLU-and-multiply), as serving stacks do with hand-fused kernels."""
    name, tp = shape[:2]
    layers, x, cos, sin = _decode_setup(shape, batch, context, device, gen)
    row = {"kind": "decode_compiled", "model": name, "tp": tp, "batch": batch, "context": context}
    try:
        for label, attention in (("layer_s", True), ("no_attention_s", False)):
            # compiled and timed before the loop moves on
            compiled = [torch.compile(lambda x, layer=layer: layer.forward(x, context, cos, sin, attention),  # noqa: B023
                                      dynamic=False) for layer in layers]
            t, _ = time_graph(lambda: [f(x) for f in compiled], device)  # noqa: B023
            row[label] = t / 2
        row["kernels_per_layer"] = count_kernels(lambda: compiled[0](x), device)
    except Exception as error:       # compilation is a bonus; keep the eager numbers regardless
        row["error"] = repr(error)[:500]
    return row


def measure_prefill_parts(shape, prompt, device, gen):
    """Prefill pieces alone: causal attention (one prompt) and the four weight GEMMs."""
    name, tp, hidden, heads, kv_heads, ffn = shape
    q_heads, kv_local = heads // tp, max(1, kv_heads // tp)
    q = torch.randn(1, q_heads, prompt, HEAD_DIM, device=device, dtype=DTYPE, generator=gen)
    k = torch.randn(1, kv_local, prompt, HEAD_DIM, device=device, dtype=DTYPE, generator=gen)
    v = torch.randn(1, kv_local, prompt, HEAD_DIM, device=device, dtype=DTYPE, generator=gen)
    attention, _ = time_graph(lambda: F.scaled_dot_product_attention(
        q, k, v, is_causal=True, enable_gqa=kv_local != q_heads), device)
    layer = Layer(hidden, q_heads, kv_local, ffn // tp, 1, 1, device, gen)
    h = torch.randn(prompt, hidden, device=device, dtype=DTYPE, generator=gen)
    a = torch.randn(prompt, q_heads * HEAD_DIM, device=device, dtype=DTYPE, generator=gen)
    act = torch.randn(prompt, ffn // tp, device=device, dtype=DTYPE, generator=gen)
    gemms, _ = time_graph(lambda: layer.gemms_only(h, a, act), device)
    return {"kind": "prefill_parts", "model": name, "tp": tp, "batch": 1, "prompt": prompt,
            "attention_s": attention, "gemms_only_s": gemms}


def measure_prefill_compiled(shape, prompt, device, gen):
    name, tp, hidden, heads, kv_heads, ffn = shape
    q_heads, kv_local = heads // tp, max(1, kv_heads // tp)
    layer = Layer(hidden, q_heads, kv_local, ffn // tp, 1, prompt, device, gen)
    x = torch.randn(1, prompt, hidden, device=device, dtype=DTYPE, generator=gen)
    cos = torch.randn(1, 1, prompt, HEAD_DIM // 2, device=device, dtype=DTYPE, generator=gen)
    sin = torch.randn(1, 1, prompt, HEAD_DIM // 2, device=device, dtype=DTYPE, generator=gen)
    row = {"kind": "prefill_compiled", "model": name, "tp": tp, "batch": 1, "prompt": prompt}
    try:
        compiled = torch.compile(lambda x: layer.forward(x, 0, cos, sin), dynamic=False)
        row["layer_s"], _ = time_graph(lambda: compiled(x), device)
    except Exception as error:
        row["error"] = repr(error)[:500]
    return row


WHOLE_MODELS = {  # preset: (layers, hidden, heads, kv heads, FFN hidden, vocab)
    "llama2-7b": (32, 4096, 32, 32, 11008, 32000),
    "llama3.1-8b": (32, 4096, 32, 8, 14336, 128256),
}


def _fused_layer(x, w_qkv, w_o, w_up, w_down, norm1, norm2, k_cache, v_cache, cos, sin, pos: int,
                 q_heads: int, kv_heads: int):
    """One decode layer as a pure function of its tensors, so torch.compile builds it once and
    every layer of a model reuses the compiled code."""
    b, t, hidden = x.shape
    h = F.rms_norm(x, (hidden,), norm1)
    q, k, v = (h @ w_qkv).split([q_heads * HEAD_DIM, kv_heads * HEAD_DIM, kv_heads * HEAD_DIM], -1)
    q = rotate(q.view(b, t, q_heads, HEAD_DIM).transpose(1, 2), cos, sin)
    k = rotate(k.view(b, t, kv_heads, HEAD_DIM).transpose(1, 2), cos, sin)
    k_cache[:, :, pos:pos + t] = k
    v_cache[:, :, pos:pos + t] = v.view(b, t, kv_heads, HEAD_DIM).transpose(1, 2)
    a = F.scaled_dot_product_attention(q, k_cache[:, :, :pos + t], v_cache[:, :, :pos + t],
                                       enable_gqa=kv_heads != q_heads)
    x = x + a.transpose(1, 2).reshape(b, t, q_heads * HEAD_DIM) @ w_o
    gate, up = (F.rms_norm(x, (hidden,), norm2) @ w_up).chunk(2, -1)
    return x + (F.silu(gate) * up) @ w_down


def measure_whole_model(name, batch, context, device, gen, dims=None):
    """One whole decode step (embedding gather, every layer, final norm, LM head), element-wise
    work fused by torch.compile, as one CUDA graph."""
    n_layers, hidden, heads, kv_heads, ffn, vocab = dims or WHOLE_MODELS[name]
    layers = [Layer(hidden, heads, kv_heads, ffn, batch, context + 1, device, gen) for _ in range(n_layers)]
    embedding = torch.randn(vocab, hidden, device=device, dtype=DTYPE, generator=gen)
    lm_head = torch.randn(hidden, vocab, device=device, dtype=DTYPE, generator=gen) * hidden ** -0.5
    final_norm = torch.ones(hidden, device=device, dtype=DTYPE)
    tokens = torch.randint(0, vocab, (batch, 1), device=device, generator=gen)
    cos = torch.randn(1, 1, 1, HEAD_DIM // 2, device=device, dtype=DTYPE, generator=gen)
    sin = torch.randn(1, 1, 1, HEAD_DIM // 2, device=device, dtype=DTYPE, generator=gen)
    row = {"kind": "decode_whole_model", "model": name, "tp": 1, "batch": batch, "context": context}
    try:
        layer = torch.compile(_fused_layer, dynamic=False)

        def step():
            x = embedding[tokens]
            for lay in layers:
                x = layer(x, lay.w_qkv, lay.w_o, lay.w_up, lay.w_down, lay.norm1, lay.norm2, lay.k_cache,
                          lay.v_cache, cos, sin, context, heads, kv_heads)
            return F.rms_norm(x, (hidden,), final_norm) @ lm_head

        row["step_s"], _ = time_graph(step, device)
    except Exception as error:
        row["error"] = repr(error)[:500]
    return row


def count_kernels(fn, device):
    """Device kernels one call launches (eager), to tell the element-wise kernel count."""
    if device.type != "cuda":
        return None
    from torch.profiler import ProfilerActivity, profile
    try:
        fn()
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            fn()
            torch.cuda.synchronize()
        names = [e.name for e in prof.events() if e.device_type.name == "CUDA"]
    except Exception as error:      # the profiler is optional; the timings are what matter
        return {"error": repr(error)}
    return {"total": len(names), "names": sorted(set(names))}


def measure_prefill(shape, prompt, device, gen):
    name, tp, hidden, heads, kv_heads, ffn = shape
    q_heads, kv_local = heads // tp, max(1, kv_heads // tp)
    layers = [Layer(hidden, q_heads, kv_local, ffn // tp, 1, prompt, device, gen) for _ in range(2)]
    x = torch.randn(1, prompt, hidden, device=device, dtype=DTYPE, generator=gen)
    cos = torch.randn(1, 1, prompt, HEAD_DIM // 2, device=device, dtype=DTYPE, generator=gen)
    sin = torch.randn(1, 1, prompt, HEAD_DIM // 2, device=device, dtype=DTYPE, generator=gen)
    t, _ = time_graph(lambda: [layer.forward(x, 0, cos, sin) for layer in layers], device)
    return {"kind": "prefill", "model": name, "tp": tp, "batch": 1, "prompt": prompt, "layer_s": t / 2}


def drift_check(device, gen):
    """Two rows of data/h200_decode_microbench.json again: GEMV 4096x4096 at B=1 (11.0 us there)
    and decode attention H=KVH=32, L=4096, B=1 (23.4 us there), to see whether this card matches."""
    w = torch.randn(4096, 4096, device=device, dtype=DTYPE, generator=gen)
    x = torch.randn(1, 4096, device=device, dtype=DTYPE, generator=gen)
    q = torch.randn(1, 32, 1, HEAD_DIM, device=device, dtype=DTYPE, generator=gen)
    k = torch.randn(1, 32, 4096, HEAD_DIM, device=device, dtype=DTYPE, generator=gen)
    v = torch.randn(1, 32, 4096, HEAD_DIM, device=device, dtype=DTYPE, generator=gen)
    gemv, _ = time_graph(lambda: x @ w, device)
    attention, _ = time_graph(lambda: F.scaled_dot_product_attention(q, k, v), device)
    return {"gemv_4096x4096_b1_s": gemv, "attention_h32_l4096_b1_s": attention}


def sanity_check(device, gen):
    """GQA decode attention as Layer.forward calls it, against a float64 reference with the KV
    heads repeated (relative error)."""
    q = torch.randn(2, 8, 1, HEAD_DIM, device=device, dtype=DTYPE, generator=gen)
    k = torch.randn(2, 2, 300, HEAD_DIM, device=device, dtype=DTYPE, generator=gen)
    v = torch.randn(2, 2, 300, HEAD_DIM, device=device, dtype=DTYPE, generator=gen)
    got = F.scaled_dot_product_attention(q, k, v, enable_gqa=True).double()
    kk, vv = k.double().repeat_interleave(4, 1), v.double().repeat_interleave(4, 1)
    ref = torch.softmax(q.double() @ kk.transpose(-1, -2) / HEAD_DIM ** 0.5, -1) @ vv
    return float((got - ref).norm() / ref.norm())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.environ.get("OUT", "."))
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU")
    parser.add_argument("--compiled", action="store_true", help="also time torch.compile'd layers (slow to build)")
    parser.add_argument("--whole-model", action="store_true",
                        help="only whole decode steps of the WHOLE_MODELS presets (torch.compile'd)")
    parser.add_argument("--prefill-only", action="store_true",
                        help="only prefill pieces (attention, GEMMs) and compiled prefill layers")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() and not args.dry_run else "cpu")
    gen = torch.Generator(device=device).manual_seed(0)
    shapes, batches, contexts, prompts = SHAPES, BATCHES, CONTEXTS, PROMPTS
    if args.dry_run:
        shapes = [("tiny", 2, 256, 8, 4, 512)]
        batches, contexts, prompts = [1, 2], [64], [32]
    result = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
              "torch": torch.__version__, "method": __doc__.split("Timing: ")[1].strip(),
              "attention_rel_error_vs_fp64": sanity_check(device, gen),
              "drift_check": drift_check(device, gen), "rows": []}
    print("drift check:", result["drift_check"], flush=True)
    path = os.path.join(args.out, "decoder_layers.json")
    started = time.time()
    if args.whole_model:
        path = os.path.join(args.out, "whole_model.json")
        cases = ([("tiny", 1, 32, (2, 256, 8, 4, 512, 1000))] if args.dry_run else
                 [("llama2-7b", 1, 4096, None), ("llama2-7b", 16, 4096, None),
                  ("llama3.1-8b", 1, 4096, None), ("llama3.1-8b", 64, 4096, None)])
        for name, batch, context, dims in cases:
            row = measure_whole_model(name, batch, context, device, gen, dims)
            result["rows"].append(row)
            print(f"{time.time() - started:6.1f}s {row}", flush=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()
        shapes = []
    elif args.prefill_only:
        path = os.path.join(args.out, "prefill_parts.json")
        for shape in shapes:
            for prompt in ([32, 64] if args.dry_run else [512, 1024, 2048, 4096, 8192, 16384]):
                row = measure_prefill_parts(shape, prompt, device, gen)
                result["rows"].append(row)
                print(f"{time.time() - started:6.1f}s {row}", flush=True)
        for shape in shapes[:1] if args.dry_run else (SHAPES[0], SHAPES[3]):
            for prompt in ([32] if args.dry_run else [2048, 8192]):
                row = measure_prefill_compiled(shape, prompt, device, gen)
                result["rows"].append(row)
                print(f"{time.time() - started:6.1f}s {row}", flush=True)
        shapes = []
    for shape in shapes:
        name, tp, hidden, heads, kv_heads, ffn = shape
        kv_bytes_per_token = 2 * max(1, kv_heads // tp) * HEAD_DIM * 2
        for context in contexts:
            for batch in batches:
                if 2 * batch * context * kv_bytes_per_token > 2 * KV_BYTES_CAP:
                    continue
                row = measure_decode(shape, batch, context, device, gen)
                result["rows"].append(row)
                print(f"{time.time() - started:6.1f}s {name:13s} tp{tp} B={batch:3d} L={context:6d} "
                      f"layer {row['layer_s'] * 1e6:8.1f} us  no-attn {row['no_attention_s'] * 1e6:8.1f} us  "
                      f"gemms {row['gemms_only_s'] * 1e6:8.1f} us  "
                      f"kernels {row.get('kernels_per_layer', {}).get('total', '-')}",
                      flush=True)
        for prompt in prompts:
            row = measure_prefill(shape, prompt, device, gen)
            result["rows"].append(row)
            print(f"{time.time() - started:6.1f}s {name:13s} prefill P={prompt:5d} "
                  f"layer {row['layer_s'] * 1e6:9.1f} us",
                  flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        with open(path, "w") as f:       # after every model, so a timeout keeps what was measured
            json.dump(result, f, indent=1)
    if device.type == "cuda" and args.compiled:
        for shape in (SHAPES[0], SHAPES[3]):
            for batch in (1, 64):
                row = measure_compiled(shape, batch, 4096, device, gen)
                result["rows"].append(row)
                print(f"{time.time() - started:6.1f}s compiled", row, flush=True)
    result["drift_check_after"] = drift_check(device, gen)   # the card is warm by now
    print("drift check after:", result["drift_check_after"], flush=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {path} ({len(result['rows'])} rows, attention rel. error "
          f"{result['attention_rel_error_vs_fp64']:.1e}) in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
