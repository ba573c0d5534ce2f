"""`lolpim estimate`: one decode step (or one prefill) of a model on a GPU, GPU+HBM-PIM or PIM system."""
from __future__ import annotations

from lolpim.hardware.links import ALLREDUCE_ALGORITHMS
from lolpim.orchestration.llm.api import estimate


def run(args) -> int:
    result = estimate(args.model, context=args.context, system=args.system, device=args.device, module=args.module,
                      modules=args.modules, hbm_pim=args.hbm_pim, link=args.link, batch=args.batch,
                      layers=args.layers, prefill=args.prefill, weight_bits=args.weight_bits,
                      partitioning=args.partitioning, allreduce=args.allreduce)
    print(result.to_json() if args.json else result.table())
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
