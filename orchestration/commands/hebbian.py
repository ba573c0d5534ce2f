"""`lolpim hebbian digits|multiply|factorize`: Markov-chain Hebbian learning with ternary synapses.

digits     train on scikit-learn's 8x8 digits (or a local MNIST copy, --idx-dir) over several
           seeds; test accuracy mean and std, learning curves, synapse transitions per sample,
           and the PIM inference cost of the trained layer with 2-bit weights.
multiply   store the multiplication table 1..N and recall every product.
factorize  store a table large enough for the given numbers, recall factor pairs backwards and
           prime-factorise by repeated recall.
           With --executor inline|ray both tasks train the table inside the actor system.

The flags are generated from HebbianRun (orchestration/learning_config.py), which checks them;
the run is the Python API's (orchestration/api_learning.py). --json prints one JSON object on
stdout; --out DIR writes results.json, curves.csv and learning_curves.png.
"""
from __future__ import annotations

from lolpim.orchestration import api_learning
from lolpim.orchestration.flags import add_config_flags, config_from_args
from lolpim.orchestration.learning_config import HebbianRun


def run(args) -> int:
    result = api_learning.hebbian(config=config_from_args(HebbianRun, args))
    if args.json:
        print(result.to_json())
    else:
        print(result.table())
    if args.out:
        written = result.write(args.out)
        if not args.json:
            print("wrote " + ", ".join(str(p) for p in written))
    return 0


def register(sub) -> None:
    p = sub.add_parser("hebbian", help="Markov-chain Hebbian learning with ternary synapses "
                                       "(digits, multiplication table, factorisation)")
    add_config_flags(p, HebbianRun)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--out", help="folder for results.json, curves.csv, learning_curves.png")
    p.set_defaults(func=run)
