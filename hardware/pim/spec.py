"""What a GDDR6-AiM-style PIM module is: organisation, DRAM timing, near-memory unit, energy, link.

One flat frozen dataclass, read from hardware/presets/pim/<name>.toml. Timings are kept in
command-clock cycles (``n_*`` fields, in units of ``tck_s``) exactly as DRAM datasheets and
the public Ramulator 2 AiM preset give them; the models convert to seconds at the end.
"""
from __future__ import annotations

from dataclasses import replace
from functools import cache

from lolpim.core.errors import ParameterError
from lolpim.core import schema
from lolpim.core.presets import file_version
from lolpim.core.schema import field
from lolpim.hardware.toml_presets import load_preset, preset_names

# Weight storage formats: bits per stored weight. CBP's constrained levels (docs/anchors.md section 6):
# binary {+-a} 1 bit, ternary {0,+-a} 2 bits, one/two-bit shift {0,+-a,+-a/2(,+-a/4)} 3 bits.
WEIGHT_FORMAT_BITS = {"bf16": 16, "fp16": 16, "int8": 8, "shift2": 3, "shift1": 3,
                      "ternary": 2, "binary": 1}
WEIGHT_BITS_ALLOWED = (16, 8, 3, 2, 1)

ACTIVATION_BYTES = 2  # inputs, KV cache and outputs stay BF16/FP16 at every weight precision


def weight_bits_for(format_name: str) -> int:
    if format_name not in WEIGHT_FORMAT_BITS:
        raise ParameterError("weight_format", f"got {format_name!r}; allowed: {sorted(WEIGHT_FORMAT_BITS)}")
    return WEIGHT_FORMAT_BITS[format_name]


def check_weight_bits(weight_bits) -> int:
    if weight_bits not in WEIGHT_BITS_ALLOWED or isinstance(weight_bits, bool):
        raise ParameterError("weight_bits", f"got {weight_bits!r}; allowed: {list(WEIGHT_BITS_ALLOWED)} "
                                            f"(bf16/fp16 16, int8 8, shift1/shift2 3, ternary 2, binary 1)")
    return int(weight_bits)


