"""CENT as published: how CENT's own artifact prices one transformer block on a CXL device.

Our default CENT-style baseline (``cent.dataflow = "ideal"``) is an idealised CENT: optimally
scheduled AiM GEMVs, heads split across tensor-parallel devices, a 3 TFLOPS near-memory unit and
ring all-reduces. CENT's published CENT-vs-GPU figures come from its artifact (github
Yufeng98/CENT, cent_simulation/; AiM simulator: submodule arkhadem/aim_simulator at 2eb1ee0),
whose design prices a block differently. This module rebuilds that pricing as a closed form,
one named term per mechanism (the ``dataflow = "artifact"`` choice):

1. ``attention_*``  all heads on every device: in tensor-parallel mode each device holds every
   head's V cache (one head per channel, Llama.py ``intra_device_attention``), and its QK^T
   covers every head for the tokens it stores;
2. ``softmax_banks`` softmax passes through the DRAM banks: scores are written with single-bank
   writes, scaled in-bank (EWMUL) and read back, twice per block (Llama.py ``trace_only``), and
   the device's command DMA issues one single-channel request per cycle (aim_DRAM_system.cpp);
   ``elementwise_banks`` is the same path for norms, RoPE, SiLU and the KV writes;
3. ``pnm``          near-memory processing priced by CENT's cycle counts (run_sim.py
   ``calculate_acc_latency``; constants in cent_power_calculator.py);
4. ``fc``           FC GEMV tiles through the in-order AiM controller: a tile's ACT comes only
   after its global-buffer writes, the controller switches register/MAC mode (TMOD, nMODCH)
   twice per group of tiles, and RD-MAC blocks the DMA (AiM_dram_controller.cpp, request.h);
5. ``cxl``          CXL multicast broadcasts and gathers (cxl_latency.py ``llama_latency`` in
   tensor-parallel mode, ``vector_latency`` hop between pipeline stages).

Only facts and numbers are taken from the artifact (no code). Times are per device and per
request: CENT runs every query at batch 1, so a micro-batch of b requests costs b blocks.
Plain integer arithmetic in tCK (no numpy needed); deterministic; no I/O.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import lru_cache

from lolpim.core.compat import StrEnum
from lolpim.core.errors import ParameterError


class CentDataflow(StrEnum):
    # "ideal": optimally scheduled AiM GEMVs, heads split over tensor-parallel devices, 3 TFLOPS
    # near-memory unit, ring all-reduces; "artifact": CENT's published design as its own simulator
    # prices it (this module)
    IDEAL = "ideal"
    ARTIFACT = "artifact"


DATAFLOWS = tuple(m.value for m in CentDataflow)


@dataclass(frozen=True)
class CentArtifactConstants:
    """Constants of CENT's artifact that our AiM preset does not carry (the shared AiM array
    timings tCK, nRP, nRCD(MAC), nRTP, nCCD, nRFC, nREFI come from the ``cent-module`` preset)."""
    # --- aim_simulator src/dram/impl/GDDR6.cpp, GDDR6_AiM_timing (tCK) ---------------------
    n_modch_tck: int = 32          # nMODCH: TMOD register <-> MAC mode switch
    n_bl_tck: int = 2              # nBL: one WR-GB / WR-BIAS / RD-MAC burst on the bus
    n_rcd_ewmul_tck: int = 25      # nRCDEWMUL: ACT -> element-wise multiply
    n_rcd_af_tck: int = 86         # nRCDRDAF: ACT -> activation-function read
    n_rcd_copy_tck: int = 66       # nRCDRDCP: ACT -> bank-to-global-buffer copy
    n_cwl_tck: int = 6             # nCWL
    n_wr_tck: int = 33             # nWR: EWMUL16 -> PRE waits nCWL + nWR
    # --- aim_simulator aim_DRAM_system.cpp: the device's AiM DMA decodes one host request per
    # memory-system cycle (clock_ratio 1 in test/example.yaml), so single-channel requests
    # (single-bank reads/writes) issue at one per tCK for the whole device
    dma_tck_per_request: int = 1
    # --- cent_simulation trace generator (utils.py defaults, run_sim.py --reuse_size 32) -------
    row_values: int = 1024         # 16-bit values per DRAM row (--DRAM-column)
    burst_values: int = 16         # values per column burst (--burst-length)
    reuse_outputs: int = 32        # "reuse-GB" GEMV: outputs per global-buffer load (MAC registers)
    # --- cent_power_calculator.py: near-memory processing (PNM) cycle counts -------------------
    pnm_clock_hz: float = 2.0e9    # FREQ
    pnm_accelerators: int = 32     # CH_PER_DV accelerators pipelined, 16 SIMD lanes each
    simd_lanes: int = 16
    sb_rd_cycles: float = 1.0      # shared-buffer read / write, per entry
    sb_wr_cycles: float = 1.0
    exp_lane_cycles: float = 11.0  # EXP_LANE_CYCLE
    rv_cores: int = 8              # RV_COUNT RISC-V cores
    rv_rmsnorm_cycles: float = 26.0
    rv_rope_cycles: float = 3.0    # per embedding value, spread over the RV cores
    rv_softmax_wr_cycles: float = 16.0   # RV_SFT_CYCLE_PIPELINE = 16 SB writes + 2 / RV cores + 1 SB read
    rv_softmax_cycles: float = 2.0
    # --- cxl_latency.py / run_sim.py -----------------------------------------------------------
    pcie_lanes_total: int = 144    # --PCIE_lanes, split evenly over the devices
    lane_gbps: float = 4.0         # 8 GB/s per lane, halved with MULTICAST = True
    # the artifact divides bytes by GB/s and then scales by 1e9 / 2^30 (ns per GiB-based rate)
    gib_scale: float = 1e9 / 2 ** 30
    hop_round_trip_s: float = 180e-9   # 4 CXL ports x 25 + 2 PCIe x 30 + switch 20 ns
    flit_bytes: int = 256          # PBR flit carrying 3 x 64 B messages, 2 B per value
    message_bytes: int = 64
    messages_per_flit: int = 3

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ParameterError(f.name, f"must be a positive number, got {value!r}")


ARTIFACT = CentArtifactConstants()


def check_dataflow(dataflow: str) -> CentDataflow:
    if dataflow not in DATAFLOWS:
        raise ParameterError("dataflow", f"unknown CENT dataflow {dataflow!r}; allowed: {', '.join(DATAFLOWS)}")
    return CentDataflow(dataflow)


def _require_dense(model) -> None:
    # CENT's artifact traces dense Llama blocks only; pricing a mixture of experts as if it
    # were dense would be a silent wrong result
    if model.is_moe:
        raise ParameterError("cent.dataflow", f"the 'artifact' dataflow traces dense blocks only; "
                                              f"{model.name} has {model.experts} experts: use 'ideal'")


def _ceil(a: float, b: float) -> int:
    return int(math.ceil(a / b - 1e-12))


def _row_split(tokens: int, c: CentArtifactConstants) -> tuple[int, int]:
    """Full 1024-value rows and the column bursts of the last partial row (0 if none)."""
    full, rest = divmod(int(tokens), c.row_values)
    return full, _ceil(rest, c.burst_values) if rest else 0


class _Aim:
    """Per-channel command costs (tCK) of the artifact's in-order AiM controller."""

    def __init__(self, spec, c: CentArtifactConstants):
        self.s, self.c = spec, c
        self.col = spec.n_ccd                       # nCCDL = 2: MAC16 / EWMUL16 / copy columns
        self.toggle = c.n_modch_tck                 # TMOD between register and MAC mode
        self.bus = c.n_bl_tck                       # WR-GB / WR-BIAS / RD-MAC bursts
        self.rd_mac = c.n_bl_tck + c.dma_tck_per_request   # RD-MAC blocks the DMA until it returns

    def gb(self, columns: int) -> int:
        """Global-buffer load; the controller is in order, so the tile's ACT waits for it."""
        return columns * self.bus

    def mac_row(self, columns: int, new_row: bool = True) -> int:
        """One MAC ISR: (PRE after tRTP + tRP + ACT->MAC) when it opens a new row, then the columns."""
        s = self.s
        return (s.n_rtp + s.n_rp + s.n_rcd_mac if new_row else 0) + columns * self.col

    def group(self, gb_columns: int, outputs: int, mac_columns: int, new_rows: bool = True) -> int:
        """WR-GB, then per output WR-BIAS, MAC and RD-MAC; two mode switches per group."""
        return (self.gb(gb_columns) + outputs * (self.bus + self.rd_mac)
                + 2 * self.toggle + outputs * self.mac_row(mac_columns, new_rows))

    def row_op(self, columns: int, rcd: int, pre_wait: int) -> int:
        """An all-bank element-wise / copy ISR on a fresh row."""
        return pre_wait + self.s.n_rp + rcd + columns * self.col


