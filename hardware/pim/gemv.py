"""GEMV on an AiM-style PIM module, at the level of DRAM commands.

One channel runs this program (all channels run theirs at the same time on different outputs):

    for each batch chunk (``input_buffer_entries`` input vectors):
        for each K tile (one global-buffer entry of inputs, 1024 BF16 values in AiM):
            WR-INP   the chunk's input tiles into the global buffer (one column slot per 32 B);
                     with ``input_prefetch`` over their own bus into the other buffer set, as
                     soon as the tile before last has finished with it
            for each pass (one all-bank row activation):
                ACT      open one row in every bank (a row miss; every MAC after it is a row hit)
                for each output segment held in the row, for each input vector of the chunk:
                    MAC x m   stream m columns of weights against the buffer (all banks at once)
                    RD-OUT x r  drain the banks' output registers (partial sums when K is tiled)
                PRE      close the rows
    refresh (tRFC) is inserted before an ACT once a tREFI deadline has passed.

Outputs are spread round-robin over the module's channel x bank slots; a bank row holds the
weights of as many outputs as fit (``row_bytes`` / (tile bytes)), so short K or low-bit weights
get several outputs per activation. Column commands (WR-INP, MAC, RD-OUT) share one column
slot per tCCD; with ``output_dual_port`` the RD-OUTs drain through a second port instead.

Two implementations of the same schedule:

* ``gemv_channel_schedule``: closed form, vectorised over many GEMVs at once (numpy arrays),
  used by every system model. Within a run of identical passes the gap between ACT and the
  first MAC settles after one pass (shown in docs/hardware-pim.md), so each run costs O(1).
* ``reference_channel_schedule``: issues every command one by one with the timing checks;
  slow, used by the tests to check the closed form.
"""
from __future__ import annotations

import math

import numpy as np

from lolpim.hardware.cost import OpCost
from lolpim.core.errors import ParameterError
from lolpim.hardware.pim.spec import ACTIVATION_BYTES, PimModuleSpec, check_weight_bits


