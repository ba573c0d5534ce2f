"""Decode attention on a PIM module, and whole decoder layers (decode and prefill) on one module.

Attention for one request and one KV head is two GEMVs against the KV cache held in the banks:

* QK^T: the key rows (L tokens x head_dim) against the query; L outputs, K = head_dim.
  With GQA the group's query heads are ``gqa_group`` input vectors for the same keys.
* SV: V^T (head_dim rows x L tokens) against the softmax probabilities; head_dim outputs, K = L.

Softmax runs on the module's near-memory unit (NMU) between the two.

Partitioning (LoL-PIM v3, docs/anchors.md section 2):

* head-first: each (request, KV head) pair lives in one channel; pairs are spread round-robin
  over the channels and a channel runs its pairs one after another. At small batch (or with few
  KV heads) most channels have nothing to do.
* token-centric: one pair at a time on the whole module. QK^T spreads the L tokens over every
  channel x bank slot (all slots busy once L >= channels x banks); SV spreads head_dim outputs
  over ceil(head_dim / banks) channels and splits the tokens into channels / that many groups,
  each at least one column (16 tokens) long, so every channel is busy once L >= 16 x groups;
  the groups' partial sums are then added on the NMU (the SV reduction).
* request-per-channel (NeuPIMs' artifact, github casys-kaist/NeuPIMs: ``Scheduler::allocate_pim_tile``
  and ``trace-generator/channel_load_balancing.py``): all of a request's KV heads live in one
  channel; the requests are placed longest first, each on the channel with the least attention
  work so far (greedy least-loaded, ties to the lowest channel), and the step takes as long as
  the most loaded channel. A request whose KV does not fit one channel (``channel_tokens``)
  takes the fewest least-loaded channels that hold it, its tokens split evenly and their SV
  partial sums added on the NMU: NeuPIMs itself refuses such a request ("No available tiles"),
  this is the smallest extension of its mapping that can serve it. Placement follows the load
  only: a channel's capacity is checked per request, not across the requests placed on it (the
  module's DPA controller keeps the KV account).

``channel_utilisation`` is the time-weighted share of channel x bank MAC slots that hold work
(a channel counts as fully busy when all its banks compute), which is the sense of the paper's
"every channel busy" thresholds.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from lolpim.hardware.cost import ZERO, OpCost
from lolpim.core.compat import StrEnum
from lolpim.core.errors import ParameterError
from lolpim.hardware.pim.gemv import gemv_channel_schedule, pim_gemv_cost
from lolpim.hardware.pim.spec import ACTIVATION_BYTES, PimModuleSpec, check_weight_bits
from lolpim.models.llm.architecture import LlmConfig


class AttentionMapping(StrEnum):
    """How decode attention is laid over a module's channels. LoL-PIM's ``partitioning`` takes the
    first two; a baseline's ``attention_mapping`` any (hardware/systems/config.py)."""
    TOKEN_CENTRIC = "token-centric"              # every channel works on each (request, KV head): LoL-PIM's
    HEAD_FIRST = "head-first"                    # (request, KV head) pairs round-robin over channels: CENT's
    REQUEST_PER_CHANNEL = "request-per-channel"  # a whole request in one channel, greedy least-loaded: NeuPIMs'


PARTITIONINGS = tuple(m.value for m in AttentionMapping)
SOFTMAX_FLOPS_PER_SCORE = 5          # max, subtract, exp, sum, scale
# per token and layer, element-wise work on the NMU: two RMSNorms (~4 flop per value),
# RoPE on q and k (~3), two residual adds (1); the FFN activation is charged to "ffn"
NORM_FLOPS_PER_VALUE, ROPE_FLOPS_PER_VALUE = 4, 3
ACTIVATION_FLOPS_PER_VALUE = 4       # SiLU and the gate product (gated FFN)


