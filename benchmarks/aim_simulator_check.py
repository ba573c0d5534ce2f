"""Cross-check of the PIM cost model against SK hynix's cycle-level AiM simulator.

The simulator (github arkhadem/aim_simulator, a Ramulator 2.0 fork with AiM ISRs, an in-order AiM
controller and the GDDR6-AiM timing table) is not part of lolpim and CI never runs it. This script
turns the command program of ``hardware/pim/gemv.py`` (and the two attention partitionings of
``hardware/pim/attention.py``) into AiM ISR traces, runs them, and stores the simulated cycles
in tests/data/aim_simulator_cycles.json, which tests/hardware/test_pim_vs_aim_simulator.py reads.

    # regenerate the data from a build of the simulator (the ramulator2 binary in its root)
    .venv/bin/python benchmarks/aim_simulator_check.py --simulator /path/to/aim_simulator --write
    # comparison table from the stored data (no simulator needed)
    .venv/bin/python benchmarks/aim_simulator_check.py

Trace of one GEMV (y = W x, W n_out x k_in, outputs dealt round-robin over channel x bank
slots as gemv.py does), for every input vector and every 1024-input K tile:

    AiM WR_GB  w 0 <busy channels>          the tile's inputs into the global buffer
    per row pass, per output segment in the row (masks: channels whose fullest bank has it):
        AiM MAC_ABK m <channels> <row>      m MAC columns in all 16 banks (ACT16 / PREA implied)
        AiM RD_MAC 0 <channels>             drain the 16 banks' MAC registers

Two simulator configurations are run for every trace:

* ``as_is``: test/example.yaml of the simulator (GDDR6_AiM_timing, AiM controller).
* ``no_mode_switch``: the same with nMODCH = 0. The AiM controller inserts a TMOD command
  (nMODCH = 32 tCK) whenever it switches between register commands (WR_GB, RD_MAC) and MAC
  commands; lolpim's idealised controller has no such mode. Removing it isolates the array
  timing (ACT, MAC stream, tRTP, tRP, tRC, tRCD) that the model claims to reproduce.

The simulator issues no refresh (its all-bank refresh manager loops over a "rank" level the
GDDR6 model does not have), so lolpim is evaluated with refresh off (n_refi = 10^9).
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from lolpim.hardware.pim import load_pim_module, pim_attention_cost, pim_gemv_cost
from lolpim.hardware.pim.gemv import tile_shape
from lolpim.hardware.pim.spec import ACTIVATION_BYTES
from lolpim.models.llm.architecture import load_llm

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "aim_simulator_cycles.json"
BASE_PRESET = "aim-gddr6"          # AiM organisation and timing, 1 input entry, no prefetch, 1 port
MAX_CHANNELS = 32                  # the simulator's channel count (GDDR6_AiM_org)
ROWS = 1 << 14                     # rows per bank in GDDR6_AiM_org
VARIANTS = {"as_is": {}, "no_mode_switch": {"nMODCH": 0}}

# --- the shape grid -----------------------------------------------------------------------------
# FC GEMVs of LLM layers (k_in, n_out) sharded over 1-16 channels of 16 banks: hidden sizes
# 4096 / 5120 / 8192 with their QKV, output-projection and FFN widths (Llama-2/3, Qwen1.5).
GEMV_SHAPES = [
    # (k_in, n_out, channels, batch)
    (4096, 4096, 1, 1), (4096, 4096, 2, 1), (4096, 4096, 4, 1), (4096, 4096, 8, 1), (4096, 4096, 16, 1),
    (4096, 11008, 4, 1), (4096, 11008, 16, 1), (11008, 4096, 4, 1), (11008, 4096, 16, 1),
    (4096, 14336, 8, 1), (14336, 4096, 8, 1), (4096, 1024, 8, 1), (4096, 6144, 16, 1),
    (5120, 5120, 2, 1), (5120, 5120, 8, 1), (5120, 5120, 16, 1), (5120, 13824, 8, 1),
    (13824, 5120, 8, 1), (5120, 15360, 16, 1), (5120, 1280, 4, 1),
    (8192, 8192, 4, 1), (8192, 8192, 16, 1), (8192, 28672, 16, 1), (28672, 8192, 16, 1),
    (8192, 1024, 16, 1), (8192, 10240, 8, 1), (8192, 24576, 16, 1), (24576, 8192, 16, 1),
    (4096, 4096, 16, 4), (5120, 13824, 16, 2), (8192, 8192, 8, 2),
    # short K (several outputs per row) and ragged output counts
    (512, 4096, 4, 1), (1536, 5000, 8, 1), (3000, 7000, 16, 1),
]
# Decode attention (one layer, equal contexts): (model, context tokens, requests, channels)
ATTENTION_SHAPES = [
    ("llama3.1-8b", 2048, 1, 16), ("llama3.1-8b", 8192, 1, 16), ("llama3.1-8b", 32768, 1, 16),
    ("llama3.1-8b", 8192, 4, 16), ("llama3.1-8b", 4096, 1, 8), ("llama3.1-8b", 16384, 2, 32),
    ("qwen1.5-7b", 4096, 1, 16), ("qwen1.5-7b", 16384, 1, 16), ("llama2-7b", 1024, 2, 8),
    ("llama2-7b", 2048, 1, 32), ("llama3.1-8b", 512, 1, 16), ("qwen1.5-7b", 1000, 3, 16),
]


def lolpim_spec(channels: int):
    """The preset lolpim is compared with: AiM chip organisation and timing on ``channels``
    channels, refresh off (the simulator issues none)."""
    return load_pim_module(BASE_PRESET).with_changes(channels=channels, n_refi=10 ** 9)


# --- trace generation ---------------------------------------------------------------------------

def _mask(channels) -> str:
    # the simulator's DMA maps mask bit i to channel 31 - i
    bits = 0
    for c in channels:
        bits |= 1 << (MAX_CHANNELS - 1 - c)
    return hex(bits)


@dataclass
class _Rows:
    """Hands out bank rows in order, so every pass opens a fresh row (wrapping at 16K)."""
    next_row: int = 0

    def take(self, count: int) -> int:
        start = self.next_row
        self.next_row = (self.next_row + count) % ROWS
        return start


def outputs_per_bank(channels: int, banks: int, n_out: int) -> np.ndarray:
    """gemv.py's placement: output o in slot o mod (channels x banks), channel fastest."""
    per_bank = np.zeros((channels, banks), dtype=np.int64)
    slots = np.arange(n_out) % (channels * banks)
    np.add.at(per_bank, (slots % channels, slots // channels), 1)
    return per_bank


class _Scalar:
    """tile_shape's array namespace, for plain ints."""
    maximum = staticmethod(max)


def gemv_trace(spec, k_in: int, n_out: int, batch: int, channel_ids, rows: _Rows) -> list[str]:
    """ISR lines of one BF16 GEMV on the channels ``channel_ids`` (gemv.py's command program)."""
    channel_ids = list(channel_ids)
    load = outputs_per_bank(len(channel_ids), spec.banks_per_channel, n_out).max(axis=1)
    busy = [c for c, n in zip(channel_ids, load) if n > 0]
    gb = spec.global_buffer_inputs
    tiles = [min(gb, k_in - t) for t in range(0, k_in, gb)]
    n_max = int(load.max())
    layout = []                       # per tile: (m, s, w, first row, passes)
    for k in tiles:
        m, s, w = tile_shape(spec, k, 16, _Scalar)
        passes = -(-n_max // s)
        layout.append((m, s, w, rows.take(passes), passes))
    lines = []
    for _vector in range(batch):
        for m, s, w, row0, passes in layout:
            lines.append(f"AiM WR_GB {w} 0 {_mask(busy)}")
            for p in range(passes):
                for j in range(s):
                    seg = p * s + j
                    chans = [c for c, n in zip(channel_ids, load) if n > seg]
                    if not chans:
                        break
                    lines.append(f"AiM MAC_ABK {m} {_mask(chans)} {(row0 + p) % ROWS}")
                    lines.append(f"AiM RD_MAC 0 {_mask(chans)}")
    return lines


def attention_traces(spec, model, context: int, requests: int, partitioning: str) -> dict[str, list[str]]:
    """(score, context) ISR lines of one layer's decode attention, attention.py's mappings."""
    C, B, D, g, hkv = spec.channels, spec.banks_per_channel, model.head_dim, model.gqa_group, model.kv_heads
    rows = _Rows()
    score, ctx_lines = [], []
    if partitioning == "head-first":
        # pair (request r, KV head h) in channel (r * hkv + h) mod C, a channel's pairs in turn;
        # with equal contexts every pair runs the same program, so a round of pairs is a broadcast
        pairs = np.bincount((np.arange(requests * hkv)) % C, minlength=C)
        for i in range(int(pairs.max())):
            chans = [c for c in range(C) if pairs[c] > i]
            score += _broadcast(spec, D, context, g, chans, rows)
            ctx_lines += _broadcast(spec, context, D, g, chans, rows)
        return {"score": score, "context": ctx_lines}
    # token-centric: one pair at a time on the whole module
    ch_per_group = min(C, -(-D // B))
    min_tokens = spec.column_bytes // ACTIVATION_BYTES
    groups = max(1, min(C // ch_per_group, context // min_tokens))
    tokens_per_group = -(-context // groups)
    for _pair in range(requests * hkv):
        score += gemv_trace(spec, D, context, g, range(C), rows)
        # every group runs the same SV program (its share of the tokens) on its own channels
        ctx_lines += _broadcast(spec, tokens_per_group, D, g, range(groups * ch_per_group), rows,
                                program_channels=ch_per_group)
    return {"score": score, "context": ctx_lines}


def _broadcast(spec, k_in, n_out, batch, chans, rows, program_channels=1) -> list[str]:
    """A GEMV placed on ``program_channels`` channels, run by every group of that many channels
    in ``chans`` at once (the same ISRs with a wider channel mask)."""
    chans = list(chans)
    lines = gemv_trace(spec, k_in, n_out, batch, range(program_channels), rows)
    groups = [chans[i:i + program_channels] for i in range(0, len(chans), program_channels)]
    out = []
    for line in lines:
        parts = line.split()
        mask_pos = 4 if parts[1] == "WR_GB" else 3      # WR_GB opsize GPR mask; MAC_ABK/RD_MAC ... mask
        bits = int(parts[mask_pos], 16)
        local = [MAX_CHANNELS - 1 - i for i in range(MAX_CHANNELS) if bits >> i & 1]
        parts[mask_pos] = _mask([grp[c] for grp in groups for c in local if c < len(grp)])
        out.append(" ".join(parts))
    return out


# --- running the simulator ----------------------------------------------------------------------

CONFIG = """Frontend:
  impl: AiMTrace
  clock_ratio: 1
  Translation:
    impl: NoTranslation
    max_addr: 2147483648
MemorySystem:
  impl: AiMDRAM
  clock_ratio: 1
  DRAM:
    impl: GDDR6
    org:
      preset: GDDR6_AiM_org
    timing:
      preset: GDDR6_AiM_timing
{overrides}
  Controller:
    impl: AiM
    clock_ratio: 1
    Scheduler:
      impl: FRFCFS
    RefreshManager:
      impl: AllBank
    plugins:
  AddrMapper:
    impl: RoBaRaCoCh
"""

STAT_RE = re.compile(r"^\s*(memory_system_cycles|CH0_num_(?:ACT16|MAC16|RDMAC16|WRGB|TMOD|REFab|PREA)_commands)"
                     r":\s*(\d+)", re.M)


def binary(simulator: Path) -> Path | None:
    """The ramulator2 executable of a simulator checkout (its CMake puts it in build/)."""
    for candidate in (simulator / "build" / "ramulator2", simulator / "ramulator2"):
        if candidate.is_file():
            return candidate
    return None


def run_trace(simulator: Path, lines: list[str], overrides: dict, workdir: Path) -> dict:
    trace = workdir / "trace.txt"
    trace.write_text("\n".join(lines + ["AiM EOC"]) + "\n")
    config = workdir / "config.yaml"
    extra = "".join(f"      {k}: {v}\n" for k, v in overrides.items())
    config.write_text(CONFIG.format(overrides=extra.rstrip("\n")))
    out = subprocess.run([str(binary(simulator)), "-f", str(config), "-t", str(trace)],
                         capture_output=True, text=True, cwd=simulator, check=True).stdout
    stats = {name: int(value) for name, value in STAT_RE.findall(out)}
    if "memory_system_cycles" not in stats:
        raise RuntimeError(f"no cycle count in the simulator's output:\n{out[-2000:]}")
    return stats


def _sim_all(simulator: Path, lines: list[str]) -> dict:
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant, overrides in VARIANTS.items():
            stats = run_trace(simulator, lines, overrides, Path(tmp))
            result[variant] = {"cycles": stats["memory_system_cycles"],
                               "ch0": {k[4:-9]: v for k, v in stats.items() if k.startswith("CH0_num_")}}
    return result


def simulator_timing(simulator: Path) -> dict[str, int]:
    """The GDDR6_AiM_timing preset as written in the simulator's source (name -> value)."""
    source = (simulator / "src" / "dram" / "impl" / "GDDR6.cpp").read_text()
    block = source[source.index('{"GDDR6_AiM_timing"'):]
    block = block[:block.index("}}")]
    return {name: int(value) for value, name in re.findall(r"^\s*(\d+),?\s*//\s*(\w+)", block, re.M)}


# lolpim's spec field -> the simulator's timing name(s) it stands for
TIMING_FIELDS = {"n_cl": ("nCL",), "n_rcd_mac": ("nRCDRDMAC",), "n_rp": ("nRP",), "n_ras": ("nRAS",),
                 "n_rc": ("nRC",), "n_ccd": ("nCCDS", "nCCDL"), "n_rtp": ("nRTP",), "n_rfc": ("nRFC",),
                 "n_refi": ("nREFI",)}


def generate(simulator: Path) -> dict:
    commit = subprocess.run(["git", "-C", str(simulator), "rev-parse", "HEAD"], capture_output=True,
                            text=True, check=True).stdout.strip()
    rows = []
    for k, n, channels, batch in GEMV_SHAPES:
        spec = lolpim_spec(channels)
        lines = gemv_trace(spec, k, n, batch, range(channels), _Rows())
        rows.append({"family": "gemv", "k_in": k, "n_out": n, "channels": channels, "batch": batch,
                     "isrs": len(lines), "sim": _sim_all(simulator, lines)})
        print(f"gemv {k}x{n} ch{channels} b{batch}: {rows[-1]['sim']['as_is']['cycles']} / "
              f"{rows[-1]['sim']['no_mode_switch']['cycles']}", file=sys.stderr)
    for model_name, context, requests, channels in ATTENTION_SHAPES:
        spec, model = lolpim_spec(channels), load_llm(model_name)
        for partitioning in ("head-first", "token-centric"):
            traces = attention_traces(spec, model, context, requests, partitioning)
            for part, lines in traces.items():
                rows.append({"family": f"attention-{part}", "partitioning": partitioning, "model": model_name,
                             "context": context, "requests": requests, "channels": channels,
                             "isrs": len(lines), "sim": _sim_all(simulator, lines)})
                print(f"{partitioning} {part} {model_name} L{context} r{requests} ch{channels}: "
                      f"{rows[-1]['sim']['as_is']['cycles']}", file=sys.stderr)
    return {
        "simulator": {"repository": "github.com/arkhadem/aim_simulator", "commit": commit,
                      "config": "test/example.yaml (GDDR6_AiM_org, GDDR6_AiM_timing, AiM controller, "
                                "AllBank refresh, clock ratios 1)",
                      "variants": {k: v or "as in the repository" for k, v in VARIANTS.items()},
                      "cycles": "memory_system_cycles: first ISR to the end-of-compute callback, in tCK",
                      "timing_table": simulator_timing(simulator)},
        "lolpim": {"preset": BASE_PRESET, "changes": "channels per row; n_refi = 10^9 (refresh off)"},
        "generator": "benchmarks/aim_simulator_check.py",
        "rows": rows,
    }


# --- comparison ---------------------------------------------------------------------------------

def _shape_key(row: dict) -> str:
    return json.dumps({k: v for k, v in row.items() if k not in ("sim", "isrs")}, sort_keys=True)


def lolpim_tck(row: dict) -> float:
    """lolpim's cycles for a stored row: pim_gemv_cost, or pim_attention_cost's QK^T / SV time."""
    return _lolpim_tck(_shape_key(row))


@cache
def _lolpim_tck(key: str) -> float:
    row = json.loads(key)
    spec = lolpim_spec(row["channels"])
    if row["family"] == "gemv":
        cost = pim_gemv_cost(spec, row["k_in"], row["n_out"], row["batch"], 16)
        return cost.time_s / spec.tck_s
    cost = pim_attention_cost(spec, load_llm(row["model"]), [row["context"]] * row["requests"],
                              row["partitioning"])
    key = "qk_s" if row["family"] == "attention-score" else "sv_s"
    return cost.detail[key] / spec.tck_s


def trace_of(row: dict) -> list[str]:
    """The ISR lines a stored row was simulated with (regenerated: the generator is deterministic)."""
    spec = lolpim_spec(row["channels"])
    if row["family"] == "gemv":
        return gemv_trace(spec, row["k_in"], row["n_out"], row["batch"], range(row["channels"]), _Rows())
    traces = attention_traces(spec, load_llm(row["model"]), row["context"], row["requests"], row["partitioning"])
    return traces["score" if row["family"] == "attention-score" else "context"]


def program_counts(row: dict) -> dict:
    return dict(_program_counts(_shape_key(row)))


@cache
def _program_counts(key: str) -> tuple:
    """Channel 0's program (the busiest channel): K-tile starts (WR_GB ISRs), drains (RD_MAC
    ISRs), and whether a row is read again by the next input vector with nothing opened in
    between (one row pass per vector: the simulator keeps that row open, lolpim re-opens it)."""
    row = json.loads(key)
    ch0 = 1 << (MAX_CHANNELS - 1)
    starts = drains = 0
    last_row, gb_since, reused = None, False, False
    for line in trace_of(row):
        parts = line.split()
        op = parts[1]
        mask = int(parts[4] if op == "WR_GB" else parts[3], 16)
        if not mask & ch0:
            continue
        if op == "WR_GB":
            starts += 1
            gb_since = True
        elif op == "RD_MAC":
            drains += 1
        else:
            reused |= gb_since and parts[4] == last_row
            last_row, gb_since = parts[4], False
    return (("tile_starts", starts), ("drains", drains), ("row_reused", reused))


def controller_allowance_tck(row: dict) -> int:
    """How much longer the simulator's in-order controller may take than lolpim's idealised one
    (mode switch off): per K-tile start the row close, open and tRCD that lolpim overlaps with
    the tile's WR-INPs (nRP + nRCD) plus one column slot, and per drain one column slot for
    the RD_MAC's round trip through the command DMA (which it blocks)."""
    spec, counts = lolpim_spec(row["channels"]), program_counts(row)
    return (counts["tile_starts"] * (spec.n_rp + spec.n_rcd_mac + spec.n_ccd)
            + counts["drains"] * spec.n_ccd)


def family_of(row: dict) -> str:
    if row["family"] == "gemv":
        return "gemv"
    return f"{row['family']} ({row['partitioning']})"


def errors(data: dict, variant: str) -> dict[str, list[float]]:
    """Relative error of lolpim against the simulator, (lolpim - sim) / sim, per shape family."""
    out: dict[str, list[float]] = {}
    for row in data["rows"]:
        sim = row["sim"][variant]["cycles"]
        out.setdefault(family_of(row), []).append(lolpim_tck(row) / sim - 1)
    return out


def summary(data: dict) -> str:
    """Median and worst error per family and simulator configuration (markdown)."""
    lines = ["| family | shapes | simulator | median error | worst error | range | within the controller allowance |",
             "|---|---|---|---|---|---|---|"]
    names = {"as_is": "as is", "no_mode_switch": "nMODCH = 0"}
    for variant in VARIANTS:
        within: dict[str, int] = {}
        for row in data["rows"]:
            gap = row["sim"][variant]["cycles"] - lolpim_tck(row)
            within[family_of(row)] = within.get(family_of(row), 0) + int(0 <= gap <= controller_allowance_tck(row))
        for family, errs in errors(data, variant).items():
            e = np.array(errs)
            worst = e[np.argmax(np.abs(e))]
            lines.append(f"| {family} | {len(e)} | {names[variant]} | {np.median(e):+.1%} | {worst:+.1%} | "
                         f"{e.min():+.1%} .. {e.max():+.1%} | {within[family]} of {len(e)} |")
    return "\n".join(lines)


def table(data: dict) -> str:
    lines = ["| shape | channels | sim as is (tCK) | sim nMODCH = 0 | lolpim | error, as is | error, nMODCH = 0 |",
             "|---|---|---|---|---|---|---|"]
    for row in data["rows"]:
        if row["family"] == "gemv":
            shape = f"GEMV {row['k_in']}x{row['n_out']} b{row['batch']}"
        else:
            shape = (f"{row['family'][10:]} {row['partitioning']} {row['model']} L={row['context']} "
                     f"x{row['requests']}")
        ours = lolpim_tck(row)
        a, z = row["sim"]["as_is"]["cycles"], row["sim"]["no_mode_switch"]["cycles"]
        lines.append(f"| {shape} | {row['channels']} | {a} | {z} | {ours:.0f} | {ours / a - 1:+.1%} | "
                     f"{ours / z - 1:+.1%} |")
    return "\n".join(lines)


def dump(data: dict) -> str:
    """The data file's text: the header indented, one line per row (small, diffable)."""
    head = json.dumps({k: v for k, v in data.items() if k != "rows"}, indent=1)[:-2]
    rows = ",\n".join("  " + json.dumps(row, separators=(",", ":")) for row in data["rows"])
    return f'{head},\n "rows": [\n{rows}\n ]\n}}\n'


DOCS = Path(__file__).resolve().parent.parent / "docs" / "hardware-pim.md"
DOCS_BLOCK = "aim-simulator-table"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--simulator", type=Path, help="root of a built aim_simulator checkout "
                                                           "(ramulator2 in it or in its build/)")
    parser.add_argument("--write", action="store_true", help=f"store the simulated cycles in {DATA}")
    parser.add_argument("--table", action="store_true", help="print every shape, not only the summary")
    parser.add_argument("--docs", action="store_true",
                        help=f"rewrite the <!-- generated: {DOCS_BLOCK} --> block of docs/hardware-pim.md")
    args = parser.parse_args(argv)
    if args.simulator is not None:
        if binary(args.simulator) is None:
            print(f"error: --simulator: no ramulator2 binary in {args.simulator} or its build/ folder "
                  f"(build the simulator there first)", file=sys.stderr)
            return 2
        data = generate(args.simulator)
        if args.write:
            DATA.write_text(dump(data))
            print(f"wrote {DATA}", file=sys.stderr)
    else:
        data = json.loads(DATA.read_text())
    head = (f"AiM simulator {data['simulator']['commit'][:10]} vs lolpim ({BASE_PRESET} timing, "
            f"refresh off); error = lolpim / simulator - 1")
    print(head + "\n\n" + summary(data))
    if args.docs:
        from docs_figures import write_block   # benchmarks/ is on sys.path when run as a script
        changed = write_block(DOCS, DOCS_BLOCK, summary(data) + "\n")
        print(f"{DOCS} [{DOCS_BLOCK}]: {'rewritten' if changed else 'unchanged'}", file=sys.stderr)
    if args.table:
        print()
        print(table(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