@lru_cache(maxsize=4096)
def _fc_gemv_tck(spec, c: CentArtifactConstants, k_in: int, n_out: int, fc_banks: int,
                 activation: bool = False) -> int:
    """One GEMV of the 'reuse-GB' order: outputs dealt over ``fc_banks`` banks, every
    1024-input row of the vector loaded into the global buffer once and reused by up to 32
    outputs per bank (16 when the activation follows: half the registers hold its results)."""
    aim = _Aim(spec, c)
    per_bank = _ceil(n_out, fc_banks)
    reuse = c.reuse_outputs // 2 if activation else c.reuse_outputs
    groups = _ceil(per_bank, reuse)
    size = _ceil(per_bank, groups)
    rows = _ceil(k_in, c.row_values)
    t = 0
    for r in range(rows):
        cols = _ceil(min(c.row_values, k_in - r * c.row_values), c.burst_values)
        t += aim.gb(cols)
        for g in range(groups):
            n = size if g < groups - 1 else per_bank - size * (groups - 1)
            t += n * (aim.bus + aim.rd_mac) + 2 * aim.toggle + n * aim.mac_row(cols)
            if activation and r == rows - 1:
                # AF reads a lookup row (one ACT) and RD-AF blocks the DMA; AF is MAC-mode,
                # RD-AF register-mode: two switches per output
                t += aim.s.n_rtp + aim.s.n_rp + c.n_rcd_af_tck + n * (2 * aim.toggle + aim.col + aim.rd_mac)
    return t