def _contexts(contexts_tokens) -> np.ndarray:
    arr = np.asarray(contexts_tokens)
    # dtype kinds "i" / "u" are exactly numpy's integer types (called once per stage pass: kept cheap)
    if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu" or arr.min() < 1:
        raise ParameterError("contexts_tokens", "must be a non-empty sequence of integers >= 1 "
                                                f"(one context length per request), got {contexts_tokens!r}")
    return arr.astype(np.int64)


def _check_partitioning(partitioning: str) -> AttentionMapping:
    if partitioning not in PARTITIONINGS:
        raise ParameterError("partitioning", f"got {partitioning!r}; allowed: {list(PARTITIONINGS)}")
    return AttentionMapping(partitioning)


def _check_layers(layers, model: LlmConfig) -> int:
    if isinstance(layers, bool) or not isinstance(layers, (int, np.integer)) or layers < 1:
        raise ParameterError("layers", f"must be a positive integer, got {layers!r}")
    if layers > model.layers:
        raise ParameterError("layers", f"{model.name} has {model.layers} decoder layers, got {layers}")
    return int(layers)


_SCHEDULE_KEYS = ("time_tck", "acts", "macs", "rdouts", "wrinps")


@lru_cache(maxsize=1 << 16)
def _kv_job(spec: PimModuleSpec, k_in: int, n_per_bank: int, vectors: int) -> tuple:
    schedule = gemv_channel_schedule(spec, k_in, n_per_bank, vectors, 16)
    return tuple(schedule[key] for key in _SCHEDULE_KEYS)


