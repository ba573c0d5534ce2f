"""`lolpim cbp`: constrained backpropagation on scikit-learn's digits.

Pretrains a full-precision MLP, post-trains it with CBP under a weight constraint, prints a
results table, and with --out writes CSV/JSON, CFS and accuracy curves (PNG) and the
constrained layers as packed low-bit arrays (.npz, see models/cbp/export.py). The flags are
generated from CbpRun (orchestration/learning_config.py), which checks them; the run is the
Python API's (orchestration/api_learning.py).
"""
from __future__ import annotations

from lolpim.orchestration import api_learning
from lolpim.orchestration.flags import add_config_flags, config_from_args
from lolpim.orchestration.learning_config import CbpRun


def run(args) -> int:
    result = api_learning.cbp(config_from_args(CbpRun, args))
    print(result.to_json() if args.json else result.table())
    if args.out:
        result.write(args.out)
    return 0


def register(sub) -> None:
    p = sub.add_parser("cbp", help="constrained backpropagation (binary/ternary/shift weights) on digits")
    add_config_flags(p, CbpRun)
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.add_argument("--out", metavar="DIR", help="write CSV/JSON, curves.png and packed weights")
    p.set_defaults(func=run)
