"""One decode step (or one prefill) of a model on a GPU, GPU+HBM-PIM or PIM system, as
`lolpim estimate` and `lolpim.estimate` check its settings and print it (the cost model:
hardware/estimate.py)."""
from __future__ import annotations

from lolpim.hardware.estimate import PART_LABELS
from lolpim.hardware.systems.config import Partitioning, PimSystemConfig
from lolpim.orchestration.cli_checks import check_int_flags, check_name, check_preset_flag
from lolpim.orchestration.config import field_range
from lolpim.orchestration.llm.config import WorkloadConfig

# Ranges of the size flags, those of the run config's keys they stand for (workload.requests,
# workload.input_tokens, a system's modules); at the top of each, every system estimates in ~3 s
# and < 300 MB. Bits: up to fp32 weights.
BOUNDS = {"batch": field_range(WorkloadConfig, "requests"), "context": field_range(WorkloadConfig, "input_tokens"),
          "modules": (1, field_range(PimSystemConfig, "modules")[1]), "layers": (1, 100_000), "weight_bits": (1, 32)}


def format_estimate(result) -> str:
    """The table `lolpim estimate` prints."""
    head = (f"{result.model} on {result.system} ({result.device} x{result.modules}), "
            f"{result.phase}{' step' if result.phase == 'decode' else ''}, batch {result.batch}, "
            f"context {result.context}, layers {result.layers or 'all'}")
    rows = [("part", "time", "share", "bytes", "GFLOP", "energy", "bound")]
    tot = result.total
    for name, c in list(result.parts.items()) + [("total", tot)]:
        label = "total" if name == "total" else PART_LABELS[name]
        share = c.time_s / tot.time_s if tot.time_s else 0.0
        bound = result.bound if name == "total" else c.bound
        rows.append((label, _seconds(c.time_s), f"{share:.1%}", _bytes(c.bytes_moved),
                     f"{c.flops / 1e9:.3g}", f"{c.energy_j:.3g} J", bound))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.insert(-1, lines[1])
    mem = result.memory
    if mem.get("fits") is False:
        # one entry per pipeline stage can run to thousands: the warning shows their range
        shown = [_memory_item(k, v) for k, v in mem.items() if k != "fits"]
        lines.append(f"warning: the weights and KV cache do not fit the devices' memory ({'; '.join(shown)})")
    return head + "\n" + "\n".join(lines)


def _seconds(t: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:.4g} {unit}"
    return f"{t / 1e-9:.4g} ns"


def _memory_item(key: str, value) -> str:
    """One entry of the memory check, byte counts in GiB: ``module_capacity 16 GiB``."""
    if key.endswith("_bytes"):
        return f"{key.removesuffix('_bytes')} {value / 2**30:.4g} GiB"
    if isinstance(value, list) and len(value) > 8:
        return f"{key} {len(value)} stages of {min(value)} .. {max(value)} layers"
    return f"{key} {value}"


def _bytes(b: float) -> str:
    """Bytes in binary units, as every memory figure lolpim prints (GiB = 2**30 bytes)."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if b >= scale:
            return f"{b / scale:.4g} {unit}"
    return f"{b:.0f} B"


def check(args) -> None:
    """Every flag in range and every preset name known, before anything is estimated (``args``:
    the flags' values as attributes, argparse's names)."""
    check_int_flags(args, BOUNDS)
    args.device = check_preset_flag("device", args.device, "gpu")
    args.module = check_preset_flag("module", args.module, "pim")
    args.hbm_pim = check_preset_flag("hbm_pim", args.hbm_pim, "hbm_pim")
    if args.link is not None:
        args.link = check_preset_flag("link", args.link, "link")
    check_name("partitioning", args.partitioning, [p.value for p in Partitioning])