def _check_positive_int(field: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParameterError(field, f"must be a positive integer, got {value!r}")
    return int(value)


def _drain_columns(spec: PimModuleSpec) -> int:
    """RD-OUT column commands to drain every bank's output register of one channel."""
    return -(-(spec.banks_per_channel * spec.output_register_bytes) // spec.column_bytes)


class _ScalarOps:
    """The few numpy functions the closed form uses, for plain Python ints: a single GEMV costs
    microseconds this way instead of the per-call overhead of dozens of numpy operations."""
    maximum = staticmethod(max)
    minimum = staticmethod(min)

    @staticmethod
    def where(cond, a, b):
        return a if cond else b

    @staticmethod
    def clip(x, lo, hi):
        return min(max(x, lo), hi)

    @staticmethod
    def any(x):
        return bool(x)

    @staticmethod
    def to_int(x):
        return int(round(x))


class _ArrayOps:
    maximum, minimum, where, clip = np.maximum, np.minimum, np.where, np.clip

    @staticmethod
    def any(x):
        return bool(np.any(x))

    @staticmethod
    def to_int(x):
        return np.rint(x).astype(np.int64)


def tile_shape(spec: PimModuleSpec, k, bits, xp=_ArrayOps):
    """MAC columns per output segment and segments per row for a K tile of ``k`` inputs."""
    m = -(-(k * bits) // (8 * spec.column_bytes))
    s = xp.maximum(1, spec.columns_per_row // m)
    w_per_entry = -(-(k * ACTIVATION_BYTES) // spec.column_bytes)
    return m, s, w_per_entry


class _Timing:
    """Spec constants as plain ints (tCK) for the closed form."""

    def __init__(self, spec: PimModuleSpec, xp):
        self.xp = xp
        self.c, self.rcd, self.rp, self.ras, self.rc = spec.n_ccd, spec.n_rcd_mac, spec.n_rp, spec.n_ras, spec.n_rc
        self.rtp = spec.n_rtp
        self.cl, self.rfc, self.refi = spec.n_cl, spec.n_rfc, spec.n_refi
        self.r = _drain_columns(spec)
        self.dual = spec.output_dual_port
        self.prefetch = spec.input_prefetch

    def slots(self, groups, m):
        """(column slots up to and including the pass's last MAC, slots the pass occupies)."""
        if self.dual:
            # two output buffers: a group may start only once the group two back has drained;
            # when draining (r columns) outlasts computing (m), every group from the third waits
            x = groups * m + self.xp.maximum(groups - 2, 0) * self.xp.maximum(self.r - m, 0)
            return x, x
        return groups * (m + self.r) - self.r, groups * (m + self.r)

    def period(self, d, x):
        """ACT-to-next-ACT of a pass whose first MAC is ``d`` after its ACT.

        The PRE waits tRAS after the ACT and tRTP after the pass's last MAC (slot x - 1): a MAC
        reads the array like a RD, and the AiM timing table (aim_simulator GDDR6.cpp, MAC16 ->
        PRE/PREA = nRTP, 12 tCK in GDDR6_AiM_timing) keeps the row open that long after it.
        """
        mx = self.xp.maximum
        return mx(mx(self.ras, d + (x - 1) * self.c + self.rtp) + self.rp, self.rc)

    def tail(self, groups, m):
        """Last column slot of the last pass -> last output on the pins."""
        if self.dual:   # the last group's drain, behind the previous group's when draining is slower
            backlog = self.xp.where(groups >= 2, self.xp.maximum(self.r - m, 0), 0)
            return (self.r + backlog) * self.c + self.cl + self.c
        return self.cl + self.c


_FAR_PAST = -(10 ** 12)        # "long ago": a buffer set nobody has used yet


def _segment(tm: _Timing, state, n, m, s, e, w):
    """One K tile for one batch chunk: WR-INP then ceil(n/s) passes.

    ``state`` (all relative to this segment's first ACT): earliest free column slot; when the
    WR-INP bus is free; when the buffer set the previous segment used is free (its last MAC
    plus one slot) and the same for the segment before it. Without input prefetch the tile's
    WR-INPs take column slots in front of the first MAC; with it they run on their own bus into
    the other buffer set, as soon as that set is free. Only the first pass can wait for its
    inputs; every later pass starts its MACs tRCD after its ACT, because a pass's drain
    (r columns) ends before the next ACT + tRCD (checked on the spec: r * tCCD <= tRP + tRCD).
    Returns (sum of pass periods, state for the next segment, end of the last pass's work after
    its ACT, last pass's period, how long the first MAC waited for the column path or inputs).
    """
    xp = tm.xp
    col_slack, bus_free, set_free, set_free_before = state
    passes = -(-n // s)
    single = passes == 1
    g_last = (n - (passes - 1) * s) * e
    g_first = xp.where(single, g_last, s * e)
    if tm.prefetch:
        ready = xp.maximum(bus_free, set_free_before) + w * tm.c
        wait = xp.maximum(col_slack, ready)
    else:
        ready = 0
        wait = col_slack + w * tm.c
    d1 = xp.maximum(tm.rcd, wait)
    x1, y1 = tm.slots(g_first, m)
    p1 = tm.period(d1, x1)
    xf, _ = tm.slots(s * e, m)
    xl, yl = tm.slots(g_last, m)
    d_end = xp.where(single, d1, tm.rcd)
    p_end = xp.where(single, p1, tm.period(tm.rcd, xl))
    total = xp.where(single, p1, p1 + (passes - 2) * tm.period(tm.rcd, xf) + p_end)
    last_mac = total - p_end + d_end + (xl - 1) * tm.c
    state_out = (d_end + yl * tm.c - p_end, ready - total, last_mac + tm.c - total, set_free - total)
    end_from_act = d_end + (yl - 1) * tm.c + tm.tail(g_last, m)
    return total, state_out, end_from_act, p_end, wait


def _pick(xp, cond, a, b):
    return tuple(xp.where(cond, x, y) for x, y in zip(a, b))


def _repeat(xp, step, state, count, warm, bus_floor=0):
    """Run ``step`` ``count`` times (count >= 0); runs after the first ``warm`` repeat the last
    warm-up run (the state settles: after one run without prefetch, two with it). With input
    prefetch a run can be bound by its WR-INPs on their bus (``bus_floor`` tCK per run), where
    the state creeps towards that bound for longer; the steady run takes at least the bound."""
    runs, st = [], state
    for _ in range(warm):
        runs.append(step(st))
        st = runs[-1][1]
    total = sum(xp.where(count > j, run[0], 0) for j, run in enumerate(runs))
    total = total + xp.maximum(count - warm, 0) * xp.maximum(runs[-1][0], bus_floor)
    state_out, end, last_p = state, runs[0][2], runs[0][3]
    for j, run in enumerate(runs):
        reached = count >= j + 1
        state_out = _pick(xp, reached, run[1], state_out)
        end, last_p = xp.where(reached, run[2], end), xp.where(reached, run[3], last_p)
    return total, state_out, end, last_p, None


def gemv_channel_schedule(spec: PimModuleSpec, k_in, n_per_bank, batch=1, weight_bits=16) -> dict:
    """Closed-form command schedule of the busiest channel, vectorised over array arguments.

    ``n_per_bank``: outputs the channel's fullest bank computes. Returns arrays (tCK and counts):
    time_tck, acts, macs, rdouts, wrinps, refreshes.
    """
    args = (k_in, n_per_bank, batch, weight_bits)
    xp: type[_ScalarOps] | type[_ArrayOps]
    zero: int | np.ndarray
    if all(isinstance(a, int) for a in args):
        xp, zero = _ScalarOps, 0
        k, n, b, bits = args
    else:
        xp = _ArrayOps
        k, n, b, bits = np.broadcast_arrays(*(np.asarray(a, dtype=np.int64) for a in args))
        zero = np.zeros_like(k)
    tm = _Timing(spec, xp)
    warm = 3 if tm.prefetch else 2
    gb = spec.global_buffer_inputs
    entries = spec.input_buffer_entries
    n_tiles = -(-k // gb)
    k_last = k - (n_tiles - 1) * gb
    n_chunks = -(-b // entries)
    e_last = b - (n_chunks - 1) * entries
    m_f, s_f, w_f = tile_shape(spec, gb, bits, xp)
    m_l, s_l, w_l = tile_shape(spec, k_last, bits, xp)
    many_tiles, many_chunks = xp.any(n_tiles > 1), xp.any(n_chunks > 1)
    start = (zero, zero, zero + _FAR_PAST, zero + _FAR_PAST)

    def chunk(e):
        def run(state):
            if not many_tiles:
                return _segment(tm, state, n, m_l, s_l, e, w_l * e)
            full = _repeat(xp, lambda st: _segment(tm, st, n, m_f, s_f, e, w_f * e), state, n_tiles - 1, warm,
                           bus_floor=w_f * e * tm.c if tm.prefetch else 0)
            last = _segment(tm, full[1], n, m_l, s_l, e, w_l * e)
            return full[0] + last[0], last[1], last[2], last[3], None
        return run

    if many_chunks:
        chunk_bus = entries * ((n_tiles - 1) * w_f + w_l) * tm.c if tm.prefetch else 0
        body = _repeat(xp, chunk(entries), start, n_chunks - 1, warm, bus_floor=chunk_bus)
        last = chunk(e_last)(body[1])
        periods = body[0] + last[0]
    else:
        last = chunk(e_last)(start)
        periods = last[0]
    time0 = periods - last[3] + last[2]          # the last pass ends its work, not its period
    last_act = time0 - last[2]

    # Refresh: before the first ACT after each tREFI deadline, once the banks are closed and the
    # queued column commands (and WR-INPs) are out. Between passes that costs tRFC; before a
    # tile-start ACT it also waits for the tile's inputs, which the ACT -> MAC delay would
    # otherwise have hidden: up to tRCD more. Which ACT a deadline hits is taken in expectation:
    # a tile-start ACT is hit with probability (period of the pass before it) / (time between
    # tile starts), on a typical tile segment.
    starts = n_tiles * n_chunks - 1
    cost_per_refresh = tm.rfc
    if xp.any(starts > 0):
        e_typ = xp.minimum(entries, b)
        m_t, s_t, w_t = (xp.where(n_tiles > 1, m_f, m_l), xp.where(n_tiles > 1, s_f, s_l),
                         xp.where(n_tiles > 1, w_f, w_l))
        typical = start
        for _ in range(warm):
            seg = _segment(tm, typical, n, m_t, s_t, e_typ, w_t * e_typ)
            typical = seg[1]
        hit = xp.minimum(1.0, starts * seg[3] / xp.maximum(time0, 1))
        cost_per_refresh = tm.rfc + hit * xp.clip(seg[4], 0, tm.rcd)
    refreshes = last_act // tm.refi
    for _ in range(4):                           # deadlines passed before the last ACT (fixed point)
        refreshes = (last_act + refreshes * cost_per_refresh) // tm.refi
    refreshes = xp.to_int(refreshes)
    time = xp.to_int(time0 + refreshes * cost_per_refresh)

    passes_per_chunk = (n_tiles - 1) * (-(-n // s_f)) + (-(-n // s_l))
    mac_per_vector = n * ((n_tiles - 1) * m_f + m_l)
    return {
        "time_tck": time,
        "acts": passes_per_chunk * n_chunks,
        "macs": mac_per_vector * b,
        "rdouts": n * n_tiles * b * tm.r,
        "wrinps": b * ((n_tiles - 1) * w_f + w_l),
        "refreshes": refreshes,
    }


def reference_channel_schedule(spec: PimModuleSpec, k_in: int, bank_outputs: list[int], batch: int = 1,
                               weight_bits: int = 16) -> dict:
    """Issue every command of one channel one by one, checking each timing constraint.

    ``bank_outputs``: how many outputs each bank of the channel computes. Slow: tests only.
    """
    c = spec.n_ccd
    r = _drain_columns(spec)
    gb = spec.global_buffer_inputs
    n_max = max(bank_outputs)
    counts = dict(acts=0, macs=0, rdouts=0, wrinps=0, refreshes=0)
    if n_max == 0:
        return dict(counts, time_tck=0)
    col_free = 0                         # earliest next column-command slot
    last_act, last_pre = -spec.n_rc, -spec.n_rp
    next_ref = spec.n_refi
    port_free = 0                        # second (RD-OUT) port, dual-port modules only
    drains: list[int] = []               # when each group's output buffer is free again
    wr_free = 0                          # WR-INP bus (input prefetch only)
    set_free: list[int] = []             # per segment: its buffer set is free again (last MAC + 1 slot)
    ref_windows: list[tuple[int, int]] = []
    last_out = 0
    for first in range(0, batch, spec.input_buffer_entries):
        e = min(spec.input_buffer_entries, batch - first)
        for tile_start in range(0, k_in, gb):
            k = min(gb, k_in - tile_start)
            m = math.ceil(k * weight_bits / (8 * spec.column_bytes))
            s = max(1, spec.columns_per_row // m)
            if spec.input_prefetch:      # into the set the segment before last used, on its own bus
                t = max(wr_free, set_free[-2] if len(set_free) >= 2 else 0)
            for _ in range(e * math.ceil(k * ACTIVATION_BYTES / spec.column_bytes)):   # WR-INP
                if spec.input_prefetch:
                    for lo, hi in ref_windows:                            # no command during tRFC
                        if lo <= t < hi:
                            t = hi
                    wr_free = t = t + c
                else:
                    col_free += c
                counts["wrinps"] += 1
            ready = wr_free if spec.input_prefetch else col_free
            segment_last_mac = 0
            for p in range(math.ceil(n_max / s)):
                segments = max(min(s, n - p * s) for n in bank_outputs)   # lockstep: fullest bank
                act = max(last_pre + spec.n_rp, last_act + spec.n_rc)
                if act >= next_ref:
                    # REFab needs every bank closed and, as in GDDR6, no other command during
                    # tRFC: it waits for queued column commands (the tile's WR-INPs) too.
                    ref = max(last_pre + spec.n_rp, col_free, port_free, wr_free)
                    ref_start = ref
                    while act >= next_ref:
                        ref += spec.n_rfc
                        next_ref += spec.n_refi
                        counts["refreshes"] += 1
                    ref_windows.append((ref_start, ref))
                    act = max(act, ref)
                    col_free, port_free = max(col_free, ref), max(port_free, ref)
                last_act = act
                counts["acts"] += 1
                last_mac = act
                for _group in range(segments * e):
                    for j in range(m):
                        t = max(col_free, act + spec.n_rcd_mac, ready)
                        if j == 0 and spec.output_dual_port and len(drains) >= 2:
                            t = max(t, drains[-2])                        # both output buffers busy
                        col_free = t + c
                        last_mac = t
                        counts["macs"] += 1
                    for _ in range(r):                                    # RD-OUT
                        if spec.output_dual_port:
                            t = max(port_free, last_mac + c)
                            port_free = t + c
                        else:
                            t = col_free
                            col_free = t + c
                        last_out = t
                        counts["rdouts"] += 1
                    drains.append(last_out + c)
                last_pre = max(act + spec.n_ras, last_mac + spec.n_rtp)     # tRAS and MAC -> PRE tRTP
                segment_last_mac = last_mac
            set_free.append(segment_last_mac + c)
    return dict(counts, time_tck=last_out + spec.n_cl + c)


# --- module level ------------------------------------------------------------------------------

def _split_outputs(spec: PimModuleSpec, n_out: int):
    """Round-robin over channel x bank slots: (fullest bank of busy channels, channels with it,
    fullest bank of the others, busy channels)."""
    q, rem = divmod(n_out, spec.banks)
    if rem == 0:
        return q, spec.channels, q, spec.channels
    return q + 1, min(rem, spec.channels), q, spec.channels if q > 0 else min(rem, spec.channels)


def _energy_parts_j(spec: PimModuleSpec, acts, macs, io_columns, useful_macs, bits) -> dict:
    """Activation (per bit of row opened), array read (per bit into the bank units), I/O (per
    bit of WR-INP / RD-OUT), MAC (per multiply-accumulate at this weight precision)."""
    bank_bits = spec.banks_per_channel * 8
    return {
        "activate_j": float(acts * spec.row_bytes * bank_bits * spec.activate_energy_pj_per_bit) * 1e-12,
        "read_j": float(macs * spec.column_bytes * bank_bits * spec.read_energy_pj_per_bit) * 1e-12,
        "io_j": float(io_columns * spec.column_bytes * 8 * spec.io_energy_pj_per_bit) * 1e-12,
        "mac_j": float(useful_macs * spec.mac_energy_for(bits)) * 1e-12,
    }


def _module_gemv(spec: PimModuleSpec, k_in: int, n_out: int, batch: int, weight_bits: int,
                 channel_costs) -> OpCost:
    n_hi, ch_hi, n_lo, ch_busy = _split_outputs(spec, n_out)
    hi = channel_costs(n_hi)
    lo = channel_costs(n_lo) if (n_lo > 0 and ch_busy > ch_hi) else None

    def total(key):
        value = hi[key] * ch_hi
        if lo is not None:
            value += lo[key] * (ch_busy - ch_hi)
        return float(value)

    time_s = float(hi["time_tck"]) * spec.tck_s
    acts, macs, rdouts, wrinps = total("acts"), total("macs"), total("rdouts"), total("wrinps")
    array_bytes = macs * spec.column_bytes * spec.banks_per_channel
    io_bytes = (rdouts + wrinps) * spec.column_bytes
    useful = float(k_in) * n_out * batch
    energy_parts = _energy_parts_j(spec, acts, macs, rdouts + wrinps, useful, weight_bits)
    energy = sum(energy_parts.values())
    c = spec.n_ccd
    io_slots = (hi["wrinps"] + (0 if spec.output_dual_port else hi["rdouts"])) * c
    bound = "io" if io_slots > hi["macs"] * c else "memory"
    detail = {
        "acts": acts, "row_misses": acts, "row_hits": macs - acts, "mac_commands": macs,
        "wrinp_commands": wrinps, "rdout_commands": rdouts, "refreshes": float(hi["refreshes"]),
        "channels_busy": ch_busy, "outputs_per_bank": n_hi,
        "array_bytes": array_bytes, "io_bytes": io_bytes, "weight_bits": weight_bits,
        "mac_slot_utilisation": float(hi["macs"] * c / max(hi["time_tck"], 1)),
        "refresh_s": float(hi["refreshes"]) * spec.n_rfc * spec.tck_s,
        "energy_breakdown_j": energy_parts,
    }
    return OpCost(time_s, bytes_moved=array_bytes + io_bytes, flops=2.0 * useful, energy_j=energy,
                  bound=bound, detail=detail)


def _check_gemv_args(k_in, n_out, batch, weight_bits):
    return (_check_positive_int("k_in", k_in), _check_positive_int("n_out", n_out),
            _check_positive_int("batch", batch), check_weight_bits(weight_bits))


def pim_gemv_cost(spec: PimModuleSpec, k_in: int, n_out: int, batch: int = 1, weight_bits: int = 16) -> OpCost:
    """y = W x for ``batch`` input vectors, W (n_out x k_in) spread over the whole module."""
    k_in, n_out, batch, weight_bits = _check_gemv_args(k_in, n_out, batch, weight_bits)

    def channel(n):
        return gemv_channel_schedule(spec, k_in, int(n), batch, weight_bits)
    return _module_gemv(spec, k_in, n_out, batch, weight_bits, channel)


def pim_gemv_reference(spec: PimModuleSpec, k_in: int, n_out: int, batch: int = 1,
                       weight_bits: int = 16) -> OpCost:
    """The same GEMV with every command scheduled one by one (slow; tests only)."""
    k_in, n_out, batch, weight_bits = _check_gemv_args(k_in, n_out, batch, weight_bits)
    per_bank = np.zeros((spec.channels, spec.banks_per_channel), dtype=np.int64)
    for out in range(n_out):                     # the same round-robin placement, slot by slot
        slot = out % spec.banks
        per_bank[slot % spec.channels, slot // spec.channels] += 1
    results = {}

    def channel(n):
        # every channel whose fullest bank holds n outputs; simulate the first such one
        for ch in range(spec.channels):
            if per_bank[ch].max() == n:
                key = tuple(per_bank[ch])
                if key not in results:
                    results[key] = reference_channel_schedule(spec, k_in, list(key), batch, weight_bits)
                return results[key]
        raise AssertionError("no channel with that load")
    return _module_gemv(spec, k_in, n_out, batch, weight_bits, channel)
