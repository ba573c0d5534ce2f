"""`lolpim estimate`: one decode step (or one prefill) of a model on a GPU, GPU+HBM-PIM or PIM system."""
from __future__ import annotations

import json

from lolpim.hardware.estimate import PART_LABELS, estimate
from lolpim.hardware.links import ALLREDUCE_ALGORITHMS
from lolpim.hardware.systems.config import Partitioning, PimSystemConfig
from lolpim.orchestration.cli_checks import check_int_flags, check_name, check_preset_flag
from lolpim.orchestration.config import field_range
from lolpim.orchestration.llm.config import WorkloadConfig

# Ranges of the size flags, those of the run config's keys they stand for (workload.requests,
# workload.input_tokens, a system's modules); at the top of each, every system estimates in ~3 s
# and < 300 MB. Bits: up to fp32 weights.
BOUNDS = {"batch": field_range(WorkloadConfig, "requests"), "context": field_range(WorkloadConfig, "input_tokens"),
          "modules": (1, field_range(PimSystemConfig, "modules")[1]), "layers": (1, 100_000), "weight_bits": (1, 32)}


def _format(result) -> str:
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
    """Every flag in range and every preset name known, before anything is estimated."""
    check_int_flags(args, BOUNDS)
    args.device = check_preset_flag("device", args.device, "gpu")
    args.module = check_preset_flag("module", args.module, "pim")
    args.hbm_pim = check_preset_flag("hbm_pim", args.hbm_pim, "hbm_pim")
    if args.link is not None:
        args.link = check_preset_flag("link", args.link, "link")
    check_name("partitioning", args.partitioning, [p.value for p in Partitioning])


def run(args) -> int:
    check(args)
    result = estimate(args.system, args.model, args.batch, args.context, device=args.device,
                      module=args.module, modules=args.modules, layers=args.layers, prefill=args.prefill,
                      hbm_pim_device=args.hbm_pim, link=args.link, weight_bits=args.weight_bits,
                      partitioning=args.partitioning, allreduce=args.allreduce)
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
    else:
        print(_format(result))
    return 0


def register(sub) -> None:
    p = sub.add_parser("estimate", help="time, bytes, FLOPs and energy of one decode step or prefill",
                       description="Cost of one decode step (one new token per request) or one prefill "
                                   "of a model on a system, broken down by part.")
    p.add_argument("--system", default="gpu", help="gpu, gpu-pim or pim (default gpu)")
    p.add_argument("--device", default="h200", help="GPU preset for gpu / gpu-pim (default h200)")
    p.add_argument("--module", default="lolpim-module", help="PIM module preset for pim (default lolpim-module)")
    p.add_argument("--modules", type=int, default=1,
                   help="number of devices: GPUs (gpu, gpu-pim; tensor parallel) or PIM modules "
                        "(pim; pipeline parallel). Default 1")
    p.add_argument("--hbm-pim", default="attacc-bg", help="HBM-PIM preset for gpu-pim (default attacc-bg)")
    p.add_argument("--link", default=None,
                   help="link preset between PIM modules and host (default: the module preset's link)")
    p.add_argument("--model", required=True, help="LLM preset, e.g. llama2-7b")
    p.add_argument("--batch", type=int, default=1, help="requests in the batch (default 1)")
    p.add_argument("--context", type=int, required=True,
                   help="tokens per request: KV length (decode) or prompt length (--prefill)")
    p.add_argument("--layers", type=int, default=None,
                   help="only the first N decoder layers (no embedding or LM head); default: whole model")
    p.add_argument("--prefill", action="store_true", help="estimate the prefill instead of a decode step")
    p.add_argument("--weight-bits", type=int, default=16, help="bits per weight (default 16)")
    p.add_argument("--partitioning", default="token-centric",
                   help="attention partitioning on PIM: token-centric or head-first")
    p.add_argument("--allreduce", default="nccl-ring", choices=ALLREDUCE_ALGORITHMS,
                   help="tensor-parallel all-reduce of gpu / gpu-pim: nccl-ring (default) or custom-oneshot")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
