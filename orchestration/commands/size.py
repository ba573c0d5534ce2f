"""`lolpim size`: the fewest PIM modules a model needs at a context length or for a trace, and the
speedup over GPUs."""
from __future__ import annotations

from lolpim.models.llm.workload import dataset_names
from lolpim.orchestration.llm.api import size


def run(args) -> int:
    result = size(args.model, context=args.context, trace=args.trace, output_tokens=args.output_tokens,
                  requests=args.requests, seed=args.seed, module=args.module, gpu=args.gpu, gpus=args.gpus,
                  max_modules=args.max_modules, doublings=args.doublings, simulate=args.simulate,
                  executor=args.executor)
    print(result.to_json() if args.json else result.table())
    return 0


def register(sub) -> None:
    p = sub.add_parser("size", help="fewest PIM modules for a model and context or trace, and the speedup over GPUs",
                       description="The fewest PIM modules that hold a model and its longest request (one fixed "
                                   "context length, or a dataset trace), their doublings, each one's best pipeline x "
                                   "tensor shape, the requests it holds and its estimated decode throughput, against "
                                   "a GPU system (analytic estimates; the printed `lolpim run` command simulates "
                                   "a row on the same work with every system that fits, --simulate runs the rows).")
    p.add_argument("--model", required=True, help="LLM preset, e.g. llama3.1-70b")
    work = p.add_mutually_exclusive_group(required=True)
    work.add_argument("--context", type=int, help="prompt tokens per request (fixed-length requests), e.g. 131072")
    work.add_argument("--trace", metavar="NAME|FILE",
                      help="a dataset trace instead, as `lolpim run` draws it (workload.source): "
                           + ", ".join(dataset_names()) + "; or a trace file (lolpim, Azure, BurstGPT, Mooncake "
                           "or vidur format, as workload.csv_path: docs/traces.md)")
    p.add_argument("--output-tokens", type=int, default=None,
                   help="tokens generated per request (default 256 with --context, the dataset's range with --trace)")
    p.add_argument("--requests", type=int, default=None,
                   help="requests waiting, which caps the batch the estimate assumes; with --trace NAME the trace's "
                        "size (default 64); with --trace FILE the first this many of the file (default all)")
    p.add_argument("--seed", type=int, default=0, help="seed that draws the --trace requests (default 0)")
    p.add_argument("--module", default="lolpim-module", help="PIM module preset (default lolpim-module)")
    p.add_argument("--gpu", default="a100-80gb", help="GPU preset of the GPU system (default a100-80gb)")
    p.add_argument("--gpus", type=int, default=4, help="GPUs in the GPU system, tensor parallel (default 4)")
    p.add_argument("--max-modules", type=int, default=1024, help="largest PIM system searched (default 1024)")
    p.add_argument("--doublings", type=int, default=3, help="also show 2x, 4x, ... the fewest (default 3)")
    p.add_argument("--simulate", action="store_true",
                   help="also simulate each row's LoL-PIM system and the GPU system (inline; a minute or more per "
                        "row for 70B at 128K) and show simulated tok/s and estimate / simulation")
    p.add_argument("--executor", default="inline", choices=("inline", "ray"),
                   help="executor for --simulate (default inline)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