@dataclass(frozen=True)
class CentBlockLayout:
    """Where one transformer block sits: ``fc_devices`` devices share its FC weights (tensor
    parallel) or 1 (pipeline); ``channels_per_block`` channels of a device hold it; the device
    holds ``blocks_per_device`` blocks (pipeline mode), all traced together."""
    fc_devices: int = 1
    channels_per_block: int = 32
    blocks_per_device: int = 1
    devices: int = 1               # CXL devices in the system (sets PCIe lanes per device)

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ParameterError(f.name, f"must be a positive integer, got {value!r}")


def pim_block_terms_s(spec, model, context: int, layout: CentBlockLayout,
                      c: CentArtifactConstants = ARTIFACT) -> dict[str, float]:
    """PIM time (the artifact's 'PIM latency' column) of one block for one query, by term."""
    _require_dense(model)
    aim = _Aim(spec, c)
    cpb = layout.channels_per_block
    banks = cpb * spec.banks_per_channel
    fc_banks = banks * layout.fc_devices if layout.fc_devices > 1 else banks
    tb = max(spec.channels // cpb, 1)                 # blocks traced together on the device
    d, hd, kv, heads = model.hidden, model.head_dim, model.kv_heads, model.heads
    rep = model.gqa_group
    L = int(context)
    t = {}
    # 4. FC GEMVs (Q, K, V, O, gate with SiLU, up, down)
    fc = (_fc_gemv_tck(spec, c, d, heads * hd, fc_banks) + 2 * _fc_gemv_tck(spec, c, d, kv * hd, fc_banks)
          + _fc_gemv_tck(spec, c, heads * hd, d, fc_banks))
    if model.ffn_kind == "gated":
        fc += _fc_gemv_tck(spec, c, d, model.ffn_hidden, fc_banks, activation=True)
    fc += _fc_gemv_tck(spec, c, d, model.ffn_hidden, fc_banks) + _fc_gemv_tck(spec, c, model.ffn_hidden, d, fc_banks)
    t["fc"] = fc
    # 1. attention with every head on the device. QK^T: one key per bank across the FC group's
    # banks, a key row holds 1024 / head_dim heads; per row and query repeat one WR-GB, then per
    # head WR-BIAS, MAC (head_dim / 16 columns, same row) and RD-MAC with two mode switches.
    key_rows = _ceil(hd * kv, c.row_values)
    seq_iters = _ceil(L, fc_banks)
    heads_per_row = c.row_values // hd
    t["attention_qk"] = key_rows * seq_iters * (aim.mac_row(0) + rep * aim.group(
        c.row_values // c.burst_values, heads_per_row, hd // c.burst_values, new_rows=False))
    # SV: V cache one KV head per channel (heads beyond the block's channels share a bank),
    # 1024 tokens per row, head_dim / 16 rows per 1024 tokens, each a fresh row.
    heads_per_channel = _ceil(kv, cpb)
    full, last = _row_split(L, c)
    sv = full * aim.group(c.row_values // c.burst_values, hd // c.burst_values, c.row_values // c.burst_values)
    if last:
        sv += aim.group(last, hd // c.burst_values, last)
    t["attention_sv"] = heads_per_channel * rep * sv
    # 2. softmax through the banks: 2 x (write scores to two bank groups, EWMUL, read back) =
    # 6 single-bank requests per head and 16 scores, for every block on the device, one per DMA
    # cycle; plus the EWMUL row ops (one per 1024-score row per head slot)
    bursts = full * (c.row_values // c.burst_values) + last
    t["softmax_banks"] = 6 * heads * bursts * tb * c.dma_tck_per_request
    ew_pre = c.n_cwl_tck + c.n_wr_tck
    heads_per_bank = _ceil(heads, cpb * 4)
    ewmul = full * aim.row_op(c.row_values // c.burst_values, c.n_rcd_ewmul_tck, ew_pre)
    if last:
        ewmul += aim.row_op(last, c.n_rcd_ewmul_tck, ew_pre)
    t["softmax_ewmul"] = 2 * heads_per_bank * ewmul
    t["elementwise_banks"] = _elementwise_tck(spec, c, model, banks, cpb, tb)
    refresh = spec.n_rfc / spec.n_refi                    # all-bank refresh blocks the channel
    out = {k: v * spec.tck_s for k, v in t.items()}
    out["refresh"] = sum(out.values()) * refresh / (1 - refresh)
    return out


@lru_cache(maxsize=1024)
def _elementwise_tck(spec, c: CentArtifactConstants, model, banks: int, cpb: int, tb: int) -> int:
    """Norms (x2), RoPE, SiLU product and KV-cache writes: vectors staged in the banks with
    single-bank requests (one per DMA cycle, for each block on the device) plus their all-bank
    EWMUL / copy ISRs (Llama.py trace_only)."""
    aim = _Aim(spec, c)
    d, f, hd, kv, rep = model.hidden, model.ffn_hidden, model.head_dim, model.kv_heads, model.gqa_group
    b16 = c.burst_values
    ew_pre = c.n_cwl_tck + c.n_wr_tck

    def spread(n, slots):           # bursts to store an n-vector over ``slots`` banks
        length = _ceil(n, slots)
        return _ceil(length, b16) * _ceil(n, length), length

    nb_req, nb_len = spread(d, banks // 2)
    ew_req, ew_len = spread(d, banks // 4)
    ew_cols = _ceil(ew_len, b16)
    # RMSNorm: x^2 via a MAC over neighbour banks, scale via EWMUL, copies between bank groups
    norm_req = 2 * nb_req + 3 * ew_req
    norm_isr = (aim.group(0, 1, _ceil(nb_len, b16)) + 2 * aim.row_op(ew_cols, c.n_rcd_ewmul_tck, ew_pre)
                + 8 * aim.row_op(ew_cols, c.n_rcd_copy_tck, aim.s.n_rtp))
    # RoPE: q and k stored (x2 values), EWMUL, read back
    q_req, _ = spread(2 * d, banks // 4)
    k_req = _ceil(_ceil(2 * ew_len, rep), b16) * _ceil(d, ew_len)
    rope_req = 2 * (q_req + k_req)
    rope_isr = (aim.row_op(d // b16, c.n_rcd_ewmul_tck, ew_pre)
                + aim.row_op(d // rep // b16, c.n_rcd_ewmul_tck, ew_pre))
    # KV cache: the new key row(s) by single-bank writes, the new value column by WR-ABK per
    # (head on the channel, 16 dims) per channel (one DMA request each)
    kv_req = _ceil(hd * kv, c.row_values) * (c.row_values // b16) + _ceil(kv, cpb) * (hd // b16) * cpb
    # SiLU(gate) x up: stores, EWMUL, copies, store, EWMUL, read back
    act_req, act_len = spread(f, banks // 4)
    act_cols = _ceil(act_len, b16)
    act_isr = 2 * aim.row_op(act_cols, c.n_rcd_ewmul_tck, ew_pre) + 8 * aim.row_op(act_cols, c.n_rcd_copy_tck,
                                                                                  aim.s.n_rtp)
    requests = (2 * norm_req + rope_req + kv_req + 4 * act_req) * tb
    return requests * c.dma_tck_per_request + 2 * norm_isr + rope_isr + act_isr


def pnm_block_s(model, context: int, layout: CentBlockLayout, c: CentArtifactConstants = ARTIFACT) -> float:
    """3. The artifact's 'Acc latency': RMSNorm x2, softmax and RoPE on the PNM, by cycle
    counts, for each block the device holds (run_sim.py calculate_acc_latency)."""
    exp_cycles = c.pnm_accelerators * c.sb_rd_cycles + c.exp_lane_cycles + c.sb_wr_cycles    # per SIMD op
    vec_cycles = c.pnm_accelerators * 2 * c.sb_rd_cycles + 1 + c.sb_wr_cycles
    lanes = c.simd_lanes
    ch = c.pnm_accelerators
    d, heads = model.hidden, model.heads
    rmsnorm = 2 * (d / lanes / lanes / ch * vec_cycles + c.sb_rd_cycles + c.sb_wr_cycles + 1 + c.rv_rmsnorm_cycles)
    rv_softmax = c.rv_softmax_wr_cycles * c.sb_wr_cycles + c.rv_softmax_cycles / c.rv_cores + c.sb_rd_cycles
    softmax = (context * heads / lanes / ch * (exp_cycles + vec_cycles)
               + heads * c.sb_rd_cycles + heads * rv_softmax)
    rope = d * c.rv_rope_cycles / c.rv_cores * (1 + 1 / model.gqa_group)
    return (rmsnorm + softmax + rope) / c.pnm_clock_hz * layout.blocks_per_device


def _cxl_message_s(values: float, lanes: int, c: CentArtifactConstants) -> float:
    """One multicast / gather message of ``values`` 2-byte values: round trip + flits."""
    flits = _ceil(values * 2, c.message_bytes * c.messages_per_flit)
    return c.hop_round_trip_s + flits * c.flit_bytes / (lanes * c.lane_gbps) * c.gib_scale * 1e-9


def cxl_block_s(model, layout: CentBlockLayout, c: CentArtifactConstants = ARTIFACT) -> float:
    """5. CXL time per block. Tensor parallel: 5 broadcasts of the hidden vector, 5 gathers of
    its 1/n slices, one broadcast and one gather of the FFN vector (cxl_latency.py
    llama_latency, multicast). Pipeline: one hop of the hidden vector (vector_latency)."""
    lanes = c.pcie_lanes_total // layout.devices
    d, f, n = model.hidden, model.ffn_hidden, layout.fc_devices
    if n == 1:
        return _cxl_message_s(d, lanes, c)

    def gather(values):
        flits = _ceil(values / n * 2, c.message_bytes * c.messages_per_flit) * (n - 1)
        return c.hop_round_trip_s + flits * c.flit_bytes / (lanes * c.lane_gbps) * c.gib_scale * 1e-9
    return 5 * _cxl_message_s(d, lanes, c) + 5 * gather(d) + _cxl_message_s(f, lanes, c) + gather(f)


def block_terms_s(spec, model, context: int, layout: CentBlockLayout,
                  c: CentArtifactConstants = ARTIFACT) -> dict[str, float]:
    """Every term of one block for one query: PIM terms, ``pnm`` and ``cxl`` (a fresh dict:
    callers drop terms from it)."""
    return dict(_block_terms_s(spec, model, context, layout, c))


@lru_cache(maxsize=1 << 14)
def _block_terms_s(spec, model, context: int, layout: CentBlockLayout, c: CentArtifactConstants) -> dict[str, float]:
    # memoised: every stage of a pipeline prices the same request at the same context, and a
    # validation run asks for ~16 times fewer distinct blocks than it prices
    terms = pim_block_terms_s(spec, model, context, layout, c)
    terms["pnm"] = pnm_block_s(model, context, layout, c)
    terms["cxl"] = cxl_block_s(model, layout, c)
    return terms


PIM_TERMS = ("fc", "attention_qk", "attention_sv", "softmax_banks", "softmax_ewmul", "elementwise_banks", "refresh")


def block_s(spec, model, context: int, layout: CentBlockLayout, c: CentArtifactConstants = ARTIFACT) -> float:
    return sum(block_terms_s(spec, model, context, layout, c).values())


def lm_head_s(spec, model, layout: CentBlockLayout, c: CentArtifactConstants = ARTIFACT) -> float:
    """The output projection (hidden -> vocab) as an FC GEMV of the same controller."""
    banks = layout.channels_per_block * spec.banks_per_channel * layout.fc_devices
    return _fc_gemv_tck(spec, c, model.hidden, model.vocab, banks) * spec.tck_s / (1 - spec.n_rfc / spec.n_refi)