def _kv_jobs(spec: PimModuleSpec, k_in, n_per_bank, vectors: int) -> dict:
    """Channel schedules of KV-cache GEMVs (BF16 "weights"), one per request.

    Memoised per request shape: with BF16 the schedule depends on K only through whole columns
    (16 values), and on the context only through outputs per bank, so a decode step mostly
    reuses earlier answers.
    """
    step = spec.column_bytes // ACTIVATION_BYTES
    if spec.global_buffer_inputs % step:
        step = 1
    ks = np.broadcast_to(-(-np.asarray(k_in) // step) * step, np.shape(n_per_bank) or np.shape(k_in))
    ns = np.broadcast_to(np.asarray(n_per_bank), ks.shape)
    rows = [_kv_job(spec, int(k), int(n), vectors) for k, n in zip(ks.tolist(), ns.tolist())]
    table = np.array(rows, dtype=np.int64).reshape(len(rows), len(_SCHEDULE_KEYS))
    return {key: table[:, i] for i, key in enumerate(_SCHEDULE_KEYS)}


def _job_energy_pj(spec: PimModuleSpec, sched: dict, channels_busy, useful_macs) -> np.ndarray:
    bank_bits = spec.banks_per_channel * 8
    return (channels_busy * (sched["acts"] * spec.row_bytes * bank_bits * spec.activate_energy_pj_per_bit
                             + sched["macs"] * spec.column_bytes * bank_bits * spec.read_energy_pj_per_bit
                             + (sched["rdouts"] + sched["wrinps"]) * spec.column_bytes * 8
                             * spec.io_energy_pj_per_bit)
            + useful_macs * spec.mac_energy_for(16))


def _job_bytes(spec: PimModuleSpec, sched: dict, channels_busy) -> np.ndarray:
    return channels_busy * (sched["macs"] * spec.column_bytes * spec.banks_per_channel
                            + (sched["rdouts"] + sched["wrinps"]) * spec.column_bytes)


def pim_attention_cost(spec: PimModuleSpec, model: LlmConfig, contexts_tokens,
                       partitioning: str = "token-centric", channel_tokens: int = 0) -> OpCost:
    """Decode attention of one layer for every request of a micro-batch (one new token each).
    ``channel_tokens`` (request-per-channel only): the tokens of one request's KV one channel
    holds (0: no limit)."""
    partitioning = _check_partitioning(partitioning)
    ctx = _contexts(contexts_tokens)
    C, B, D = spec.channels, spec.banks_per_channel, model.head_dim
    g, hkv = model.gqa_group, model.kv_heads
    tck, nmu = spec.tck_s, spec.nmu_flops_per_s
    softmax_s_job = SOFTMAX_FLOPS_PER_SCORE * ctx * g / nmu           # per (request, KV head)
    useful = ctx * D * g                                              # MACs of QK^T, and of SV

    if partitioning == AttentionMapping.TOKEN_CENTRIC:
        n_qk = -(-ctx // spec.banks)
        qk = _kv_jobs(spec, D, n_qk, g)
        qk_busy = np.minimum(C, ctx)
        qk_occ = ctx / (spec.banks * n_qk)
        ch_per_group = min(C, -(-D // B))
        min_tokens = spec.column_bytes // ACTIVATION_BYTES            # one column of BF16 scores
        groups = np.maximum(1, np.minimum(C // ch_per_group, ctx // min_tokens))
        tokens_per_group = -(-ctx // groups)
        n_sv = -(-D // (ch_per_group * B))
        sv = _kv_jobs(spec, tokens_per_group, n_sv, g)
        sv_busy = groups * ch_per_group
        sv_occ = sv_busy / C * D / (ch_per_group * B * n_sv)
        reduction_s_job = (groups - 1) * D * g / nmu
        qk_s_job, sv_s_job = qk["time_tck"] * tck, sv["time_tck"] * tck
        qk_s, sv_s = hkv * qk_s_job.sum(), hkv * sv_s_job.sum()
        softmax_s, reduction_s = hkv * softmax_s_job.sum(), hkv * reduction_s_job.sum()
        time_s = qk_s + sv_s + softmax_s + reduction_s
        slot_time = hkv * (qk_s_job * qk_occ + sv_s_job * sv_occ).sum()
        utilisation = slot_time / time_s
        qk_util = (qk_s_job * qk_occ).sum() / qk_s_job.sum()
        sv_util = (sv_s_job * sv_occ).sum() / sv_s_job.sum()
        busy_fraction = hkv * (qk_s_job * qk_busy + sv_s_job * sv_busy).sum() / C / (qk_s + sv_s)
        energy_pj = hkv * (_job_energy_pj(spec, qk, qk_busy, useful)
                           + _job_energy_pj(spec, sv, sv_busy, useful)).sum()
        bytes_moved = hkv * (_job_bytes(spec, qk, qk_busy) + _job_bytes(spec, sv, sv_busy)).sum()
    elif partitioning == AttentionMapping.REQUEST_PER_CHANNEL:
        span = np.minimum(C, -(-ctx // channel_tokens)) if channel_tokens else np.ones_like(ctx)
        piece = -(-ctx // span)                                       # tokens per channel of a request
        qk = _kv_jobs(spec, D, -(-piece // B), g)
        sv = _kv_jobs(spec, piece, -(-D // B), g)
        qk_s_job, sv_s_job = qk["time_tck"] * tck, sv["time_tck"] * tck
        qk_occ = piece / (B * -(-piece // B))
        sv_occ = D / (B * -(-D // B))
        request_s = hkv * (qk_s_job + sv_s_job)                       # a request's piece, all its KV heads
        per_channel: np.ndarray = np.zeros(C)
        for i in np.argsort(-ctx, kind="stable"):                     # longest first
            per_channel[np.argsort(per_channel, kind="stable")[:span[i]]] += request_s[i]
        pim_s = per_channel.max()
        softmax_total = hkv * softmax_s_job.sum()
        # as head-first: the NMU's softmax overlaps other requests' GEMVs except the last one's
        softmax_s = max(softmax_total - pim_s, 0.0) + softmax_s_job.max()
        reduction_s = hkv * ((span - 1) * D * g).sum() / nmu
        time_s = pim_s + softmax_s + reduction_s
        share_qk = (span * qk_s_job).sum() / (span * (qk_s_job + sv_s_job)).sum()
        qk_s, sv_s = pim_s * share_qk, pim_s * (1 - share_qk)
        slot_time = hkv * (span * (qk_s_job * qk_occ + sv_s_job * sv_occ)).sum() / C
        utilisation = slot_time / time_s
        qk_util = hkv * (span * qk_s_job * qk_occ).sum() / (C * qk_s)
        sv_util = hkv * (span * sv_s_job * sv_occ).sum() / (C * sv_s)
        busy_fraction = per_channel.sum() / (C * pim_s)
        energy_pj = hkv * (_job_energy_pj(spec, qk, span, useful) + _job_energy_pj(spec, sv, span, useful)).sum()
        bytes_moved = hkv * (_job_bytes(spec, qk, span) + _job_bytes(spec, sv, span)).sum()
    else:
        qk = _kv_jobs(spec, D, -(-ctx // B), g)
        sv = _kv_jobs(spec, ctx, -(-D // B), g)
        qk_s_job, sv_s_job = qk["time_tck"] * tck, sv["time_tck"] * tck
        qk_occ = ctx / (B * -(-ctx // B))
        sv_occ = D / (B * -(-D // B))
        job_channel = (np.arange(ctx.size)[:, None] * hkv + np.arange(hkv)[None, :]) % C
        per_channel = np.bincount(job_channel.ravel(), weights=np.repeat(qk_s_job + sv_s_job, hkv),
                                  minlength=C)
        pim_s = per_channel.max()
        softmax_total = hkv * softmax_s_job.sum()
        # the NMU serves every channel: its softmax work overlaps other pairs' GEMVs, except
        # for the last pair's, which sits between its QK^T and SV
        softmax_s = max(softmax_total - pim_s, 0.0) + softmax_s_job.max()
        reduction_s = 0.0
        time_s = pim_s + softmax_s
        # split the PIM time between the two GEMVs in proportion to their work
        share_qk = (qk_s_job.sum() / (qk_s_job + sv_s_job).sum())
        qk_s, sv_s = pim_s * share_qk, pim_s * (1 - share_qk)
        slot_time = hkv * (qk_s_job * qk_occ + sv_s_job * sv_occ).sum() / C
        utilisation = slot_time / time_s
        # per GEMV: the channels' time on that GEMV, spread over the PIM time it takes
        qk_util = hkv * (qk_s_job * qk_occ).sum() / (C * qk_s)
        sv_util = hkv * (sv_s_job * sv_occ).sum() / (C * sv_s)
        busy_fraction = per_channel.sum() / (C * pim_s)
        energy_pj = hkv * (_job_energy_pj(spec, qk, 1, useful) + _job_energy_pj(spec, sv, 1, useful)).sum()
        bytes_moved = hkv * (_job_bytes(spec, qk, 1) + _job_bytes(spec, sv, 1)).sum()

    flops = 2.0 * 2 * hkv * useful.sum() + hkv * SOFTMAX_FLOPS_PER_SCORE * (ctx * g).sum()
    kv_bytes = float(ctx.sum() * model.kv_bytes_per_token_per_layer())
    detail = {
        "partitioning": partitioning, "channel_utilisation": float(utilisation),
        "channels_busy_fraction": float(busy_fraction),
        "qk_channel_utilisation": float(qk_util), "sv_channel_utilisation": float(sv_util),
        "qk_s": float(qk_s), "sv_s": float(sv_s), "softmax_s": float(softmax_s),
        "reduction_s": float(reduction_s), "kv_bytes": kv_bytes, "requests": int(ctx.size),
    }
    return OpCost(float(time_s), bytes_moved=float(bytes_moved), flops=float(flops),
                  energy_j=float(energy_pj) * 1e-12, bound="memory", detail=detail)


@lru_cache(maxsize=4096)
def _gemv_cached(spec: PimModuleSpec, k_in: int, n_out: int, batch: int, weight_bits: int) -> OpCost:
    return pim_gemv_cost(spec, k_in, n_out, batch, weight_bits)


def _nmu_cost(spec: PimModuleSpec, flops: float, tag: str) -> OpCost:
    return OpCost(flops / spec.nmu_flops_per_s, flops=flops, bound="compute", detail={"engine": tag})


def _elementwise_flops(model: LlmConfig, tokens: int) -> tuple[float, float]:
    """(other, ffn activation) NMU flops of one layer for ``tokens`` tokens."""
    other = tokens * (2 * NORM_FLOPS_PER_VALUE * model.hidden
                      + ROPE_FLOPS_PER_VALUE * (model.q_dim + model.kv_dim) + 2 * model.hidden)
    act = tokens * ACTIVATION_FLOPS_PER_VALUE * model.ffn_width_per_token
    return float(other), float(act)


def pim_decode_layers_cost(spec: PimModuleSpec, model: LlmConfig, contexts_tokens, layers: int,
                           partitioning: str = "token-centric", weight_bits: int = 16,
                           channel_tokens: int = 0) -> dict[str, OpCost]:
    """One decode step (one new token per request) through ``layers`` decoder layers on this module.

    Keys: qkv, attention, out_proj, ffn, other. FC weights are spread over every channel x bank
    of the module; the micro-batch's tokens are the GEMVs' input vectors. ``channel_tokens``:
    see pim_attention_cost (request-per-channel).
    """
    layers = _check_layers(layers, model)
    weight_bits = check_weight_bits(weight_bits)
    _check_partitioning(partitioning)
    ctx = _contexts(contexts_tokens)
    # a micro-batch passes through every pipeline stage with the same contexts, and the stages
    # of a pipeline mostly hold the same layers: one answer serves them all (a fresh dict each
    # time, since callers add parts to it)
    return dict(_decode_layers_cached(spec, model, ctx.tobytes(), layers, partitioning, weight_bits, channel_tokens))


@lru_cache(maxsize=1 << 14)
def _decode_layers_cached(spec: PimModuleSpec, model: LlmConfig, ctx_bytes: bytes, layers: int,
                          partitioning: str, weight_bits: int, channel_tokens: int = 0) -> dict[str, OpCost]:
    ctx = np.frombuffer(ctx_bytes, dtype=np.int64)
    batch = int(ctx.size)
    shapes = model.fc_shapes()
    fc = {part: _gemv_cached(spec, *shapes[part], batch, weight_bits) for part in ("qkv", "out_proj")}
    other_flops, act_flops = _elementwise_flops(model, batch)
    ffn = _ffn_cost(model, batch, lambda k, n, rows: _gemv_cached(spec, k, n, rows, weight_bits)) \
        + _nmu_cost(spec, act_flops, "nmu")
    parts = {
        "qkv": fc["qkv"],
        "attention": pim_attention_cost(spec, model, ctx, partitioning, channel_tokens),
        "out_proj": fc["out_proj"],
        "ffn": ffn,
        "other": _nmu_cost(spec, other_flops, "nmu"),
    }
    return {name: _per_layers(cost, layers) for name, cost in parts.items()}


def _ffn_cost(model: LlmConfig, tokens: int, gemm) -> OpCost:
    """The FFN of one layer for ``tokens`` tokens, each of its GEMMs priced by ``gemm(k, n, rows)``;
    for a mixture of experts, the experts the batch activates (LlmConfig.ffn_gemms)."""
    out = ZERO
    for _role, k, n, rows, count in model.ffn_gemms(tokens):
        cost = gemm(k, n, rows)
        out = out + (cost if count == 1 else cost.scaled(count))
    return out


def _per_layers(cost: OpCost, layers: int) -> OpCost:
    out = cost.scaled(layers)
    return OpCost(out.time_s, out.bytes_moved, out.flops, out.energy_j, out.bound,
                  dict(cost.detail, layers=layers))


def nmu_gemm_cost(spec: PimModuleSpec, k: int, n: int, rows: int, weight_bits: int = 16) -> OpCost:
    """A GEMM on the module's compute units (near-memory unit or xPU matrix units): ``rows``
    input rows times K x N weights, which stream from the banks over the channel I/O."""
    flops = 2.0 * k * n * rows
    weight_bytes = float(k) * n * weight_bits / 8
    nmu_compute, nmu_io = flops / spec.nmu_flops_per_s, weight_bytes / spec.io_bytes_per_s
    return OpCost(max(nmu_compute, nmu_io), bytes_moved=weight_bytes, flops=flops,
                  energy_j=weight_bytes * 8 * (spec.read_energy_pj_per_bit + spec.io_energy_pj_per_bit
                                               + spec.activate_energy_pj_per_bit) * 1e-12
                  + k * n * rows * spec.mac_energy_for(weight_bits) * 1e-12,
                  bound="compute" if nmu_compute >= nmu_io else "io", detail={"engine": "nmu"})


def _prefill_fc(spec: PimModuleSpec, k: int, n: int, tokens: int) -> OpCost:
    """A prefill GEMM: on the NMU (weights read over the channel I/O) or as PIM GEMVs with the
    prompt's tokens as input vectors, whichever is faster."""
    nmu = nmu_gemm_cost(spec, k, n, tokens)
    pim = _gemv_cached(spec, k, n, tokens, 16)
    if pim.time_s < nmu.time_s:
        return OpCost(pim.time_s, pim.bytes_moved, pim.flops, pim.energy_j, pim.bound,
                      dict(pim.detail, engine="pim"))
    return nmu


def pim_prefill_layers_cost(spec: PimModuleSpec, model: LlmConfig, prompt_tokens, layers: int) -> dict[str, OpCost]:
    """Prefill of the prompt(s) through ``layers`` decoder layers on this module's compute.

    ``prompt_tokens``: one prompt length, or a sequence of them (prompts prefilled together).
    FC layers use the faster of NMU GEMM and PIM GEMV; causal attention and element-wise work
    run on the NMU, whose KV writes go over the channel I/O.
    """
    layers = _check_layers(layers, model)
    prompts = _contexts(np.atleast_1d(prompt_tokens))
    tokens = int(prompts.sum())
    shapes = model.fc_shapes()
    fc = {part: _prefill_fc(spec, *shapes[part], tokens) for part in ("qkv", "out_proj")}
    other_flops, act_flops = _elementwise_flops(model, tokens)
    # causal attention: QK^T and SV over on average half the prompt, per query head
    attn_flops = float(2 * 2 * model.heads * model.head_dim * (prompts * (prompts + 1) // 2).sum()
                       + SOFTMAX_FLOPS_PER_SCORE * model.heads * (prompts * (prompts + 1) // 2).sum())
    kv_write = float(tokens * model.kv_bytes_per_token_per_layer())
    attn_compute, attn_io = attn_flops / spec.nmu_flops_per_s, kv_write / spec.io_bytes_per_s
    attention = OpCost(max(attn_compute, attn_io), bytes_moved=kv_write, flops=attn_flops,
                       energy_j=kv_write * 8 * spec.io_energy_pj_per_bit * 1e-12,
                       bound="compute" if attn_compute >= attn_io else "io", detail={"engine": "nmu"})
    parts = {
        "qkv": fc["qkv"],
        "attention": attention,
        "out_proj": fc["out_proj"],
        "ffn": _ffn_cost(model, tokens, lambda k, n, rows: _prefill_fc(spec, k, n, rows))
               + _nmu_cost(spec, act_flops, "nmu"),
        "other": _nmu_cost(spec, other_flops, "nmu"),
    }
    return {name: _per_layers(cost, layers) for name, cost in parts.items()}