@schema.frozen   # a frozen dataclass whose fields are checked on construction (core/schema.py)
class PimModuleSpec:
    name: str
    description: str
    # --- organisation -------------------------------------------------------------------
    channels: int = field(min=1)         # independent PIM channels in the module
    bank_groups: int = field(min=1)      # per channel
    banks_per_group: int = field(min=1)
    rows_per_bank: int = field(min=1)
    row_bytes: int = field(min=1)        # bytes opened by one activation in one bank
    column_bytes: int = field(min=1)     # bytes one MAC column command reads per bank (32 B)
    mac_lanes_per_bank: int = field(min=1)  # BF16 multipliers per bank (16)
    global_buffer_bytes: int = field(min=1)  # per channel, one input-vector entry (2 KB)
    input_buffer_entries: int = field(min=1)  # input vectors held at once (1 = AiM's single global buffer)
    input_prefetch: bool                 # a second set of entries: WR-INP of the next tile overlaps MACs
    output_register_bytes: int = field(min=1)  # per bank per entry (4 B: one FP32 accumulator)
    output_dual_port: bool               # RD-OUT drains one output buffer while MACs fill the other
    # --- timing, in command-clock cycles of tck_s (Ramulator 2 GDDR6_AiM_timing) ---------
    tck_s: float = field(gt=0)
    n_cl: int = field(min=1)             # read latency: RD-OUT issue to data
    n_rcd_mac: int = field(min=1)        # all-bank ACT to first MAC
    n_rp: int = field(min=1)
    n_ras: int = field(min=1)
    n_rc: int = field(min=1)
    n_ccd: int = field(min=1)            # column-to-column (MAC, WR-INP, RD-OUT)
    n_rtp: int = field(min=1)            # last MAC (array read) of a row to its PRE
    n_rfc: int = field(min=1)            # refresh blocks the channel this long
    n_refi: int = field(min=1)           # a refresh is due every n_refi
    # --- channel I/O and near-memory unit ------------------------------------------------
    io_bytes_per_s_per_channel: float = field(gt=0)  # external GDDR6 x16 channel rate (16 Gb/s/pin)
    nmu_flops_per_s: float = field(gt=0)  # near-memory unit (softmax, reductions, norms, GEMM)
    nmu_description: str
    reserved_bytes_per_channel: int = field(min=0)  # activations, partial sums, command streams, VA->PA table
    # --- link to host / next module (a preset in hardware/presets/link) ----------------
    link: str
    # --- energy (sources cited in each preset) -------------------------------------------
    activate_energy_pj_per_bit: float = field(min=0)  # per bit of row opened (ACT + PRE)
    read_energy_pj_per_bit: float = field(min=0)  # cell array to bank processing unit, per bit read
    io_energy_pj_per_bit: float = field(min=0)  # bank/buffer to channel pins, per bit of WR-INP/RD-OUT
    mac_energy_pj: tuple                 # per multiply-accumulate by weight bits: (("16", pJ), ...);
    #                                      a TOML table {"16" = 1.5, ...} is accepted and converted
    # --- power budget: the module at full activity (every channel streaming all-bank MACs), for
    # the iso-power view (tokens/s/W); how each preset arrives at it is in its comments
    power_w: float = field(gt=0)
    sources: str = ""

    def __post_init__(self):   # after the declared ranges
        if self.row_bytes % self.column_bytes:
            raise ParameterError("row_bytes", f"{self.row_bytes} must be a multiple of column_bytes "
                                              f"({self.column_bytes})")
        if not self.column_bytes <= self.global_buffer_bytes <= self.row_bytes:
            # a K tile of 16-bit weights must fit one bank row: the GEMV model opens one row per pass
            raise ParameterError("global_buffer_bytes", f"must lie in [column_bytes, row_bytes] = "
                                                        f"[{self.column_bytes}, {self.row_bytes}]")
        if self.n_rfc >= self.n_refi:
            raise ParameterError("n_rfc", f"must be < n_refi ({self.n_refi}): refresh would never end")
        if self.reserved_bytes_per_channel >= self.channel_bytes:
            raise ParameterError("reserved_bytes_per_channel", f"must be < the channel capacity "
                                                                f"({self.channel_bytes} B)")
        table = dict(self.mac_energy_pj)
        # a tuple keeps the spec hashable, so cost functions can memoise on it
        object.__setattr__(self, "mac_energy_pj", tuple(sorted((str(k), float(v)) for k, v in table.items())))
        drain = -(-(self.banks_per_channel * self.output_register_bytes) // self.column_bytes)
        if drain * self.n_ccd > self.n_rp + self.n_rcd_mac:
            raise ParameterError("output_register_bytes", "draining the output registers "
                                 f"({drain} columns x n_ccd) must fit in n_rp + n_rcd_mac; the GEMV "
                                 "model assumes it does")
        missing = [str(b) for b in WEIGHT_BITS_ALLOWED if str(b) not in table]
        if missing:
            raise ParameterError("mac_energy_pj", f"needs an entry for weight bits {missing}; "
                                                  f"keys are strings: {[str(b) for b in WEIGHT_BITS_ALLOWED]}")
        if self.link not in preset_names("link"):
            raise ParameterError("link", f"unknown link preset {self.link!r}; available: "
                                         f"{', '.join(preset_names('link'))}")

    # --- derived figures ---------------------------------------------------------------------
    @property
    def banks_per_channel(self) -> int:
        return self.bank_groups * self.banks_per_group

    @property
    def banks(self) -> int:
        return self.channels * self.banks_per_channel

    @property
    def channel_bytes(self) -> int:
        return self.banks_per_channel * self.rows_per_bank * self.row_bytes

    @property
    def capacity_bytes(self) -> int:
        return self.channels * self.channel_bytes

    @property
    def columns_per_row(self) -> int:
        return self.row_bytes // self.column_bytes

    @property
    def column_period_s(self) -> float:
        return self.n_ccd * self.tck_s

    @property
    def channel_internal_bandwidth_bytes_per_s(self) -> float:
        """All-bank MAC mode: every bank streams one column per tCCD."""
        return self.banks_per_channel * self.column_bytes / self.column_period_s

    @property
    def internal_bandwidth_bytes_per_s(self) -> float:
        return self.channels * self.channel_internal_bandwidth_bytes_per_s

    @property
    def pim_flops_per_s(self) -> float:
        """Peak BF16 MAC rate of the bank units (2 FLOP per MAC), one column per tCCD."""
        return 2.0 * self.banks * self.mac_lanes_per_bank / self.column_period_s

    @property
    def io_bytes_per_s(self) -> float:
        return self.channels * self.io_bytes_per_s_per_channel

    @property
    def global_buffer_inputs(self) -> int:
        """Input elements (BF16) one global-buffer entry holds: the GEMV's K tile."""
        return self.global_buffer_bytes // ACTIVATION_BYTES

    def mac_energy_for(self, weight_bits: int) -> float:
        return dict(self.mac_energy_pj)[str(weight_bits)]

    def with_changes(self, **changes) -> PimModuleSpec:
        """A configured copy (e.g. more channels); validated like a preset."""
        return replace(self, **changes)


def pim_module_names() -> list[str]:
    return preset_names("pim")


def load_pim_module(name: str) -> PimModuleSpec:
    # one object per preset (it is frozen): every stage of a system then holds the same spec, so
    # the memoised cost functions find it by identity instead of comparing its ~50 fields. A
    # user's file:<path>.toml is one object per version of the file: edited between two runs of
    # one process (a notebook), it is read again
    return _load_pim_module(name, file_version(name))


@cache
def _load_pim_module(name: str, _version: tuple) -> PimModuleSpec:
    return load_preset("pim", name, PimModuleSpec, "module")

